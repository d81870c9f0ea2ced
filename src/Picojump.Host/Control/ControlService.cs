using System.Diagnostics;
using Grpc.Core;
using Picojump.Fs.Accounting;
using Picojump.Fs.Cluster;
using Picojump.Protos.Control;

namespace Picojump.Host.Control;

/// <summary>The control API: what pjctl shows of this daemon, its peers, its cache and its jobs.</summary>
public sealed class ControlService(
    DaemonSettings settings,
    AccessAccounting accounting,
    IClusterStatusSource cluster) : Protos.Control.Control.ControlBase
{
    private readonly DateTimeOffset _started = new(Process.GetCurrentProcess().StartTime.ToUniversalTime());

    public override Task<StatusReply> Status(StatusRequest request, ServerCallContext context)
    {
        var window = request.WindowSeconds == 0 ? AccessAccounting.MaxWindowSeconds : (int)Math.Min(request.WindowSeconds, AccessAccounting.MaxWindowSeconds);
        var snapshot = accounting.Snapshot(TimeSpan.FromSeconds(window));
        var reply = new StatusReply
        {
            HostName = settings.HostName ?? Environment.MachineName,
            Mountpoint = settings.Mountpoint ?? "",
            Export = settings.Export ?? "",
            StartedUnixMs = _started.ToUnixTimeMilliseconds(),
            WindowSeconds = (uint)snapshot.Window.TotalSeconds,
        };
        reply.Hosts.AddRange(cluster.Peers.Select(StatusMapping.ToHost));
        if (cluster.Cache is { } cache)
            reply.Cache = StatusMapping.ToCache(cache);
        reply.Jobs.AddRange(snapshot.Jobs.Select(StatusMapping.ToJob));
        return Task.FromResult(reply);
    }
}
