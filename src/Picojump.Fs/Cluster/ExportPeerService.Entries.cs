using Grpc.Core;
using Picojump.Fs.Cluster.Internal;
using Picojump.Fs.Native;
using Picojump.Protos.Peer;

namespace Picojump.Fs.Cluster;

// Entries: make, link, remove, rename, change attributes. New entries belong to the caller.
public sealed unsafe partial class ExportPeerService
{
    private const uint RenameNoReplace = 1;
    private const uint RenameExchange = 2;
    private const uint PermissionBits = 0xFFF; // set-ID, sticky and rwx bits; never the file type
    private const int OpenExisting = OpenFlags.O_NOFOLLOW | OpenFlags.O_NONBLOCK | OpenFlags.O_CLOEXEC;

    public override Task<EntryReply> MkDir(MakeRequest request, ServerCallContext context)
        => Task.FromResult(Make(request.Path, request.Caller, (fd, name) => LibC.mkdirat(fd, (byte*)name, request.Mode & PermissionBits)));

    public override Task<EntryReply> Symlink(SymlinkRequest request, ServerCallContext context)
    {
        var target = request.Target.Span;
        if (target.IsEmpty || target.Length >= 4096 || target.Contains((byte)0))
            return Task.FromResult(Attrs.Entry(target.Length >= 4096 ? Errno.ENAMETOOLONG : Errno.EINVAL, default));
        byte[] terminated = [.. target, 0];
        return Task.FromResult(Make(request.Path, request.Caller, (fd, name) =>
        {
            fixed (byte* t = terminated)
                return LibC.symlinkat(t, fd, (byte*)name);
        }));
    }

    public override Task<EntryReply> Create(MakeRequest request, ServerCallContext context)
    {
        var errno = _root.OpenParent(request.Path, out var parent);
        using (parent)
        {
            if (errno != Errno.OK)
                return Task.FromResult(Attrs.Entry(errno, default));
            var flags = OpenFlags.O_WRONLY | OpenExisting | (request.Truncate ? OpenFlags.O_TRUNC : 0);
            int fd;
            fixed (byte* name = parent.Name)
            {
                // O_EXCL first tells whether this call made the file, which then gets the caller's owner.
                fd = LibC.openat(parent.Fd, name, flags | OpenFlags.O_CREAT | OpenFlags.O_EXCL, request.Mode & PermissionBits);
                var created = fd >= 0;
                if (!created && LibC.LastErrno == Errno.EEXIST && !request.Exclusive)
                    fd = LibC.openat(parent.Fd, name, flags, 0);
                if (fd < 0)
                    return Task.FromResult(Attrs.Entry(LibC.LastErrno, default));
                fixed (byte* empty = "\0"u8)
                    if (created && LibC.fchownat(fd, empty, CallerUid(request.Caller), CallerGid(request.Caller), LibC.AT_EMPTY_PATH) != 0)
                        errno = LibC.LastErrno;
            }
            Stat st = default;
            if (errno == Errno.OK)
                errno = Attrs.StatFd(fd, out st);
            LibC.close(fd);
            if (errno == Errno.OK)
                _invalidations.Publish(request.Path, st.Ino, entry: true);
            return Task.FromResult(Attrs.Entry(errno, st));
        }
    }

    public override Task<EntryReply> Link(LinkRequest request, ServerCallContext context)
    {
        var errno = _root.OpenParent(request.ExistingPath, out var from);
        using (from)
        {
            if (errno != Errno.OK)
                return Task.FromResult(Attrs.Entry(errno, default));
            errno = _root.OpenParent(request.NewPath, out var to);
            using (to)
            {
                if (errno != Errno.OK)
                    return Task.FromResult(Attrs.Entry(errno, default));
                fixed (byte* f = from.Name)
                fixed (byte* t = to.Name)
                    errno = LibC.linkat(from.Fd, f, to.Fd, t, 0) == 0 ? Errno.OK : LibC.LastErrno;
                return Task.FromResult(Changed(request.NewPath, errno, to));
            }
        }
    }

    public override Task<ErrnoReply> Unlink(PathRequest request, ServerCallContext context) => Task.FromResult(Remove(request.Path, 0));

    public override Task<ErrnoReply> RmDir(PathRequest request, ServerCallContext context) => Task.FromResult(Remove(request.Path, LibC.AT_REMOVEDIR));

    private ErrnoReply Remove(string path, int flags)
    {
        var errno = _root.OpenParent(path, out var parent);
        using (parent)
        {
            if (errno == Errno.OK)
                fixed (byte* name = parent.Name)
                    errno = LibC.unlinkat(parent.Fd, name, flags) == 0 ? Errno.OK : LibC.LastErrno;
        }
        if (errno == Errno.OK)
            _invalidations.Publish(path, 0, entry: true);
        return Attrs.Reply(errno);
    }

    public override Task<ErrnoReply> Rename(RenameRequest request, ServerCallContext context)
    {
        if ((request.Flags & ~(RenameNoReplace | RenameExchange)) != 0)
            return Task.FromResult(Attrs.Reply(Errno.EINVAL));
        var errno = _root.OpenParent(request.OldPath, out var from);
        using (from)
        {
            if (errno != Errno.OK)
                return Task.FromResult(Attrs.Reply(errno));
            errno = _root.OpenParent(request.NewPath, out var to);
            using (to)
            {
                if (errno == Errno.OK)
                    fixed (byte* f = from.Name)
                    fixed (byte* t = to.Name)
                        errno = LibC.renameat2(from.Fd, f, to.Fd, t, request.Flags) == 0 ? Errno.OK : LibC.LastErrno;
            }
        }
        if (errno == Errno.OK)
        {
            _invalidations.Publish(request.OldPath, 0, entry: true);
            _invalidations.Publish(request.NewPath, 0, entry: true);
        }
        return Task.FromResult(Attrs.Reply(errno));
    }

    /// <summary>Makes an entry with <paramref name="make"/>(parent fd, name) and hands it to the caller.</summary>
    private EntryReply Make(string path, Caller? caller, Func<int, nint, int> make)
    {
        var errno = _root.OpenParent(path, out var parent);
        using (parent)
        {
            if (errno != Errno.OK)
                return Attrs.Entry(errno, default);
            fixed (byte* name = parent.Name)
            {
                if (make(parent.Fd, (nint)name) != 0)
                    return Attrs.Entry(LibC.LastErrno, default);
                if (LibC.fchownat(parent.Fd, name, CallerUid(caller), CallerGid(caller), LibC.AT_SYMLINK_NOFOLLOW) != 0)
                    return Attrs.Entry(LibC.LastErrno, default);
            }
            return Changed(path, Errno.OK, parent);
        }
    }

    /// <summary>The entry's attributes after a change, announced to subscribers.</summary>
    private EntryReply Changed(string path, Errno errno, in ParentDir parent)
    {
        Stat st = default;
        if (errno == Errno.OK)
            errno = Attrs.StatAt(parent.Fd, parent.Name, out st);
        if (errno == Errno.OK)
            _invalidations.Publish(path, st.Ino, entry: true);
        return Attrs.Entry(errno, st);
    }

    private static uint CallerUid(Caller? caller) => caller?.Uid ?? 0;

    private static uint CallerGid(Caller? caller) => caller?.Gid ?? 0;
}
