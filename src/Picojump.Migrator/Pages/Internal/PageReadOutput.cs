namespace Picojump.Migrator.Pages.Internal;

/// <summary>
/// Where a read copies a page: a pinned caller buffer, or none (Capacity 0) when only presence
/// matters. FASTER copies this struct into its pending context when the record is on disk, so
/// it holds a pointer, not a Span; the caller keeps the buffer pinned until the read completes.
/// </summary>
internal unsafe struct PageReadOutput
{
    public byte* Destination;
    public int Capacity;

    /// <summary>The stored value's length (a page is 4096; anything else is not ours).</summary>
    public int Length;

    /// <summary>The record's logical address: how close it is to eviction.</summary>
    public long Address;
}
