using Picojump.Fs.Native;
using Picojump.Protos.Peer;

namespace Picojump.Fs.Cluster.Internal;

/// <summary>struct stat as the peer API carries it, and the stat calls that fill it.</summary>
internal static unsafe class Attrs
{
    private const long NanosPerSecond = 1_000_000_000;

    public static Attr From(in Stat st) => new()
    {
        Ino = st.Ino,
        Size = (ulong)st.Size,
        Blocks = (ulong)st.Blocks,
        AtimeNs = st.Atime * NanosPerSecond + st.AtimeNsec,
        MtimeNs = st.Mtime * NanosPerSecond + st.MtimeNsec,
        CtimeNs = st.Ctime * NanosPerSecond + st.CtimeNsec,
        Mode = st.Mode,
        Nlink = (uint)st.Nlink,
        Uid = st.Uid,
        Gid = st.Gid,
        Rdev = (uint)st.Rdev,
        Blksize = (uint)st.BlkSize,
    };

    /// <summary>The entry <paramref name="name"/> (NUL-terminated) in <paramref name="dirFd"/>, not following a symlink.</summary>
    public static Errno StatAt(int dirFd, ReadOnlySpan<byte> name, out Stat st)
    {
        fixed (byte* n = name)
        fixed (Stat* s = &st)
            return LibC.fstatat(dirFd, n, s, LibC.AT_SYMLINK_NOFOLLOW) == 0 ? Errno.OK : LibC.LastErrno;
    }

    public static Errno StatFd(int fd, out Stat st)
    {
        fixed (Stat* s = &st)
            return LibC.fstat(fd, s) == 0 ? Errno.OK : LibC.LastErrno;
    }

    public static EntryReply Entry(Errno errno, in Stat st)
        => errno == Errno.OK ? new EntryReply { Attr = From(st) } : new EntryReply { Errno = (int)errno };

    public static ErrnoReply Reply(Errno errno) => new() { Errno = (int)errno };
}
