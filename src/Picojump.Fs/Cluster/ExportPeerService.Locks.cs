using Grpc.Core;
using Picojump.Fs.Cluster.Internal;
using Picojump.Fs.Native;
using Picojump.Protos.Peer;

namespace Picojump.Fs.Cluster;

// Locks held for lock owners of other hosts, never waited for: a conflict is EAGAIN and
// the caller retries, so no RPC blocks on another host's lock.
public sealed unsafe partial class ExportPeerService
{
    private const ulong OffsetMax = long.MaxValue;

    public override Task<LockReply> GetLock(LockRequest request, ServerCallContext context)
    {
        if (request.Flock || !IsRange(request, allowUnlock: false))
            return Task.FromResult(new LockReply { Errno = (int)Errno.EINVAL });
        var errno = OpenFile(request.Path, request.Ino, OpenFlags.O_RDWR, out var fd, out var st);
        if (errno != Errno.OK)
            return Task.FromResult(new LockReply { Errno = (int)errno });
        // The owner's own description, when it has one, so that its own locks do not conflict.
        var probeFd = _locks.TryGet(request.Owner, st.Ino, flock: false, out var ownerFd) ? ownerFd : fd;
        var probe = ToFlock(request);
        errno = LibC.fcntl(probeFd, LibC.F_OFD_GETLK, &probe) == 0 ? Errno.OK : LibC.LastErrno;
        LibC.close(fd);
        return Task.FromResult(errno != Errno.OK ? new LockReply { Errno = (int)errno } : new LockReply
        {
            Type = (uint)probe.Type,
            Start = (ulong)probe.Start,
            End = probe.Length == 0 ? OffsetMax : (ulong)(probe.Start + probe.Length - 1),
        });
    }

    public override Task<ErrnoReply> SetLock(LockRequest request, ServerCallContext context)
    {
        if (!IsRange(request, allowUnlock: true))
            return Task.FromResult(Attrs.Reply(Errno.EINVAL));
        var errno = OpenFile(request.Path, request.Ino, OpenFlags.O_RDWR, out var opened, out var st);
        if (errno != Errno.OK)
            return Task.FromResult(Attrs.Reply(errno));
        var fd = _locks.Adopt(request.Owner, st.Ino, request.Flock, opened);
        if (request.Flock)
        {
            var operation = request.Type switch { 0 => LibC.LOCK_SH, 1 => LibC.LOCK_EX, _ => LibC.LOCK_UN } | LibC.LOCK_NB;
            return Task.FromResult(Attrs.Reply(LibC.flock(fd, operation) == 0 ? Errno.OK : LibC.LastErrno));
        }
        var range = ToFlock(request);
        return Task.FromResult(Attrs.Reply(LibC.fcntl(fd, LibC.F_OFD_SETLK, &range) == 0 ? Errno.OK : LibC.LastErrno));
    }

    public override Task<ErrnoReply> ReleaseLocks(ReleaseLocksRequest request, ServerCallContext context)
    {
        var errno = OpenFile(request.Path, request.Ino, OpenFlags.O_RDONLY, out var fd, out var st);
        if (errno == Errno.OK)
        {
            LibC.close(fd);
            _locks.Release(request.Owner, st.Ino);
        }
        return Task.FromResult(Attrs.Reply(errno));
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
