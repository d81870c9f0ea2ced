using static Picojump.Migrator.Policy.PolicyText;

namespace Picojump.Migrator.Policy;

/// <summary>
/// What the policy remembers about a job between evaluations: the host that has been clearing
/// the margin and for how many evaluations in a row, and the last migration (or attempt).
/// </summary>
public sealed record JobPolicyState
{
    public static JobPolicyState Initial { get; } = new();

    /// <summary>The host that cleared the margin in the last <see cref="Streak"/> evaluations.</summary>
    public string? StreakHost { get; init; }

    public int Streak { get; init; }

    /// <summary>When the job last migrated, or a migration of it failed: the cooldown runs from here.</summary>
    public DateTimeOffset? LastMigrationAt { get; init; }

    /// <summary>The host the job left in its last successful migration: going back there needs the larger margin.</summary>
    public string? LastLeftHost { get; init; }

    internal JobPolicyState WithoutStreak()
        => Streak == 0 && StreakHost is null ? this : this with { StreakHost = null, Streak = 0 };

    /// <summary>
    /// After a migration from <paramref name="fromHost"/> at <paramref name="at"/>: the cooldown
    /// starts and the streak is over. A failed attempt starts the cooldown too (no retry at
    /// every evaluation) but leaves nothing behind to return to.
    /// </summary>
    public JobPolicyState AfterMigration(string fromHost, DateTimeOffset at, bool succeeded)
        => succeeded
            ? new JobPolicyState { LastMigrationAt = at, LastLeftHost = fromHost }
            : this with { LastMigrationAt = at, StreakHost = null, Streak = 0 };
}

