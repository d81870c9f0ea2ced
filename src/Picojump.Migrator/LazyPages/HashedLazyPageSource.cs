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
/// <remarks>
/// Read-ahead: CRIU's lazy-pages daemon asks for the background fill one range at a time and
/// asks for the next only once it has copied the last into the job, so the store's reads and
/// CRIU's copies would take turns. After answering a range of several pages, the store's pages
/// of the range that follows (twice as long, as CRIU's ranges grow) are read in the background;
/// the next request takes them if it starts there.
/// </remarks>
public sealed class HashedLazyPageSource(LazyPageMap map, IPageSource store, ILazyPageSource fallback, PageStore? keep = null) : ILazyPageSource
{
    /// <summary>CRIU's background ranges grow to 4 MiB; a read-ahead goes no further.</summary>
    private const int MaxReadAheadPages = 1024;

    private readonly Lock _aheadLock = new();
    private ReadAhead? _ahead;
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
        var covered = 0;
        var fromStore = 0;
        if (pageCount > 1)
        {
            (covered, fromStore) = await TakeAheadAsync(pid, vaddr, destination[..(pageCount * Pagemap.PageSize)], lacking).ConfigureAwait(false);
            StartAhead(pid, Address(vaddr, pageCount), Math.Min(2 * pageCount, MaxReadAheadPages));
        }
        fromStore += FromStore(pid, Address(vaddr, covered), destination.Span[(covered * Pagemap.PageSize)..(pageCount * Pagemap.PageSize)], lacking.AsSpan(covered));
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
    private int FromStore(ulong pid, ulong vaddr, Span<byte> pages, Span<bool> lacking)
    {
        var (hashes, places) = KnownHashes(pid, vaddr, lacking.Length, stopAtUnknown: false);
        lacking.Fill(true);
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

    /// <summary>The hashes the map knows for the range's pages, with their places in it; with <paramref name="stopAtUnknown"/>, only up to the first page it does not know.</summary>
    private (List<PageHash> Hashes, List<int> Places) KnownHashes(ulong pid, ulong vaddr, int pageCount, bool stopAtUnknown)
    {
        var hashes = new List<PageHash>(pageCount);
        var places = new List<int>(pageCount);
        for (var i = 0; i < pageCount; i++)
        {
            if (map.TryGetHash(pid, Address(vaddr, i), out var hash))
            {
                hashes.Add(hash);
                places.Add(i);
            }
            else if (stopAtUnknown)
            {
                break;
            }
        }
        return (hashes, places);
    }

    /// <summary>Reads the store's pages of a range of known pages in the background, replacing any read-ahead not taken.</summary>
    private void StartAhead(ulong pid, ulong vaddr, int pageCount)
    {
        var (hashes, _) = KnownHashes(pid, vaddr, pageCount, stopAtUnknown: true);
        if (hashes.Count == 0)
        {
            return;
        }
        var ahead = new ReadAhead(pid, vaddr, hashes.Count, ArrayPool<byte>.Shared.Rent(hashes.Count * Pagemap.PageSize), new bool[hashes.Count]);
        ahead.Reading = Task.Run(() => store.TryGetMany(hashes, ahead.Pages.AsSpan(0, hashes.Count * Pagemap.PageSize), ahead.Found));
        ReadAhead? replaced;
        lock (_aheadLock)
        {
            (replaced, _ahead) = (_ahead, ahead);
        }
        replaced?.Release();
    }

    /// <summary>
    /// Takes the read-ahead if <paramref name="vaddr"/> lies in its range (a fault of the job may
    /// have taken the range's first pages): fills what it found from there on, marks the rest
    /// lacking; (pages it covered, pages it filled).
    /// </summary>
    private async ValueTask<(int Covered, int Filled)> TakeAheadAsync(ulong pid, ulong vaddr, Memory<byte> pages, bool[] lacking)
    {
        ReadAhead? ahead;
        lock (_aheadLock)
        {
            ahead = _ahead is { } held && held.Pid == pid && vaddr >= held.Vaddr && vaddr < Address(held.Vaddr, held.PageCount) ? held : null;
            if (ahead != null)
            {
                _ahead = null;
            }
        }
        if (ahead == null)
        {
            return (0, 0);
        }
        try
        {
            await ahead.Reading!.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Only a head start: the request reads the range itself.
            ahead.Release();
            return (0, 0);
        }
        var skip = (int)((vaddr - ahead.Vaddr) / Pagemap.PageSize);
        var covered = Math.Min(ahead.PageCount - skip, lacking.Length);
        var filled = 0;
        for (var i = 0; i < covered; i++)
        {
            lacking[i] = !ahead.Found[skip + i];
            if (ahead.Found[skip + i])
            {
                ahead.Pages.AsSpan((skip + i) * Pagemap.PageSize, Pagemap.PageSize).CopyTo(pages.Span.Slice(i * Pagemap.PageSize, Pagemap.PageSize));
                filled++;
            }
        }
        ahead.Release();
        return (covered, filled);
    }

    /// <summary>A range of one task's known pages being read from the store before CRIU asks for it.</summary>
    private sealed record ReadAhead(ulong Pid, ulong Vaddr, int PageCount, byte[] Pages, bool[] Found)
    {
        public Task? Reading { get; set; }

        /// <summary>Returns the buffer once the read is done with it.</summary>
        public void Release() => Reading!.ContinueWith(_ => ArrayPool<byte>.Shared.Return(Pages), TaskScheduler.Default);
    }

    private static ulong Address(ulong vaddr, int page) => vaddr + ((ulong)page * Pagemap.PageSize);

    private static Memory<byte> Page(Memory<byte> pages, int page) => pages.Slice(page * Pagemap.PageSize, Pagemap.PageSize);
}
