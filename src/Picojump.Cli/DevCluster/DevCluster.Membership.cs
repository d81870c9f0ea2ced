using Grpc.Core;
using Picojump.Cli.Control;
using Picojump.Cli.Infrastructure;

namespace Picojump.Cli.DevCluster;

/// <summary>
/// `up` and `start` return once every running host has heard from every other running host,
/// so that the first command after them sees the whole namespace instead of racing the heartbeats.
/// </summary>
public sealed partial class DevCluster
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(30);

    private void WaitUntilConnected()
    {
        var state = RequireState();
        var deadline = DateTime.UtcNow + ConnectTimeout;
        var hosts = Enumerable.Range(1, state.Hosts).Select(layout.Host).Where(h => RunningDaemons(h).Count > 0).ToList();
        var names = hosts.Select(h => h.Name).ToHashSet();
        var waiting = "";
        while (DateTime.UtcNow < deadline)
        {
            waiting = hosts.Select(h => Unconnected(h, names)).FirstOrDefault(w => w != null) ?? "";
            if (waiting.Length == 0)
                return;
            Thread.Sleep(100);
        }
        throw new CliException($"the hosts did not all reach each other within {ConnectTimeout.TotalSeconds:0} s: {waiting}");
    }

    /// <summary>What the host still waits for (a running peer it has not heard from), or null.</summary>
    private static string? Unconnected(HostLayout host, HashSet<string> running)
    {
        try
        {
            var status = ControlClient.Status(Path.Combine(host.Run, "control.sock"));
            var missing = status.Hosts.FirstOrDefault(p => running.Contains(p.Name) && !(p.Reachable && p.HasLastSeenUnixMs));
            return missing == null ? null : $"{host.Name} has not reached {missing.Name} ({missing.Error})";
        }
        catch (Exception ex) when (ex is CliException or RpcException)
        {
            return $"{host.Name}: {ex.Message}";
        }
    }
}
