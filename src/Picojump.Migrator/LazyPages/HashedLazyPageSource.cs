using System.Buffers;
using Picojump.Migrator.Images;
using Picojump.Migrator.Pages;

namespace Picojump.Migrator.LazyPages;

/// <summary>How a <see cref="HashedLazyPageSource"/> answered the pages it was asked for.</summary>
public readonly record struct LazyPageCounts(long Requests, long FromStore, long Fetched, long FetchedUnhashed)
{
    public long Pages => FromStore + Fetched + FetchedUnhashed;
}

/// <summary>
/// The destination's answer to a lazy page: every page whose hash the <see cref="LazyPageMap"/>
/// knows and whose content the local store holds comes from the store; the rest comes from the
/// fallback (in production the frozen source or the nearest host holding it), checked against
/// its hash, and is kept in the store for the job's next trip. A page the map does not know
/// (the source sent no hash for it) is taken from the fallback as it is and counted apart.
/// </summary>
public sealed class HashedLazyPageSource(LazyPageMap map, IPageSource store, ILazyPageSource fallback, PageStore? keep = null) : ILazyPageSource
{
    private long _requests;
    private long _fromStore;
    private long _fetched;
    private long _fetchedUnhashed;

    public LazyPageCounts Counts => new(Interlocked.Read(ref _requests), Interlocked.Read(ref _fromStore), Interlocked.Read(ref _fetched), Interlocked.Read(ref _fetchedUnhashed));

    public async ValueTask<int> ReadAsync(ulong pid, ulong vaddr, int pageCount, Memory<byte> destination, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _requests);
        // One batch read from the store (a failed read is the presence check), then one fallback
        // read per run of pages the store lacks.
        var lacking = new bool[pageCount];
        var fromStore = FromStore(pid, vaddr, destination.Span[..(pageCount * Pagemap.PageSize)], lacking);
        var done = 0;
        while (done < pageCount)
        {
            if (!lacking[done])
            {
                done++;
                continue;
            }
            var missing = 1;
            while (done + missing < pageCount && lacking[done + missing])
            {
                missing++;
            }
            var fetched = await FetchAsync(pid, Address(vaddr, done), missing, destination[(done * Pagemap.PageSize)..], cancellationToken).ConfigureAwait(false);
            done += fetched;
            if (fetched < missing)
            {
                // The fallback has no more of this range: answer the prefix we have.
                fromStore = lacking.AsSpan(0, done).Count(false);
                break;
            }
        }
        Interlocked.Add(ref _fromStore, fromStore);
        return done;
    }

    private async ValueTask<int> FetchAsync(ulong pid, ulong vaddr, int pageCount, Memory<byte> destination, CancellationToken cancellationToken)
    {
        var done = 0;
        while (done < pageCount)
        {
            var read = await fallback.ReadAsync(pid, Address(vaddr, done), pageCount - done, destination[(done * Pagemap.PageSize)..], cancellationToken).ConfigureAwait(false);
            if (read <= 0)
            {
                break;
            }
            for (var i = done; i < done + read; i++)
            {
                Check(pid, Address(vaddr, i), Page(destination, i).Span);
            }
            done += read;
        }
        return done;
    }

    private void Check(ulong pid, ulong vaddr, ReadOnlySpan<byte> page)
    {
        if (!map.TryGetHash(pid, vaddr, out var expected))
        {
            // Nothing to check it against; its content hash still names it truly in the store.
            Interlocked.Increment(ref _fetchedUnhashed);
            keep?.Put(PageHash.Of(page), page);
            return;
        }
        var actual = PageHash.Of(page);
        if (actual != expected)
        {
            throw new InvalidDataException($"page {vaddr:x} of task {pid}: the fallback sent content hashing to {actual}, the job's page hashes to {expected}");
        }
        Interlocked.Increment(ref _fetched);
        keep?.Put(actual, page);
    }

    /// <summary>Fills the pages the store holds; marks the rest in <paramref name="lacking"/>. Returns how many came from the store.</summary>
    private int FromStore(ulong pid, ulong vaddr, Span<byte> pages, bool[] lacking)
    {
        var hashes = new List<PageHash>(lacking.Length);
        var places = new List<int>(lacking.Length);
        for (var i = 0; i < lacking.Length; i++)
        {
            lacking[i] = true;
            if (map.TryGetHash(pid, Address(vaddr, i), out var hash))
            {
                hashes.Add(hash);
                places.Add(i);
            }
        }
        if (hashes.Count == 0)
        {
            return 0;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(hashes.Count * Pagemap.PageSize);
        var found = new bool[hashes.Count];
        try
        {
            store.TryGetMany(hashes, buffer.AsSpan(0, hashes.Count * Pagemap.PageSize), found);
            var fromStore = 0;
            for (var k = 0; k < hashes.Count; k++)
            {
                if (found[k])
                {
                    buffer.AsSpan(k * Pagemap.PageSize, Pagemap.PageSize).CopyTo(pages.Slice(places[k] * Pagemap.PageSize, Pagemap.PageSize));
                    lacking[places[k]] = false;
                    fromStore++;
                }
            }
            return fromStore;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static ulong Address(ulong vaddr, int page) => vaddr + ((ulong)page * Pagemap.PageSize);

    private static Memory<byte> Page(Memory<byte> pages, int page) => pages.Slice(page * Pagemap.PageSize, Pagemap.PageSize);
}
