using System.Collections.Concurrent;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Picojump.Fs.Accounting;
using Picojump.Fs.WorkingSet;
using Picojump.Migrator.Jobs;
using Picojump.Protos.Migration;
using WorkingSetReport = Picojump.Fs.WorkingSet.WorkingSetReport;

namespace Picojump.Migrator.Migration;

// The job's file working set moves with it. Once the job is frozen its set is final: S offers
// it (the cache keys of the remote blocks it read last) beside the transfer, and D warms its
// block cache from the nearest holder while the transfer, the restore and the commit go on, so
// the job's first reads after the resume hit D's cache. Best effort and bounded
// (WorkingSetPatience): the offer's outcome never aborts, decides or holds up a migration; the
// source's reply waits for the report no longer than the bound.
public sealed partial class MigrationCoordinator
{
    /// <summary>Where this host's jobs' remote reads are recorded (their working sets); null: none kept.</summary>
    public AccessAccounting? Accounting { get; init; }

    /// <summary>Warms this host's block cache with an arriving job's working set; null: this host has no block cache.</summary>
    public CacheWarmer? Warmer { get; init; }

    /// <summary>Destination: warm-ups that ended before their migration's commit, until the commit records them.</summary>
    private readonly ConcurrentDictionary<string, WorkingSetReport> _warmedEarly = new(StringComparer.Ordinal);

    private readonly Lock _warmGate = new();

    /// <summary>
    /// How many of job <paramref name="jobId"/>'s working-set blocks <paramref name="host"/> lacks
    /// (for the policy's CachedBlocksMissing): one small call to that host, no data moved.
    /// 0 for a job that read no remote blocks; null if unknown (no such job, or the host did not answer).
    /// </summary>
    public async Task<long?> CachedBlocksMissingAsync(string jobId, string host, CancellationToken cancel)
    {
        if (_jobs.Get(jobId) is not { } job || Warmer == null)
            return null;
        var blocks = WorkingSetOf(job);
        return blocks.Count == 0 ? 0 : await Warmer.CountMissingAsync(host, blocks, cancel);
    }

    /// <summary>The remote blocks the job read since it started or arrived here (the last migration brought it).</summary>
    private IReadOnlyList<WorkingSetBlock> WorkingSetOf(JobRecord job)
    {
        var since = job.Migrations.Count > 0 ? job.Migrations[^1].StartedUnixMs : job.StartedUnixMs;
        return Accounting?.WorkingSet(JobId.PidNamespaceKey(job.PidNamespace), DateTimeOffset.FromUnixTimeMilliseconds(since)) ?? [];
    }

    /// <summary>S, the job frozen: offers its working set to D; the task gives D's report, null if there was nothing to offer or D did not answer.</summary>
    private Task<WorkingSetReport?> OfferWorkingSetAsync(MigrationRecord record, JobRecord job)
    {
        var blocks = WorkingSetOf(job);
        if (blocks.Count == 0 || Client(record.Peer) is not { } client)
            return Task.FromResult<WorkingSetReport?>(null);
        if (Faults.Has(FaultInjection.WorkingSetEvicted))
            Warmer?.Forget(blocks);
        var offer = new WorkingSetOffer { MigrationId = record.Id, SourceHost = HostName };
        offer.Files.AddRange(CachedFiles.ToWire(blocks));
        return Task.Run(async () =>
        {
            try
            {
                var reply = await client.WorkingSetAsync(offer, deadline: DateTime.UtcNow + _options.WorkingSetPatience + _options.PeerTimeout);
                return (WorkingSetReport?)WorkingSetWire.FromWire(reply);
            }
            catch (RpcException ex)
            {
                _logger.LogInformation("Migration {Id}: {To} took no working set ({Status}: {Error}); the job reads its files on demand there",
                    record.Id, record.Peer, ex.StatusCode, ex.Status.Detail);
                return null;
            }
        });
    }

    /// <summary>S, after the commit: D's report into the reply, waited for no longer than the offer's own deadline.</summary>
    private static async Task AddWorkingSetAsync(MigrateReply reply, Task<WorkingSetReport?> offered)
    {
        if (await offered is { } report)
            reply.WorkingSet = WorkingSetWire.ToWire(report);
    }

    /// <summary>D: warms the cache with the offered working set and answers how; the warm-up goes on if S stops waiting.</summary>
    public async Task<Protos.Migration.WorkingSetReport> WorkingSetAsync(WorkingSetOffer offer, CancellationToken cancel)
    {
        if (!MigrationStore.IsId(offer.MigrationId))
            throw new MigrationException($"bad migration id {offer.MigrationId}", StatusCode.InvalidArgument);
        if (Warmer == null)
            throw new MigrationException($"{HostName} has no block cache");
        var blocks = CachedFiles.FromWire(offer.Files);
        var warming = Warmer.WarmAsync(blocks, offer.SourceHost, _options.WorkingSetPatience, CancellationToken.None);
        _ = warming.ContinueWith(t => RecordWarmUp(offer.MigrationId, t.Result), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
        return WorkingSetWire.ToWire(await warming.WaitAsync(cancel));
    }

    /// <summary>D: a warm-up ended; into the job's migration entry if the commit came first, else kept for it.</summary>
    private void RecordWarmUp(string id, WorkingSetReport report)
    {
        lock (_warmGate)
        {
            var record = _records.Load(id);
            if (record is { Role: MigrationRole.Destination, Phase: MigrationPhase.Committed })
                AttachWorkingSet(record, report);
            else if (record is not { Phase: MigrationPhase.Aborted })
                _warmedEarly[id] = report;
        }
    }

    /// <summary>D, once the commit is recorded: the warm-up's report into the job's entry, if it ended already.</summary>
    private void AttachEarlyWarmUp(MigrationRecord record)
    {
        lock (_warmGate)
        {
            if (_warmedEarly.TryRemove(record.Id, out var report))
                AttachWorkingSet(record, report);
        }
    }

    private void AttachWorkingSet(MigrationRecord record, WorkingSetReport report)
        => _jobs.UpdateLastMigration(record.JobId, m => m.StartedUnixMs == record.StartedUnixMs && m.To == HostName ? m with { WorkingSet = report } : m);
}

/// <summary>Working-set reports between the file system's record and the wire (migration replies, job listings).</summary>
public static class WorkingSetWire
{
    public static Protos.Migration.WorkingSetReport ToWire(WorkingSetReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var wire = new Protos.Migration.WorkingSetReport
        {
            BlocksOffered = report.Offered,
            BlocksHeld = report.Held,
            BlocksLocal = report.Local,
            BlocksStale = report.Stale,
            BlocksFailed = report.Failed,
            Micros = report.Elapsed.Ticks / TimeSpan.TicksPerMicrosecond,
        };
        wire.Fetched.AddRange(report.Fetched.Select(f => new BlockSource { Host = f.Host, Role = f.Role, Blocks = f.Blocks, Bytes = f.Bytes }));
        return wire;
    }

    public static WorkingSetReport FromWire(Protos.Migration.WorkingSetReport wire)
    {
        ArgumentNullException.ThrowIfNull(wire);
        return new WorkingSetReport(wire.BlocksOffered, wire.BlocksHeld, wire.BlocksLocal, wire.BlocksStale,
            [.. wire.Fetched.Select(f => new BlockSourceCount(f.Host, f.Role, f.Blocks, f.Bytes))], wire.BlocksFailed,
            TimeSpan.FromTicks(wire.Micros * TimeSpan.TicksPerMicrosecond));
    }
}
