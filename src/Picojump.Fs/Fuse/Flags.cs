namespace Picojump.Fs.Fuse;

/// <summary>INIT capability flags; bits 32 and up travel in flags2 (FUSE_INIT_EXT).</summary>
[Flags]
public enum FuseInitFlags : ulong
{
    None = 0,
    AsyncRead = 1UL << 0,
    PosixLocks = 1UL << 1,
    AtomicOTrunc = 1UL << 3,
    BigWrites = 1UL << 5,
    DontMask = 1UL << 6,
    FlockLocks = 1UL << 10,
    AutoInvalData = 1UL << 12,
    DoReaddirplus = 1UL << 13,
    ReaddirplusAuto = 1UL << 14,
    AsyncDio = 1UL << 15,
    WritebackCache = 1UL << 16,
    ParallelDirops = 1UL << 18,
    HandleKillprivV2 = 1UL << 28,
    MaxPages = 1UL << 22,
    CacheSymlinks = 1UL << 23,
    ExplicitInvalData = 1UL << 25,
    SetxattrExt = 1UL << 29,
    InitExt = 1UL << 30,
    Passthrough = 1UL << 37,
}

/// <summary>fuse_open_out.open_flags.</summary>
[Flags]
public enum FuseOpenOutFlags : uint
{
    None = 0,
    DirectIo = 1 << 0,
    KeepCache = 1 << 1,
    NonSeekable = 1 << 2,
    CacheDir = 1 << 3,
    NoFlush = 1 << 5,
    ParallelDirectWrites = 1 << 6,
    Passthrough = 1 << 7,
}

/// <summary>fuse_setattr_in.valid: which fields of the request are set.</summary>
[Flags]
public enum FuseSetAttrValid : uint
{
    Mode = 1 << 0,
    Uid = 1 << 1,
    Gid = 1 << 2,
    Size = 1 << 3,
    Atime = 1 << 4,
    Mtime = 1 << 5,
    Fh = 1 << 6,
    AtimeNow = 1 << 7,
    MtimeNow = 1 << 8,
    LockOwner = 1 << 9,
    Ctime = 1 << 10,
    KillSuidGid = 1 << 11,
}

/// <summary>Small flag constants of single request types.</summary>
public static class FuseConstants
{
    public const uint GetAttrFh = 1;
    public const uint ReleaseFlockUnlock = 2;
    public const uint LkFlock = 1;
    public const uint FsyncFdatasync = 1;
    public const uint WriteKillSuidGid = 4;
    public const uint OpenKillSuidGid = 1;
    public const uint RenameNoReplace = 1;
    public const uint RenameExchange = 2;
    public const uint RenameWhiteout = 4;
    public const int RootNodeId = 1;
    public const int MinReadBuffer = 8192;
}
