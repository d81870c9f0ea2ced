namespace Picojump.Fs.Union;

/// <summary>
/// What the file system must hear of this host's jobs to keep their POSIX locks across moves
/// (the job runner tells it): a job's process locks as the job and its pid in the job's PID
/// namespace (<see cref="Cluster.LockOwners.Job"/>), held at the file's owner, so the copy
/// that resumes on another host, or here after an abort, holds the same locks.
/// </summary>
public interface IJobLocks
{
    /// <summary>
    /// The job's processes here are those of <paramref name="pidNamespace"/> (replacing any
    /// earlier namespace of it), and their closes release their locks again.
    /// <paramref name="mayHoldLocks"/>: they may hold locks taken before (a job resumed,
    /// arrived or adopted; false for a job just started).
    /// </summary>
    void Running(string jobId, ulong pidNamespace, bool mayHoldLocks);

    /// <summary>The job is being dumped: the closes of its processes here (the dump kills them) release nothing.</summary>
    void Freezing(string jobId);

    /// <summary>The job runs elsewhere now; what is left of it here never runs again.</summary>
    void Left(string jobId);

    /// <summary>The job ended for good: every lock it holds, on any host, goes.</summary>
    void Ended(string jobId);
}