/// <summary>
/// The locality policy as a pure function: the same options, state, view and observation at the
/// same instant give the same decision and next state, whatever the order of the input lists.
/// </summary>
/// <remarks>
/// Per window, the gain of moving to host H is the time the job's traffic to H costs now
/// (ops x RTT + bytes / bandwidth, over the link to H) minus what its traffic to the current
/// host would cost from H (the same link, taken as symmetric). Traffic to third hosts stays
/// remote either way and counts for nothing: the current host has no measure of H's links.
/// The cost is the bytes to send (resident pages H does not hold, cached blocks H lacks) over
/// the bandwidth to H, plus the expected freeze. The next window is assumed to behave like
/// the last; a window not yet full (a young job) underestimates the gain, which errs towards
/// staying. Shares are of bytes: a job doing only metadata operations never moves.
/// The rules, in order: policy off (host, then job); pin (stay on it, or move to it once the
/// cooldown allows, with no margin or hysteresis); cooldown; no bytes; remote share at or below
/// the threshold; no candidate; no candidate clearing its margin; fewer consecutive wins than
/// the hysteresis (the return hysteresis for the host left less than the return cooldown ago);
/// otherwise move to the best candidate.
/// </remarks>
public static class LocalityPolicy
{
    public static (Decision Decision, JobPolicyState State) Decide(
        PolicyOptions options, JobPolicyState state, ClusterView cluster, JobObservation job, DateTimeOffset now)
    {
        var current = job.CurrentHost;
        var window = Seconds(job.Window);
        var locality = Measure(job);
        var candidates = Score(options, state, cluster, job, now);
        var reset = state.WithoutStreak();

        (Decision, JobPolicyState) Stay(DecisionRule rule, string reason, JobPolicyState next)
            => (new Decision(job.JobKey, now, DecisionKind.Stay, rule, current, null, "stay: " + reason,
                locality, candidates, next.Streak), next);

        (Decision, JobPolicyState) Move(DecisionRule rule, string target, string reason, JobPolicyState next)
            => (new Decision(job.JobKey, now, DecisionKind.Move, rule, current, target, $"move to {target}: {reason}",
                locality, candidates, next.Streak), next);

        if (!cluster.PolicyEnabled)
            return Stay(DecisionRule.PolicyOffHost, "policy off on this host", reset);
        if (!job.PolicyEnabled)
            return Stay(DecisionRule.PolicyOffJob, "policy off for this job", reset);

        var cooldownLeft = state.LastMigrationAt is { } last ? last + options.Cooldown - now : TimeSpan.Zero;

        if (job.PinnedHost is { } pin)
        {
            if (string.Equals(pin, current, StringComparison.Ordinal))
                return Stay(DecisionRule.Pinned, $"pinned to {pin}", reset);
            if (FindLink(cluster, pin) is not { Reachable: true })
                return Stay(DecisionRule.PinUnreachable, $"pinned to {pin}, which is unreachable", reset);
            if (cooldownLeft > TimeSpan.Zero)
                return Stay(DecisionRule.Cooldown, $"pinned to {pin}, moving there when the cooldown ends ({SecondsLeft(cooldownLeft)} left)", reset);
            return Move(DecisionRule.MoveToPin, pin, $"pinned to {pin}", reset);
        }

        if (cooldownLeft > TimeSpan.Zero)
        {
            var since = state.LastLeftHost is { } left ? $" since the move from {left}" : " since the last migration attempt";
            return Stay(DecisionRule.Cooldown, $"cooldown {SecondsLeft(cooldownLeft)} left{since}", reset);
        }
        if (locality.TotalBytes == 0)
            return Stay(DecisionRule.NoTraffic, $"no bytes read or written in the last {window}", reset);
        if (locality.RemoteShare <= options.MinRemoteShare)
            return Stay(DecisionRule.MostlyLocal,
                $"{Percent(locality.LocalShare)} of bytes ({Bytes(locality.TotalBytes)}/{window}) are local; " +
                $"moving needs more than {Percent(options.MinRemoteShare)} remote", reset);
        if (candidates.Count == 0)
            return Stay(DecisionRule.NoCandidate,
                $"{Percent(locality.RemoteShare)} of bytes are remote, but no reachable host with the policy on to move to", reset);

        var best = candidates[0];
        if (!best.Qualifies)
        {
            // Explain the host the data is on, if it could be a target: that is the one a reader wonders about.
            var subject = candidates.FirstOrDefault(c => string.Equals(c.Host, locality.RecommendedHost, StringComparison.Ordinal)) ?? best;
            return Stay(DecisionRule.NotWorthIt,
                $"{subject.Host} ({Percent(locality.ShareOf(subject.Host))} of bytes) would gain {Seconds(subject.Gain)} per {window}, " +
                $"not more than {Margin(options, subject)}", reset);
        }

        var bestShare = Percent(locality.ShareOf(best.Host));

        var streak = string.Equals(state.StreakHost, best.Host, StringComparison.Ordinal) ? state.Streak + 1 : 1;
        var counting = state with { StreakHost = best.Host, Streak = streak };
        var needed = best.IsReturn ? options.ReturnHysteresis : options.Hysteresis;
        if (streak < needed)
            return Stay(DecisionRule.Confirming,
                $"{best.Host} ({bestShare} of bytes) beats {current}, gain {Seconds(best.Gain)} > {Margin(options, best)}; " +
                $"{streak} of {needed} evaluations", counting);

        var bestBytes = locality.Hosts.First(h => string.Equals(h.Host, best.Host, StringComparison.Ordinal)).Bytes;
        return Move(DecisionRule.Move, best.Host,
            $"{bestShare} of bytes ({Bytes(bestBytes)}/{window}) go to {best.Host}; gain {Seconds(best.Gain)} > {Margin(options, best)}",
            counting);
    }

    /// <summary>The job's bytes per owner host and the host with most of them (the current one on a tie, then by name).</summary>
    public static Locality Measure(JobObservation job)
    {
        var current = job.CurrentHost;
        var perHost = Aggregate(job.Traffic);
        perHost.TryAdd(current, (0, 0));
        var totalBytes = perHost.Values.Sum(t => t.Bytes);
        var totalOps = perHost.Values.Sum(t => t.Ops);
        double ShareOf(long bytes) => totalBytes == 0 ? 0 : (double)bytes / totalBytes;
        var hosts = perHost
            .Select(kv => new HostShare(kv.Key, kv.Value.Ops, kv.Value.Bytes, ShareOf(kv.Value.Bytes),
                string.Equals(kv.Key, current, StringComparison.Ordinal)))
            .OrderByDescending(h => h.Bytes)
            .ThenByDescending(h => h.IsLocal)
            .ThenBy(h => h.Host, StringComparer.Ordinal)
            .ToList();
        var recommended = totalBytes == 0 ? current : hosts[0].Host;
        return new Locality(job.Window, totalBytes, totalOps, ShareOf(perHost[current].Bytes), hosts, recommended);
    }

