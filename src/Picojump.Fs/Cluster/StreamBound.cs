using Grpc.Core;

namespace Picojump.Fs.Cluster;

/// <summary>
/// The bound on a bulk stream from a peer: its silence, not its length. Several streams share
/// a connection, and on a busy host the last of a read-ahead window can start seconds after it
/// was asked for; a whole-call deadline failed such streams although the peer was alive, and
/// the failure marked the peer down. A stream that delivers nothing for the peer's timeout is
/// cancelled, and counts as timed out.
/// </summary>
public sealed class StreamBound : IDisposable
{
    private readonly CancellationTokenSource _silence;
    private readonly CancellationToken _caller;
    private readonly TimeSpan _limit;

    internal StreamBound(TimeSpan limit, CancellationToken caller)
    {
        _limit = limit;
        _caller = caller;
        _silence = CancellationTokenSource.CreateLinkedTokenSource(caller);
        _silence.CancelAfter(limit);
    }

    public CallOptions Options => new(cancellationToken: _silence.Token);

    /// <summary>A message arrived: the silence starts again.</summary>
    public void Progress() => _silence.CancelAfter(_limit);

    /// <summary>Whether the stream was cancelled for its silence (not by the caller).</summary>
    public bool Expired => _silence.IsCancellationRequested && !_caller.IsCancellationRequested;

    public void Dispose() => _silence.Dispose();
}
