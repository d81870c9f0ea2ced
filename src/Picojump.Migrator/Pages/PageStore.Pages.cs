using Microsoft.Extensions.Logging;
using Picojump.Migrator.Images;

namespace Picojump.Migrator.Pages;

// Lookups, reads and writes, with verification and the second chance before eviction.
//
// Correctness first: a page handed out must hash to its key, else it is reported missing and
// fetched again; a stale or corrupt page is never restored. Presence answers (Contains,
// Missing) do not read the bytes, so a page that later fails verification makes the rebuild
// report it missing (one more round trip), never restore it.
//
// Eviction is FIFO over the log, with a second chance: a held page asked for or put again when
// it lies in the oldest quarter of the budget is written again at the tail, so pages in use
// (zeros aside, which are never stored) outlive a stream of one-off pages.
public sealed partial class PageStore : IPageSource
{
    private const int BatchSize = 256;

    private long _puts;
    private long _duplicatePuts;
    private long _hits;
    private long _misses;
    private long _corruptReads;

    public PageStoreStats Stats => new(
        Interlocked.Read(ref _puts),
        Interlocked.Read(ref _duplicatePuts),
        Interlocked.Read(ref _hits),
        Interlocked.Read(ref _misses),
        Interlocked.Read(ref _corruptReads),
        _store.BytesStored,
        _store.Evictions,
        _store.EvictedBytes);

    /// <summary>Whether the store holds the page (zeros always). See the note above on verification.</summary>
    public bool Contains(PageHash hash) => Missing([hash]).Count == 0;

    /// <summary>The hashes among <paramref name="hashes"/> the store does not hold, in their order.</summary>
    public IReadOnlyList<PageHash> Missing(IEnumerable<PageHash> hashes)
    {
        ArgumentNullException.ThrowIfNull(hashes);
        ObjectDisposedException.ThrowIf(_store.IsDisposed, this);
        var missing = new List<PageHash>();
        var toRefresh = new List<PageHash>();
        var batch = new List<PageHash>(BatchSize);
        foreach (var hash in hashes)
        {
            if (hash == PageHash.ZeroPage)
            {
                continue;
            }
            batch.Add(hash);
            if (batch.Count == BatchSize)
            {
                LookUp(batch, missing, toRefresh);
                batch.Clear();
            }
        }
        LookUp(batch, missing, toRefresh);
        Refresh(toRefresh);
        return missing;
    }

    /// <summary>Stores a page under its hash; throws if the bytes do not hash to it. Putting a held page writes nothing.</summary>
    public void Put(PageHash hash, ReadOnlySpan<byte> page)
    {
        ObjectDisposedException.ThrowIf(_store.IsDisposed, this);
        if (page.Length != Pagemap.PageSize)
        {
            throw new ArgumentException($"A page is {Pagemap.PageSize} bytes, not {page.Length}.", nameof(page));
        }
        if (PageHash.Of(page) != hash)
        {
            throw new ArgumentException($"The page does not hash to {hash}.", nameof(hash));
        }
        if (hash == PageHash.ZeroPage)
        {
            Interlocked.Increment(ref _duplicatePuts);
            return;
        }
        if (_index.Ready && !_index.Contains(hash, _store.BeginAddress))
        {
            Upsert(hash, page);
            return;
        }
        // A verified copy that eviction is not about to reach: nothing to do. A corrupt copy is overwritten.
        Span<byte> held = stackalloc byte[Pagemap.PageSize];
        var address = ReadVerified(hash, held, countStats: false);
        if (address >= 0 && address >= RefreshBelow())
        {
            Interlocked.Increment(ref _duplicatePuts);
            return;
        }
        Upsert(hash, page);
    }

    /// <summary>Copies a held page into <paramref name="page"/> (at least 4 KiB) only if its bytes hash to <paramref name="hash"/>.</summary>
    public bool TryGet(PageHash hash, Span<byte> page)
    {
        ObjectDisposedException.ThrowIf(_store.IsDisposed, this);
        if (page.Length < Pagemap.PageSize)
        {
            throw new ArgumentException($"The destination holds {page.Length} bytes, less than a page.", nameof(page));
        }
        if (hash == PageHash.ZeroPage)
        {
            page[..Pagemap.PageSize].Clear();
            Interlocked.Increment(ref _hits);
            return true;
        }
        if (_index.Ready && !_index.Contains(hash, _store.BeginAddress))
        {
            Interlocked.Increment(ref _misses);
            return false;
        }
        return ReadVerified(hash, page[..Pagemap.PageSize], countStats: true) >= 0;
    }

    /// <summary>
    /// <see cref="TryGet"/> of many pages: page i goes to <paramref name="pages"/> at i x 4 KiB and
    /// <paramref name="found"/>[i] says whether it hashed to its key. Once the index is built,
    /// neighbouring records are read with one scan of the log and absent pages cost nothing;
    /// before, the reads of a batch wait for the disk together.
    /// </summary>
    public void TryGetMany(IReadOnlyList<PageHash> hashes, Span<byte> pages, Span<bool> found)
    {
        ArgumentNullException.ThrowIfNull(hashes);
        ObjectDisposedException.ThrowIf(_store.IsDisposed, this);
        if (pages.Length < (long)hashes.Count * Pagemap.PageSize || found.Length < hashes.Count)
        {
            throw new ArgumentException($"Room for {pages.Length / Pagemap.PageSize} pages and {found.Length} answers, not {hashes.Count}.", nameof(pages));
        }
        if (_index.Ready)
        {
            ReadManyIndexed(hashes, pages, found);
        }
        else
        {
            ReadManyByKey(hashes, pages, found);
        }
    }

