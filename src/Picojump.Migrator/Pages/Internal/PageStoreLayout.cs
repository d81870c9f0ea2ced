using System.Numerics;
using Picojump.Migrator.Images;

namespace Picojump.Migrator.Pages.Internal;

/// <summary>The FASTER log and index sizes derived from the store's options.</summary>
internal readonly record struct PageStoreLayout(int PageSizeBits, int MemorySizeBits, int SegmentSizeBits, long IndexBuckets)
{
    // Record header, the 16-byte key and the length prefixes around a 4 KiB value.
    public const int RecordBytes = Pagemap.PageSize + PageHash.Size + 64;

    public static PageStoreLayout For(PageStoreOptions options)
    {
        // 1 MiB log pages: a record may not span two, so about 250 records fit with little waste.
        const int pageSizeBits = 20;
        // Two pages at least: one being filled while the previous one flushes.
        var memorySizeBits = Math.Max(Log2Floor(options.MemoryBytes), pageSizeBits + 1);
        // Eviction deletes whole segment files: small segments keep the disk close to MaxBytes.
        var segmentSizeBits = Math.Max(pageSizeBits, Log2Floor(options.MaxBytes / 8));
        // One 64-byte bucket holds seven entries; aim at about two records per bucket.
        var records = options.MaxBytes / RecordBytes;
        var indexBuckets = Math.Max(1L << 10, (long)BitOperations.RoundUpToPowerOf2((ulong)Math.Max(1, records / 2)));
        return new PageStoreLayout(pageSizeBits, memorySizeBits, segmentSizeBits, indexBuckets);
    }

    private static int Log2Floor(long value) => 63 - BitOperations.LeadingZeroCount((ulong)value);
}
