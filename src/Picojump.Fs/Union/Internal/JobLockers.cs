using System.Globalization;
using Picojump.Fs.Accounting;
using Picojump.Fs.Cluster;

namespace Picojump.Fs.Union.Internal;

/// <summary>
/// This host's running jobs by PID namespace, to tell which lock requests come from a job's
/// process and under which name (<see cref="LockOwners.Job"/>) they lock.
/// </summary>
internal sealed class JobLockers
{
    private const string Proc = "/proc";

    private readonly Dictionary<ulong, JobLockEntry> _byNamespace = [];
    private readonly Lock _gate = new();
    private volatile bool _any;

    public void Running(string jobId, ulong pidNamespace, bool mayHoldLocks)
    {
        lock (_gate)
        {
            RemoveLocked(jobId);
            _byNamespace[pidNamespace] = new JobLockEntry(jobId) { MayHoldLocks = mayHoldLocks };
            _any = true;
        }
    }

    public void Freezing(string jobId)
    {
        lock (_gate)
        {
            foreach (var entry in _byNamespace.Values.Where(e => e.JobId == jobId))
                entry.Frozen = true;
        }
    }

    public void Remove(string jobId)
    {
        lock (_gate)
        {
            RemoveLocked(jobId);
            _any = _byNamespace.Count > 0;
        }
    }

    /// <summary>
    /// The job and lock owner name of the process (or thread) <paramref name="pid"/> of a
    /// request, as the daemon sees it; null when it is no job's. The requester waits for the
    /// reply, so its pid cannot be reused meanwhile.
    /// </summary>
    public JobLocker? Find(int pid)
    {
        if (!_any || pid <= 0)
            return null;
        var pidText = pid.ToString(CultureInfo.InvariantCulture);
        if (JobResolver.PidNamespaceOf(Proc, pidText) is not { } ns)
            return null;
        JobLockEntry? entry;
        lock (_gate)
        {
            if (!_byNamespace.TryGetValue(ns, out entry))
                return null;
        }
        return NamespaceTgid(pidText) is { } tgid ? new JobLocker(entry, LockOwners.Job(entry.JobId, tgid)) : null;
    }

    private void RemoveLocked(string jobId)
    {
        foreach (var ns in _byNamespace.Where(e => e.Value.JobId == jobId).Select(e => e.Key).ToList())
            _byNamespace.Remove(ns);
    }

    /// <summary>
    /// The process's pid in its own (innermost) PID namespace: the last field of "NStgid:" in
    /// /proc/PID/status (the thread group's, so every thread of a process locks as one owner).
    /// </summary>
    private static int? NamespaceTgid(string pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"{Proc}/{pid}/status"))
            {
                if (!line.StartsWith("NStgid:", StringComparison.Ordinal))
                    continue;
                var last = line.AsSpan(line.LastIndexOfAny([' ', '\t']) + 1);
                return int.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out var tgid) ? tgid : null;
            }
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null; // gone
        }
    }
}

internal sealed class JobLockEntry(string jobId)
{
    public string JobId { get; } = jobId;

    /// <summary>Being dumped: its processes' closes release nothing.</summary>
    public volatile bool Frozen;

    /// <summary>Its processes here may hold locks: their closes must release them.</summary>
    public volatile bool MayHoldLocks;
}

/// <param name="Entry">The job, as this host knows it.</param>
/// <param name="Owner">The lock owner's name at the file's owner.</param>
internal sealed record JobLocker(JobLockEntry Entry, string Owner)
{
    /// <summary>Whether a close by this process must release its locks.</summary>
    public bool ReleasesOnClose => Entry.MayHoldLocks && !Entry.Frozen;
}
