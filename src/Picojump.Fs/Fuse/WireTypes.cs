using System.Runtime.InteropServices;

namespace Picojump.Fs.Fuse;

// The kernel's wire structs, field for field as in include/uapi/linux/fuse.h (protocol 7.45).
// Names follow the header so the layout tests can compare them one to one.
#pragma warning disable CA1051 // wire structs are plain data

[StructLayout(LayoutKind.Sequential)]
public struct FuseInHeader
{
    public uint Len;
    public FuseOpcode Opcode;
    public ulong Unique;
    public ulong NodeId;
    public uint Uid;
    public uint Gid;
    public uint Pid;
    public ushort TotalExtLen;
    public ushort Padding;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseOutHeader
{
    public uint Len;
    public int Error;
    public ulong Unique;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseAttr
{
    public ulong Ino;
    public ulong Size;
    public ulong Blocks;
    public ulong Atime;
    public ulong Mtime;
    public ulong Ctime;
    public uint AtimeNsec;
    public uint MtimeNsec;
    public uint CtimeNsec;
    public uint Mode;
    public uint Nlink;
    public uint Uid;
    public uint Gid;
    public uint Rdev;
    public uint BlkSize;
    public uint Flags;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseEntryOut
{
    public ulong NodeId;
    public ulong Generation;
    public ulong EntryValid;
    public ulong AttrValid;
    public uint EntryValidNsec;
    public uint AttrValidNsec;
    public FuseAttr Attr;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseAttrOut
{
    public ulong AttrValid;
    public uint AttrValidNsec;
    public uint Dummy;
    public FuseAttr Attr;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseForgetIn
{
    public ulong Nlookup;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseForgetOne
{
    public ulong NodeId;
    public ulong Nlookup;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseBatchForgetIn
{
    public uint Count;
    public uint Dummy;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseGetAttrIn
{
    public uint GetAttrFlags;
    public uint Dummy;
    public ulong Fh;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseSetAttrIn
{
    public FuseSetAttrValid Valid;
    public uint Padding;
    public ulong Fh;
    public ulong Size;
    public ulong LockOwner;
    public ulong Atime;
    public ulong Mtime;
    public ulong Ctime;
    public uint AtimeNsec;
    public uint MtimeNsec;
    public uint CtimeNsec;
    public uint Mode;
    public uint Unused4;
    public uint Uid;
    public uint Gid;
    public uint Unused5;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseMknodIn
{
    public uint Mode;
    public uint Rdev;
    public uint Umask;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseMkdirIn
{
    public uint Mode;
    public uint Umask;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseRenameIn
{
    public ulong NewDir;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseRename2In
{
    public ulong NewDir;
    public uint Flags;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseLinkIn
{
    public ulong OldNodeId;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseOpenIn
{
    public int Flags;
    public uint OpenFlags;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseCreateIn
{
    public int Flags;
    public uint Mode;
    public uint Umask;
    public uint OpenFlags;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseOpenOut
{
    public ulong Fh;
    public FuseOpenOutFlags OpenFlags;
    public int BackingId;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseReleaseIn
{
    public ulong Fh;
    public int Flags;
    public uint ReleaseFlags;
    public ulong LockOwner;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseFlushIn
{
    public ulong Fh;
    public uint Unused;
    public uint Padding;
    public ulong LockOwner;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseReadIn
{
    public ulong Fh;
    public ulong Offset;
    public uint Size;
    public uint ReadFlags;
    public ulong LockOwner;
    public int Flags;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseWriteIn
{
    public ulong Fh;
    public ulong Offset;
    public uint Size;
    public uint WriteFlags;
    public ulong LockOwner;
    public int Flags;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseWriteOut
{
    public uint Size;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct FuseKstatfs
{
    public ulong Blocks;
    public ulong Bfree;
    public ulong Bavail;
    public ulong Files;
    public ulong Ffree;
    public uint Bsize;
    public uint NameLen;
    public uint Frsize;
    public uint Padding;
    public fixed uint Spare[6];
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseFsyncIn
{
    public ulong Fh;
    public uint FsyncFlags;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseSetXattrIn
{
    public uint Size;
    public int Flags;
    public uint SetXattrFlags;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseGetXattrIn
{
    public uint Size;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseGetXattrOut
{
    public uint Size;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseFileLock
{
    public ulong Start;
    public ulong End;
    public uint Type;
    public uint Pid;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseLkIn
{
    public ulong Fh;
    public ulong Owner;
    public FuseFileLock Lk;
    public uint LkFlags;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseLkOut
{
    public FuseFileLock Lk;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseAccessIn
{
    public int Mask;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct FuseInitIn
{
    public uint Major;
    public uint Minor;
    public uint MaxReadahead;
    public uint Flags;
    public uint Flags2;
    public fixed uint Unused[11];
}

[StructLayout(LayoutKind.Sequential)]
public unsafe struct FuseInitOut
{
    public uint Major;
    public uint Minor;
    public uint MaxReadahead;
    public uint Flags;
    public ushort MaxBackground;
    public ushort CongestionThreshold;
    public uint MaxWrite;
    public uint TimeGran;
    public ushort MaxPages;
    public ushort MapAlignment;
    public uint Flags2;
    public uint MaxStackDepth;
    public ushort RequestTimeout;
    public fixed ushort Unused[11];
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseInterruptIn
{
    public ulong Unique;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseDirent
{
    public ulong Ino;
    public ulong Off;
    public uint NameLen;
    public uint Type;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseDirentPlus
{
    public FuseEntryOut EntryOut;
    public FuseDirent Dirent;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseNotifyInvalInodeOut
{
    public ulong Ino;
    public long Off;
    public long Len;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseNotifyInvalEntryOut
{
    public ulong Parent;
    public uint NameLen;
    public uint Flags;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseFallocateIn
{
    public ulong Fh;
    public ulong Offset;
    public ulong Length;
    public int Mode;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseLseekIn
{
    public ulong Fh;
    public long Offset;
    public int Whence;
    public uint Padding;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseLseekOut
{
    public long Offset;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseCopyFileRangeIn
{
    public ulong FhIn;
    public long OffIn;
    public ulong NodeIdOut;
    public ulong FhOut;
    public long OffOut;
    public ulong Len;
    public ulong Flags;
}

[StructLayout(LayoutKind.Sequential)]
public struct FuseBackingMap
{
    public int Fd;
    public uint Flags;
    public ulong Padding;
}
