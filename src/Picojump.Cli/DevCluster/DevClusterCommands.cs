using System.CommandLine;
using System.Text.Json;

namespace Picojump.Cli.DevCluster;

/// <summary>`pjctl devcluster ...`: the command-line surface of <see cref="DevCluster"/>.</summary>
public static class DevClusterCommands
{
    public static Command Create(Option<string?> rootOption)
    {
        DevCluster Cluster(ParseResult result) => new(ClusterLayout.Resolve(result.GetValue(rootOption)), Console.Out);

        var hosts = new Option<int>("--hosts") { Description = "Number of hosts, named h1..hN", DefaultValueFactory = _ => 3 };
        hosts.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() is < 1 or > ClusterLayout.MaxHosts)
                result.AddError($"--hosts must be from 1 to {ClusterLayout.MaxHosts}");
        });
        var daemon = new Option<string?>("--daemon")
        {
            Description = $"picojumpd to run (default: ${DaemonLocator.Variable}, else the one beside pjctl, else picojumpd on PATH)",
        };
        var up = new Command("up", "Build the hosts: namespaces, bridge, certificates, and a picojumpd serving /pj on each") { hosts, daemon };
        up.SetAction(result =>
        {
            Cluster(result).Up(result.GetValue(hosts), DaemonLocator.Find(result.GetValue(daemon)));
            return 0;
        });

        var down = new Command("down", "Kill the daemons and remove every mount, namespace, link and the state directory");
        down.SetAction(result =>
        {
            Cluster(result).Down();
            return 0;
        });

        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table" };
        var status = new Command("status", "Show the hosts: address, daemon, link") { json };
        status.Aliases.Add("list");
        status.SetAction(result => PrintStatus(Cluster(result), result.GetValue(json), Console.Out));

        var execHost = HostArgument();
        var command = new Argument<string[]>("command") { Description = "The command and its arguments, after --", Arity = ArgumentArity.OneOrMore };
        var exec = new Command("exec", "Run a command on a host (its network and mount namespaces), e.g. exec h1 -- ls /pj") { execHost, command };
        exec.SetAction(result => Cluster(result).Exec(result.GetValue(execHost)!, result.GetValue(command)!));

        return new Command("devcluster", "A cluster of simulated hosts on this machine, for tests, benchmarks and demos")
        {
            up, down, status, exec,
            StopCommand(Cluster),
            HostCommand("start", "Start a host's picojumpd again and wait until /pj is served", (c, h) => c.Start(h), Cluster),
            HostCommand("cut", "Take a host's network link down", (c, h) => c.SetLink(h, up: false), Cluster),
            HostCommand("heal", "Bring a host's network link back up", (c, h) => c.SetLink(h, up: true), Cluster),
        };
    }

    private static Command StopCommand(Func<ParseResult, DevCluster> cluster)
    {
        var host = HostArgument();
        var graceful = new Option<bool>("--graceful")
        {
            Description = "SIGTERM and wait for a clean stop (/pj unmounted, the block cache checkpointed) instead of SIGKILL",
        };
        var command = new Command("stop", "Kill a host's picojumpd (SIGKILL, like a crash); its /pj goes stale") { host, graceful };
        command.SetAction(result =>
        {
            cluster(result).Stop(result.GetValue(host)!, result.GetValue(graceful));
            return 0;
        });
        return command;
    }

    private static Argument<string> HostArgument() => new("host") { Description = "A host of the dev cluster: h1..hN" };

    private static Command HostCommand(string name, string description, Action<DevCluster, string> action, Func<ParseResult, DevCluster> cluster)
    {
        var host = HostArgument();
        var command = new Command(name, description) { host };
        command.SetAction(result =>
        {
            action(cluster(result), result.GetValue(host)!);
            return 0;
        });
        return command;
    }

    private static int PrintStatus(DevCluster cluster, bool json, TextWriter output)
    {
        var hosts = cluster.Status();
        if (json)
        {
            var document = new { id = cluster.Layout.Id, root = cluster.Layout.Root, subnet = cluster.Layout.Subnet, hosts };
            output.WriteLine(JsonSerializer.Serialize(document, ClusterState.Json));
            return 0;
        }
        output.WriteLine($"Dev cluster {cluster.Layout.Id} at {cluster.Layout.Root}, subnet {cluster.Layout.Subnet}");
        output.WriteLine($"{"HOST",-6} {"ADDRESS",-16} {"DAEMON",-16} LINK");
        foreach (var h in hosts)
            output.WriteLine($"{h.Host,-6} {h.Address,-16} {(h.Pid is { } pid ? $"{pid} running" : "stopped"),-16} {(h.Link ? "up" : "down")}");
        return 0;
    }
}
