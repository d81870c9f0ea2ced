using System.Numerics;

namespace Picojump.Fs.Cache.Internal;

/// <summary>The FASTER log and index sizes derived from the cache's options.</summary>
internal readonly record struct FasterLayout(int PageSizeBits, int MemorySizeBits, int SegmentSizeBits, long IndexBuckets)
{
    // Record header, key and value length prefixes: a block record is a little over BlockSize.
    private const int RecordOverhead = 64 + BlockChecksum.Length;

    public static FasterLayout For(BlockCacheOptions options)
    {
        // A record may not span pages; seven or more blocks per page keeps the unused page tail under 1/8.
        var pageSizeBits = Log2Ceiling(8L * options.BlockSize);
        // Two pages at least: one being filled while the previous one flushes.
        var memorySizeBits = Math.Max(Log2Floor(options.MemoryBytes), pageSizeBits + 1);
        // Truncation deletes whole segment files: small segments keep the disk close to MaxBytes.
        var segmentSizeBits = Math.Max(pageSizeBits, Log2Floor(options.MaxBytes / 8));
        // One 64-byte bucket holds seven entries; aim at about two records per bucket.
        var records = options.MaxBytes / (options.BlockSize + RecordOverhead);
        var indexBuckets = Math.Max(1L << 10, (long)BitOperations.RoundUpToPowerOf2((ulong)Math.Max(1, records / 2)));
        return new FasterLayout(pageSizeBits, memorySizeBits, segmentSizeBits, indexBuckets);
    }

    private static int Log2Floor(long value) => 63 - BitOperations.LeadingZeroCount((ulong)value);

    private static int Log2Ceiling(long value) => Log2Floor(value - 1) + 1;
}
