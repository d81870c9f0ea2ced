namespace Picojump.Migrator.Policy;

/// <summary>
/// A job's I/O over the window on files owned by <see cref="Host"/>: operations, and bytes read
/// plus written. The wiring maps the accounting's OwnerAccess to this.
/// </summary>
public sealed record OwnerTraffic(string Host, long Ops, long Bytes);

/// <summary>
/// What the job's current host measured towards another host (membership heartbeat):
/// reachability, bandwidth and round trip, and whether that host takes part in the policy.
/// A host with the policy off receives no automatic moves (a pin to it is still honoured).
/// </summary>
public sealed record HostLink(string Host, bool Reachable, double BytesPerSecond, TimeSpan RoundTrip, bool PolicyEnabled = true);

/// <summary>
/// What moving the job to <see cref="Host"/> would not have to send: pages of the job that
/// host's page store already holds, and the job's cached file blocks that host lacks.
/// A candidate without an estimate is assumed to hold no pages and miss no blocks.
/// </summary>
public sealed record TargetEstimate(string Host, long PagesHeld, long CachedBlocksMissing);

/// <summary>The current host's side of the policy: whether it is on here, and its links to the others.</summary>
public sealed record ClusterView(bool PolicyEnabled, IReadOnlyList<HostLink> Links);

/// <summary>
/// One job as its current host sees it at an evaluation: its traffic per owner host over
/// <see cref="Window"/>, its resident memory, the estimates per candidate host and the
/// expected freeze of a move (e.g. its last migration's, or a model's).
/// </summary>
public sealed record JobObservation(
    string JobKey,
    string CurrentHost,
    TimeSpan Window,
    IReadOnlyList<OwnerTraffic> Traffic,
    long ResidentPages,
    IReadOnlyList<TargetEstimate> Targets,
    TimeSpan ExpectedFreeze)
{
    /// <summary>False when the user turned the policy off for this job.</summary>
    public bool PolicyEnabled { get; init; } = true;

    /// <summary>The host the job is pinned to, if any: it never moves elsewhere, and goes back there.</summary>
    public string? PinnedHost { get; init; }
}
