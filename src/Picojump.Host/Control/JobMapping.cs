using Grpc.Core;
using Picojump.Migrator.Jobs;
using Picojump.Migrator.Migration;
using Picojump.Migrator.Policy;
using Picojump.Protos.Jobs;
using JobState = Picojump.Migrator.Jobs.JobState;

namespace Picojump.Host.Control;

/// <summary>From the migrator's job records to the wire, and its errors to gRPC statuses.</summary>
internal static class JobMapping
{
    /// <summary>The job on the wire; with <paramref name="policy"/>, a running job's locality and the policy's decisions about it.</summary>
    public static JobInfo ToInfo(JobRecord job, PolicyEngine? policy = null)
    {
        var info = new JobInfo
        {
            Id = job.Id,
            Name = job.Name,
            Host = job.Host,
            State = job.State switch
            {
                JobState.Running => Protos.Jobs.JobState.Running,
                JobState.Exited => Protos.Jobs.JobState.Exited,
                _ => Protos.Jobs.JobState.Lost,
            },
            WorkingDirectory = job.WorkingDirectory,
            Pid = job.Pid,
            RssBytes = job.RssBytes,
            StartedUnixMs = job.StartedUnixMs,
            Directory = job.Directory,
            PinnedHost = job.PinnedHost ?? "",
            PolicyOff = !job.PolicyEnabled,
        };
        if (job.State == JobState.Running && policy?.History(job.Id) is [.., var last] history)
            info.Locality = ToLocality(last.Locality, history);
        info.Command.AddRange(job.Command);
        if (job.EndedUnixMs is { } ended)
            info.EndedUnixMs = ended;
        if (job.ExitCode is { } code)
            info.ExitCode = code;
        if (job.KillSignal is { } signal)
            info.KillSignal = signal;
        info.Migrations.AddRange(job.Migrations.Select(m => new Migration
        {
            FromHost = m.From,
            ToHost = m.To,
            StartedUnixMs = m.StartedUnixMs,
            FreezeMicros = m.FreezeMicros,
            Bytes = m.Bytes,
            PagesSent = m.PagesSent,
            PagesFound = m.PagesFound,
            Mode = m.Mode,
            ResidentMicros = m.ResidentMicros,
            WorkingSet = m.WorkingSet is { } workingSet ? WorkingSetWire.ToWire(workingSet) : null,
        }));
        return info;
    }

    private static JobLocality ToLocality(Locality locality, IReadOnlyList<Decision> history)
    {
        var wire = new JobLocality
        {
            WindowSeconds = (uint)Math.Round(locality.Window.TotalSeconds),
            TotalBytes = locality.TotalBytes,
            TotalOps = locality.TotalOps,
            LocalShare = locality.LocalShare,
            RecommendedHost = locality.RecommendedHost,
            LastDecision = ToDecision(history[^1]),
        };
        wire.Hosts.AddRange(locality.Hosts.Select(h => new Protos.Jobs.HostShare { Host = h.Host, Ops = h.Ops, Bytes = h.Bytes, Share = h.Share, Local = h.IsLocal }));
        wire.Decisions.AddRange(history.Select(ToDecision));
        return wire;
    }

    private static PolicyDecision ToDecision(Decision decision) => new()
    {
        AtUnixMs = decision.At.ToUnixTimeMilliseconds(),
        Kind = decision.IsMove ? "move" : "stay",
        Rule = decision.Rule.ToString(),
        Target = decision.Target ?? "",
        Reason = decision.Reason,
        Candidates =
        {
            decision.Candidates.Select(c => new CandidateCost
            {
                Host = c.Host,
                GainMs = (long)c.Gain.TotalMilliseconds,
                CostMs = (long)c.Cost.TotalMilliseconds,
                RequiredMs = (long)c.Required.TotalMilliseconds,
                BytesToSend = c.BytesToSend,
                IsReturn = c.IsReturn,
            }),
        },
    };

    public static RpcException ToRpc(JobException ex) => new(new Status(ex.Kind switch
    {
        JobError.NotFound => StatusCode.NotFound,
        JobError.Invalid => StatusCode.InvalidArgument,
        _ => StatusCode.FailedPrecondition,
    }, ex.Message));

    /// <summary>Runs <paramref name="call"/>, turning a refused request into its gRPC status.</summary>
    public static T Guard<T>(Func<T> call)
    {
        try
        {
            return call();
        }
        catch (JobException ex)
        {
            throw ToRpc(ex);
        }
    }

    public static async Task<T> GuardAsync<T>(Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (JobException ex)
        {
            throw ToRpc(ex);
        }
    }
}
