using System.CommandLine;
using System.Text.Json.Nodes;
using Picojump.Cli.Control;
using Picojump.Protos.Control;

namespace Picojump.Cli;

/// <summary>`pjctl status`, `hosts` and `cache`: what this host's picojumpd reports over its control socket.</summary>
public static class StatusCommand
{
    public static IEnumerable<Command> Create()
    {
        yield return Command("status", "Show this host's daemon, the cluster's hosts, its cache, and every job's locality and the policy's decisions",
            "Print the daemon's whole reply as JSON", (reply, json) => json ? JsonOutput.Format(reply) : StatusTable.Format(reply, DateTimeOffset.UtcNow));
        yield return Command("hosts", "Show the cluster's hosts: reachable, round trip, load, cache and page-store use",
            "Print this host and its peers as JSON", (reply, json) => json ? JsonOutput.Format(HostsJson(reply)) : StatusTable.Hosts(reply));
        yield return Command("cache", "Show this host's block cache and page store",
            "Print the block cache's and page store's counters as JSON", (reply, json) => json ? JsonOutput.Format(CacheJson(reply)) : StatusTable.Cache(reply));
    }

    private static Command Command(string name, string description, string jsonDescription, Func<StatusReply, bool, string> format)
    {
        var json = new Option<bool>("--json") { Description = jsonDescription };
        var socket = new Option<string?>("--socket")
        {
            Description = $"The daemon's control socket (default: \"controlSocket\" in {ControlClient.DaemonConfig}, else {ControlClient.DefaultSocket})",
        };
        var command = new Command(name, description) { json, socket };
        command.SetAction(result =>
        {
            var reply = ControlClient.Status(ControlClient.SocketPath(result.GetValue(socket)));
            var text = format(reply, result.GetValue(json));
            Console.Out.Write(text.EndsWith('\n') ? text : text + "\n");
            if (reply.UnreachableHosts.Count > 0)
                Console.Error.WriteLine($"pjctl: not listed: the jobs of {string.Join(", ", reply.UnreachableHosts)} (did not answer)");
            return 0;
        });
        return command;
    }

    /// <summary>{"hostName", "loadAverage", "cache", "pageStore", "hosts": [the peers]}.</summary>
    private static JsonObject HostsJson(StatusReply reply) => new()
    {
        ["hostName"] = reply.HostName,
        ["loadAverage"] = reply.LoadAverage,
        ["cacheBytes"] = reply.Cache?.BytesUsed ?? 0,
        ["pageStoreBytes"] = reply.PageStore?.BytesStored ?? 0,
        ["hosts"] = new JsonArray([.. reply.Hosts.Select(JsonOutput.Node)]),
    };

    /// <summary>{"hostName", "cache" (null: none), "pageStore" (null: none)}.</summary>
    private static JsonObject CacheJson(StatusReply reply) => new()
    {
        ["hostName"] = reply.HostName,
        ["cache"] = reply.Cache == null ? null : JsonOutput.Node(reply.Cache),
        ["pageStore"] = reply.PageStore == null ? null : JsonOutput.Node(reply.PageStore),
    };
}
