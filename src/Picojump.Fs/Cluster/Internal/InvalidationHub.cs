using System.Collections.Concurrent;
using System.Threading.Channels;
using Picojump.Protos.Peer;

namespace Picojump.Fs.Cluster.Internal;

/// <summary>
/// The owner's side of coherence: which hosts read which files, and one bounded channel per
/// subscribed host. A change of a file's data goes to the hosts that read it since its last
/// change; a change of a name goes to every host (any may have looked it up). A subscriber
/// that falls behind loses the oldest invalidations, which it must treat like a reconnect.
/// </summary>
internal sealed class InvalidationHub
{
    private const int Backlog = 4096;

    // Past this many files, data changes go to every host: the set of readers must stay bounded.
    private const int MaxTrackedFiles = 1 << 16;

    private readonly ConcurrentDictionary<Channel<Invalidation>, string> _subscribers = new();
    private readonly ConcurrentDictionary<ulong, ConcurrentDictionary<string, byte>> _readers = new();
    private volatile bool _untracked;

    public Channel<Invalidation> Subscribe(string host)
    {
        var channel = Channel.CreateBounded<Invalidation>(new BoundedChannelOptions(Backlog) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
        _subscribers[channel] = host;
        return channel;
    }

    public void Unsubscribe(Channel<Invalidation> channel) => _subscribers.TryRemove(channel, out _);

    /// <summary>Remembers that <paramref name="host"/> read file <paramref name="ino"/> and may cache it.</summary>
    public void Read(ulong ino, string host)
    {
        if (_untracked)
            return;
        if (_readers.Count >= MaxTrackedFiles && !_readers.ContainsKey(ino))
        {
            _untracked = true;
            _readers.Clear();
            return;
        }
        _readers.GetOrAdd(ino, _ => new ConcurrentDictionary<string, byte>(StringComparer.Ordinal)).TryAdd(host, 0);
    }

    public void Publish(string path, ulong ino, bool entry)
    {
        ICollection<string>? only = null;
        if (!entry && ino != 0 && !_untracked)
        {
            // Readers hear of this change once; reading again makes them readers again.
            if (!_readers.TryRemove(ino, out var readers))
                return;
            only = readers.Keys;
        }
        var invalidation = new Invalidation { Path = path, Ino = ino, Entry = entry };
        foreach (var (channel, host) in _subscribers)
        {
            if (only == null || only.Contains(host))
                channel.Writer.TryWrite(invalidation);
        }
    }
}
