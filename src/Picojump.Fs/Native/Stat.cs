using System.Runtime.InteropServices;

namespace Picojump.Fs.Native;

/// <summary>struct stat as x86_64 Linux lays it out (144 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct Stat
{
    public ulong Dev;
    public ulong Ino;
    public ulong Nlink;
    public uint Mode;
    public uint Uid;
    public uint Gid;
    private readonly int _pad0;
    public ulong Rdev;
    public long Size;
    public long BlkSize;
    public long Blocks;
    public long Atime;
    public long AtimeNsec;
    public long Mtime;
    public long MtimeNsec;
    public long Ctime;
    public long CtimeNsec;
    private readonly long _reserved0;
    private readonly long _reserved1;
    private readonly long _reserved2;

    public const uint S_IFMT = 0xF000;
    public const uint S_IFDIR = 0x4000;
    public const uint S_IFREG = 0x8000;
    public const uint S_IFLNK = 0xA000;
    public const uint S_IFSOCK = 0xC000;

    public readonly bool IsDirectory => (Mode & S_IFMT) == S_IFDIR;
    public readonly bool IsRegular => (Mode & S_IFMT) == S_IFREG;
    public readonly bool IsSymlink => (Mode & S_IFMT) == S_IFLNK;
    public readonly bool IsSocket => (Mode & S_IFMT) == S_IFSOCK;
}

/// <summary>struct statvfs on x86_64 glibc (112 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct StatVfs
{
    public ulong BlockSize;
    public ulong FragmentSize;
    public ulong Blocks;
    public ulong BlocksFree;
    public ulong BlocksAvailable;
    public ulong Files;
    public ulong FilesFree;
    public ulong FilesAvailable;
    public ulong FsId;
    public ulong Flags;
    public ulong NameMax;
    private fixed int _spare[6];
}

/// <summary>struct timespec.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct TimeSpec
{
    public long Seconds;
    public long Nanoseconds;

    public const long UTIME_NOW = (1L << 30) - 1;
    public const long UTIME_OMIT = (1L << 30) - 2;
}
