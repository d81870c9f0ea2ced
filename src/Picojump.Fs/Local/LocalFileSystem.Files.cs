using Microsoft.Extensions.Logging;
using Picojump.Fs.Fuse;
using Picojump.Fs.Local.Internal;
using Picojump.Fs.Native;

namespace Picojump.Fs.Local;

// Open files: open/create, the read and write path (taken only without passthrough),
// and the calls that always reach us: flush, fsync, fallocate, lseek, copy_file_range.
public sealed unsafe partial class LocalFileSystem
{
    // The kernel handles these itself; O_DIRECT on our descriptor would only demand alignment.
    // O_NOFOLLOW was applied by the kernel's own lookup; on our reopen through the
    // /proc/self/fd link (a symlink) it would fail every open with ELOOP.
    private const int OpenFlagsDropped = OpenFlags.O_CREAT | OpenFlags.O_EXCL | OpenFlags.O_NOCTTY | OpenFlags.O_DIRECT
        | OpenFlags.O_NOFOLLOW;

    public Errno Open(in FuseInHeader header, in FuseOpenIn input, out FuseOpenOut output)
    {
        output = default;
        var inode = Node(header.NodeId);
        if (inode == null)
            return Errno.ESTALE;
        var fd = ProcFd.Reopen(inode.Fd, input.Flags & ~OpenFlagsDropped);
        if (fd < 0)
            return LibC.LastErrno;
        if ((input.OpenFlags & FuseConstants.OpenKillSuidGid) != 0)
            KillSuidGid(fd);
        return AddFileHandle(inode, fd, out output);
    }

    public Errno Create(in FuseInHeader header, in FuseCreateIn input, FuseName name, out FuseEntryOut entry, out FuseOpenOut output)
    {
        entry = default;
        output = default;
        var error = ParentOf(in header, name, out var parent);
        if (error != Errno.OK)
            return error;
        int fd, pathFd = -1;
        Stat st = default;
        fixed (byte* n = name.Bytes)
        {
            var flags = (input.Flags & ~(OpenFlags.O_NOCTTY | OpenFlags.O_DIRECT)) | OpenFlags.O_CREAT | OpenFlags.O_NOFOLLOW | OpenFlags.O_CLOEXEC;
            fd = LibC.openat(parent.Fd, n, flags, input.Mode);
            if (fd < 0)
                return LibC.LastErrno;
            error = ChownToCaller(in header, parent, n);
            if (error == Errno.OK && (input.OpenFlags & FuseConstants.OpenKillSuidGid) != 0)
                KillSuidGid(fd);
            if (error == Errno.OK)
                error = NodeFdOfCreated(parent.Fd, n, fd, out pathFd, out st);
        }
        if (error != Errno.OK)
        {
            LibC.close(fd);
            return error;
        }
        var inode = _inodes.Remember(pathFd, in st);
        FillEntry(inode, in st, out entry);
        return AddFileHandle(inode, fd, out output);
    }

    /// <summary>
    /// The O_PATH descriptor for the file just created as <paramref name="fd"/>: opened by
    /// name (cheap) when that still names the same file, else through /proc (the name was
    /// replaced in between). The node must be the file we opened, never whatever the name
    /// holds now.
    /// </summary>
    private static Errno NodeFdOfCreated(int parentFd, byte* name, int fd, out int pathFd, out Stat st)
    {
        Stat created;
        if (LibC.fstat(fd, &created) != 0)
        {
            pathFd = -1;
            st = default;
            return LibC.LastErrno;
        }
        st = created;
        pathFd = LibC.openat(parentFd, name, OpenFlags.O_PATH | OpenFlags.O_NOFOLLOW | OpenFlags.O_CLOEXEC, 0);
        if (pathFd >= 0 && StatFd(pathFd, out var named) == Errno.OK && named.Dev == created.Dev && named.Ino == created.Ino)
            return Errno.OK;
        if (pathFd >= 0)
            LibC.close(pathFd);
        pathFd = ProcFd.Reopen(fd, OpenFlags.O_PATH);
        return pathFd < 0 ? LibC.LastErrno : Errno.OK;
    }

    private Errno AddFileHandle(Inode inode, int fd, out FuseOpenOut output)
    {
        output = default;
        var passthrough = false;
        if (inode.IsRegular && UsePassthrough && !HasSetIdBits(fd))
        {
            var error = inode.AcquireBacking(_connection!, fd, out var backingId);
            if (error == Errno.OK)
            {
                passthrough = true;
                output.BackingId = backingId;
                output.OpenFlags = FuseOpenOutFlags.Passthrough;
            }
            else
            {
                // One failure means the kernel refuses us backing files; don't ask again.
                _passthroughFailed = true;
                _logger.LogWarning("FUSE passthrough refused ({Errno}); serving reads and writes ourselves", error);
            }
        }
        output.Fh = _files.Add(new FileHandle(inode, fd, passthrough));
        return Errno.OK;
    }

    /// <summary>The size of the file behind a passthrough handle, whose reads never reach us; 0 for a handle we serve.</summary>
    public unsafe long PassthroughSize(ulong fh)
    {
        if (_files.Find(fh) is not { Passthrough: true } handle)
            return 0;
        Stat st;
        return LibC.fstat(handle.Fd, &st) == 0 ? st.Size : 0;
    }

    public Errno Read(in FuseInHeader header, in FuseReadIn input, Span<byte> buffer, out int length)
    {
        length = 0;
        var handle = _files.Find(input.Fh);
        if (handle == null)
            return Errno.EBADF;
        fixed (byte* b = buffer)
        {
            var n = LibC.pread(handle.Fd, b, (nuint)buffer.Length, (long)input.Offset);
            if (n < 0)
                return LibC.LastErrno;
            length = (int)n;
        }
        return Errno.OK;
    }

