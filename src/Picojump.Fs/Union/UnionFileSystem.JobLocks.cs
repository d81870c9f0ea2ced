using Microsoft.Extensions.Logging;
using Picojump.Fs.Cluster;
using Picojump.Fs.Fuse;
using Picojump.Fs.Native;
using Picojump.Fs.Union.Internal;
using Picojump.Protos.Peer;

namespace Picojump.Fs.Union;

// Jobs' POSIX locks: held at the file's owner under the job's name for the locking process,
// this host's own files included (in ExportService, where peers' locks live), so that the
// same locks belong to the job wherever it resumes. flock locks are not carried: see README.
public sealed partial class UnionFileSystem : IJobLocks
{
    private readonly JobLockers _jobLockers = new();

    /// <summary>
    /// This host's export as peers see it: where jobs' locks on local files are held (none: a
    /// job's locks on local files are the local file system's, like other processes').
    /// </summary>
    public ExportPeerService? ExportService { get; init; }

    public void Running(string jobId, ulong pidNamespace, bool mayHoldLocks) => _jobLockers.Running(jobId, pidNamespace, mayHoldLocks);

    public void Freezing(string jobId) => _jobLockers.Freezing(jobId);

    public void Left(string jobId) => _jobLockers.Remove(jobId);

    public void Ended(string jobId)
    {
        _jobLockers.Remove(jobId);
        if (!LockOwners.IsJobId(jobId))
            return;
        ExportService?.ReleaseJobLocks(jobId);
        // In the background: a peer that is down answers at once, a cut-off one at the peer timeout.
        foreach (var peer in _peers?.Peers ?? [])
        {
            _ = Task.Run(() =>
            {
                var request = new JobLocksRequest { Job = jobId };
                var error = peer.Call((c, o) => c.ReleaseJobLocks(request, o), out var reply, out _);
                if (error == Errno.OK)
                    error = FromWire(reply!.Errno);
                if (error != Errno.OK)
                    _logger.LogWarning("Job {Job} ended, but {Peer} did not release its locks ({Error}): they stay held there until its daemon restarts", jobId, peer.Name, error);
            });
        }
    }

    /// <summary>The job's process behind a POSIX lock request, when it locks as its job (not for flock locks).</summary>
    private JobLocker? JobLocker(in FuseInHeader header, in FuseLkIn input, bool local)
        => (input.LkFlags & FuseConstants.LkFlock) != 0 || (local && ExportService == null) ? null : _jobLockers.Find((int)header.Pid);
}
