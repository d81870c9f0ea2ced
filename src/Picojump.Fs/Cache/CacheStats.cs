namespace Picojump.Fs.Cache;

/// <summary>A snapshot of the block cache's counters since this process opened it.</summary>
/// <param name="Hits">Reads answered from the cache.</param>
/// <param name="Misses">Reads of blocks the cache does not hold (never written, evicted, or invalidated).</param>
/// <param name="BytesCached">Log bytes between the begin and tail addresses: the blocks plus record overhead, including superseded records.</param>
/// <param name="Evictions">How many times the log's oldest part was dropped to stay under MaxBytes.</param>
/// <param name="EvictedBytes">Log bytes dropped by those evictions.</param>
public readonly record struct CacheStats(long Hits, long Misses, long BytesCached, long Evictions, long EvictedBytes);
