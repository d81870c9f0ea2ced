using Picojump.Migrator.LazyPages;
using Picojump.Migrator.Pages;

namespace Picojump.Migrator.Migration;

/// <summary>
/// What the destination's page server answers from during a hybrid migration. The source hashes
/// the frozen job's lazy pages once the restore is done (so that hashing is no part of the
/// downtime) and sends the hashes when done; until then a page is fetched from the source as it
/// is (unchecked). Once they are in (<see cref="SetMap"/>), a <see cref="HashedLazyPageSource"/>
/// serves every page the store holds and checks every page fetched. Requests of several pages
/// (CRIU's background fill, not a fault the job waits on) wait up to <c>hashWait</c> for the
/// hashes, so that a job whose pages this host mostly holds does not pull them over the network.
/// They wait in short turns, and after each turn without the hashes answer one page from the
/// source: CRIU's session answers in order, and the job's faults queued behind a request that
/// waited for the whole of it stalled the job (over a second on a 2 GiB return trip).
/// </summary>
internal sealed class HybridLazyPages(IPageSource store, ILazyPageSource upstream, TimeSpan hashWait) : ILazyPageSource
{
    /// <summary>How long a background request waits for the hashes before it takes one page from the source instead.</summary>
    private static readonly TimeSpan HashWaitTurn = TimeSpan.FromMilliseconds(20);

    private readonly TaskCompletionSource _mapped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly DateTime _waitUntil = DateTime.UtcNow + hashWait;
    private volatile HashedLazyPageSource? _hashed;
    private long _unhashed;

    public bool HasMap => _hashed != null;

    /// <summary>Store hits, fetched and checked, fetched unchecked (before the hashes, or without one).</summary>
    public LazyPageCounts Counts
    {
        get
        {
            var hashed = _hashed?.Counts ?? default;
            return hashed with { FetchedUnhashed = hashed.FetchedUnhashed + Interlocked.Read(ref _unhashed) };
        }
    }

    /// <summary>The hashes are in: from now on pages come from the store when it holds them, and are checked when fetched.</summary>
    public void SetMap(LazyPageMap map)
    {
        _hashed = new HashedLazyPageSource(map, store, upstream);
        _mapped.TrySetResult();
    }

    /// <summary>The hashes will not come (the source could not read them): fetch everything unchecked without waiting.</summary>
    public void NoMap() => _mapped.TrySetResult();

    public async ValueTask<int> ReadAsync(ulong pid, ulong vaddr, int pageCount, Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (_hashed == null && pageCount > 1 && !_mapped.Task.IsCompleted)
        {
            var left = _waitUntil - DateTime.UtcNow;
            if (left > TimeSpan.Zero)
            {
                try
                {
                    await _mapped.Task.WaitAsync(left < HashWaitTurn ? left : HashWaitTurn, cancellationToken);
                }
                catch (TimeoutException)
                {
                    // Still waiting for the hashes: one page now, the rest once CRIU asks again.
                    pageCount = 1;
                }
            }
        }
        if (_hashed is { } hashed)
            return await hashed.ReadAsync(pid, vaddr, pageCount, destination, cancellationToken);
        var read = await upstream.ReadAsync(pid, vaddr, pageCount, destination, cancellationToken);
        Interlocked.Add(ref _unhashed, read);
        return read;
    }
}
