using System.Buffers;
using Microsoft.Extensions.Logging;
using Picojump.Migrator.Images;

namespace Picojump.Migrator.Pages;

// The in-memory index (hash -> newest record's log address) and what it makes fast: presence
// without disk reads, and batch reads in log order. The pages of a job were put in the order of
// its memory, so a later trip's rebuild wants long runs of neighbouring records: those are read
// with one scan of the log (a large sequential read per log page) instead of a read per record.
// Until the opening scan has indexed the whole log, every call takes FASTER's own path.
public sealed partial class PageStore
{
    /// <summary>Records this close (bytes of log) still belong to one run: scanning past the few between costs less than a read of their own.</summary>
    private const long ScanGapBytes = 64 << 10;

    /// <summary>Shorter runs are read record by record (a scan reads a whole log page at least).</summary>
    private const int ScanMinRecords = 16;

    private long _sweptEvictions;

    /// <summary>Completes once the opening scan has indexed the log (test hook).</summary>
    internal Task IndexBuilt => _indexBuild;

    /// <summary>Pages the index knows (evicted ones may linger until the next sweep).</summary>
    internal int IndexedPages => _index.Count;

    private void BuildIndex()
    {
        if (!_options.IndexOnOpen)
        {
            return;
        }
        var token = _closing.Token;
        for (var attempt = 1; !token.IsCancellationRequested; attempt++)
        {
            try
            {
                // Records written meanwhile are indexed as they are written; an older address never replaces a newer one.
                _store.Scan(_store.BeginAddress, _store.TailAddress, (address, key, _) =>
                {
                    if (key.Length == PageHash.Size)
                    {
                        _index.Set(PageHash.ReadFrom(key), address);
                    }
                    return !token.IsCancellationRequested;
                });
                if (!token.IsCancellationRequested)
                {
                    _index.DropBelow(_store.BeginAddress);
                    _index.MarkReady();
                    _logger.LogInformation("Page store in {Directory}: {Pages} pages indexed", _options.Directory, _index.Count);
                }
                return;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException && attempt < 3)
            {
                // An eviction under the scan, say: once more from the new begin.
                _logger.LogDebug(ex, "Page store in {Directory}: indexing the log failed; trying again", _options.Directory);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // The store still answers through FASTER's own index, only slower.
                _logger.LogWarning(ex, "Page store in {Directory}: indexing the log failed; lookups read the disk", _options.Directory);
                return;
            }
        }
    }

    /// <summary>After a write: the new record in the index, and evicted records out of it.</summary>
    private void Indexed(PageHash hash, long address)
    {
        _index.Set(hash, address);
        var evictions = _store.Evictions;
        if (Interlocked.Exchange(ref _sweptEvictions, evictions) != evictions)
        {
            _index.DropBelow(_store.BeginAddress);
        }
    }

    /// <summary>Presence of a batch from the index: no disk read.</summary>
    private void LookUpIndexed(List<PageHash> batch, List<PageHash> missing, List<PageHash> toRefresh)
    {
        var addresses = new long[batch.Count];
        _index.Find(batch, addresses);
        var begin = _store.BeginAddress;
        var refreshBelow = RefreshBelow();
        for (var i = 0; i < batch.Count; i++)
        {
            if (addresses[i] < begin)
            {
                missing.Add(batch[i]);
            }
            else if (addresses[i] < refreshBelow)
            {
                toRefresh.Add(batch[i]);
            }
        }
    }

