using System.Text.Json;
using Picojump.Cli.Infrastructure;

namespace Picojump.Cli.DevCluster;

/// <summary>
/// The cluster's network, all of it inside namespaces made here: the switch namespace holds
/// the bridge and each host's switch-side veth end; each host namespace holds lo and eth0
/// with its address, and no default route, so hosts reach each other and nothing else.
/// </summary>
public sealed partial class DevCluster
{
    private void CreateSwitch()
    {
        Ip("netns", "add", layout.SwitchNamespace);
        Ip("-n", layout.SwitchNamespace, "link", "add", layout.Bridge, "type", "bridge");
        Ip("-n", layout.SwitchNamespace, "link", "set", layout.Bridge, "up");
    }

    private void ConnectHost(HostLayout host)
    {
        Ip("netns", "add", host.NetworkNamespace);
        Ip("-n", host.NetworkNamespace, "link", "set", "lo", "up");
        // Both ends are born inside namespaces: the root namespace never holds either.
        Ip("-n", layout.SwitchNamespace, "link", "add", host.SwitchPort, "type", "veth", "peer", "name", "eth0", "netns", host.NetworkNamespace);
        Ip("-n", layout.SwitchNamespace, "link", "set", host.SwitchPort, "master", layout.Bridge, "up");
        Ip("-n", host.NetworkNamespace, "address", "add", $"{host.Address}/24", "dev", "eth0");
        Ip("-n", host.NetworkNamespace, "link", "set", "eth0", "up");
    }

    /// <summary>`cut` (false) and `heal` (true): the host's switch port down or up.</summary>
    public void SetLink(string name, bool up)
    {
        var host = ResolveHost(name);
        Ip("-n", layout.SwitchNamespace, "link", "set", host.SwitchPort, up ? "up" : "down");
        output.WriteLine($"{host.Name}: link {(up ? "up" : "down")}");
    }

    /// <summary>Switch port name to administratively up, for the ports that exist.</summary>
    private Dictionary<string, bool> LinkStates()
    {
        var result = ExternalCommand.Run(["ip", "-j", "-n", layout.SwitchNamespace, "link", "show"]);
        var states = new Dictionary<string, bool>();
        if (!result.Succeeded)
            return states;
        foreach (var link in JsonDocument.Parse(result.Output).RootElement.EnumerateArray())
        {
            var flags = link.GetProperty("flags").EnumerateArray().Select(f => f.GetString());
            states[link.GetProperty("ifname").GetString()!] = flags.Contains("UP");
        }
        return states;
    }

    /// <summary>
    /// Bytes the switch has delivered to the hosts (the tx counters of its ports): everything
    /// that crossed the cluster's network, whatever carried it (file data, migrations, heartbeats).
    /// </summary>
    public long DeliveredBytes()
    {
        var links = JsonDocument.Parse(Ip("-j", "-s", "-n", layout.SwitchNamespace, "link", "show")).RootElement;
        return links.EnumerateArray()
            .Where(link => link.GetProperty("ifname").GetString() is { } name && name.StartsWith($"pj{layout.Id}h", StringComparison.Ordinal))
            .Sum(link => link.GetProperty("stats64").GetProperty("tx").GetProperty("bytes").GetInt64());
    }

    /// <summary>This cluster's network namespaces that exist now, found by name.</summary>
    private List<string> ExistingNamespaces()
        => Ip("netns", "list").Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' ')[0])
            .Where(name => name.StartsWith(layout.NamespacePrefix, StringComparison.Ordinal))
            .ToList();

    private static List<int> NamespacePids(string name)
        => Ip("netns", "pids", name).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList();

    private static string Ip(params string[] arguments) => ExternalCommand.Check(["ip", .. arguments]);
}
