namespace Picojump.Fs.WorkingSet;

/// <summary>
/// How a host warmed its block cache with a working set: blocks offered, already held, of its
/// own files (local), of files changed since (stale), fetched per host, and not fetched in time.
/// </summary>
public sealed record WorkingSetReport(
    long Offered,
    long Held,
    long Local,
    long Stale,
    IReadOnlyList<BlockSourceCount> Fetched,
    long Failed,
    TimeSpan Elapsed)
{
    public long FetchedBlocks => Fetched.Sum(f => f.Blocks);

    public long FetchedBytes => Fetched.Sum(f => f.Bytes);
}

/// <summary>Blocks (and their bytes) fetched from <paramref name="Host"/> in one role: "cache" (its block cache) or "owner" (the file's owner).</summary>
public sealed record BlockSourceCount(string Host, string Role, long Blocks, long Bytes);
