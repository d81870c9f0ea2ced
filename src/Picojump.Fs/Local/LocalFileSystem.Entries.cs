using Picojump.Fs.Fuse;
using Picojump.Fs.Local.Internal;
using Picojump.Fs.Native;

namespace Picojump.Fs.Local;

// Names and attributes: lookup, forget, getattr/setattr, and everything that makes or
// removes a directory entry.
public sealed unsafe partial class LocalFileSystem
{
    public Errno Lookup(in FuseInHeader header, FuseName name, out FuseEntryOut entry)
    {
        entry = default;
        var error = ParentOf(in header, name, out var parent);
        return error != Errno.OK ? error : LookupChild(parent, name.Bytes, out entry, out _);
    }

    /// <summary>Resolves one checked name under <paramref name="parent"/> and counts a lookup.</summary>
    private Errno LookupChild(Inode parent, ReadOnlySpan<byte> name, out FuseEntryOut entry, out Inode? inode)
    {
        entry = default;
        inode = null;
        int fd;
        fixed (byte* n = name)
            fd = LibC.openat(parent.Fd, n, OpenFlags.O_PATH | OpenFlags.O_NOFOLLOW | OpenFlags.O_CLOEXEC, 0);
        if (fd < 0)
            return LibC.LastErrno;
        var error = StatFd(fd, out var st);
        if (error != Errno.OK)
        {
            LibC.close(fd);
            return error;
        }
        inode = _inodes.Remember(fd, in st);
        FillEntry(inode, in st, out entry);
        return Errno.OK;
    }

    public void Forget(ulong nodeId, ulong nlookup) => _inodes.Forget(nodeId, nlookup);

    public Errno GetAttr(in FuseInHeader header, in FuseGetAttrIn input, out FuseAttrOut attr)
    {
        attr = default;
        Stat st;
        Errno error;
        if ((input.GetAttrFlags & FuseConstants.GetAttrFh) != 0 && _files.Find(input.Fh) is { } handle)
            error = LibC.fstat(handle.Fd, &st) == 0 ? Errno.OK : LibC.LastErrno;
        else if (Node(header.NodeId) is { } inode)
            error = StatFd(inode.Fd, out st);
        else
            return Errno.ESTALE;
        if (error == Errno.OK)
            FillAttr(in st, out attr);
        return error;
    }

    public Errno SetAttr(in FuseInHeader header, in FuseSetAttrIn input, out FuseAttrOut attr)
    {
        attr = default;
        var inode = Node(header.NodeId);
        if (inode == null)
            return Errno.ESTALE;
        var handle = (input.Valid & FuseSetAttrValid.Fh) != 0 ? _files.Find(input.Fh) : null;
        var path = stackalloc byte[32];
        LibC.ProcFdPath(inode.Fd, path);
        byte empty = 0;

        if ((input.Valid & FuseSetAttrValid.Mode) != 0
            && LibC.fchmodat(LibC.AT_FDCWD, path, input.Mode & 0xFFF, 0) != 0)
            return LibC.LastErrno;
        if ((input.Valid & (FuseSetAttrValid.Uid | FuseSetAttrValid.Gid)) != 0)
        {
            var uid = (input.Valid & FuseSetAttrValid.Uid) != 0 ? input.Uid : uint.MaxValue;
            var gid = (input.Valid & FuseSetAttrValid.Gid) != 0 ? input.Gid : uint.MaxValue;
            if (LibC.fchownat(inode.Fd, &empty, uid, gid, LibC.AT_EMPTY_PATH | LibC.AT_SYMLINK_NOFOLLOW) != 0)
                return LibC.LastErrno;
        }
        if ((input.Valid & FuseSetAttrValid.Size) != 0)
        {
            var result = handle != null
                ? LibC.ftruncate(handle.Fd, (long)input.Size)
                : LibC.truncate(path, (long)input.Size);
            if (result != 0)
                return LibC.LastErrno;
        }
        if ((input.Valid & (FuseSetAttrValid.Atime | FuseSetAttrValid.Mtime)) != 0)
        {
            var times = stackalloc TimeSpec[2];
            times[0] = TimeOf(input.Valid, FuseSetAttrValid.Atime, FuseSetAttrValid.AtimeNow, input.Atime, input.AtimeNsec);
            times[1] = TimeOf(input.Valid, FuseSetAttrValid.Mtime, FuseSetAttrValid.MtimeNow, input.Mtime, input.MtimeNsec);
            if (LibC.utimensat(inode.Fd, &empty, times, LibC.AT_EMPTY_PATH | LibC.AT_SYMLINK_NOFOLLOW) != 0)
                return LibC.LastErrno;
        }
        if ((input.Valid & FuseSetAttrValid.KillSuidGid) != 0 && inode.IsRegular)
            KillSuidGidAt(inode.Fd);
        var error = StatFd(inode.Fd, out var st);
        if (error == Errno.OK)
            FillAttr(in st, out attr);
        return error;
    }

