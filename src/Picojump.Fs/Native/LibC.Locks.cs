using System.Runtime.InteropServices;

namespace Picojump.Fs.Native;

public static unsafe partial class LibC
{
    public const int F_OFD_GETLK = 36;
    public const int F_OFD_SETLK = 37;
    public const int F_OFD_SETLKW = 38;

    public const short F_RDLCK = 0;
    public const short F_WRLCK = 1;
    public const short F_UNLCK = 2;

    public const int LOCK_SH = 1;
    public const int LOCK_EX = 2;
    public const int LOCK_NB = 4;
    public const int LOCK_UN = 8;

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int fcntl(int fd, int cmd, Flock* arg);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int flock(int fd, int operation);
}

/// <summary>struct flock on x86_64 (32 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct Flock
{
    public short Type;
    public short Whence;
    public long Start;
    public long Length;
    public int Pid;
}
