using System.Diagnostics.Metrics;

namespace Picojump.Fs.Cache.Internal;

/// <summary>Block cache lookups by result; the hit ratio is hits over both (picojump_cache_reads_total).</summary>
internal static class CacheMetrics
{
    private static readonly Meter Meter = new("Picojump.Fs.Cache");

    private static readonly Counter<long> Reads = Meter.CreateCounter<long>(
        "picojump.cache.reads", "{read}", "Block cache lookups of remote file blocks, by result (hit or miss)");

    private static readonly KeyValuePair<string, object?> HitTag = new("result", "hit");
    private static readonly KeyValuePair<string, object?> MissTag = new("result", "miss");

    public static void Hit() => Reads.Add(1, HitTag);

    public static void Miss() => Reads.Add(1, MissTag);
}
