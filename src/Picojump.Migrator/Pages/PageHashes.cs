using Microsoft.Win32.SafeHandles;
using Picojump.Migrator.Images;

namespace Picojump.Migrator.Pages;

/// <summary>The pages of one pagemap image with their hashes, in pages-image order.</summary>
public sealed record ImageHashes(string PagemapFileName, Pagemap Pagemap, IReadOnlyList<PageRef> Pages);

/// <summary>
/// Hashes the pages of a dump. Run it on a dump of a frozen (or killed) job: the images do not
/// change after the dump, so no hash can go stale, which a live address space cannot promise
/// without soft-dirty tracking.
/// </summary>
public static class PageHashes
{
    // Large sequential reads: the pages image is read once, front to back.
    private const int ChunkBytes = 4 << 20;

    /// <summary>Every pagemap image of the dump directory (tasks' and shared memory's) with its page hashes.</summary>
    public static IReadOnlyList<ImageHashes> ComputeDump(string dumpDirectory)
    {
        var images = new List<ImageHashes>();
        foreach (var path in Directory.EnumerateFiles(dumpDirectory, "pagemap-*.img").Order(StringComparer.Ordinal))
        {
            var pagemap = Pagemap.Read(path);
            var pages = Compute(pagemap, Path.Combine(dumpDirectory, pagemap.PagesFileName));
            images.Add(new ImageHashes(Path.GetFileName(path), pagemap, pages));
        }
        return images;
    }

    /// <summary>(vaddr, hash) of every page in the pages image, in file order; throws if the image's length disagrees with the pagemap.</summary>
    public static PageRef[] Compute(Pagemap pagemap, string pagesImagePath)
    {
        ArgumentNullException.ThrowIfNull(pagemap);
        var count = pagemap.PresentPageCount;
        using var file = File.OpenHandle(pagesImagePath, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
        var length = RandomAccess.GetLength(file);
        if (length != count * Pagemap.PageSize)
        {
            throw new InvalidDataException($"{pagesImagePath}: {length} bytes, but its pagemap lists {count} present pages ({count * Pagemap.PageSize} bytes)");
        }

        // Chunks are hashed in parallel (each read and hashed by one worker): a dump is hashed
        // while its job is frozen, so this is downtime.
        var addresses = pagemap.PresentPageAddresses().ToArray();
        var result = new PageRef[count];
        var chunks = (int)((length + ChunkBytes - 1) / ChunkBytes);
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
            () => new byte[ChunkBytes],
            (c, _, buffer) =>
            {
                var offset = (long)c * ChunkBytes;
                var chunk = buffer.AsSpan(0, (int)Math.Min(ChunkBytes, length - offset));
                ReadExactly(file, chunk, offset, pagesImagePath);
                HashChunk(chunk, addresses, result, offset / Pagemap.PageSize);
                return buffer;
            },
            _ => { });
        return result;
    }

    // Optimized at its first call: a daemon's first large dump must not run it as tier-0 code.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void HashChunk(ReadOnlySpan<byte> chunk, ulong[] addresses, PageRef[] result, long index)
    {
        for (var pageStart = 0; pageStart < chunk.Length; pageStart += Pagemap.PageSize, index++)
            result[index] = new PageRef(addresses[index], PageHash.Of(chunk.Slice(pageStart, Pagemap.PageSize)));
    }

    internal static void ReadExactly(SafeFileHandle file, Span<byte> buffer, long offset, string what)
    {
        var done = 0;
        while (done < buffer.Length)
        {
            var read = RandomAccess.Read(file, buffer[done..], offset + done);
            if (read == 0)
            {
                throw new InvalidDataException($"{what}: ends at {offset + done}, before the page at {offset} is whole");
            }
            done += read;
        }
    }
}
