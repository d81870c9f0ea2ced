namespace Picojump.Migrator.Pages;

/// <summary>A snapshot of the page store's counters since this process opened it.</summary>
/// <param name="Puts">Pages written to the log (new ones, and held ones refreshed before eviction reached them).</param>
/// <param name="DuplicatePuts">Puts of pages already held, which wrote nothing.</param>
/// <param name="Hits">Reads answered with verified bytes.</param>
/// <param name="Misses">Reads of pages not held (never put, or evicted).</param>
/// <param name="CorruptReads">Reads whose bytes did not hash to their key: answered as misses.</param>
/// <param name="BytesStored">Log bytes between the begin and tail addresses, record overhead and superseded copies included.</param>
/// <param name="Evictions">How many times the log's oldest part was dropped to stay under MaxBytes.</param>
/// <param name="EvictedBytes">Log bytes dropped by those evictions.</param>
public readonly record struct PageStoreStats(
    long Puts, long DuplicatePuts, long Hits, long Misses, long CorruptReads, long BytesStored, long Evictions, long EvictedBytes);
