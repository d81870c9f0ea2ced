namespace Picojump.Fs.Storage.Internal;

/// <summary>
/// Where a read copies a record's payload: a pinned caller buffer, or none (Capacity 0) when only
/// presence matters. FASTER copies this struct into its pending context when the record is on
/// disk, so it holds a pointer, not a Span; the caller keeps the buffer pinned until the read completes.
/// </summary>
internal unsafe struct ReadOutput
{
    public byte* Destination;
    public int Capacity;

    /// <summary>The payload's length (the value without any checksum), or -1 if the value is too short to hold its checksum; bytes were copied only if it is at most Capacity.</summary>
    public int Length;

    /// <summary>The checksum stored in front of the payload, if values carry one.</summary>
    public ulong Checksum;

    /// <summary>The record's logical address in the log: users order records or judge their age by it.</summary>
    public long Address;
}
