using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Picojump.Migrator.Images;
using Picojump.Migrator.LazyPages;

namespace Picojump.Migrator.Migration;

/// <summary>
/// The source side of a hybrid migration's page stream. <c>criu dump --lazy-pages</c> serves the
/// frozen job's lazy memory on a loopback port and takes one session; this proxy holds that
/// session for the whole migration (<see cref="CriuPageServerClient"/>) and serves the destination
/// on the cluster address, in the same protocol, after a hello of the migration's token. Because
/// the proxy, not the destination, owns CRIU's session:
/// <list type="bullet">
/// <item>the destination may lose its connection (a cut link, a restart of its page server) and
/// connect again: nothing reaches CRIU, whose session stays in step (one request, one reply);</item>
/// <item>the source decides how the session ends: <see cref="ReleaseAsync"/> sends PS_IOV_CLOSE,
/// after which the dump finishes and CRIU kills the frozen job (its memory is all at the
/// destination). To abort, the caller kills criu dump (its ptrace hold ends and the job goes on
/// here with its memory untouched: it never left the process), then <see cref="Abort"/>.</item>
/// </list>
/// Until the commit the CRIU connection is abortive (SO_LINGER 0), so that a crash of this
/// daemon also resets it and the job resumes here; after the commit a crash ends it cleanly and
/// CRIU kills the frozen copy, so the job never runs twice (it is then lost at the destination
/// unless every page was in: the inherent risk of post-copy).
/// </summary>
internal sealed class HybridPageProxy : IAsyncDisposable
{
    /// <summary>Hello answers.</summary>
    public const byte Accepted = 0;

    public const byte SourceGone = 1;

    public const int TokenSize = 16;

    private static readonly TimeSpan HelloTimeout = TimeSpan.FromSeconds(5);

    private readonly CriuPageServerClient _criu;
    private readonly TcpListener _listener;
    private readonly byte[] _token;
    private readonly ILogger _logger;
    private readonly Action<ReadOnlySpan<byte>>? _tap;
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private Socket? _session;
    private Thread? _acceptThread;
    private long _pages;
    private long _requests;
    private long _connections;
    private long _lastActivity = Stopwatch.GetTimestamp();
    private volatile string? _broken;
    private bool _ended;

    /// <param name="criu">Connected to the dump's page server, nothing asked yet.</param>
    /// <param name="address">Where to serve the destination (the cluster address; port chosen by the system).</param>
    /// <param name="logger">For the proxy's troubles.</param>
    /// <param name="tap">Sees every page sent (to keep them in this host's store).</param>
    public HybridPageProxy(CriuPageServerClient criu, IPAddress address, ILogger logger, Action<ReadOnlySpan<byte>>? tap)
    {
        _criu = criu;
        _criu.Abortive = true;
        _token = RandomNumberGenerator.GetBytes(TokenSize);
        _logger = logger;
        _tap = tap;
        _listener = new TcpListener(address, 0);
    }

    public byte[] Token => _token;

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndpoint;

    public long PagesSent => Interlocked.Read(ref _pages);

    public long Requests => Interlocked.Read(ref _requests);

    public long Connections => Interlocked.Read(ref _connections);

    /// <summary>Whether a destination is connected now.</summary>
    public bool Connected
    {
        get
        {
            lock (_gate)
                return _session != null;
        }
    }

