using Grpc.Core;
using Picojump.Fs.Cluster;
using Picojump.Migrator.Jobs;
using Picojump.Migrator.Migration;
using Picojump.Migrator.Policy;
using Picojump.Protos.Migration;
using Picojump.Protos.Control;
using Picojump.Protos.Jobs;

namespace Picojump.Host.Control;

/// <summary>
/// Jobs across the cluster for pjctl: this host's own through the <see cref="JobManager"/>,
/// the others' through their daemons' JobPeer API. pjctl only ever talks to its own daemon.
/// </summary>
public sealed class JobRouter(JobManager jobs, PeerSet? peers = null, MigrationCoordinator? migrations = null, PolicyRunner? policy = null)
{
    /// <summary>A migration forwarded to the job's host: its dump, transfer and restore, for a large job.</summary>
    private static readonly TimeSpan MigrateTimeout = TimeSpan.FromMinutes(30);

    /// <summary>Starting a job takes a launcher and a look for its init: more than a file operation.</summary>
    private static readonly TimeSpan ForwardTimeout = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan WaitRetry = TimeSpan.FromSeconds(1);

    public async Task<JobInfo> RunAsync(RunRequest request, CancellationToken cancel)
    {
        if (string.IsNullOrEmpty(request.Host) || request.Host == jobs.HostName)
            return JobMapping.Guard(() => JobMapping.ToInfo(JobPeerService.Run(jobs, request.Job)));
        var peer = Peer(request.Host);
        var reply = await Forward(peer, c => c.RunJobAsync(request.Job, Deadline(cancel)));
        return reply.Job;
    }

    public async Task<PsReply> PsAsync(CancellationToken cancel)
    {
        var reply = new PsReply { HostName = jobs.HostName, Mountpoint = jobs.Mountpoint };
        reply.Jobs.AddRange(jobs.List().Select(j => JobMapping.ToInfo(j, policy?.Engine)));
        foreach (var (peer, listed) in await ListPeersAsync(cancel))
        {
            if (listed == null)
                reply.UnreachableHosts.Add(peer.Name);
            else
                reply.Jobs.AddRange(listed);
        }
        return reply;
    }

    public async Task<JobInfo> KillAsync(KillRequest request, CancellationToken cancel)
    {
        var signal = JobPeerService.Signal(request.Signal);
        var (peer, id) = await ResolveAsync(request.Job, cancel);
        if (peer == null)
            return JobMapping.Guard(() => JobMapping.ToInfo(jobs.Kill(id, signal)));
        var reply = await Forward(peer, c => c.KillJobAsync(new KillJobRequest { Id = id, Signal = signal }, Deadline(cancel)));
        return reply.Job;
    }

    /// <summary>Pins, unpins, or turns the policy on or off for a job, on the job's host; a pin must name a host of the cluster.</summary>
    public async Task<JobInfo> SetPolicyAsync(SetPolicyRequest request, CancellationToken cancel)
    {
        if (request is { HasPinnedHost: true, PinnedHost.Length: > 0 } && request.PinnedHost != jobs.HostName)
            Peer(request.PinnedHost);
        var (peer, id) = await ResolveAsync(request.Job, cancel);
        var set = new SetJobPolicyRequest { Id = id };
        if (request.HasPinnedHost)
            set.PinnedHost = request.PinnedHost;
        if (request.HasPolicyEnabled)
            set.PolicyEnabled = request.PolicyEnabled;
        if (peer == null)
            return JobMapping.Guard(() => JobMapping.ToInfo(JobPeerService.SetPolicy(jobs, set), policy?.Engine));
        var reply = await Forward(peer, c => c.SetJobPolicyAsync(set, Deadline(cancel)));
        return reply.Job;
    }

