using System.Collections.Concurrent;
using System.Threading.Channels;
using Picojump.Protos.Peer;

namespace Picojump.Fs.Cluster.Internal;

/// <summary>
/// One bounded channel per subscribed peer; a change is offered to each. A subscriber that
/// falls behind loses the oldest invalidations, which it must treat like a reconnect.
/// </summary>
internal sealed class InvalidationHub
{
    private const int Backlog = 4096;
    private readonly ConcurrentDictionary<Channel<Invalidation>, byte> _subscribers = new();

    public Channel<Invalidation> Subscribe()
    {
        var channel = Channel.CreateBounded<Invalidation>(new BoundedChannelOptions(Backlog) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
        _subscribers[channel] = 0;
        return channel;
    }

    public void Unsubscribe(Channel<Invalidation> channel) => _subscribers.TryRemove(channel, out _);

    public void Publish(string path, ulong ino, bool entry)
    {
        foreach (var channel in _subscribers.Keys)
            channel.Writer.TryWrite(new Invalidation { Path = path, Ino = ino, Entry = entry });
    }
}
