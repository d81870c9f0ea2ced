using Microsoft.Extensions.Logging;
using Picojump.Fs.Fuse;
using Picojump.Fs.Local.Internal;
using Picojump.Fs.Native;

namespace Picojump.Fs.Local;

/// <summary>
/// Serves one export directory through FUSE. Every object is reached from its parent's
/// O_PATH descriptor by a single, checked name with symlinks never followed, so no request
/// can resolve outside the export. Regular files use FUSE passthrough when the connection
/// has it: the kernel then reads and writes the backing file without asking us.
/// </summary>
public sealed unsafe partial class LocalFileSystem : IFuseFileSystem, IDisposable
{
    private const int NameMax = 255;

    private readonly InodeTable _inodes;
    private readonly HandleTable<FileHandle> _files = new();
    private readonly HandleTable<DirectoryHandle> _directories = new();
    private readonly LocalFileSystemOptions _options;
    private readonly ILogger _logger;
    private FuseConnection? _connection;
    private bool _passthroughFailed;

    private LocalFileSystem(int rootFd, in Stat root, LocalFileSystemOptions options, ILogger logger)
    {
        _inodes = new InodeTable(rootFd, in root);
        _options = options;
        _logger = logger;
    }

    /// <summary>Opens the export directory. Throws <see cref="DirectoryNotFoundException"/> if it is not one.</summary>
    public static LocalFileSystem Open(string exportDir, LocalFileSystemOptions options, ILogger logger)
    {
        var path = System.Text.Encoding.UTF8.GetBytes(Path.GetFullPath(exportDir) + "\0");
        int fd;
        fixed (byte* p = path)
            fd = LibC.open(p, OpenFlags.O_PATH | OpenFlags.O_DIRECTORY | OpenFlags.O_CLOEXEC, 0);
        if (fd < 0)
            throw new DirectoryNotFoundException($"export {exportDir} is not a directory ({LibC.LastErrno})");
        var error = StatFd(fd, out var st);
        if (error != Errno.OK)
        {
            LibC.close(fd);
            throw new DirectoryNotFoundException($"export {exportDir}: {error}");
        }
        return new LocalFileSystem(fd, in st, options, logger);
    }

    /// <summary>Nodes the kernel currently holds (for status and tests).</summary>
    public int KnownNodes => _inodes.Count;

    public void Init(FuseConnection connection)
    {
        _connection = connection;
        // Our umask must not narrow the modes callers ask for: the kernel applied theirs.
        LibC.umask(0);
    }

    public void Dispose()
    {
        // The connection is gone: no RELEASE or FORGET will come for what the kernel held.
        foreach (var file in _files.RemoveAll())
            LibC.close(file.Fd);
        foreach (var dir in _directories.RemoveAll())
            LibC.close(dir.Fd);
        _inodes.CloseAll();
    }

    private bool UsePassthrough => _connection is { Passthrough: true } && !_passthroughFailed;

    private Inode? Node(ulong nodeId) => _inodes.Find(nodeId);

    /// <summary>The inode number of the file behind <paramref name="nodeId"/>; 0 if the node is unknown.</summary>
    internal ulong InoOf(ulong nodeId) => Node(nodeId)?.Ino ?? 0;

    /// <summary>The directory a request names (header.NodeId), for a checked name in it; valid only on OK.</summary>
    private Errno ParentOf(in FuseInHeader header, FuseName name, out Inode parent)
    {
        parent = Node(header.NodeId)!;
        return parent == null ? Errno.ESTALE : CheckName(name);
    }

    /// <summary>Whether a name from the kernel is a single, plain path component.</summary>
    private static Errno CheckName(FuseName name)
    {
        if (name.Length == 0 || name.IsDotOrDotDot || name.Bytes.Contains((byte)'/'))
            return Errno.EINVAL;
        return name.Length > NameMax ? Errno.ENAMETOOLONG : Errno.OK;
    }

    private static Errno StatFd(int fd, out Stat st)
    {
        byte empty = 0;
        fixed (Stat* p = &st)
            return LibC.fstatat(fd, &empty, p, LibC.AT_EMPTY_PATH | LibC.AT_SYMLINK_NOFOLLOW) == 0 ? Errno.OK : LibC.LastErrno;
    }

    private void FillEntry(Inode inode, in Stat st, out FuseEntryOut entry)
    {
        ToAttr(in st, out var attr);
        entry = FuseReplies.Entry(inode.NodeId, in attr, _options.EntryTimeout, _options.AttrTimeout);
    }

    private void FillAttr(in Stat st, out FuseAttrOut attr)
    {
        ToAttr(in st, out var fuseAttr);
        attr = FuseReplies.Attr(in fuseAttr, _options.AttrTimeout);
    }

    private static void ToAttr(in Stat st, out FuseAttr attr)
    {
        attr = new FuseAttr
        {
            Ino = st.Ino,
            Size = (ulong)st.Size,
            Blocks = (ulong)st.Blocks,
            Atime = (ulong)st.Atime,
            AtimeNsec = (uint)st.AtimeNsec,
            Mtime = (ulong)st.Mtime,
            MtimeNsec = (uint)st.MtimeNsec,
            Ctime = (ulong)st.Ctime,
            CtimeNsec = (uint)st.CtimeNsec,
            Mode = st.Mode,
            Nlink = (uint)st.Nlink,
            Uid = st.Uid,
            Gid = st.Gid,
            Rdev = (uint)st.Rdev,
            BlkSize = (uint)st.BlkSize,
        };
    }
}