    /// <summary>Moves the job to request.Host: run by the job's host (here, or forwarded to it).</summary>
    public async Task<MigrateReply> MigrateAsync(MigrateRequest request, CancellationToken cancel)
    {
        if (string.IsNullOrEmpty(request.Host))
            throw new RpcException(new Status(StatusCode.InvalidArgument, "no destination host given"));
        var (peer, id) = await ResolveAsync(request.Job, cancel);
        if (peer == null)
        {
            if (migrations == null)
                throw new RpcException(new Status(StatusCode.FailedPrecondition, $"{jobs.HostName} has no peers to migrate to"));
            return await MigrationPeerService.Guard(() => migrations.MigrateAsync(id, request.Host, request.Mode, cancel));
        }
        try
        {
            return await new Protos.Migration.Migration.MigrationClient(peer.CallInvoker).MigrateJobAsync(
                new MigrateJobRequest { JobId = id, ToHost = request.Host, Mode = request.Mode },
                new CallOptions(deadline: DateTime.UtcNow + MigrateTimeout, cancellationToken: cancel));
        }
        catch (RpcException ex) when (ex.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Internal or StatusCode.Unknown)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, $"host {peer.Name} (the job's host) did not answer: {ex.Status.Detail}"));
        }
    }

    /// <summary>Waits on the job's host; a peer that restarts meanwhile is asked again (its jobs outlive it).</summary>
    public async Task<JobInfo> WaitAsync(WaitRequest request, CancellationToken cancel)
    {
        var (peer, id) = await ResolveAsync(request.Job, cancel);
        if (peer == null)
            return await JobMapping.GuardAsync(async () => JobMapping.ToInfo(await jobs.WaitAsync(id, cancel)));
        while (true)
        {
            try
            {
                var client = new JobPeer.JobPeerClient(peer.CallInvoker);
                return (await client.WaitJobAsync(new WaitJobRequest { Id = id }, new CallOptions(cancellationToken: cancel))).Job;
            }
            catch (RpcException ex) when (ex.StatusCode is StatusCode.Unavailable or StatusCode.Internal && !cancel.IsCancellationRequested)
            {
                await Task.Delay(WaitRetry, cancel);
            }
        }
    }

    /// <summary>
    /// The job named by <paramref name="reference"/> (id, unique id prefix, or name): this
    /// host's first, else the one peer that has it. Null peer: it is this host's.
    /// </summary>
    private async Task<(RemotePeer? Peer, string Id)> ResolveAsync(string reference, CancellationToken cancel)
    {
        if (string.IsNullOrEmpty(reference))
            throw new RpcException(new Status(StatusCode.InvalidArgument, "no job given"));
        if (JobMapping.Guard(() => jobs.Find(reference)) is { } local)
            return (null, local.Id);
        var matches = new List<(RemotePeer Peer, JobInfo Job)>();
        var unreachable = new List<string>();
        foreach (var (peer, listed) in await ListPeersAsync(cancel))
        {
            if (listed == null)
            {
                unreachable.Add(peer.Name);
                continue;
            }
            var exact = listed.FirstOrDefault(j => j.Id == reference);
            if (exact != null)
                return (peer, exact.Id);
            matches.AddRange(listed.Where(j => j.Id.StartsWith(reference, StringComparison.Ordinal) || j.Name == reference).Select(j => (peer, j)));
        }
        return matches.Count switch
        {
            1 => (matches[0].Peer, matches[0].Job.Id),
            0 => throw new RpcException(new Status(StatusCode.NotFound, unreachable.Count == 0
                ? $"no job {reference} on any host"
                : $"no job {reference} on any reachable host ({string.Join(", ", unreachable)} did not answer)")),
            _ => throw new RpcException(new Status(StatusCode.InvalidArgument,
                $"{reference} names {matches.Count} jobs ({string.Join(", ", matches.Select(m => $"{m.Job.Id} on {m.Peer.Name}"))}); give the id")),
        };
    }

    /// <summary>Each peer's jobs, asked together; null for a peer that is down or did not answer.</summary>
    private async Task<List<(RemotePeer Peer, IReadOnlyList<JobInfo>? Jobs)>> ListPeersAsync(CancellationToken cancel)
    {
        if (peers == null)
            return [];
        var asks = peers.Peers.Select(async peer =>
        {
            if (!peer.Reachable)
                return (peer, (IReadOnlyList<JobInfo>?)null);
            try
            {
                var reply = await new JobPeer.JobPeerClient(peer.CallInvoker).ListJobsAsync(new ListJobsRequest(), peer.Options(cancel));
                return (peer, reply.Jobs);
            }
            catch (RpcException)
            {
                return (peer, null);
            }
        });
        return [.. await Task.WhenAll(asks)];
    }

    private RemotePeer Peer(string name)
    {
        var peer = peers?.Find(name);
        if (peer != null)
            return peer;
        var known = peers == null ? jobs.HostName : string.Join(", ", peers.Peers.Select(p => p.Name).Prepend(jobs.HostName));
        throw new RpcException(new Status(StatusCode.InvalidArgument, $"unknown host {name} (the cluster has {known})"));
    }

    private static CallOptions Deadline(CancellationToken cancel) => new(deadline: DateTime.UtcNow + ForwardTimeout, cancellationToken: cancel);

    /// <summary>A call to the job's host; its refusals pass through as they are, its absence is said in one line.</summary>
    private static async Task<T> Forward<T>(RemotePeer peer, Func<JobPeer.JobPeerClient, AsyncUnaryCall<T>> call)
    {
        try
        {
            return await call(new JobPeer.JobPeerClient(peer.CallInvoker));
        }
        catch (RpcException ex) when (ex.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Internal or StatusCode.Unknown)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, $"host {peer.Name} did not answer: {ex.Status.Detail}"));
        }
    }
}
