using System.Diagnostics;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Picojump.Protos.Peer;

namespace Picojump.Fs.Cluster;

/// <summary>
/// The other hosts of the cluster. Keeps each one's liveness, round trip, bandwidth and
/// incarnation fresh with a heartbeat (bandwidth: see <see cref="RemotePeer.ObserveTransfer"/>), and holds a subscription to each one's invalidations, handed to
/// <see cref="InvalidationReceived"/>. When a peer restarts or its subscription is
/// re-established, <see cref="PeerReset"/> fires: changes may have been missed meanwhile.
/// </summary>
public sealed class PeerSet : IDisposable
{
    private static readonly TimeSpan ResubscribeDelay = TimeSpan.FromSeconds(1);

    private readonly PeerClientOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];

    public PeerSet(PeerClientOptions options, IEnumerable<(string Name, string Address)> peers, ILogger logger)
    {
        _options = options;
        _logger = logger;
        Peers = [.. peers.Select(p => new RemotePeer(p.Name, p.Address, options)).OrderBy(p => p.Name, StringComparer.Ordinal)];
    }

    public string HostName => _options.HostName;

    /// <summary>Every peer, ordered by name.</summary>
    public IReadOnlyList<RemotePeer> Peers { get; }

    public event Action<RemotePeer, Invalidation>? InvalidationReceived;

    public event Action<RemotePeer>? PeerReset;

    public RemotePeer? Find(string name)
    {
        foreach (var peer in Peers)
            if (peer.Name == name)
                return peer;
        return null;
    }

    public void Start()
    {
        foreach (var peer in Peers)
        {
            _loops.Add(Task.Run(() => HeartbeatLoop(peer)));
            _loops.Add(Task.Run(() => InvalidationLoop(peer)));
        }
    }

    private async Task HeartbeatLoop(RemotePeer peer)
    {
        while (!_stop.IsCancellationRequested)
        {
            // Now and then a heartbeat carries padding back: bandwidth stays measured even when no blocks flow.
            var probe = peer.NeedsBandwidthProbe(_options.BandwidthProbeInterval) ? _options.BandwidthProbeBytes : 0;
            var request = new HeartbeatRequest { Host = HostName, ProbeBytes = (uint)probe };
            var started = Stopwatch.GetTimestamp();
            try
            {
                var reply = await peer.Client.HeartbeatAsync(request, peer.Options(_stop.Token));
                var elapsed = Stopwatch.GetElapsedTime(started);
                var wasUp = peer.Reachable;
                var previous = peer.Status.Incarnation;
                peer.MarkUp(probe > 0 ? null : elapsed, reply);
                if (probe > 0)
                    peer.ObserveTransfer(reply.Probe.Length, elapsed);
                if (!wasUp)
                    _logger.LogInformation("Peer {Peer} at {Address} is reachable", peer.Name, peer.Address);
                if (previous != 0 && previous != reply.Incarnation)
                {
                    _logger.LogInformation("Peer {Peer} restarted", peer.Name);
                    PeerReset?.Invoke(peer);
                }
            }
            catch (RpcException ex) when (!_stop.IsCancellationRequested)
            {
                if (peer.Reachable)
                    _logger.LogWarning("Peer {Peer} at {Address} is unreachable: {Error}", peer.Name, peer.Address, ex.Status.Detail);
                peer.MarkDown(ex.Status.Detail);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            await Delay(_options.HeartbeatInterval);
        }
    }

    private async Task InvalidationLoop(RemotePeer peer)
    {
        var request = new InvalidationsRequest { Host = HostName };
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                // No deadline: the stream lives as long as both daemons; a dead peer ends it
                // through the connection's keep-alive pings.
                using var call = peer.Client.Invalidations(request, new CallOptions(cancellationToken: _stop.Token));
                await call.ResponseHeadersAsync;
                // Whatever changed while we were not subscribed is unknown: start afresh.
                PeerReset?.Invoke(peer);
                await foreach (var invalidation in call.ResponseStream.ReadAllAsync(_stop.Token))
                    InvalidationReceived?.Invoke(peer, invalidation);
            }
            catch (Exception ex) when (ex is RpcException or IOException or InvalidOperationException && !_stop.IsCancellationRequested)
            {
                _logger.LogDebug("Invalidations from {Peer} interrupted: {Error}", peer.Name, ex.Message);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            await Delay(ResubscribeDelay);
        }
    }

    private async Task Delay(TimeSpan delay)
    {
        try
        {
            await Task.Delay(delay, _stop.Token);
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            Task.WaitAll([.. _loops], TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // The loops end by cancellation; their exceptions say nothing more.
        }
        foreach (var peer in Peers)
            peer.Dispose();
        _stop.Dispose();
    }
}