    /// <summary><see cref="TryGetMany"/> through FASTER's own index: one disk read per record not in memory, a batch's reads awaited together.</summary>
    private void ReadManyByKey(IReadOnlyList<PageHash> hashes, Span<byte> pages, Span<bool> found)
    {
        Span<byte> keys = stackalloc byte[BatchSize * PageHash.Size];
        Span<long> addresses = stackalloc long[BatchSize];
        Span<int> lengths = stackalloc int[BatchSize];
        for (var start = 0; start < hashes.Count; start += BatchSize)
        {
            var count = Math.Min(BatchSize, hashes.Count - start);
            var batchPages = pages.Slice(start * Pagemap.PageSize, count * Pagemap.PageSize);
            for (var i = 0; i < count; i++)
            {
                hashes[start + i].WriteTo(keys[(i * PageHash.Size)..]);
            }
            _store.ReadMany(keys[..(count * PageHash.Size)], PageHash.Size, batchPages, Pagemap.PageSize, addresses, lengths);
            for (var i = 0; i < count; i++)
            {
                var hash = hashes[start + i];
                var page = batchPages.Slice(i * Pagemap.PageSize, Pagemap.PageSize);
                if (hash == PageHash.ZeroPage)
                {
                    page.Clear();
                    found[start + i] = true;
                    Interlocked.Increment(ref _hits);
                }
                else if (addresses[i] < 0)
                {
                    found[start + i] = false;
                    Interlocked.Increment(ref _misses);
                }
                else if (lengths[i] != Pagemap.PageSize || PageHash.Of(page) != hash)
                {
                    found[start + i] = false;
                    Interlocked.Increment(ref _corruptReads);
                    _logger.LogWarning("Page {Hash} at {Address} in {Directory} fails its hash; treated as missing", hash, addresses[i], _options.Directory);
                }
                else
                {
                    found[start + i] = true;
                    Interlocked.Increment(ref _hits);
                }
            }
        }
    }

    /// <summary>Test hook: stores bytes under a key they need not hash to, as a damaged disk would.</summary>
    internal void PutUnverified(PageHash hash, ReadOnlySpan<byte> bytes) => Upsert(hash, bytes);

    /// <summary>Records below this address are in the oldest quarter of the budget, next in line for eviction.</summary>
    private long RefreshBelow() => _store.TailAddress - (_options.MaxBytes / 4 * 3);

    /// <summary>Reads a page and checks it against its key; its log address, or -1 if absent or corrupt.</summary>
    private long ReadVerified(PageHash hash, Span<byte> page, bool countStats)
    {
        Span<byte> key = stackalloc byte[PageHash.Size];
        hash.WriteTo(key);
        var address = _store.Read(key, page, out var length);
        if (address < 0)
        {
            if (countStats)
            {
                Interlocked.Increment(ref _misses);
            }
            return -1;
        }
        if (length != Pagemap.PageSize || PageHash.Of(page) != hash)
        {
            Interlocked.Increment(ref _corruptReads);
            _logger.LogWarning("Page {Hash} at {Address} in {Directory} fails its hash; treated as missing", hash, address, _options.Directory);
            return -1;
        }
        if (countStats)
        {
            Interlocked.Increment(ref _hits);
        }
        return address;
    }

    /// <summary>Presence of a batch of pages (at most BatchSize), without reading their bytes.</summary>
    private void LookUp(List<PageHash> batch, List<PageHash> missing, List<PageHash> toRefresh)
    {
        if (_index.Ready)
        {
            LookUpIndexed(batch, missing, toRefresh);
        }
        else
        {
            LookUpBatch(batch, missing, toRefresh);
        }
    }

    /// <summary>Presence through FASTER's own index: a disk read per record not in memory (the key is compared in the record).</summary>
    private void LookUpBatch(List<PageHash> batch, List<PageHash> missing, List<PageHash> toRefresh)
    {
        if (batch.Count == 0)
        {
            return;
        }
        var refreshBelow = RefreshBelow();
        Span<byte> keys = stackalloc byte[BatchSize * PageHash.Size];
        Span<long> addresses = stackalloc long[BatchSize];
        Span<int> lengths = stackalloc int[BatchSize];
        for (var i = 0; i < batch.Count; i++)
        {
            batch[i].WriteTo(keys[(i * PageHash.Size)..]);
        }
        _store.LookUp(keys[..(batch.Count * PageHash.Size)], PageHash.Size, addresses, lengths);
        for (var i = 0; i < batch.Count; i++)
        {
            if (addresses[i] < 0 || lengths[i] != Pagemap.PageSize)
            {
                missing.Add(batch[i]);
            }
            else if (addresses[i] < refreshBelow)
            {
                toRefresh.Add(batch[i]);
            }
        }
    }

    /// <summary>Second chance: writes pages that are about to be evicted again at the tail.</summary>
    private void Refresh(List<PageHash> hashes)
    {
        Span<byte> page = stackalloc byte[Pagemap.PageSize];
        foreach (var hash in hashes)
        {
            if (ReadVerified(hash, page, countStats: false) >= 0)
            {
                Upsert(hash, page);
            }
        }
    }

    /// <summary>Appends the page at the tail (the store evicts its oldest records if over budget).</summary>
    private void Upsert(PageHash hash, ReadOnlySpan<byte> page)
    {
        Span<byte> key = stackalloc byte[PageHash.Size];
        hash.WriteTo(key);
        Indexed(hash, _store.Upsert(key, page));
        Interlocked.Increment(ref _puts);
    }
}
