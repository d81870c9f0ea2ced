using System.Runtime.InteropServices;

namespace Picojump.Fs.Native;

public static unsafe partial class LibC
{
    private const long SYS_openat2 = 437;
    private const long SYS_getdents64 = 217;

    public const ulong RESOLVE_NO_XDEV = 0x01;
    public const ulong RESOLVE_NO_MAGICLINKS = 0x02;
    public const ulong RESOLVE_NO_SYMLINKS = 0x04;
    public const ulong RESOLVE_BENEATH = 0x08;

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int open(byte* path, int flags, uint mode);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int openat(int dirfd, byte* path, int flags, uint mode);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int fstatat(int dirfd, byte* path, Stat* buf, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int fstat(int fd, Stat* buf);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int fstatvfs(int fd, StatVfs* buf);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int statvfs(byte* path, StatVfs* buf);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int mkdirat(int dirfd, byte* path, uint mode);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int mknodat(int dirfd, byte* path, uint mode, ulong dev);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int unlinkat(int dirfd, byte* path, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int renameat2(int olddirfd, byte* oldpath, int newdirfd, byte* newpath, uint flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int linkat(int olddirfd, byte* oldpath, int newdirfd, byte* newpath, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int symlinkat(byte* target, int newdirfd, byte* linkpath);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint readlinkat(int dirfd, byte* path, byte* buf, nuint size);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int fchmodat(int dirfd, byte* path, uint mode, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int fchmod(int fd, uint mode);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int fchownat(int dirfd, byte* path, uint owner, uint group, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int ftruncate(int fd, long length);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int truncate(byte* path, long length);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int utimensat(int dirfd, byte* path, TimeSpec* times, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int fsync(int fd);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int fdatasync(int fd);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int fallocate(int fd, int mode, long offset, long len);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial long lseek(int fd, long offset, int whence);

    public const int POSIX_FADV_WILLNEED = 3;

    /// <summary>Returns the error number itself (not -1 and errno), as POSIX specifies.</summary>
    [LibraryImport(Lib)]
    public static partial int posix_fadvise(int fd, long offset, long length, int advice);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint getxattr(byte* path, byte* name, byte* value, nuint size);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int setxattr(byte* path, byte* name, byte* value, nuint size, int flags);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint listxattr(byte* path, byte* list, nuint size);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int removexattr(byte* path, byte* name);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial nint copy_file_range(int fdIn, long* offIn, int fdOut, long* offOut, nuint len, uint flags);

    /// <summary>openat2(2); glibc 2.36 has no wrapper, so it goes through syscall(2).</summary>
    public static int openat2(int dirfd, byte* path, int flags, ulong resolve)
    {
        var how = stackalloc ulong[3] { (ulong)flags, 0, resolve };
        return (int)syscall(SYS_openat2, dirfd, (long)path, (long)how, 24, 0);
    }

    public static nint getdents64(int fd, byte* buf, int size)
        => (nint)syscall(SYS_getdents64, fd, (long)buf, size, 0, 0);

    /// <summary>Writes "/proc/self/fd/N\0" into <paramref name="dest"/> (at least 32 bytes).</summary>
    public static byte* ProcFdPath(int fd, byte* dest)
    {
        "/proc/self/fd/"u8.CopyTo(new Span<byte>(dest, 14));
        fd.TryFormat(new Span<byte>(dest + 14, 16), out var written);
        dest[14 + written] = 0;
        return dest;
    }
}