    /// <summary>
    /// <see cref="TryGetMany"/> through the index: absent pages cost nothing, runs of neighbouring
    /// records are scanned, the rest (and anything a scan missed) is read record by record.
    /// </summary>
    private void ReadManyIndexed(IReadOnlyList<PageHash> hashes, Span<byte> pages, Span<bool> found)
    {
        var addresses = new long[hashes.Count];
        _index.Find(hashes, addresses);
        var begin = _store.BeginAddress;
        var held = new List<int>(hashes.Count);
        for (var i = 0; i < hashes.Count; i++)
        {
            found[i] = false;
            if (hashes[i] == PageHash.ZeroPage)
            {
                pages.Slice(i * Pagemap.PageSize, Pagemap.PageSize).Clear();
                found[i] = true;
                Interlocked.Increment(ref _hits);
            }
            else if (addresses[i] >= begin)
            {
                held.Add(i);
            }
            else
            {
                Interlocked.Increment(ref _misses);
            }
        }
        held.Sort((a, b) => addresses[a].CompareTo(addresses[b]));
        var oneByOne = new List<PageHash>();
        var oneByOneIndex = new List<int>();
        for (var start = 0; start < held.Count;)
        {
            var end = start + 1;
            while (end < held.Count && addresses[held[end]] - addresses[held[end - 1]] <= ScanGapBytes)
            {
                end++;
            }
            var run = held.GetRange(start, end - start);
            if (run.Count >= ScanMinRecords)
            {
                ScanRun(run, hashes, addresses, pages, found);
            }
            foreach (var i in run)
            {
                if (!found[i])
                {
                    oneByOne.Add(hashes[i]);
                    oneByOneIndex.Add(i);
                }
            }
            start = end;
        }
        if (oneByOne.Count == 0)
        {
            return;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(oneByOne.Count * Pagemap.PageSize);
        var gotten = new bool[oneByOne.Count];
        try
        {
            ReadManyByKey(oneByOne, buffer.AsSpan(0, oneByOne.Count * Pagemap.PageSize), gotten);
            for (var k = 0; k < oneByOne.Count; k++)
            {
                if (gotten[k])
                {
                    buffer.AsSpan(k * Pagemap.PageSize, Pagemap.PageSize).CopyTo(pages.Slice(oneByOneIndex[k] * Pagemap.PageSize, Pagemap.PageSize));
                    found[oneByOneIndex[k]] = true;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>One scan over a run (indexes into <paramref name="hashes"/>, sorted by address); fills and marks what it finds verified.</summary>
    private void ScanRun(List<int> run, IReadOnlyList<PageHash> hashes, long[] addresses, Span<byte> pages, Span<bool> found)
    {
        // Where each wanted address first appears in the run (equal addresses sit together).
        var firstAt = new Dictionary<long, int>(run.Count);
        for (var r = run.Count - 1; r >= 0; r--)
        {
            firstAt[addresses[run[r]]] = r;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(run.Count * Pagemap.PageSize);
        var got = new bool[run.Count];
        try
        {
            var left = firstAt.Count;
            _store.Scan(addresses[run[0]], addresses[run[^1]] + 1, (address, _, value) =>
            {
                if (!firstAt.TryGetValue(address, out var r))
                {
                    return true;
                }
                var hash = value.Length == Pagemap.PageSize ? PageHash.Of(value) : default;
                for (; r < run.Count && addresses[run[r]] == address; r++)
                {
                    if (hash == hashes[run[r]])
                    {
                        value.CopyTo(buffer.AsSpan(r * Pagemap.PageSize, Pagemap.PageSize));
                        got[r] = true;
                    }
                }
                return --left > 0;
            });
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Evicted under the scan, or a read error: what it did not give is read one by one.
            _logger.LogDebug(ex, "Page store in {Directory}: a scan from {Address} failed", _options.Directory, addresses[run[0]]);
        }
        for (var r = 0; r < run.Count; r++)
        {
            if (got[r])
            {
                buffer.AsSpan(r * Pagemap.PageSize, Pagemap.PageSize).CopyTo(pages.Slice(run[r] * Pagemap.PageSize, Pagemap.PageSize));
                found[run[r]] = true;
                Interlocked.Increment(ref _hits);
            }
        }
        ArrayPool<byte>.Shared.Return(buffer);
    }
}
