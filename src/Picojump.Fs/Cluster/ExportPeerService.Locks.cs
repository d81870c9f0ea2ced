using Grpc.Core;
using Picojump.Fs.Cluster.Internal;
using Picojump.Fs.Native;
using Picojump.Protos.Peer;

namespace Picojump.Fs.Cluster;

// Locks held for lock owners (LockOwners) of other hosts, and of this host's jobs on its own
// files (called in-process by the union), never waited for: a conflict is EAGAIN and the
// caller retries, so no RPC blocks on another host's lock.
public sealed unsafe partial class ExportPeerService
{
    private const ulong OffsetMax = long.MaxValue;

    public override Task<LockReply> GetLock(LockRequest request, ServerCallContext context) => Task.FromResult(GetLock(request));

    public override Task<ErrnoReply> SetLock(LockRequest request, ServerCallContext context) => Task.FromResult(Attrs.Reply(SetLock(request)));

    public override Task<ErrnoReply> ReleaseLocks(ReleaseLocksRequest request, ServerCallContext context)
    {
        var errno = OpenFile(request.Path, request.Ino, OpenFlags.O_RDONLY, out var fd, out var st);
        if (errno == Errno.OK)
        {
            LibC.close(fd);
            ReleaseLocks(request.Owner, st.Ino);
        }
        return Task.FromResult(Attrs.Reply(errno));
    }

    public override Task<ErrnoReply> ReleaseJobLocks(JobLocksRequest request, ServerCallContext context)
        => Task.FromResult(Attrs.Reply(ReleaseJobLocks(request.Job)));

    public LockReply GetLock(LockRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Flock || !IsRange(request, allowUnlock: false))
            return new LockReply { Errno = (int)Errno.EINVAL };
        var errno = OpenFile(request.Path, request.Ino, OpenFlags.O_RDWR, out var fd, out var st);
        if (errno != Errno.OK)
            return new LockReply { Errno = (int)errno };
        // The owner's own description, when it has one, so that its own locks do not conflict.
        var probeFd = _locks.TryGet(request.Owner, st.Ino, flock: false, out var ownerFd) ? ownerFd : fd;
        var probe = ToFlock(request);
        errno = LibC.fcntl(probeFd, LibC.F_OFD_GETLK, &probe) == 0 ? Errno.OK : LibC.LastErrno;
        LibC.close(fd);
        return errno != Errno.OK ? new LockReply { Errno = (int)errno } : new LockReply
        {
            Type = (uint)probe.Type,
            Start = (ulong)probe.Start,
            End = probe.Length == 0 ? OffsetMax : (ulong)(probe.Start + probe.Length - 1),
        };
    }

    public Errno SetLock(LockRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!IsRange(request, allowUnlock: true))
            return Errno.EINVAL;
        var errno = OpenFile(request.Path, request.Ino, OpenFlags.O_RDWR, out var opened, out var st);
        if (errno != Errno.OK)
            return errno;
        var fd = _locks.Adopt(request.Owner, st.Ino, request.Flock, opened);
        if (request.Flock)
        {
            var operation = request.Type switch { 0 => LibC.LOCK_SH, 1 => LibC.LOCK_EX, _ => LibC.LOCK_UN } | LibC.LOCK_NB;
            return LibC.flock(fd, operation) == 0 ? Errno.OK : LibC.LastErrno;
        }
        var range = ToFlock(request);
        return LibC.fcntl(fd, LibC.F_OFD_SETLK, &range) == 0 ? Errno.OK : LibC.LastErrno;
    }

    /// <summary>Drops every lock <paramref name="owner"/> holds on the file whose inode number is <paramref name="ino"/>.</summary>
    public void ReleaseLocks(string owner, ulong ino) => _locks.Release(owner, ino);

    /// <summary>Drops every lock of every process of the job, on any file.</summary>
    public Errno ReleaseJobLocks(string jobId)
    {
        if (!LockOwners.IsJobId(jobId))
            return Errno.EINVAL;
        _locks.ReleaseAll(LockOwners.JobPrefix(jobId));
        return Errno.OK;
    }

    private static bool IsRange(LockRequest request, bool allowUnlock)
        => request.Owner.Length > 0
            && request.Type <= (allowUnlock ? 2u : 1u)
            && request.Start <= request.End && request.End <= OffsetMax;

    private static Flock ToFlock(LockRequest request) => new()
    {
        Type = (short)request.Type,
        Whence = 0, // SEEK_SET
        Start = (long)request.Start,
        Length = request.End == OffsetMax ? 0 : (long)(request.End - request.Start + 1),
    };
}
