using System.Text;
using Picojump.Fs.Native;

namespace Picojump.Fs.Cluster.Internal;

/// <summary>
/// The export directory as an O_PATH descriptor, and the only way the peer service reaches a
/// file in it: every path is checked, then resolved beneath this descriptor by openat2 with
/// no symlinks, magic links or mount crossings (a peer's kernel follows symlinks itself, so
/// an owner never needs to), and the last component is acted on with *at calls that do not
/// follow it.
/// </summary>
internal sealed unsafe class ExportRoot : IDisposable
{
    private const int PathMax = 4096;
    private const int NameMax = 255;
    private const ulong Confined = LibC.RESOLVE_BENEATH | LibC.RESOLVE_NO_SYMLINKS | LibC.RESOLVE_NO_MAGICLINKS | LibC.RESOLVE_NO_XDEV;

    public int Fd { get; }

    private ExportRoot(int fd) => Fd = fd;

    public static ExportRoot Open(string directory)
    {
        var fd = OpenPath(LibC.AT_FDCWD, directory, OpenFlags.O_PATH | OpenFlags.O_DIRECTORY | OpenFlags.O_CLOEXEC);
        if (fd < 0)
            throw new DirectoryNotFoundException($"export directory {directory}: {LibC.LastErrno}");
        return new ExportRoot(fd);
    }

    /// <summary>EINVAL or ENAMETOOLONG for a path that is not a plain relative path in the export.</summary>
    public static Errno Check(string path)
    {
        if (path.Length == 0)
            return Errno.OK;
        if (path.Contains('\0') || path[0] == '/')
            return Errno.EINVAL;
        if (Encoding.UTF8.GetByteCount(path) >= PathMax)
            return Errno.ENAMETOOLONG;
        foreach (var component in path.Split('/'))
        {
            if (component is "" or "." or "..")
                return Errno.EINVAL;
            if (Encoding.UTF8.GetByteCount(component) > NameMax)
                return Errno.ENAMETOOLONG;
        }
        return Errno.OK;
    }

    /// <summary>Opens <paramref name="path"/> itself ("" = the export root), confined, never through a symlink.</summary>
    public Errno Open(string path, int flags, out int fd)
    {
        fd = -1;
        var problem = Check(path);
        if (problem != Errno.OK)
            return problem;
        fd = OpenConfined(path.Length == 0 ? "." : path, flags | OpenFlags.O_CLOEXEC);
        return fd < 0 ? LibC.LastErrno : Errno.OK;
    }

    /// <summary>The directory holding the last component of <paramref name="path"/>, and that component's name.</summary>
    public Errno OpenParent(string path, out ParentDir parent)
    {
        parent = default;
        var problem = Check(path);
        if (problem != Errno.OK)
            return problem;
        if (path.Length == 0)
            return Errno.EINVAL; // the root has no name in a parent the peer may see
        var slash = path.LastIndexOf('/');
        var fd = OpenConfined(slash < 0 ? "." : path[..slash], OpenFlags.O_PATH | OpenFlags.O_DIRECTORY | OpenFlags.O_CLOEXEC);
        if (fd < 0)
            return LibC.LastErrno;
        parent = new ParentDir(fd, Encoding.UTF8.GetBytes(path[(slash + 1)..] + "\0"));
        return Errno.OK;
    }

    private int OpenConfined(string path, int flags)
    {
        var bytes = Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* p = bytes)
            return LibC.openat2(Fd, p, flags, Confined);
    }

    private static int OpenPath(int dirFd, string path, int flags)
    {
        var bytes = Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* p = bytes)
            return LibC.openat(dirFd, p, flags, 0);
    }

    public void Dispose() => LibC.close(Fd);
}

/// <summary>A confined parent directory (O_PATH) and the NUL-terminated name of an entry in it.</summary>
internal readonly struct ParentDir(int fd, byte[] name) : IDisposable
{
    public int Fd { get; } = fd;

    public byte[] Name { get; } = name;

    public void Dispose()
    {
        if (Name != null)
            LibC.close(Fd);
    }
}
