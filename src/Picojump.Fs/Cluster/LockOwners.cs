namespace Picojump.Fs.Cluster;

/// <summary>
/// Names of lock owners at a file's owner (<c>LockRequest.owner</c>): a process outside jobs
/// locks as its host's kernel lock owner, a job's process as the job and its pid in the job's
/// PID namespace, which CRIU keeps, so the name is the same on every host the job runs on.
/// </summary>
public static class LockOwners
{
    public static string Host(string hostName, ulong kernelLockOwner) => $"{hostName}:{kernelLockOwner:x}";

    public static string Job(string jobId, int namespacePid) => $"{JobPrefix(jobId)}{namespacePid}";

    /// <summary>What every lock owner of the job starts with.</summary>
    public static string JobPrefix(string jobId) => $"job:{jobId}:";

    /// <summary>A job id that can name lock owners: not empty, no separator.</summary>
    public static bool IsJobId(string jobId) => jobId.Length > 0 && !jobId.Contains(':', StringComparison.Ordinal);
}
