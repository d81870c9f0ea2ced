namespace Picojump.Fs.Cache.Internal;

/// <summary>
/// Where a read copies a record's bytes: a pinned caller buffer. FASTER copies this struct into
/// its pending context when the record is on disk, so it holds a pointer, not a Span; the
/// caller keeps the buffer pinned until CompletePending returns.
/// </summary>
internal unsafe struct BlockReadOutput
{
    public byte* Destination;
    public int Capacity;

    /// <summary>The payload's length (the value without its checksum), or -1 if the value is too short to be ours; bytes were copied only if it is at most Capacity.</summary>
    public int Length;

    /// <summary>The checksum stored in front of the payload.</summary>
    public ulong Checksum;

    /// <summary>The record's logical address in the log: the invalidation check compares it.</summary>
    public long Address;
}
