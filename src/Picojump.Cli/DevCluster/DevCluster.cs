using Picojump.Cli.Infrastructure;

namespace Picojump.Cli.DevCluster;

/// <summary>
/// N simulated hosts on one machine: each host hN is a network namespace (eth0 on a bridge
/// in a switch namespace) plus a persistent mount namespace with its own /pj served by its
/// own picojumpd. Nothing is added to the root network namespace. Split by concern: Up,
/// Down, Network (namespaces and links), Mounts (mount namespaces), Daemons.
/// </summary>
public sealed partial class DevCluster(ClusterLayout layout, TextWriter output)
{
    public ClusterLayout Layout => layout;

    public sealed record HostStatus(string Host, string Address, int? Pid, bool Link);

    /// <summary>The host named <paramref name="name"/> (h1..hN) of the cluster that is up.</summary>
    public HostLayout ResolveHost(string name)
    {
        var state = RequireState();
        if (name.Length > 1 && name[0] == 'h' && int.TryParse(name.AsSpan(1), out var index) && index >= 1 && index <= state.Hosts && name == $"h{index}")
            return layout.Host(index);
        throw new CliException($"unknown host '{name}': the dev cluster at {layout.Root} has h1..h{state.Hosts}");
    }

    /// <summary>Runs a command on the host with pjctl's stdio; returns its exit code.</summary>
    public int Exec(string host, IReadOnlyList<string> command) => ExternalCommand.RunAttached(Enter(ResolveHost(host), command));

    /// <summary>
    /// The command line that runs <paramref name="command"/> inside the host's network and
    /// mount namespaces, in the caller's directory as the host sees it (else /).
    /// </summary>
    public static List<string> Enter(HostLayout host, IReadOnlyList<string> command)
    {
        // nsenter --wd would open the directory in the caller's namespace; cd inside instead.
        const string changeDirectory = "cd -- \"$1\" 2>/dev/null || cd /; shift; exec \"$@\"";
        return ["nsenter", $"--net={host.NetworkNamespacePath}", $"--mount={host.MountNamespace}", "--",
            "sh", "-c", changeDirectory, "sh", Environment.CurrentDirectory, .. command];
    }

    public List<HostStatus> Status()
    {
        var state = RequireState();
        var links = LinkStates();
        return Enumerable.Range(1, state.Hosts).Select(layout.Host)
            .Select(h => new HostStatus(h.Name, h.Address, RunningDaemons(h).Cast<int?>().FirstOrDefault(), links.GetValueOrDefault(h.SwitchPort)))
            .ToList();
    }

    private ClusterState RequireState()
        => ClusterState.Load(layout) ?? throw new CliException($"no dev cluster at {layout.Root} (start one with pjctl devcluster up)");
}
