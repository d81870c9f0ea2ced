using System.Text.Json;
using System.Text.Json.Nodes;

namespace Picojump.Cli.DevCluster;

/// <summary>What a dev-cluster host knows about its cluster: itself, its peers, its TLS files.</summary>
public sealed record HostFacts(string Host, string Address, IReadOnlyList<PeerFacts> Peers, TlsFiles Tls);

public sealed record PeerFacts(string Host, string Address);

public sealed record TlsFiles(string Authority, string Certificate, string Key);

public static class HostConfig
{
    /// <summary>Where each dev-cluster host serves the peer API, on its own address.</summary>
    public const int PeerPort = 7070;

    /// <summary>Where each dev-cluster host serves its Prometheus endpoint (/metrics), on the host's loopback.</summary>
    public const int MetricsPort = 9464;

    /// <summary>
    /// picojumpd.json holds what the daemon serves, the peer API included; cluster.json keeps
    /// the same facts for pjctl and the tests, which read them without the daemon's schema.
    /// </summary>
    /// <remarks><paramref name="settings"/>: more daemon settings (a demo's cache budget and policy), over the defaults here.</remarks>
    public static void Write(HostLayout host, HostFacts facts, JsonObject? settings = null)
    {
        var config = JsonSerializer.SerializeToNode(new
        {
            export = host.Export,
            mountpoint = "/pj",
            hostName = facts.Host,
            listen = $"{facts.Address}:{PeerPort}",
            peers = facts.Peers.Select(p => new { name = p.Host, address = $"{p.Address}:{PeerPort}" }),
            // On the host's own loopback: each host has its own, so every host uses the same port.
            metricsListen = $"127.0.0.1:{MetricsPort}",
            cacheDir = host.Cache,
            stateDir = host.State,
            // Its own page store (under its state). The bound only costs disk when used: 6 GiB
            // keeps a 2 GiB job's pages beside others, so that its return trip finds them (at
            // 2 GiB the job's last pages evicted its first, and a return carried everything).
            pageStoreDir = Path.Combine(host.State, "pages"),
            pageStoreSizeMiB = 6144,
            tls = new { ca = facts.Tls.Authority, cert = facts.Tls.Certificate, key = facts.Tls.Key },
        }, ClusterState.Json)!.AsObject();
        foreach (var (key, value) in settings ?? [])
            config[key] = value?.DeepClone();
        WriteJson(host.DaemonConfig, config);
        WriteJson(host.ClusterConfig, facts);
    }

    private static void WriteJson<T>(string path, T value) => File.WriteAllText(path, JsonSerializer.Serialize(value, ClusterState.Json) + "\n");
}
