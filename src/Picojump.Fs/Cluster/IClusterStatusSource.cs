using Picojump.Fs.Cache;

namespace Picojump.Fs.Cluster;

/// <summary>What this host knows of its peers and its block cache, for `pjctl status`.</summary>
public interface IClusterStatusSource
{
    IReadOnlyList<PeerStatus> Peers { get; }

    /// <summary>Null when this host runs no block cache.</summary>
    CacheStats? Cache { get; }
}

/// <summary>
/// One peer as last seen. <paramref name="RoundTrip"/> and <paramref name="LastSeen"/> are null
/// until it has answered once; <paramref name="Error"/> says why it is unreachable; the byte counts
/// are those of its last heartbeat. <paramref name="BytesPerSecond"/> is the measured bandwidth
/// from it (0: not measured yet).
/// </summary>
public sealed record PeerStatus(
    string Name,
    string Address,
    bool Reachable,
    TimeSpan? RoundTrip,
    double LoadAverage,
    ulong Incarnation,
    DateTimeOffset? LastSeen,
    string? Error,
    long CacheBytes = 0,
    long PageStoreBytes = 0,
    double BytesPerSecond = 0);

/// <summary>The live status: the peer set's heartbeat view and the block cache's counters (either may be absent).</summary>
public sealed class ClusterStatus(PeerSet? peers, BlockCache? cache) : IClusterStatusSource
{
    public IReadOnlyList<PeerStatus> Peers => peers == null ? [] : [.. peers.Peers.Select(p => p.Status)];

    public CacheStats? Cache => cache?.Stats;
}
