using System.Text;
using Picojump.Fs.Native;

namespace Picojump.Fs.Fuse;

/// <summary>
/// A kernel FUSE mount made with mount(2) directly (no fusermount): open /dev/fuse, pass
/// its descriptor in the mount data, and own both until <see cref="Dispose"/>.
/// </summary>
public sealed unsafe class FuseMount : IDisposable
{
    private const string DevicePath = "/dev/fuse";
    private int _deviceFd;

    private FuseMount(string? mountpoint, int deviceFd, uint connectionId)
    {
        Mountpoint = mountpoint;
        _deviceFd = deviceFd;
        ConnectionId = connectionId;
    }

    /// <summary>Where the file system is mounted; null for a device not mounted anywhere (tests).</summary>
    public string? Mountpoint { get; }

    /// <summary>The open /dev/fuse descriptor that carries this mount's requests.</summary>
    public int DeviceFd => _deviceFd;

    /// <summary>The connection's name in fusectl: the minor device number of the mount.</summary>
    public uint ConnectionId { get; }

    /// <summary>
    /// Mounts a FUSE file system at <paramref name="mountpoint"/>. Throws
    /// <see cref="FuseMountException"/> with a one-line reason a user can act on.
    /// </summary>
    public static FuseMount Mount(string mountpoint, string fsName, string subtype)
    {
        mountpoint = Path.GetFullPath(mountpoint);
        // First: a stale mount answers ENOTCONN, so the directory check below would fail on it.
        CleanStale(mountpoint);
        if (!Directory.Exists(mountpoint))
            throw new FuseMountException($"mountpoint {mountpoint} does not exist or is not a directory");
        if (MountTable.At(mountpoint).Count > 0)
            throw new FuseMountException($"mountpoint {mountpoint} is busy: something is already mounted there");
        if (!File.Exists(DevicePath))
            throw new FuseMountException($"{DevicePath} is missing: load the fuse kernel module (modprobe fuse)");

        int fd;
        fixed (byte* dev = "/dev/fuse\0"u8)
            fd = LibC.open(dev, OpenFlags.O_RDWR | OpenFlags.O_CLOEXEC, 0);
        if (fd < 0)
            throw new FuseMountException($"cannot open {DevicePath}: {LibC.LastErrno}");

        // The root is a directory (rootmode is octal S_IFDIR); the kernel checks permissions
        // from our attributes (default_permissions), as root serves every user (allow_other).
        var data = $"fd={fd},rootmode=40000,user_id=0,group_id=0,allow_other,default_permissions";
        int result;
        fixed (byte* source = Z(fsName), target = Z(mountpoint), type = Z($"fuse.{subtype}"), options = Z(data))
            result = LibC.mount(source, target, type, LibC.MS_NOSUID | LibC.MS_NODEV, options);
        if (result != 0)
        {
            var errno = LibC.LastErrno;
            LibC.close(fd);
            throw new FuseMountException(errno == Errno.EPERM
                ? $"mount {mountpoint}: permission denied (picojumpd must run as root)"
                : $"mount {mountpoint}: {errno}");
        }
        return new FuseMount(mountpoint, fd, MountMinor(mountpoint));
    }

    /// <summary>
    /// Detaches a mount whose daemon died (its root answers ENOTCONN). True if one was cleaned.
    /// Asks with statfs, which always reaches the daemon: for a while after a crash, a stat is
    /// still answered from the attributes the kernel caches.
    /// </summary>
    public static bool CleanStale(string mountpoint)
    {
        StatVfs st;
        fixed (byte* path = Z(mountpoint))
        {
            if (LibC.statvfs(path, &st) == 0 || LibC.LastErrno != Errno.ENOTCONN)
                return false;
            return LibC.umount2(path, LibC.MNT_DETACH) == 0;
        }
    }

    /// <summary>
    /// Serves requests from any message-preserving descriptor (a SOCK_SEQPACKET socket) as
    /// if it were /dev/fuse: lets tests speak the kernel's side of the protocol.
    /// </summary>
    internal static FuseMount FromDevice(int fd) => new(null, fd, 0);

    /// <summary>Lazily unmounts; requests in flight still complete, new ones fail.</summary>
    public void Unmount()
    {
        if (Mountpoint == null)
        {
            LibC.shutdown(_deviceFd, 2 /* SHUT_RDWR */);
            return;
        }
        fixed (byte* path = Z(Mountpoint))
            LibC.umount2(path, LibC.MNT_DETACH);
    }

    /// <summary>
    /// Aborts the connection through fusectl, waking every thread blocked on the device
    /// even while processes still hold files open under the (detached) mount.
    /// </summary>
    public void Abort()
    {
        if (Mountpoint == null)
            return;
        var control = "/sys/fs/fuse/connections";
        var connection = Path.Combine(control, ConnectionId.ToString());
        if (!Directory.Exists(connection))
        {
            fixed (byte* source = Z("fusectl"), target = Z(control))
                LibC.mount(source, target, source, 0, null);
        }
        try
        {
            File.WriteAllText(Path.Combine(connection, "abort"), "1");
        }
        catch (IOException)
        {
            // The connection is already gone.
        }
        catch (UnauthorizedAccessException)
        {
            // No fusectl here; closing the device is all that is left.
        }
    }

    public void Dispose()
    {
        var fd = Interlocked.Exchange(ref _deviceFd, -1);
        if (fd >= 0)
            LibC.close(fd);
    }

    /// <summary>
    /// The minor device number of the mount, from the mount table: a stat of the root would
    /// send a request to the daemon, which is not serving yet.
    /// </summary>
    private static uint MountMinor(string mountpoint) => MountTable.At(mountpoint).LastOrDefault()?.Minor ?? 0;

    private static byte[] Z(string s)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(s) + 1];
        Encoding.UTF8.GetBytes(s, bytes);
        return bytes;
    }
}

public sealed class FuseMountException : Exception
{
    public FuseMountException(string message) : base(message) { }

    public FuseMountException() { }

    public FuseMountException(string message, Exception inner) : base(message, inner) { }
}
