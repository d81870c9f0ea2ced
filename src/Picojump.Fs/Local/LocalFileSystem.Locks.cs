using Picojump.Fs.Fuse;
using Picojump.Fs.Native;

namespace Picojump.Fs.Local;

// Locks. POSIX record locks become OFD locks on one open file description per lock owner,
// so owners conflict among themselves and with processes using the export directly.
// flock(2) goes to the open file's own descriptor, whose lifetime is exactly the lock's.
public sealed unsafe partial class LocalFileSystem
{
    private const ulong OffsetMax = long.MaxValue;
    private static readonly TimeSpan LongestLockPoll = TimeSpan.FromMilliseconds(20);

    public Errno GetLk(in FuseInHeader header, in FuseLkIn input, out FuseFileLock conflict)
    {
        conflict = default;
        if (Node(header.NodeId) is not { } inode)
            return Errno.ESTALE;
        var error = inode.LockFd(input.Owner, create: true, out var fd);
        if (error != Errno.OK)
            return error;
        var probe = ToFlock(in input.Lk);
        if (LibC.fcntl(fd, LibC.F_OFD_GETLK, &probe) != 0)
            return LibC.LastErrno;
        conflict = new FuseFileLock
        {
            Type = (uint)probe.Type,
            Start = (ulong)probe.Start,
            End = probe.Length == 0 ? OffsetMax : (ulong)(probe.Start + probe.Length - 1),
            Pid = probe.Pid > 0 ? (uint)probe.Pid : 0, // OFD locks have no owning process
        };
        return Errno.OK;
    }

    public Errno SetLk(in FuseInHeader header, in FuseLkIn input, bool wait, CancellationToken cancel)
    {
        if (Node(header.NodeId) is not { } inode)
            return Errno.ESTALE;
        if ((input.LkFlags & FuseConstants.LkFlock) != 0)
            return SetFlock(in input, wait, cancel);

        var unlockAll = input.Lk.Type == (uint)LibC.F_UNLCK && input.Lk.Start == 0 && input.Lk.End >= OffsetMax;
        if (unlockAll)
        {
            inode.ReleaseLocks(input.Owner);
            return Errno.OK;
        }
        var error = inode.LockFd(input.Owner, create: input.Lk.Type != (uint)LibC.F_UNLCK, out var fd);
        if (error != Errno.OK)
            return error == Errno.ENOENT ? Errno.OK : error; // unlocking what was never locked
        var request = ToFlock(in input.Lk);
        var pause = TimeSpan.Zero;
        while (LibC.fcntl(fd, LibC.F_OFD_SETLK, &request) != 0)
        {
            error = WaitToRetry(LibC.LastErrno, wait, ref pause, cancel);
            if (error != Errno.EAGAIN || !wait)
                return error;
        }
        return Errno.OK;
    }

    private Errno SetFlock(in FuseLkIn input, bool wait, CancellationToken cancel)
    {
        if (_files.Find(input.Fh) is not { } handle)
            return Errno.EBADF;
        var operation = input.Lk.Type switch
        {
            (uint)LibC.F_RDLCK => LibC.LOCK_SH,
            (uint)LibC.F_WRLCK => LibC.LOCK_EX,
            _ => LibC.LOCK_UN,
        };
        var pause = TimeSpan.Zero;
        while (LibC.flock(handle.Fd, operation | LibC.LOCK_NB) != 0)
        {
            var error = WaitToRetry(LibC.LastErrno, wait, ref pause, cancel);
            if (error != Errno.EAGAIN || !wait)
                return error;
        }
        return Errno.OK;
    }

    /// <summary>
    /// After a failed non-blocking lock call: a conflict becomes EAGAIN; a waiting request
    /// then pauses (growing up to 20 ms) and tries again, or gives up with EINTR when the
    /// kernel interrupts it. A blocking lock call could not be cancelled, hence the polling.
    /// </summary>
    private static Errno WaitToRetry(Errno failure, bool wait, ref TimeSpan pause, CancellationToken cancel)
    {
        if (failure is not (Errno.EAGAIN or Errno.EACCES ))
            return failure;
        if (!wait)
            return Errno.EAGAIN;
        pause = pause == TimeSpan.Zero ? TimeSpan.FromMilliseconds(1) : TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, LongestLockPoll.Ticks));
        return cancel.WaitHandle.WaitOne(pause) ? Errno.EINTR : Errno.EAGAIN;
    }

    private static Flock ToFlock(in FuseFileLock lk) => new()
    {
        Type = (short)lk.Type,
        Whence = 0,
        Start = (long)lk.Start,
        Length = lk.End >= OffsetMax ? 0 : (long)(lk.End - lk.Start + 1),
    };
}
