using System.Numerics;

namespace Picojump.Fs.Storage.Internal;

/// <summary>The FASTER log and index sizes derived from a store's options.</summary>
internal readonly record struct StoreLayout(int PageSizeBits, int MemorySizeBits, int SegmentSizeBits, long IndexBuckets)
{
    public static StoreLayout For(FasterBlobStoreOptions options)
    {
        var pageSizeBits = options.PageSizeBits;
        // Two pages at least: one being filled while the previous one flushes.
        var memorySizeBits = Math.Max(Log2Floor(options.MemoryBytes), pageSizeBits + 1);
        // Eviction deletes whole segment files: small segments keep the disk close to MaxBytes.
        var segmentSizeBits = Math.Max(pageSizeBits, Log2Floor(options.MaxBytes / 8));
        // One 64-byte bucket holds seven entries; aim at about two records per bucket.
        var records = options.MaxBytes / options.RecordBytes;
        var indexBuckets = Math.Max(1L << 10, (long)BitOperations.RoundUpToPowerOf2((ulong)Math.Max(1, records / 2)));
        return new StoreLayout(pageSizeBits, memorySizeBits, segmentSizeBits, indexBuckets);
    }

    private static int Log2Floor(long value) => 63 - BitOperations.LeadingZeroCount((ulong)value);
}
