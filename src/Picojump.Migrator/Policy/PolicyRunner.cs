using System.Collections.Concurrent;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Picojump.Fs.Accounting;
using Picojump.Fs.Cluster;
using Picojump.Migrator.Jobs;
using Picojump.Migrator.Migration;
using Picojump.Protos.Migration;

namespace Picojump.Migrator.Policy;

/// <summary>How the daemon runs the policy: the knobs that are not the engine's.</summary>
public sealed record PolicyRunnerOptions
{
    /// <summary>Off: every decision is "stay: policy off on this host".</summary>
    public bool Enabled { get; init; } = true;

    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(2);

    public Mode Mode { get; init; } = Mode.Eager;

    /// <summary>The bandwidth assumed on a link until it is measured (block streams and heartbeat probes).</summary>
    public double BytesPerSecond { get; init; } = 100 << 20;

    /// <summary>The freeze expected of a job that never moved (later: its last move's).</summary>
    public TimeSpan FirstFreeze { get; init; } = TimeSpan.FromSeconds(0.5);

    /// <summary>The round trip assumed for a peer the heartbeat has not timed yet.</summary>
    public TimeSpan UnknownRoundTrip { get; init; } = TimeSpan.FromMilliseconds(1);

    /// <summary>How old the estimates of what each candidate holds of a job may get (see <see cref="TargetEstimates"/>).</summary>
    public TimeSpan EstimateRefresh { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// The locality policy at work on one host: every <see cref="PolicyRunnerOptions.Interval"/> it
/// evaluates each running job of this host with the <see cref="PolicyEngine"/> (its traffic per
/// owner host from the accounting, the peers' links, its resident memory) and migrates the jobs
/// the engine says to move, one migration per job at a time. A job that arrives takes its policy
/// state from its migration history: the cooldown and the return hysteresis travel with it.
/// </summary>
/// <remarks>
/// Estimates, stated: a link carries what the peer set measured on it (block streams, heartbeat
/// probes), <see cref="PolicyRunnerOptions.BytesPerSecond"/> until then; what a target holds of
/// the job's pages and lacks of its cached blocks comes from <see cref="TargetEstimates"/>, a
/// few seconds old at most. Passthrough reads of local files are counted at open, as the file's size.
/// </remarks>
public sealed class PolicyRunner(
    PolicyEngine engine,
    PolicyRunnerOptions options,
    JobManager jobs,
    AccessAccounting accounting,
    PeerSet? peers,
    MigrationCoordinator? migrations,
    ILogger<PolicyRunner> logger)
{
    private readonly ConcurrentDictionary<string, Task> _moving = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (DecisionRule Rule, string? Target)> _logged = new(StringComparer.Ordinal);
    private readonly TargetEstimates? _estimates = migrations == null ? null : new TargetEstimates(migrations, options.EstimateRefresh);

    public PolicyEngine Engine => engine;

    public PolicyRunnerOptions Options => options;

    /// <summary>The accounting's key of a job: its PID namespace, as the file system sees its requests.</summary>
    public static string AccountingKey(JobRecord job) => $"pidns:{job.PidNamespace}";

    /// <summary>Evaluates until <paramref name="stop"/>; a failed round is logged and the next one comes.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                EvaluateAll(stop);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JobException)
            {
                logger.LogWarning("Policy round failed: {Error}", ex.Message);
            }
            try
            {
                await Task.Delay(options.Interval, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
        // A move under way finishes (or aborts) within the coordinator; its outcome is still recorded.
        await Task.WhenAll(_moving.Values);
    }

    /// <summary>One round: a decision for every running job of this host, and the moves they call for started.</summary>
    public void EvaluateAll(CancellationToken stop)
    {
        var running = jobs.List().Where(j => j.State == JobState.Running && j.Pid > 0).ToList();
        var here = running.Select(j => j.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var gone in engine.Jobs.Where(id => !here.Contains(id) && !_moving.ContainsKey(id)))
        {
            engine.Forget(gone);
            _logged.TryRemove(gone, out _);
            _estimates?.Forget(gone);
        }
        var snapshot = accounting.Snapshot(engine.Options.Window);
        var traffic = snapshot.Jobs.ToDictionary(j => j.JobKey, StringComparer.Ordinal);
        var cluster = View();
        foreach (var job in running.Where(j => j.MigrationId == null && !_moving.ContainsKey(j.Id)))
        {
            if (!engine.Jobs.Contains(job.Id, StringComparer.Ordinal))
                engine.Restore(job.Id, Arrived(job));
            var decision = engine.Evaluate(cluster, Observe(job, snapshot.Window, traffic.GetValueOrDefault(AccountingKey(job)), cluster, stop));
            Log(decision);
            PolicyMetrics.Record(decision);
            if (decision is { IsMove: true, Target: { } target } && migrations != null)
                Start(job, target, stop);
        }
    }

    private ClusterView View()
    {
        var links = peers?.Peers.Select(p => new HostLink(
            p.Name,
            p.Reachable && p.Status.LastSeen != null,
            p.Status.BytesPerSecond > 0 ? p.Status.BytesPerSecond : options.BytesPerSecond,
            p.Status.RoundTrip ?? options.UnknownRoundTrip)).ToList() ?? [];
        return new ClusterView(options.Enabled, links);
    }

    private JobObservation Observe(JobRecord job, TimeSpan window, JobAccess? access, ClusterView cluster, CancellationToken stop)
    {
        var traffic = access?.Window.Select(o => new OwnerTraffic(o.OwnerHost, o.Ops, o.BytesRead + o.BytesWritten)).ToList() ?? [];
        var freeze = job.Migrations is [.., var last] ? TimeSpan.FromMicroseconds(last.FreezeMicros) : options.FirstFreeze;
        var residentPages = job.RssBytes / engine.Options.PageSize;
        var candidates = cluster.Links.Where(l => l.Reachable).Select(l => l.Host).ToList();
        var targets = _estimates?.For(job, residentPages, candidates, stop) ?? [];
        return new JobObservation(job.Id, jobs.HostName, window, traffic, residentPages, targets, freeze)
        {
            PolicyEnabled = job.PolicyEnabled,
            PinnedHost = job.PinnedHost,
        };
    }

    /// <summary>The state a job brings along: its last move starts the cooldown, and the host it left needs the larger margin.</summary>
    public static JobPolicyState Arrived(JobRecord job)
        => job.Migrations is [.., var last]
            ? new JobPolicyState
            {
                LastMigrationAt = DateTimeOffset.FromUnixTimeMilliseconds(last.StartedUnixMs) + TimeSpan.FromMicroseconds(last.FreezeMicros),
                LastLeftHost = last.From,
            }
            : JobPolicyState.Initial;

    private void Start(JobRecord job, string target, CancellationToken stop)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_moving.TryAdd(job.Id, done.Task))
            return;
        _ = Task.Run(async () =>
        {
            try
            {
                var reply = await migrations!.MigrateAsync(job.Id, target, options.Mode, stop);
                engine.RecordMigration(job.Id, jobs.HostName, reply.Moved);
                if (reply.Moved)
                    logger.LogInformation("Policy moved job {Job} to {Target}: freeze {Freeze} ms, {Bytes} bytes", job.Id, target, reply.FreezeMicros / 1000, reply.Bytes);
                else
                    logger.LogWarning("Policy could not move job {Job} to {Target}: {Error}", job.Id, target, reply.Error);
            }
            catch (Exception ex) when (ex is MigrationException or JobException or RpcException or IOException or OperationCanceledException)
            {
                engine.RecordMigration(job.Id, jobs.HostName, succeeded: false);
                logger.LogWarning("Policy could not move job {Job} to {Target}: {Error}", job.Id, target, ex.Message);
            }
            finally
            {
                _moving.TryRemove(job.Id, out _);
                done.SetResult();
            }
        }, CancellationToken.None);
    }

    /// <summary>A decision is logged when it differs from the job's last logged one: the journal shows the changes, status shows every decision.</summary>
    private void Log(Decision decision)
    {
        var key = (decision.Rule, decision.Target);
        if (_logged.TryGetValue(decision.JobKey, out var last) && last == key)
            return;
        _logged[decision.JobKey] = key;
        logger.LogInformation("Policy, job {Job}: {Reason}", decision.JobKey, decision.Reason);
    }
}
