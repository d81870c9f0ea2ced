using Grpc.Core;
using Picojump.Migrator.Jobs;
using Picojump.Migrator.Policy;
using Picojump.Protos.Jobs;

namespace Picojump.Host.Control;

/// <summary>JobPeer: other hosts' daemons run, list, signal and wait for this host's jobs (on the peer port, mutual TLS).</summary>
public sealed class JobPeerService(JobManager jobs, PolicyRunner policy) : JobPeer.JobPeerBase
{
    public override Task<RunJobReply> RunJob(RunJobRequest request, ServerCallContext context)
        => Task.FromResult(JobMapping.Guard(() => new RunJobReply { Job = JobMapping.ToInfo(Run(jobs, request)) }));

    public override Task<ListJobsReply> ListJobs(ListJobsRequest request, ServerCallContext context)
    {
        var reply = new ListJobsReply();
        reply.Jobs.AddRange(jobs.List().Select(j => JobMapping.ToInfo(j, policy.Engine)));
        return Task.FromResult(reply);
    }

    public override Task<SetJobPolicyReply> SetJobPolicy(SetJobPolicyRequest request, ServerCallContext context)
        => Task.FromResult(JobMapping.Guard(() => new SetJobPolicyReply { Job = JobMapping.ToInfo(SetPolicy(jobs, request), policy.Engine) }));

    internal static JobRecord SetPolicy(JobManager jobs, SetJobPolicyRequest request)
        => jobs.SetPolicy(request.Id, request.HasPinnedHost ? request.PinnedHost : null, request.HasPolicyEnabled ? request.PolicyEnabled : null);

    public override Task<KillJobReply> KillJob(KillJobRequest request, ServerCallContext context)
        => Task.FromResult(JobMapping.Guard(() => new KillJobReply { Job = JobMapping.ToInfo(jobs.Kill(request.Id, Signal(request.Signal))) }));

    public override Task<WaitJobReply> WaitJob(WaitJobRequest request, ServerCallContext context)
        => JobMapping.GuardAsync(async () => new WaitJobReply { Job = JobMapping.ToInfo(await jobs.WaitAsync(request.Id, context.CancellationToken)) });

    internal static JobRecord Run(JobManager jobs, RunJobRequest request)
        => jobs.Run([.. request.Command], request.Name, request.WorkingDirectory, request.Environment,
            request.HasUmask ? (int)(request.Umask & 0x1FF) : 0x12, request.Pin);

    /// <summary>0 means SIGKILL; anything outside 1..64 is refused.</summary>
    internal static int Signal(int signal) => signal switch
    {
        0 => 9,
        >= 1 and <= 64 => signal,
        _ => throw new RpcException(new Status(StatusCode.InvalidArgument, $"{signal} is not a signal number")),
    };
}
