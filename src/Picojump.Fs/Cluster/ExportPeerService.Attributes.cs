using Grpc.Core;
using Picojump.Fs.Cluster.Internal;
using Picojump.Fs.Local.Internal;
using Picojump.Fs.Native;
using Picojump.Protos.Peer;

namespace Picojump.Fs.Cluster;

// SetAttr: mode, owner, size and times of one entry, never through a symlink.
public sealed unsafe partial class ExportPeerService
{
    private const long NanosPerSecond = 1_000_000_000;

    public override Task<EntryReply> SetAttr(SetAttrRequest request, ServerCallContext context)
    {
        var errno = _root.OpenParent(request.Path, out var parent);
        using (parent)
        {
            if (errno != Errno.OK)
                return Task.FromResult(Attrs.Entry(errno, default));
            // The entry itself as O_PATH: chmod and truncate then reach exactly it.
            int fd;
            fixed (byte* name = parent.Name)
                fd = LibC.openat(parent.Fd, name, OpenFlags.O_PATH | OpenFlags.O_NOFOLLOW | OpenFlags.O_CLOEXEC, 0);
            if (fd < 0)
                return Task.FromResult(Attrs.Entry(LibC.LastErrno, default));
            try
            {
                errno = Apply(request, parent, fd);
                return Task.FromResult(Changed(request.Path, errno, parent));
            }
            finally
            {
                LibC.close(fd);
            }
        }
    }

    private static Errno Apply(SetAttrRequest request, in ParentDir parent, int fd)
    {
        var errno = Attrs.StatFd(fd, out var st);
        if (errno != Errno.OK)
            return errno;
        var procPath = stackalloc byte[32];
        LibC.ProcFdPath(fd, procPath);
        fixed (byte* name = parent.Name)
        {
            if ((request.HasUid || request.HasGid)
                && LibC.fchownat(parent.Fd, name, request.HasUid ? request.Uid : uint.MaxValue, request.HasGid ? request.Gid : uint.MaxValue, LibC.AT_SYMLINK_NOFOLLOW) != 0)
                return LibC.LastErrno;
            if (request.HasMode)
            {
                // A symlink has no mode of its own on Linux; the /proc link would reach its target.
                if (st.IsSymlink)
                    return Errno.EOPNOTSUPP;
                if (LibC.fchmodat(LibC.AT_FDCWD, procPath, request.Mode & PermissionBits, 0) != 0)
                    return LibC.LastErrno;
            }
            if (request.HasSize)
            {
                if (!st.IsRegular)
                    return st.IsDirectory ? Errno.EISDIR : Errno.EINVAL;
                if (request.Size > long.MaxValue)
                    return Errno.EFBIG;
                var file = ProcFd.Reopen(fd, OpenFlags.O_WRONLY | OpenFlags.O_NONBLOCK);
                if (file < 0)
                    return LibC.LastErrno;
                var result = LibC.ftruncate(file, (long)request.Size);
                var truncateErrno = LibC.LastErrno;
                LibC.close(file);
                if (result != 0)
                    return truncateErrno;
            }
            if (request.HasAtimeNs || request.HasMtimeNs || request.AtimeNow || request.MtimeNow)
            {
                var times = stackalloc TimeSpec[2];
                times[0] = Time(request.HasAtimeNs, request.AtimeNs, request.AtimeNow);
                times[1] = Time(request.HasMtimeNs, request.MtimeNs, request.MtimeNow);
                if (LibC.utimensat(parent.Fd, name, times, LibC.AT_SYMLINK_NOFOLLOW) != 0)
                    return LibC.LastErrno;
            }
        }
        return Errno.OK;
    }

    private static TimeSpec Time(bool has, long nanos, bool now)
        => now ? new TimeSpec { Nanoseconds = TimeSpec.UTIME_NOW }
            : has ? new TimeSpec { Seconds = Math.DivRem(nanos, NanosPerSecond, out var rest) - (rest < 0 ? 1 : 0), Nanoseconds = rest < 0 ? rest + NanosPerSecond : rest }
            : new TimeSpec { Nanoseconds = TimeSpec.UTIME_OMIT };
}
