using Picojump.Fs.Native;

namespace Picojump.Fs.Local.Internal;

/// <summary>
/// One file system object the kernel knows by node id: an O_PATH descriptor of it (so it
/// stays reachable across renames without ever resolving a path again) and the kernel's
/// lookup count.
/// </summary>
internal sealed class Inode
{
    private readonly Lock _gate = new();
    private Dictionary<ulong, int>? _lockFds;
    private int _backingId = -1;
    private int _backingUsers;

    public Inode(ulong nodeId, int fd, ulong dev, ulong ino, uint mode)
    {
        NodeId = nodeId;
        Fd = fd;
        Dev = dev;
        Ino = ino;
        Mode = mode;
    }

    public ulong NodeId { get; }

    /// <summary>The O_PATH descriptor; closed when the kernel forgets the node.</summary>
    public int Fd { get; }

    public ulong Dev { get; }

    public ulong Ino { get; }

    /// <summary>The file type bits (S_IFMT) at lookup; a node never changes type.</summary>
    public uint Mode { get; }

    /// <summary>Kernel references; guarded by the inode table.</summary>
    public ulong Lookups { get; set; }

    public bool IsRegular => (Mode & Stat.S_IFMT) == Stat.S_IFREG;

    /// <summary>
    /// The passthrough backing id for this node, registered on first use. The kernel wants
    /// one backing file per node, shared by every open of it.
    /// </summary>
    public Errno AcquireBacking(Fuse.FuseConnection connection, int fd, out int backingId)
    {
        lock (_gate)
        {
            if (_backingUsers == 0)
            {
                var error = connection.OpenBacking(fd, out _backingId);
                if (error != Errno.OK)
                {
                    backingId = -1;
                    return error;
                }
            }
            _backingUsers++;
            backingId = _backingId;
            return Errno.OK;
        }
    }

    public void ReleaseBacking(Fuse.FuseConnection connection)
    {
        lock (_gate)
        {
            if (--_backingUsers == 0)
            {
                connection.CloseBacking(_backingId);
                _backingId = -1;
            }
        }
    }

    /// <summary>
    /// The open file description that carries one lock owner's POSIX locks on this node
    /// (OFD locks): owners conflict with each other exactly as processes do.
    /// </summary>
    public Errno LockFd(ulong owner, bool create, out int fd)
    {
        lock (_gate)
        {
            _lockFds ??= [];
            if (_lockFds.TryGetValue(owner, out fd) || !create)
                return _lockFds.ContainsKey(owner) ? Errno.OK : Errno.ENOENT;
            fd = ProcFd.Reopen(Fd, OpenFlags.O_RDWR);
            if (fd < 0)
                fd = ProcFd.Reopen(Fd, OpenFlags.O_RDONLY);
            if (fd < 0)
                return LibC.LastErrno;
            _lockFds[owner] = fd;
            return Errno.OK;
        }
    }

    /// <summary>Drops every POSIX lock of <paramref name="owner"/> here by closing its description.</summary>
    public void ReleaseLocks(ulong owner)
    {
        lock (_gate)
        {
            if (_lockFds != null && _lockFds.Remove(owner, out var fd))
                LibC.close(fd);
        }
    }

    public void Close()
    {
        lock (_gate)
        {
            if (_lockFds != null)
            {
                foreach (var fd in _lockFds.Values)
                    LibC.close(fd);
                _lockFds = null;
            }
        }
        LibC.close(Fd);
    }
}
