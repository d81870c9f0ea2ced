namespace Picojump.Migrator.Policy;

public enum DecisionKind
{
    Stay,
    Move,
}

/// <summary>Which rule settled a decision: a stable label for metrics and machine readers; the reason is for people.</summary>
public enum DecisionRule
{
    /// <summary>The policy is off on the job's current host.</summary>
    PolicyOffHost,

    /// <summary>The policy is off for the job.</summary>
    PolicyOffJob,

    /// <summary>The job is pinned to its current host.</summary>
    Pinned,

    /// <summary>The job is pinned to another host, which is unreachable.</summary>
    PinUnreachable,

    /// <summary>The job is pinned to another host: move there.</summary>
    MoveToPin,

    /// <summary>Too soon after the last migration.</summary>
    Cooldown,

    /// <summary>No bytes read or written in the window.</summary>
    NoTraffic,

    /// <summary>The remote share of bytes is at or below the threshold.</summary>
    MostlyLocal,

    /// <summary>No reachable host with the policy on, other than the current one.</summary>
    NoCandidate,

    /// <summary>No host's gain clears its cost with the margin.</summary>
    NotWorthIt,

    /// <summary>A host clears the margin, but not yet in enough consecutive evaluations.</summary>
    Confirming,

    /// <summary>A host cleared the margin long enough: move there.</summary>
    Move,
}

/// <summary>One owner host's part of the job's traffic over the window; <see cref="Share"/> is of bytes.</summary>
public sealed record HostShare(string Host, long Ops, long Bytes, double Share, bool IsLocal);

/// <summary>
/// Where the job's bytes went over <see cref="Window"/>: per owner host (most bytes first, the
/// current host always listed), the local share, and the host holding most of them.
/// </summary>
public sealed record Locality(
    TimeSpan Window,
    long TotalBytes,
    long TotalOps,
    double LocalShare,
    IReadOnlyList<HostShare> Hosts,
    string RecommendedHost)
{
    public double RemoteShare => TotalBytes == 0 ? 0 : 1 - LocalShare;

    /// <summary>The share of bytes owned by <paramref name="host"/> (0 if none).</summary>
    public double ShareOf(string host)
        => Hosts.FirstOrDefault(h => string.Equals(h.Host, host, StringComparison.Ordinal))?.Share ?? 0;
}

/// <summary>
/// The arithmetic for moving to one host, per window: <see cref="Gain"/> is the time the
/// job's traffic to that host costs now minus what its local traffic would cost from there;
/// <see cref="Cost"/> the transfer of missing pages and blocks plus the freeze;
/// <see cref="Required"/> the cost with the margin (larger for a return).
/// </summary>
public sealed record CandidateScore(
    string Host,
    TimeSpan Gain,
    TimeSpan Cost,
    TimeSpan Required,
    long BytesToSend,
    bool IsReturn)
{
    public bool Qualifies => Gain > Required;
}

/// <summary>
/// One evaluation's outcome, "stay" included: what to do, which rule decided, a sentence
/// with the numbers for people, and the numbers themselves. <see cref="Candidates"/> is ordered
/// best first (qualifying, then largest gain minus cost, then host name).
/// </summary>
public sealed record Decision(
    string JobKey,
    DateTimeOffset At,
    DecisionKind Kind,
    DecisionRule Rule,
    string CurrentHost,
    string? Target,
    string Reason,
    Locality Locality,
    IReadOnlyList<CandidateScore> Candidates,
    int Streak)
{
    public bool IsMove => Kind == DecisionKind.Move;

    /// <summary>The best candidate's score, if any host could be a target.</summary>
    public CandidateScore? Best => Candidates.Count == 0 ? null : Candidates[0];
}