    private static void KillSuidGidAt(int pathFd)
    {
        // Regular files only (a FIFO's open would wait for a writer), and never blocking.
        var fd = ProcFd.Reopen(pathFd, OpenFlags.O_RDONLY | OpenFlags.O_NONBLOCK);
        if (fd < 0)
            return;
        KillSuidGid(fd);
        LibC.close(fd);
    }

    private static TimeSpec TimeOf(FuseSetAttrValid valid, FuseSetAttrValid set, FuseSetAttrValid now, ulong seconds, uint nanoseconds)
    {
        if ((valid & now) != 0)
            return new TimeSpec { Nanoseconds = TimeSpec.UTIME_NOW };
        if ((valid & set) != 0)
            return new TimeSpec { Seconds = (long)seconds, Nanoseconds = nanoseconds };
        return new TimeSpec { Nanoseconds = TimeSpec.UTIME_OMIT };
    }

    public Errno ReadLink(in FuseInHeader header, Span<byte> target, out int length)
    {
        length = 0;
        var inode = Node(header.NodeId);
        if (inode == null)
            return Errno.ESTALE;
        // readlink(2) of anything but a symlink is EINVAL; readlinkat on "" would say ENOENT.
        if ((inode.Mode & Stat.S_IFMT) != Stat.S_IFLNK)
            return Errno.EINVAL;
        byte empty = 0;
        fixed (byte* t = target)
        {
            var n = LibC.readlinkat(inode.Fd, &empty, t, (nuint)target.Length);
            if (n < 0)
                return LibC.LastErrno;
            length = (int)n;
        }
        return Errno.OK;
    }

    public Errno MkDir(in FuseInHeader header, in FuseMkdirIn input, FuseName name, out FuseEntryOut entry)
    {
        var mode = input.Mode;
        return MakeEntry(in header, name, out entry, (dirFd, n) => LibC.mkdirat(dirFd, n, mode));
    }

    public Errno MkNod(in FuseInHeader header, in FuseMknodIn input, FuseName name, out FuseEntryOut entry)
    {
        var mode = input.Mode;
        var rdev = input.Rdev;
        return MakeEntry(in header, name, out entry, (dirFd, n) => LibC.mknodat(dirFd, n, mode, rdev));
    }

    public Errno Symlink(in FuseInHeader header, FuseName name, FuseName target, out FuseEntryOut entry)
    {
        fixed (byte* t = target.Bytes)
        {
            var targetPtr = t;
            return MakeEntry(in header, name, out entry, (dirFd, n) => LibC.symlinkat(targetPtr, dirFd, n));
        }
    }

    public Errno Link(in FuseInHeader header, ulong oldNodeId, FuseName newName, out FuseEntryOut entry)
    {
        var existing = Node(oldNodeId);
        if (existing == null)
        {
            entry = default;
            return Errno.ESTALE;
        }
        byte empty = 0;
        var emptyPtr = &empty;
        // AT_EMPTY_PATH links the object itself, never a path to it (root may do this).
        return MakeEntry(in header, newName, out entry,
            (dirFd, n) => LibC.linkat(existing.Fd, emptyPtr, dirFd, n, LibC.AT_EMPTY_PATH), chownToCaller: false);
    }

