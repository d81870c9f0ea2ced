namespace Picojump.Fs.WorkingSet;

/// <summary>A host that holds blocks wanted here, in a role ("cache" or "owner"), as this host measured its link to it.</summary>
public sealed record HolderLink(string Host, string Role, bool Reachable, TimeSpan? RoundTrip, double BytesPerSecond);

/// <summary>
/// Picks the holder that would deliver a number of bytes first: the one with the least round
/// trip plus bytes over bandwidth, both as measured (RemotePeer: heartbeat round trips,
/// bandwidth from probes and observed transfers). A link not measured yet is charged
/// <see cref="UnmeasuredRoundTrip"/> and <see cref="UnmeasuredBytesPerSecond"/>: a measured
/// holder wins over an unknown one unless it is slow, and between unknowns the order decides.
/// </summary>
public static class NearestHolder
{
    public static readonly TimeSpan UnmeasuredRoundTrip = TimeSpan.FromMilliseconds(100);

    public const double UnmeasuredBytesPerSecond = 50e6;

    /// <summary>How long <paramref name="link"/> would take to deliver <paramref name="bytes"/>.</summary>
    public static TimeSpan EstimatedTime(HolderLink link, long bytes)
    {
        ArgumentNullException.ThrowIfNull(link);
        var roundTrip = link.RoundTrip ?? UnmeasuredRoundTrip;
        var bandwidth = link.BytesPerSecond > 0 ? link.BytesPerSecond : UnmeasuredBytesPerSecond;
        return roundTrip + TimeSpan.FromSeconds(bytes / bandwidth);
    }

    /// <summary>The reachable holder with the least estimated time (the first listed on a tie); null if none is reachable.</summary>
    public static HolderLink? Choose(IEnumerable<HolderLink> holders, long bytes)
    {
        ArgumentNullException.ThrowIfNull(holders);
        HolderLink? best = null;
        var bestTime = TimeSpan.MaxValue;
        foreach (var holder in holders)
        {
            if (!holder.Reachable)
                continue;
            var time = EstimatedTime(holder, bytes);
            if (time < bestTime)
                (best, bestTime) = (holder, time);
        }
        return best;
    }
}
