using Picojump.Fs.Cluster;

namespace Picojump.Migrator.Migration;

/// <summary>
/// A token for a call whose length is the peer's work (store lookups over a whole dump, a
/// restore), not a fixed bound: it cancels as soon as the membership heartbeats find the peer
/// unreachable, so a dead or cut-off peer is given up on within the heartbeat's bound while
/// a live one may take as long as the call's (proportional) deadline allows.
/// </summary>
internal sealed class PeerWatch : IDisposable
{
    private static readonly TimeSpan CheckInterval = TimeSpan.FromMilliseconds(250);

    private readonly CancellationTokenSource _cancel;
    private readonly ITimer? _timer;

    public PeerWatch(RemotePeer? peer, CancellationToken cancel)
    {
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        Token = _cancel.Token;
        if (peer != null)
            _timer = TimeProvider.System.CreateTimer(_ => Check(peer), null, CheckInterval, CheckInterval);
    }

    public CancellationToken Token { get; }

    /// <summary>Whether the watch (not the caller's token) ended the call.</summary>
    public bool PeerLost { get; private set; }

    private void Check(RemotePeer peer)
    {
        if (peer.Reachable || PeerLost)
            return;
        PeerLost = true;
        try
        {
            _cancel.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The call ended meanwhile.
        }
    }

    public void Dispose()
    {
        _timer?.Dispose();
        _cancel.Dispose();
    }
}