    public Errno Write(in FuseInHeader header, in FuseWriteIn input, ReadOnlySpan<byte> data, out uint written)
    {
        written = 0;
        var handle = _files.Find(input.Fh);
        if (handle == null)
            return Errno.EBADF;
        fixed (byte* d = data)
        {
            // On an O_APPEND descriptor Linux appends whatever the offset says.
            var n = LibC.pwrite(handle.Fd, d, (nuint)data.Length, (long)input.Offset);
            if (n < 0)
                return LibC.LastErrno;
            written = (uint)n;
        }
        if ((input.WriteFlags & FuseConstants.WriteKillSuidGid) != 0 && KillSuidGid(handle.Fd))
            ForgetCachedAttributes(handle.Inode.NodeId);
        return Errno.OK;
    }

    /// <summary>
    /// Set-ID files are served without passthrough: the kernel writes a backing file with our
    /// (root) credentials and would keep the bits that a write by anyone else must drop.
    /// </summary>
    private static bool HasSetIdBits(int fd)
    {
        Stat st;
        return LibC.fstat(fd, &st) == 0 && (st.Mode & 0xC00) != 0;
    }

    /// <summary>
    /// With FUSE_HANDLE_KILLPRIV_V2 the kernel leaves it to us to drop set-user-ID (and
    /// set-group-ID on group-executable files) when an unprivileged caller writes or
    /// truncates: we write as root, which would keep them.
    /// </summary>
    /// Returns whether a bit was dropped.
    private static bool KillSuidGid(int fd)
    {
        Stat st;
        if (LibC.fstat(fd, &st) != 0)
            return false;
        var kill = 0x800u; // S_ISUID
        if ((st.Mode & 0x8) != 0) // S_IXGRP: S_ISGID without it marks mandatory locking, not privilege
            kill |= 0x400; // S_ISGID
        return (st.Mode & kill) != 0 && LibC.fchmod(fd, st.Mode & 0xFFF & ~kill) == 0;
    }

    /// <summary>
    /// The kernel caches attributes the write reply does not carry; after we change the
    /// mode behind its back, tell it, from a worker (never from inside a request).
    /// </summary>
    private void ForgetCachedAttributes(ulong nodeId)
    {
        if (AttributesChanged is { } changed)
        {
            changed(nodeId);
            return;
        }
        var connection = _connection;
        if (connection != null)
            ThreadPool.QueueUserWorkItem(_ => connection.NotifyInvalInode(nodeId, -1, 0));
    }

    /// <summary>
    /// Set by a file system that serves this one under node ids of its own (the union): it
    /// tells the kernel itself, since our node ids are not the kernel's.
    /// </summary>
    internal Action<ulong>? AttributesChanged { get; set; }

    public Errno Flush(in FuseInHeader header, in FuseFlushIn input)
    {
        // close(2) of any descriptor drops the caller's POSIX locks on the file; the kernel
        // tells us with FLUSH, as it tracks none of our locks itself.
        if (_files.Find(input.Fh) is not { } handle)
            return Errno.EBADF;
        handle.Inode.ReleaseLocks(input.LockOwner);
        return Errno.OK;
    }

    public Errno Release(in FuseInHeader header, in FuseReleaseIn input)
    {
        if (_files.Remove(input.Fh) is not { } handle)
            return Errno.EBADF;
        // A flock(2) lives as long as its open file, and with passthrough the kernel may keep
        // ours alive past this close as the node's shared backing file: unlock explicitly.
        if ((input.ReleaseFlags & FuseConstants.ReleaseFlockUnlock) != 0)
            LibC.flock(handle.Fd, LibC.LOCK_UN);
        if (handle.Passthrough)
            handle.Inode.ReleaseBacking(_connection!);
        LibC.close(handle.Fd);
        return Errno.OK;
    }

    public Errno Fsync(in FuseInHeader header, in FuseFsyncIn input)
    {
        if (_files.Find(input.Fh) is not { } handle)
            return Errno.EBADF;
        var result = (input.FsyncFlags & FuseConstants.FsyncFdatasync) != 0 ? LibC.fdatasync(handle.Fd) : LibC.fsync(handle.Fd);
        return result == 0 ? Errno.OK : LibC.LastErrno;
    }

    public Errno Fallocate(in FuseInHeader header, in FuseFallocateIn input)
    {
        if (_files.Find(input.Fh) is not { } handle)
            return Errno.EBADF;
        return LibC.fallocate(handle.Fd, input.Mode, (long)input.Offset, (long)input.Length) == 0 ? Errno.OK : LibC.LastErrno;
    }

    public Errno Lseek(in FuseInHeader header, in FuseLseekIn input, out long offset)
    {
        offset = 0;
        if (_files.Find(input.Fh) is not { } handle)
            return Errno.EBADF;
        offset = LibC.lseek(handle.Fd, input.Offset, input.Whence);
        return offset < 0 ? LibC.LastErrno : Errno.OK;
    }

    public Errno CopyFileRange(in FuseInHeader header, in FuseCopyFileRangeIn input, out ulong copied)
    {
        copied = 0;
        if (_files.Find(input.FhIn) is not { } source || _files.Find(input.FhOut) is not { } target)
            return Errno.EBADF;
        long offIn = input.OffIn, offOut = input.OffOut;
        var n = LibC.copy_file_range(source.Fd, &offIn, target.Fd, &offOut, (nuint)Math.Min(input.Len, uint.MaxValue), (uint)input.Flags);
        if (n < 0)
            return LibC.LastErrno;
        copied = (ulong)n;
        return Errno.OK;
    }
}
