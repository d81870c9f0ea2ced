using System.Text.Json;

namespace Picojump.Cli.DevCluster;

/// <summary>What a dev-cluster host knows about its cluster: itself, its peers, its TLS files.</summary>
public sealed record HostFacts(string Host, string Address, IReadOnlyList<PeerFacts> Peers, TlsFiles Tls);

public sealed record PeerFacts(string Host, string Address);

public sealed record TlsFiles(string Authority, string Certificate, string Key);

public static class HostConfig
{
    /// <summary>
    /// picojumpd rejects unknown keys and reads no cluster settings yet, so its config holds
    /// only what it accepts today and the cluster facts wait beside it in cluster.json; once
    /// the daemon takes them, they move into picojumpd.json here.
    /// </summary>
    public static void Write(HostLayout host, HostFacts facts)
    {
        WriteJson(host.DaemonConfig, new { export = host.Export, mountpoint = "/pj" });
        WriteJson(host.ClusterConfig, facts);
    }

    private static void WriteJson<T>(string path, T value) => File.WriteAllText(path, JsonSerializer.Serialize(value, ClusterState.Json) + "\n");
}
