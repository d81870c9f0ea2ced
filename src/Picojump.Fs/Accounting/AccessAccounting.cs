using System.Collections.Concurrent;
using Picojump.Fs.WorkingSet;

namespace Picojump.Fs.Accounting;

/// <summary>
/// Counts every file operation per job and per owner host of the file: totals since the job
/// was first seen, and a sliding window of the last <see cref="MaxWindowSeconds"/> seconds in
/// 1 s buckets (what the migration policy weighs). Called from every FUSE reader thread:
/// lookups are lock-free, and the only lock is per job and owner. Jobs idle for
/// <see cref="IdleTimeout"/> are dropped, so memory follows the live jobs. Each job's working set
/// (the remote blocks it read last, at most <see cref="WorkingSetBlocks"/>) is kept longer,
/// <see cref="WorkingSetIdleTimeout"/>: a job that read its input once and computes since still
/// wants it where it moves.
/// </summary>
public sealed class AccessAccounting(JobResolver resolver, TimeProvider time) : IAccessRecorder
{
    public const int MaxWindowSeconds = 60;

    public static readonly TimeSpan IdleTimeout = TimeSpan.FromMinutes(10);

    public static readonly TimeSpan WorkingSetIdleTimeout = TimeSpan.FromHours(2);

    private static readonly long SweepIntervalTicks = TimeSpan.FromSeconds(30).Ticks;

    private readonly ConcurrentDictionary<string, JobCounters> _jobs = new(StringComparer.Ordinal);
    private long _lastSweepTicks = time.GetUtcNow().UtcTicks;

    public AccessAccounting()
        : this(new JobResolver(), TimeProvider.System)
    {
    }

    /// <summary>One operation of process <paramref name="pid"/> on a file owned by <paramref name="ownerHost"/>; <paramref name="remoteLatency"/> is zero for local ones.</summary>
    public void Record(int pid, string ownerHost, long bytesRead, long bytesWritten, TimeSpan remoteLatency)
        => Record(resolver.Resolve(pid), ownerHost, bytesRead, bytesWritten, remoteLatency);

    /// <summary>Blocks kept per job's working set (256: 256 MiB of 1 MiB blocks).</summary>
    public int WorkingSetBlocks { get; init; } = 256;

    public void RecordBlock(int pid, in WorkingSetBlock block) => RecordBlock(resolver.Resolve(pid), block);

    /// <summary>The same, for a caller that knows the job already.</summary>
    public void RecordBlock(JobId job, in WorkingSetBlock block)
    {
        var counters = _jobs.GetOrAdd(job.Key, static (_, job) => new JobCounters(job), job);
        counters.Blocks(WorkingSetBlocks).Add(block, time.GetUtcNow().UtcTicks);
    }

    /// <summary>
    /// The remote blocks job <paramref name="jobKey"/> (e.g. "pidns:4026532201") read last, most
    /// recent first; empty if none. Only those read since <paramref name="since"/> (when the job
    /// started or arrived here): a PID namespace's inode is reused once it is freed, and the
    /// blocks of a job that left under the same key are not this one's.
    /// </summary>
    public IReadOnlyList<WorkingSetBlock> WorkingSet(string jobKey, DateTimeOffset since)
        => _jobs.TryGetValue(jobKey, out var job) && job.RecentBlocks is { } blocks ? blocks.Snapshot(since.UtcTicks) : [];

    /// <summary>The same, for a caller that knows the job already.</summary>
    public void Record(JobId job, string ownerHost, long bytesRead, long bytesWritten, TimeSpan remoteLatency)
    {
        var now = time.GetUtcNow().UtcTicks;
        var counters = _jobs.GetOrAdd(job.Key, static (_, job) => new JobCounters(job), job);
        counters.Owner(ownerHost, now).Add(now, bytesRead, bytesWritten, remoteLatency.Ticks);
        var lastSweep = Volatile.Read(ref _lastSweepTicks);
        if (now - lastSweep > SweepIntervalTicks && Interlocked.CompareExchange(ref _lastSweepTicks, now, lastSweep) == lastSweep)
            DropIdle(now);
    }

    /// <summary>Every job, by key; <paramref name="window"/> is clamped to 1..<see cref="MaxWindowSeconds"/> s and rounded up to whole seconds, the current one included.</summary>
    public AccountingSnapshot Snapshot(TimeSpan window)
    {
        var now = time.GetUtcNow();
        DropIdle(now.UtcTicks);
        var seconds = Math.Clamp((int)Math.Ceiling(window.TotalSeconds), 1, MaxWindowSeconds);
        var afterSecond = now.UtcTicks / TimeSpan.TicksPerSecond - seconds;
        var jobs = _jobs.Values
            .Select(job =>
            {
                var owners = job.Owners.OrderBy(o => o.OwnerHost, StringComparer.Ordinal).ToList();
                return new JobAccess(job.Id.Key, job.Id.Label,
                    [.. owners.Select(o => o.Totals())],
                    [.. owners.Select(o => o.Since(afterSecond)).OfType<OwnerAccess>()]);
            })
            .OrderBy(j => j.JobKey, StringComparer.Ordinal)
            .ToList();
        return new AccountingSnapshot(now, TimeSpan.FromSeconds(seconds), jobs);
    }

    /// <summary>
    /// Forgets jobs and owners idle for <see cref="IdleTimeout"/>. An operation racing with its
    /// job's removal after that long an idle time may go uncounted; no lock is worth that.
    /// </summary>
    private void DropIdle(long nowTicks)
    {
        var cutoff = nowTicks - IdleTimeout.Ticks;
        foreach (var (key, job) in _jobs)
        {
            job.DropIdleOwners(cutoff);
            job.DropIdleBlocks(nowTicks - WorkingSetIdleTimeout.Ticks);
            if (job.IsEmpty)
                _jobs.TryRemove(key, out _);
        }
    }

    private sealed class JobCounters(JobId id)
    {
        private readonly ConcurrentDictionary<string, OwnerCounters> _owners = new(StringComparer.Ordinal);

        private RecentBlocks? _blocks;

        public JobId Id => id;

        public IEnumerable<OwnerCounters> Owners => _owners.Values;

        public RecentBlocks? RecentBlocks => Volatile.Read(ref _blocks);

        public bool IsEmpty => _owners.IsEmpty && RecentBlocks == null;

        public OwnerCounters Owner(string host, long nowTicks)
            => _owners.GetOrAdd(host, static (h, t) => new OwnerCounters(h, t), nowTicks);

        public RecentBlocks Blocks(int capacity)
        {
            var blocks = Volatile.Read(ref _blocks);
            if (blocks != null)
                return blocks;
            Interlocked.CompareExchange(ref _blocks, new RecentBlocks(capacity), null);
            return _blocks!;
        }

        public void DropIdleBlocks(long cutoffTicks)
        {
            if (Volatile.Read(ref _blocks) is { } blocks && blocks.LastTicks < cutoffTicks)
                Interlocked.CompareExchange(ref _blocks, null, blocks);
        }

        public void DropIdleOwners(long cutoffTicks)
        {
            foreach (var (host, owner) in _owners)
                if (owner.LastSeenTicks < cutoffTicks)
                    _owners.TryRemove(host, out _);
        }
    }
}
