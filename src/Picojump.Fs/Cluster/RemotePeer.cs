using System.Diagnostics;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Net.Client;
using Picojump.Fs.Native;
using Picojump.Protos.Peer;

namespace Picojump.Fs.Cluster;

/// <summary>
/// One other host: its peer API client and what the heartbeat last learned of it. Every call
/// carries a deadline, so a dead or cut-off peer costs at most <see cref="PeerClientOptions.Timeout"/>;
/// failures of the call itself (not of the file operation) come back as EIO or ETIMEDOUT.
/// </summary>
public sealed class RemotePeer : IDisposable
{
    // Bulk reads go over connections of their own: TLS and HTTP/2 framing of one connection
    // run on one core at a time, and names and attributes must not queue behind blocks.
    private const int BulkConnections = 2;

    private readonly GrpcChannel _channel;
    private readonly GrpcChannel[] _bulk;
    private readonly Peer.PeerClient[] _bulkClients;
    private int _nextBulk;
    private readonly TimeSpan _timeout;
    private readonly Lock _statusLock = new();
    private volatile PeerStatus _status;
    private long _bandwidthMeasured;

    public RemotePeer(string name, string address, PeerClientOptions options)
    {
        Name = name;
        Address = address;
        _timeout = options.Timeout;
        _channel = CreateChannel(address, options);
        _bulk = [.. Enumerable.Range(0, BulkConnections).Select(_ => CreateChannel(address, options))];
        _bulkClients = [.. _bulk.Select(c => new Peer.PeerClient(c))];
        Client = new Peer.PeerClient(_channel);
        CallInvoker = _channel.CreateCallInvoker();
        BulkCallInvokers = [.. _bulk.Select(c => c.CreateCallInvoker())];
        // Innocent until proven down: the first lookups must not skip a peer the heartbeat has not reached yet.
        _status = new PeerStatus(name, address, Reachable: true, RoundTrip: null, LoadAverage: 0, Incarnation: 0, LastSeen: null, Error: null);
        _bandwidthMeasured = long.MinValue;
    }

    public string Name { get; }

    public string Address { get; }

    public Peer.PeerClient Client { get; }

    /// <summary>A client for a bulk transfer, on the bulk connections in turn.</summary>
    public Peer.PeerClient BulkClient() => _bulkClients[(int)((uint)Interlocked.Increment(ref _nextBulk) % BulkConnections)];

    /// <summary>The same connection for the other services a peer serves beside the file API (jobs).</summary>
    public CallInvoker CallInvoker { get; }

    /// <summary>The bulk connections for the other services' bulk streams (a migration's pages), one invoker each.</summary>
    public IReadOnlyList<CallInvoker> BulkCallInvokers { get; }

    /// <summary>The bound on one call to this peer.</summary>
    public TimeSpan Timeout => _timeout;

    public PeerStatus Status => _status;

    /// <summary>Not known to be down: lookups in merged directories ask it.</summary>
    public bool Reachable => _status.Reachable;

    /// <summary>Options for one call: the deadline bounds the whole call, streams included.</summary>
    public CallOptions Options(CancellationToken cancel = default) => new(deadline: DateTime.UtcNow + _timeout, cancellationToken: cancel);

    /// <summary>Options for a bulk stream, bounded by its silence (see <see cref="StreamBound"/>).</summary>
    public StreamBound BoundStream(CancellationToken cancel = default) => new(_timeout, cancel);

