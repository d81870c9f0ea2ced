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
/// until it has answered once; <paramref name="Error"/> says why it is unreachable.
/// </summary>
public sealed record PeerStatus(
    string Name,
    string Address,
    bool Reachable,
    TimeSpan? RoundTrip,
    double LoadAverage,
    ulong Incarnation,
    DateTimeOffset? LastSeen,
    string? Error);

/// <summary>A host on its own: no peers, no block cache.</summary>
public sealed class SingleHostStatus : IClusterStatusSource
{
    public static readonly SingleHostStatus Instance = new();

    private SingleHostStatus()
    {
    }

    public IReadOnlyList<PeerStatus> Peers => [];

    public CacheStats? Cache => null;
}
