using System.Collections.Concurrent;
using Picojump.Migrator.Jobs;
using Picojump.Migrator.Migration;
using Picojump.Migrator.Pages;

namespace Picojump.Migrator.Policy;

/// <summary>
/// Per job and candidate host, what a move there would not send: the share of a sample of the
/// job's memory that the host's page store holds (a job that ran there before left most of its
/// pages behind), and how many of the job's cached file blocks the host lacks. Taken in the
/// background and kept for <see cref="Refresh"/>, so an evaluation never waits on a peer; until
/// the first one is in, a candidate counts as holding nothing, which errs towards staying.
/// </summary>
internal sealed class TargetEstimates(MigrationCoordinator migrations, TimeSpan refresh)
{
    private sealed record Entry(DateTimeOffset Taken, IReadOnlyList<TargetEstimate> Targets);

    private readonly ConcurrentDictionary<string, Entry> _known = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _refreshing = new(StringComparer.Ordinal);

    public TimeSpan Refresh => refresh;

    /// <summary>The last estimates for the job; starts a refresh if they are older than <see cref="Refresh"/>.</summary>
    public IReadOnlyList<TargetEstimate> For(JobRecord job, long residentPages, IReadOnlyList<string> candidates, CancellationToken stop)
    {
        var known = _known.GetValueOrDefault(job.Id);
        // One refresh per job at a time: the entry is taken before the work starts.
        if ((known == null || DateTimeOffset.UtcNow - known.Taken > refresh) && candidates.Count > 0 && _refreshing.TryAdd(job.Id, true))
        {
            _ = Task.Run(async () =>
            {
                try
                {
                    await TakeAsync(job, residentPages, candidates, stop);
                }
                finally
                {
                    _refreshing.TryRemove(job.Id, out _);
                }
            }, CancellationToken.None);
        }
        return known?.Targets ?? [];
    }

    public void Forget(string jobId) => _known.TryRemove(jobId, out _);

    /// <summary>A host that does not answer counts as holding nothing; a failed round keeps the last estimates.</summary>
    private async Task TakeAsync(JobRecord job, long residentPages, IReadOnlyList<string> candidates, CancellationToken stop)
    {
        try
        {
            var sample = MemorySample.NonZeroPages(JobProcesses.InNamespace(job.PidNamespace), MemorySample.Pages, Random.Shared);
            var targets = new List<TargetEstimate>(candidates.Count);
            foreach (var host in candidates)
            {
                var share = await migrations.ShareOfPagesHeldAsync(host, sample, stop) ?? 0;
                var missingBlocks = await migrations.CachedBlocksMissingAsync(job.Id, host, stop) ?? 0;
                targets.Add(new TargetEstimate(host, (long)(residentPages * share), missingBlocks));
            }
            _known[job.Id] = new Entry(DateTimeOffset.UtcNow, targets);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or OperationCanceledException or Grpc.Core.RpcException)
        {
            // The job ended or moved meanwhile, or a host failed: the next evaluation asks again.
        }
    }
}
