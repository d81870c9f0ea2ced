using System.Diagnostics;
using Grpc.Core;
using Picojump.Fs.Accounting;
using Picojump.Fs.Cluster;
using Picojump.Migrator.Pages;
using Picojump.Protos.Control;
using Picojump.Protos.Jobs;

namespace Picojump.Host.Control;

/// <summary>The control API: what pjctl shows of this daemon, its peers, its cache and its jobs.</summary>
public sealed class ControlService(
    DaemonSettings settings,
    AccessAccounting accounting,
    IClusterStatusSource cluster,
    JobRouter jobs,
    PageStore? pageStore = null) : Protos.Control.Control.ControlBase
{
    private readonly DateTimeOffset _started = new(Process.GetCurrentProcess().StartTime.ToUniversalTime());

    public override async Task<StatusReply> Status(StatusRequest request, ServerCallContext context)
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
            Policy = StatusMapping.ToPolicy(settings.Policy),
            LoadAverage = ExportPeerService.LoadAverage(),
        };
        if (pageStore != null)
            reply.PageStore = StatusMapping.ToPageStore(pageStore.Stats);
        reply.Hosts.AddRange(cluster.Peers.Select(StatusMapping.ToHost));
        if (cluster.Cache is { } cache)
            reply.Cache = StatusMapping.ToCache(cache);
        reply.Jobs.AddRange(snapshot.Jobs.Select(StatusMapping.ToJob));
        var managed = await jobs.PsAsync(context.CancellationToken);
        reply.ManagedJobs.AddRange(managed.Jobs);
        reply.UnreachableHosts.AddRange(managed.UnreachableHosts);
        return reply;
    }

    public override async Task<SetJobPolicyReply> SetPolicy(SetPolicyRequest request, ServerCallContext context)
        => new() { Job = await jobs.SetPolicyAsync(request, context.CancellationToken) };

    public override async Task<RunJobReply> Run(RunRequest request, ServerCallContext context)
        => new() { Job = await jobs.RunAsync(request, context.CancellationToken) };

    public override Task<PsReply> Ps(PsRequest request, ServerCallContext context) => jobs.PsAsync(context.CancellationToken);

    public override async Task<KillJobReply> Kill(KillRequest request, ServerCallContext context)
        => new() { Job = await jobs.KillAsync(request, context.CancellationToken) };

    public override Task<Protos.Migration.MigrateReply> Migrate(MigrateRequest request, ServerCallContext context)
        => jobs.MigrateAsync(request, context.CancellationToken);

    public override async Task<WaitJobReply> Wait(WaitRequest request, ServerCallContext context)
        => new() { Job = await jobs.WaitAsync(request, context.CancellationToken) };
}