    private delegate int MakeCall(int dirFd, byte* name);

    /// <summary>Creates a directory entry with <paramref name="make"/>, owned by the caller, and looks it up.</summary>
    private Errno MakeEntry(in FuseInHeader header, FuseName name, out FuseEntryOut entry, MakeCall make, bool chownToCaller = true)
    {
        entry = default;
        var error = ParentOf(in header, name, out var parent);
        if (error != Errno.OK)
            return error;
        fixed (byte* n = name.Bytes)
        {
            if (make(parent.Fd, n) != 0)
                return LibC.LastErrno;
            if (chownToCaller)
            {
                error = ChownToCaller(in header, parent, n);
                if (error != Errno.OK)
                    return error;
            }
        }
        return LookupChild(parent, name.Bytes, out entry, out _);
    }

    /// <summary>
    /// We create as root; hand the new entry to the caller. A set-group-ID directory passes
    /// its group on, as the kernel did when we created the entry, so the group stays then.
    /// </summary>
    private static Errno ChownToCaller(in FuseInHeader header, Inode parent, byte* name)
    {
        if (header.Uid == 0 && header.Gid == 0)
            return Errno.OK;
        var gid = header.Gid;
        if (gid != 0 && StatFd(parent.Fd, out var dir) == Errno.OK && (dir.Mode & 0x400 /* S_ISGID */) != 0)
            gid = uint.MaxValue;
        return LibC.fchownat(parent.Fd, name, header.Uid, gid, LibC.AT_SYMLINK_NOFOLLOW) == 0 ? Errno.OK : LibC.LastErrno;
    }

    public Errno Unlink(in FuseInHeader header, FuseName name) => RemoveEntry(in header, name, 0);

    public Errno RmDir(in FuseInHeader header, FuseName name) => RemoveEntry(in header, name, LibC.AT_REMOVEDIR);

    private Errno RemoveEntry(in FuseInHeader header, FuseName name, int flags)
    {
        var error = ParentOf(in header, name, out var parent);
        if (error != Errno.OK)
            return error;
        fixed (byte* n = name.Bytes)
            return LibC.unlinkat(parent.Fd, n, flags) == 0 ? Errno.OK : LibC.LastErrno;
    }

    public Errno Rename(in FuseInHeader header, FuseName oldName, ulong newDir, FuseName newName, uint flags)
    {
        var from = Node(header.NodeId);
        var to = Node(newDir);
        if (from == null || to == null)
            return Errno.ESTALE;
        var error = CheckName(oldName);
        if (error == Errno.OK)
            error = CheckName(newName);
        if (error != Errno.OK)
            return error;
        if ((flags & ~(FuseConstants.RenameNoReplace | FuseConstants.RenameExchange)) != 0)
            return Errno.EINVAL;
        fixed (byte* o = oldName.Bytes, n = newName.Bytes)
            return LibC.renameat2(from.Fd, o, to.Fd, n, flags) == 0 ? Errno.OK : LibC.LastErrno;
    }

    public Errno StatFs(in FuseInHeader header, out FuseKstatfs stat)
    {
        stat = default;
        StatVfs vfs;
        if (LibC.fstatvfs(_inodes.Root.Fd, &vfs) != 0)
            return LibC.LastErrno;
        stat = new FuseKstatfs
        {
            Blocks = vfs.Blocks,
            Bfree = vfs.BlocksFree,
            Bavail = vfs.BlocksAvailable,
            Files = vfs.Files,
            Ffree = vfs.FilesFree,
            Bsize = (uint)vfs.BlockSize,
            NameLen = (uint)vfs.NameMax,
            Frsize = (uint)vfs.FragmentSize,
        };
        return Errno.OK;
    }
}