    /// <summary>Since the last request, connection or disconnection.</summary>
    public TimeSpan Idle => Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastActivity));

    /// <summary>Why CRIU's session broke (its server closed or failed), if it did: the frozen memory is no longer to be had.</summary>
    public string? Broken => _broken;

    public void Start()
    {
        _listener.Start();
        _acceptThread = new Thread(Accept) { IsBackground = true, Name = "hybrid page proxy" };
        _acceptThread.Start();
    }

    /// <summary>The decision is "committed": from now on a crash of this daemon must end CRIU's session cleanly (the frozen copy dies), not reset it.</summary>
    public void Committed() => _criu.Abortive = false;

    /// <summary>Every page is at the destination: PS_IOV_CLOSE to CRIU (the dump then finishes and the frozen job goes). Returns CRIU's status.</summary>
    public async Task<int> ReleaseAsync(CancellationToken cancel)
    {
        StopServing();
        lock (_gate)
        {
            if (_ended)
                return 0;
            _ended = true;
        }
        _criu.Abortive = false;
        return await _criu.CloseAsync(cancel);
    }

    /// <summary>No commit: drops CRIU's session (after the caller killed criu dump; a reset alone would also make CRIU resume the job, but see the remarks on FIN).</summary>
    public async Task Abort()
    {
        StopServing();
        lock (_gate)
        {
            if (_ended)
                return;
            _ended = true;
        }
        _criu.Abortive = true;
        await _criu.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        StopServing();
        bool ended;
        lock (_gate)
            ended = _ended;
        if (!ended)
            await _criu.DisposeAsync(); // abortive unless committed: see the class remarks
        _stop.Dispose();
    }

    private void StopServing()
    {
        if (!_stop.IsCancellationRequested)
            _stop.Cancel();
        _listener.Stop();
        lock (_gate)
        {
            _session?.Dispose();
            _session = null;
        }
    }

    private void Accept()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = _listener.AcceptSocket();
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            var thread = new Thread(() => Serve(socket)) { IsBackground = true, Name = "hybrid page proxy session" };
            thread.Start();
        }
    }

    private void Serve(Socket socket)
    {
        using (socket)
        {
            try
            {
                socket.NoDelay = true;
                socket.ReceiveTimeout = (int)HelloTimeout.TotalMilliseconds;
                var hello = new byte[TokenSize];
                if (ReceiveExactly(socket, hello) < TokenSize || !CryptographicOperations.FixedTimeEquals(hello, _token))
                {
                    _logger.LogWarning("Hybrid page proxy: a connection from {Peer} without the migration's token; closed", socket.RemoteEndPoint);
                    return;
                }
                socket.ReceiveTimeout = 0;
                if (_broken != null)
                {
                    socket.Send([SourceGone]);
                    return;
                }
                lock (_gate)
                {
                    if (_stop.IsCancellationRequested)
                        return;
                    // A destination that connects again replaces its old connection (a cut link leaves it dangling).
                    _session?.Dispose();
                    _session = socket;
                }
                Interlocked.Increment(ref _connections);
                Touch();
                socket.Send([Accepted]);
                Relay(socket);
            }
            catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException)
            {
                if (!_stop.IsCancellationRequested)
                    _logger.LogInformation("Hybrid page proxy: the destination's connection ended: {Error}", ex.Message);
            }
            finally
            {
                lock (_gate)
                {
                    if (_session == socket)
                        _session = null;
                }
                Touch();
            }
        }
    }

    private void Relay(Socket socket)
    {
        var header = new byte[PageServerIov.Size];
        byte[] reply = [];
        while (!_stop.IsCancellationRequested)
        {
            var read = ReceiveExactly(socket, header);
            if (read == 0)
                return;
            if (read < header.Length)
                throw new IOException("the destination closed its connection within a header");
            var request = PageServerIov.ReadFrom(header);
            if (request.Command != PageServerCommand.Get || request.PageCount == 0 || request.PageCount > LazyPageServer.MaxPagesPerRequest)
            {
                // PS_IOV_CLOSE from the destination is no release: only the source ends CRIU's session.
                _logger.LogWarning("Hybrid page proxy: unexpected {Request} from the destination; connection closed", request);
                return;
            }
            Interlocked.Increment(ref _requests);
            Touch();
            var length = PageServerIov.Size + ((int)request.PageCount * Pagemap.PageSize);
            if (reply.Length < length)
                reply = new byte[length];
            int pages;
            try
            {
                pages = _criu.ReadAsync(request.DstId, request.Vaddr, (int)request.PageCount, reply.AsMemory(PageServerIov.Size), CancellationToken.None)
                    .AsTask().GetAwaiter().GetResult();
            }
            catch (Exception ex) when (ex is IOException or SocketException or InvalidDataException or ObjectDisposedException)
            {
                // CRIU's session is over (it holds no such page, or it died): nothing more can be served.
                _broken ??= ex.Message;
                _logger.LogError("Hybrid page proxy: CRIU's page server failed: {Error}", ex.Message);
                return;
            }
            PageServerIov.Reply(request.DstId, request.Vaddr, (uint)pages).WriteTo(reply);
            var sent = PageServerIov.Size + (pages * Pagemap.PageSize);
            for (var at = 0; at < sent;)
                at += socket.Send(reply, at, sent - at, SocketFlags.None);
            Interlocked.Add(ref _pages, pages);
            _tap?.Invoke(reply.AsSpan(PageServerIov.Size, pages * Pagemap.PageSize));
        }
    }

    private void Touch() => Interlocked.Exchange(ref _lastActivity, Stopwatch.GetTimestamp());

    private static int ReceiveExactly(Socket socket, byte[] buffer)
    {
        var at = 0;
        while (at < buffer.Length)
        {
            var read = socket.Receive(buffer, at, buffer.Length - at, SocketFlags.None);
            if (read == 0)
                break;
            at += read;
        }
        return at;
    }
}
