using Picojump.Fs.Fuse;
using Picojump.Fs.Native;

namespace Picojump.Fs.Local;

// Extended attributes, reached through the node's /proc/self/fd link (an O_PATH
// descriptor takes no f*xattr calls).
public sealed unsafe partial class LocalFileSystem
{
    public Errno SetXattr(in FuseInHeader header, in FuseSetXattrIn input, FuseName name, ReadOnlySpan<byte> value)
    {
        if (Node(header.NodeId) is not { } inode)
            return Errno.ESTALE;
        var path = stackalloc byte[32];
        fixed (byte* n = name.Bytes, v = value)
            return LibC.setxattr(LibC.ProcFdPath(inode.Fd, path), n, v, (nuint)value.Length, input.Flags) == 0 ? Errno.OK : LibC.LastErrno;
    }

    public Errno GetXattr(in FuseInHeader header, FuseName name, Span<byte> value, out int length)
    {
        length = 0;
        if (Node(header.NodeId) is not { } inode)
            return Errno.ESTALE;
        var path = stackalloc byte[32];
        fixed (byte* n = name.Bytes, v = value)
        {
            var result = LibC.getxattr(LibC.ProcFdPath(inode.Fd, path), n, v, (nuint)value.Length);
            if (result < 0)
                return LibC.LastErrno;
            length = (int)result;
        }
        return Errno.OK;
    }

    public Errno ListXattr(in FuseInHeader header, Span<byte> list, out int length)
    {
        length = 0;
        if (Node(header.NodeId) is not { } inode)
            return Errno.ESTALE;
        var path = stackalloc byte[32];
        fixed (byte* l = list)
        {
            var result = LibC.listxattr(LibC.ProcFdPath(inode.Fd, path), l, (nuint)list.Length);
            if (result < 0)
                return LibC.LastErrno;
            length = (int)result;
        }
        return Errno.OK;
    }

    public Errno RemoveXattr(in FuseInHeader header, FuseName name)
    {
        if (Node(header.NodeId) is not { } inode)
            return Errno.ESTALE;
        var path = stackalloc byte[32];
        fixed (byte* n = name.Bytes)
            return LibC.removexattr(LibC.ProcFdPath(inode.Fd, path), n) == 0 ? Errno.OK : LibC.LastErrno;
    }
}
