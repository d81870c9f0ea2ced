namespace Picojump.Fs.Accounting;

/// <summary>What every job did, per owner host: since first seen, and over the last <see cref="Window"/>.</summary>
public sealed record AccountingSnapshot(DateTimeOffset Taken, TimeSpan Window, IReadOnlyList<JobAccess> Jobs);

/// <summary>One job's access per owner host, ordered by owner; <see cref="Window"/> lists only owners touched in it.</summary>
public sealed record JobAccess(string JobKey, string Label, IReadOnlyList<OwnerAccess> Totals, IReadOnlyList<OwnerAccess> Window);

/// <summary>
/// A job's operations on files of one owner host. Remote operations are those that waited on
/// the network (a non-zero latency); their latency says what being far from the owner costs.
/// In a window, <see cref="FirstSeen"/> is rounded down to the window's 1 s buckets.
/// </summary>
public sealed record OwnerAccess(
    string OwnerHost,
    long Ops,
    long BytesRead,
    long BytesWritten,
    long RemoteOps,
    TimeSpan RemoteLatencyTotal,
    TimeSpan RemoteLatencyMax,
    DateTimeOffset FirstSeen,
    DateTimeOffset LastSeen)
{
    public TimeSpan RemoteLatencyAverage => RemoteOps == 0 ? TimeSpan.Zero : RemoteLatencyTotal / RemoteOps;
}
