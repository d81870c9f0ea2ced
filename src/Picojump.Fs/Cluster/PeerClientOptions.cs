using System.Security.Cryptography.X509Certificates;

namespace Picojump.Fs.Cluster;

/// <summary>How this host talks to its peers.</summary>
public sealed class PeerClientOptions
{
    /// <summary>This host's name, as peers know it.</summary>
    public required string HostName { get; init; }

    /// <summary>The cluster CA: a peer's server certificate must chain to it alone.</summary>
    public required X509Certificate2 Authority { get; init; }

    /// <summary>This host's certificate with its key, shown to peers as the client certificate.</summary>
    public required X509Certificate2 Certificate { get; init; }

    /// <summary>The bound on every remote operation; past it the operation fails with ETIMEDOUT.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How often each peer is asked whether it is alive (and how far away it is).</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>A heartbeat carries a bandwidth probe when no transfer from the peer measured it for this long.</summary>
    public TimeSpan BandwidthProbeInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The padding a probe asks for (the peer sends at most 1 MiB).</summary>
    public int BandwidthProbeBytes { get; init; } = 1 << 20;
}
