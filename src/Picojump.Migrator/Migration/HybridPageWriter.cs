using System.Collections.Concurrent;
using Picojump.Migrator.Images;
using Picojump.Migrator.Pages;

namespace Picojump.Migrator.Migration;

/// <summary>
/// Puts the pages a hybrid migration moves into a page store on a thread of its own, so that
/// storing them (for the job's next trip) never delays a reply to a page fault. Pages are named
/// by their content hash. At most <c>maxQueuedBytes</c> wait; beyond that pages are dropped
/// (only a later trip's dedup suffers, never the job).
/// </summary>
internal sealed class HybridPageWriter : IDisposable
{
    private readonly PageStore _store;
    private readonly long _maxQueuedBytes;
    private readonly BlockingCollection<byte[]> _queue = new(new ConcurrentQueue<byte[]>());
    private readonly Thread _worker;
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _queued;
    private long _written;
    private long _dropped;

    public HybridPageWriter(PageStore store, long maxQueuedBytes = 256L << 20)
    {
        _store = store;
        _maxQueuedBytes = maxQueuedBytes;
        _worker = new Thread(Work) { IsBackground = true, Name = "hybrid page writer" };
        _worker.Start();
    }

    public long Written => Interlocked.Read(ref _written);

    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Finishes once every queued page is stored (after <see cref="Complete"/>).</summary>
    public Task Completion => _done.Task;

    /// <summary>Queues whole pages (a copy is taken).</summary>
    public void Offer(ReadOnlySpan<byte> pages)
    {
        if (pages.IsEmpty || _queue.IsAddingCompleted)
            return;
        if (Interlocked.Add(ref _queued, pages.Length) > _maxQueuedBytes)
        {
            Interlocked.Add(ref _queued, -pages.Length);
            Interlocked.Add(ref _dropped, pages.Length / Pagemap.PageSize);
            return;
        }
        try
        {
            _queue.Add(pages.ToArray());
        }
        catch (InvalidOperationException)
        {
            Interlocked.Add(ref _queued, -pages.Length);
        }
    }

    /// <summary>No more pages; <see cref="Completion"/> finishes when the queued ones are stored.</summary>
    public void Complete() => _queue.CompleteAdding();

    public void Dispose()
    {
        Complete();
        _worker.Join();
        _queue.Dispose();
    }

    private void Work()
    {
        try
        {
            foreach (var pages in _queue.GetConsumingEnumerable())
            {
                for (var at = 0; at + Pagemap.PageSize <= pages.Length; at += Pagemap.PageSize)
                {
                    var page = pages.AsSpan(at, Pagemap.PageSize);
                    try
                    {
                        _store.Put(PageHash.Of(page), page);
                        Interlocked.Increment(ref _written);
                    }
                    catch (ObjectDisposedException)
                    {
                        Interlocked.Increment(ref _dropped);
                    }
                }
                Interlocked.Add(ref _queued, -pages.Length);
            }
        }
        finally
        {
            _done.TrySetResult();
        }
    }
}
