using FASTER.core;
using Microsoft.Extensions.Logging;
using Picojump.Migrator.Images;
using Picojump.Migrator.Pages.Internal;

namespace Picojump.Migrator.Pages;

// Lookups, reads, writes and eviction.
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

    private readonly Lock _evictionLock = new();
    private long _puts;
    private long _duplicatePuts;
    private long _hits;
    private long _misses;
    private long _corruptReads;
    private long _evictions;
    private long _evictedBytes;

    public PageStoreStats Stats => new(
        Interlocked.Read(ref _puts),
        Interlocked.Read(ref _duplicatePuts),
        Interlocked.Read(ref _hits),
        Interlocked.Read(ref _misses),
        Interlocked.Read(ref _corruptReads),
        _store.Log.TailAddress - _store.Log.BeginAddress,
        Interlocked.Read(ref _evictions),
        Interlocked.Read(ref _evictedBytes));

    /// <summary>Whether the store holds the page (zeros always). See the note above on verification.</summary>
    public bool Contains(PageHash hash) => Missing([hash]).Count == 0;

    /// <summary>The hashes among <paramref name="hashes"/> the store does not hold, in their order.</summary>
    public IReadOnlyList<PageHash> Missing(IEnumerable<PageHash> hashes)
    {
        ArgumentNullException.ThrowIfNull(hashes);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
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
                LookUpBatch(batch, missing, toRefresh);
                batch.Clear();
            }
        }
        LookUpBatch(batch, missing, toRefresh);
        Refresh(toRefresh);
        return missing;
    }

    /// <summary>Stores a page under its hash; throws if the bytes do not hash to it. Putting a held page writes nothing.</summary>
    public void Put(PageHash hash, ReadOnlySpan<byte> page)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
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
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
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
        return ReadVerified(hash, page[..Pagemap.PageSize], countStats: true) >= 0;
    }

    /// <summary>Test hook: stores bytes under a key they need not hash to, as a damaged disk would.</summary>
    internal void PutUnverified(PageHash hash, ReadOnlySpan<byte> bytes) => Upsert(hash, bytes);

    /// <summary>Records below this address are in the oldest quarter of the budget, next in line for eviction.</summary>
    private long RefreshBelow() => _store.Log.TailAddress - (_options.MaxBytes / 4 * 3);

    /// <summary>Reads a page and checks it against its key; its log address, or -1 if absent or corrupt.</summary>
    private long ReadVerified(PageHash hash, Span<byte> page, bool countStats)
    {
        var session = _sessions.Rent();
        try
        {
            var (found, length, address) = Read(session, hash, page);
            if (!found)
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
        finally
        {
            _sessions.Return(session);
        }
    }

    private static unsafe (bool Found, int Length, long Address) Read(
        ClientSession<SpanByte, SpanByte, SpanByte, PageReadOutput, long, PageFunctions> session, PageHash hash, Span<byte> destination)
    {
        Span<byte> keyBytes = stackalloc byte[PageHash.Size];
        hash.WriteTo(keyBytes);
        fixed (byte* keyPointer = keyBytes)
        fixed (byte* destinationPointer = destination)
        {
            var key = SpanByte.FromPointer(keyPointer, keyBytes.Length);
            var output = new PageReadOutput { Destination = destinationPointer, Capacity = destination.Length };
            var status = session.Read(ref key, ref output, 0);
            var address = output.Address;
            if (status.IsPending)
            {
                // On disk: wait for the I/O; the buffer stays pinned until it lands.
                session.CompletePendingWithOutputs(out var completed, wait: true);
                using (completed)
                {
                    if (!completed.Next())
                    {
                        return (false, 0, -1);
                    }
                    status = completed.Current.Status;
                    output = completed.Current.Output;
                    address = completed.Current.RecordMetadata.Address;
                }
            }
            return status.Found ? (true, output.Length, address) : (false, 0, -1);
        }
    }

    /// <summary>Presence of a batch of pages: every read is issued first, then the disk reads are awaited together.</summary>
    private unsafe void LookUpBatch(List<PageHash> batch, List<PageHash> missing, List<PageHash> toRefresh)
    {
        if (batch.Count == 0)
        {
            return;
        }
        var found = new bool[batch.Count];
        var refreshBelow = RefreshBelow();
        var session = _sessions.Rent();
        try
        {
            Span<byte> keyBytes = stackalloc byte[PageHash.Size];
            for (var i = 0; i < batch.Count; i++)
            {
                batch[i].WriteTo(keyBytes);
                fixed (byte* keyPointer = keyBytes)
                {
                    var key = SpanByte.FromPointer(keyPointer, keyBytes.Length);
                    // No destination: presence only. A pending read keeps its own copy of the key.
                    var output = new PageReadOutput();
                    var status = session.Read(ref key, ref output, i);
                    if (!status.IsPending)
                    {
                        found[i] = Note(i, status, output, output.Address);
                    }
                }
            }
            session.CompletePendingWithOutputs(out var completed, wait: true);
            using (completed)
            {
                while (completed.Next())
                {
                    var index = (int)completed.Current.Context;
                    found[index] = Note(index, completed.Current.Status, completed.Current.Output, completed.Current.RecordMetadata.Address);
                }
            }
        }
        finally
        {
            _sessions.Return(session);
        }
        for (var i = 0; i < batch.Count; i++)
        {
            if (!found[i])
            {
                missing.Add(batch[i]);
            }
        }

        bool Note(int index, Status status, PageReadOutput output, long address)
        {
            if (!status.Found || output.Length != Pagemap.PageSize)
            {
                return false;
            }
            if (address < refreshBelow)
            {
                toRefresh.Add(batch[index]);
            }
            return true;
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

    private unsafe void Upsert(PageHash hash, ReadOnlySpan<byte> page)
    {
        Span<byte> keyBytes = stackalloc byte[PageHash.Size];
        hash.WriteTo(keyBytes);
        var session = _sessions.Rent();
        try
        {
            fixed (byte* keyPointer = keyBytes)
            fixed (byte* valuePointer = page)
            {
                var key = SpanByte.FromPointer(keyPointer, keyBytes.Length);
                var value = SpanByte.FromPointer(valuePointer, page.Length);
                session.Upsert(ref key, ref value);
            }
        }
        finally
        {
            _sessions.Return(session);
        }
        Interlocked.Increment(ref _puts);
        EvictIfOverBudget();
    }

    /// <summary>
    /// FIFO eviction: once the log exceeds MaxBytes, move its begin address up and let FASTER
    /// delete the segment files wholly below it; reads of dropped pages are misses. Shrinks to a
    /// segment below MaxBytes so this runs once per segment, not once per put.
    /// </summary>
    private void EvictIfOverBudget()
    {
        var log = _store.Log;
        if (log.TailAddress - log.BeginAddress <= _options.MaxBytes)
        {
            return;
        }
        lock (_evictionLock)
        {
            var begin = log.BeginAddress;
            var target = log.TailAddress - _options.MaxBytes + (1L << _layout.SegmentSizeBits);
            // Only what is already on disk: MaxBytes >= 2 x memory keeps this from binding in practice.
            target = Math.Min(target, log.HeadAddress);
            if (target <= begin)
            {
                return;
            }
            log.ShiftBeginAddress(target, truncateLog: true);
            Interlocked.Increment(ref _evictions);
            Interlocked.Add(ref _evictedBytes, target - begin);
        }
    }
}