    private static List<CandidateScore> Score(
        PolicyOptions options, JobPolicyState state, ClusterView cluster, JobObservation job, DateTimeOffset now)
    {
        var traffic = Aggregate(job.Traffic);
        var local = traffic.GetValueOrDefault(job.CurrentHost);
        var returnWindow = state.LastLeftHost is not null && state.LastMigrationAt is { } last && now < last + options.ReturnCooldown;
        var scores = new List<CandidateScore>();
        foreach (var link in cluster.Links
            .DistinctBy(l => l.Host, StringComparer.Ordinal)
            .Where(l => l.Reachable && l.PolicyEnabled && double.IsFinite(l.BytesPerSecond) && l.BytesPerSecond > 0
                && !string.Equals(l.Host, job.CurrentHost, StringComparison.Ordinal)))
        {
            var there = traffic.GetValueOrDefault(link.Host);
            double TimeOver((long Ops, long Bytes) t) => t.Ops * link.RoundTrip.TotalSeconds + t.Bytes / link.BytesPerSecond;
            var gain = TimeOver(there) - TimeOver(local);

            var estimate = job.Targets.FirstOrDefault(t => string.Equals(t.Host, link.Host, StringComparison.Ordinal));
            var missingPages = Math.Max(0, job.ResidentPages - Math.Max(0, estimate?.PagesHeld ?? 0));
            var missingBlocks = Math.Max(0, estimate?.CachedBlocksMissing ?? 0);
            var bytesToSend = missingPages * options.PageSize + missingBlocks * options.BlockSize;
            var cost = bytesToSend / link.BytesPerSecond + Math.Max(0, job.ExpectedFreeze.TotalSeconds);

            var isReturn = returnWindow && string.Equals(link.Host, state.LastLeftHost, StringComparison.Ordinal);
            var scale = isReturn ? options.ReturnMarginFactor : 1;
            var required = double.IsPositiveInfinity(scale)
                ? double.PositiveInfinity
                : scale * (cost * options.MarginFactor + options.MarginAbsolute.TotalSeconds);
            scores.Add(new CandidateScore(link.Host, Span(gain), Span(cost), Span(required), bytesToSend, isReturn));
        }
        return
        [
            .. scores
                .OrderByDescending(s => s.Qualifies)
                .ThenByDescending(s => s.Gain.TotalSeconds - s.Cost.TotalSeconds)
                .ThenBy(s => s.Host, StringComparer.Ordinal),
        ];
    }

    private static string Margin(PolicyOptions options, CandidateScore score)
    {
        var cost = $"cost {Seconds(score.Cost)}";
        if (score.IsReturn && double.IsPositiveInfinity(options.ReturnMarginFactor))
            return $"{cost}, but returns to {score.Host} are blocked for {Seconds(options.ReturnCooldown)} after leaving it";
        var scale = score.IsReturn ? options.ReturnMarginFactor : 1;
        var text = $"{cost} x margin {Factor(options.MarginFactor * scale)}";
        if (options.MarginAbsolute > TimeSpan.Zero)
            text += $" + {Seconds(options.MarginAbsolute * scale)}";
        if (score.IsReturn)
            text += $" (a return to {score.Host}, left less than {Seconds(options.ReturnCooldown)} ago)";
        return text;
    }

    private static HostLink? FindLink(ClusterView cluster, string host)
        => cluster.Links.FirstOrDefault(l => string.Equals(l.Host, host, StringComparison.Ordinal));

    private static Dictionary<string, (long Ops, long Bytes)> Aggregate(IEnumerable<OwnerTraffic> traffic)
    {
        var perHost = new Dictionary<string, (long Ops, long Bytes)>(StringComparer.Ordinal);
        foreach (var t in traffic)
        {
            var sum = perHost.GetValueOrDefault(t.Host);
            perHost[t.Host] = (sum.Ops + Math.Max(0, t.Ops), sum.Bytes + Math.Max(0, t.Bytes));
        }
        return perHost;
    }

    /// <summary>Seconds to a TimeSpan, saturating: a crawling link gives a huge cost, not an overflow.</summary>
    private static TimeSpan Span(double seconds)
    {
        if (double.IsNaN(seconds))
            return TimeSpan.Zero;
        if (seconds >= TimeSpan.MaxValue.TotalSeconds)
            return TimeSpan.MaxValue;
        if (seconds <= TimeSpan.MinValue.TotalSeconds)
            return TimeSpan.MinValue;
        return TimeSpan.FromSeconds(seconds);
    }
}
