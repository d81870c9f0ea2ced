using Picojump.Fs.WorkingSet;

namespace Picojump.Fs.Accounting;

/// <summary>
/// The remote blocks one job read most recently, at most <c>capacity</c> of them (least recently
/// read dropped first): its file working set. A block is one entry whatever its version; reading
/// it again at a newer version replaces the older one. Thread-safe, one short lock.
/// </summary>
internal sealed class RecentBlocks(int capacity)
{
    private readonly Lock _gate = new();
    private readonly LinkedList<(WorkingSetBlock Block, long Ticks)> _order = new();
    private readonly Dictionary<(string Owner, ulong Ino, ulong Block), LinkedListNode<(WorkingSetBlock Block, long Ticks)>> _byBlock = [];
    private long _lastTicks;

    public long LastTicks => Volatile.Read(ref _lastTicks);

    public void Add(in WorkingSetBlock block, long nowTicks)
    {
        lock (_gate)
        {
            Volatile.Write(ref _lastTicks, nowTicks);
            if (_byBlock.TryGetValue((block.Owner, block.Ino, block.BlockIndex), out var node))
            {
                node.Value = (block, nowTicks);
                _order.Remove(node);
                _order.AddFirst(node);
                return;
            }
            _byBlock[(block.Owner, block.Ino, block.BlockIndex)] = _order.AddFirst((block, nowTicks));
            if (_order.Count > capacity)
            {
                var last = _order.Last!.Value.Block;
                _order.RemoveLast();
                _byBlock.Remove((last.Owner, last.Ino, last.BlockIndex));
            }
        }
    }

    /// <summary>The blocks read at or after <paramref name="sinceTicks"/>, most recently read first.</summary>
    public IReadOnlyList<WorkingSetBlock> Snapshot(long sinceTicks)
    {
        lock (_gate)
            return [.. _order.TakeWhile(e => e.Ticks >= sinceTicks).Select(e => e.Block)];
    }
}