    /// <summary>Runs a unary call; a failed call marks the peer down and answers EIO or ETIMEDOUT.</summary>
    public Errno Call<TReply>(Func<Peer.PeerClient, CallOptions, TReply> call, out TReply? reply, out TimeSpan latency)
        where TReply : class
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            reply = call(Client, Options());
            latency = Stopwatch.GetElapsedTime(started);
            return Errno.OK;
        }
        catch (RpcException ex)
        {
            reply = null;
            latency = Stopwatch.GetElapsedTime(started);
            return Failed(ex);
        }
    }

    /// <summary>Maps a failed call to errno and, when the peer itself is at fault, marks it down.</summary>
    public Errno Failed(RpcException ex)
    {
        if (ex.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded)
            MarkDown(ex.Status.Detail);
        return ex.StatusCode == StatusCode.DeadlineExceeded ? Errno.ETIMEDOUT : Errno.EIO;
    }

    /// <summary>Maps a failed bulk stream to errno: ETIMEDOUT when it fell silent, else as <see cref="Failed(RpcException)"/>.</summary>
    public Errno Failed(RpcException ex, StreamBound bound)
    {
        if (!bound.Expired)
            return Failed(ex);
        MarkDown($"no data for {_timeout.TotalSeconds:0.#} s");
        return Errno.ETIMEDOUT;
    }

    /// <summary>A heartbeat answered; <paramref name="roundTrip"/> null keeps the last one (a probe's time is not a round trip).</summary>
    internal void MarkUp(TimeSpan? roundTrip, HeartbeatReply reply)
    {
        lock (_statusLock)
            _status = _status with
            {
                Reachable = true, RoundTrip = roundTrip ?? _status.RoundTrip, LoadAverage = reply.LoadAverage, Incarnation = reply.Incarnation,
                LastSeen = DateTimeOffset.UtcNow, Error = null, CacheBytes = reply.CacheBytes, PageStoreBytes = reply.PageStoreBytes,
            };
    }

    internal void MarkDown(string error)
    {
        lock (_statusLock)
            _status = _status with { Reachable = false, Error = error };
    }

    /// <summary>Transfers smaller than this say more about round trips than about bandwidth.</summary>
    public const long MinObservedBytes = 512 << 10;

    /// <summary>
    /// A transfer of <paramref name="bytes"/> from this peer took <paramref name="elapsed"/> (a
    /// heartbeat probe, a block stream): folds bytes over the time on the wire (less one round
    /// trip) into <see cref="PeerStatus.BytesPerSecond"/>, a moving average weighing each sample by half.
    /// </summary>
    public void ObserveTransfer(long bytes, TimeSpan elapsed)
    {
        if (bytes < MinObservedBytes || elapsed <= TimeSpan.Zero)
            return;
        lock (_statusLock)
        {
            var roundTrip = _status.RoundTrip ?? TimeSpan.Zero;
            var wire = elapsed > 2 * roundTrip ? elapsed - roundTrip : elapsed;
            var sample = bytes / wire.TotalSeconds;
            var estimate = _status.BytesPerSecond > 0 ? (_status.BytesPerSecond + sample) / 2 : sample;
            _status = _status with { BytesPerSecond = estimate };
            _bandwidthMeasured = Stopwatch.GetTimestamp();
        }
    }

    /// <summary>Whether no transfer measured the bandwidth within <paramref name="interval"/>: the next heartbeat carries a probe.</summary>
    public bool NeedsBandwidthProbe(TimeSpan interval)
    {
        lock (_statusLock)
            return _status.RoundTrip != null
                && (_bandwidthMeasured == long.MinValue || Stopwatch.GetElapsedTime(_bandwidthMeasured) > interval);
    }

    public void Dispose()
    {
        _channel.Dispose();
        foreach (var channel in _bulk)
            channel.Dispose();
    }

    private static GrpcChannel CreateChannel(string address, PeerClientOptions options)
    {
        var ssl = new SslClientAuthenticationOptions
        {
            ClientCertificates = [options.Certificate],
            RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                certificate is X509Certificate2 server
                && (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) == SslPolicyErrors.None
                && PeerTrust.IsValidPeer(options.Authority, server, PeerTrust.ServerAuth, out _),
        };
        return GrpcChannel.ForAddress($"https://{address}", new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                SslOptions = ssl,
                ConnectTimeout = options.Timeout,
                EnableMultipleHttp2Connections = true,
                // Every read is a stream of its own: at HTTP/2's default 64 KiB window, each
                // would crawl through slow start instead of filling the link.
                InitialHttp2StreamWindowSize = 16 << 20,
                // A connection through a cut link is noticed by the pings, not by the next call.
                KeepAlivePingDelay = TimeSpan.FromSeconds(5),
                KeepAlivePingTimeout = options.Timeout < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : options.Timeout, // its least
            },
            DisposeHttpClient = true,
            MaxReceiveMessageSize = 4 << 20,
        });
    }
}
