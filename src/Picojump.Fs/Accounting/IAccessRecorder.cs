using Picojump.Fs.WorkingSet;

namespace Picojump.Fs.Accounting;

/// <summary>Counts one file system operation of the process <c>pid</c> against the host that owns the file.</summary>
public interface IAccessRecorder
{
    /// <remarks><paramref name="remoteLatency"/> is the time spent waiting on the owner: zero for local operations and cache hits.</remarks>
    void Record(int pid, string ownerHost, long bytesRead, long bytesWritten, TimeSpan remoteLatency);

    /// <summary>Process <c>pid</c> read a block of a remote file through the block cache: part of its job's working set.</summary>
    void RecordBlock(int pid, in WorkingSetBlock block);
}
