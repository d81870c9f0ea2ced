using Picojump.Fs.Fuse;
using static Picojump.Tests.Protocol.FuseTestClient;

namespace Picojump.Tests.Protocol;

/// <summary>
/// A well-formed payload for every opcode the server decodes, as the kernel would send it;
/// the robustness tests cut them short or fill them with noise.
/// </summary>
internal static class WellFormedPayloads
{
    /// <summary>Opcodes whose request carries a payload the server must decode.</summary>
    public static readonly FuseOpcode[] Decoded =
    [
        FuseOpcode.Lookup, FuseOpcode.Forget, FuseOpcode.GetAttr, FuseOpcode.SetAttr, FuseOpcode.Symlink,
        FuseOpcode.MkNod, FuseOpcode.MkDir, FuseOpcode.Unlink, FuseOpcode.RmDir, FuseOpcode.Rename,
        FuseOpcode.Link, FuseOpcode.Open, FuseOpcode.Read, FuseOpcode.Write, FuseOpcode.Release,
        FuseOpcode.Fsync, FuseOpcode.SetXattr, FuseOpcode.GetXattr, FuseOpcode.ListXattr, FuseOpcode.RemoveXattr,
        FuseOpcode.Flush, FuseOpcode.OpenDir, FuseOpcode.ReadDir, FuseOpcode.ReleaseDir, FuseOpcode.FsyncDir,
        FuseOpcode.GetLk, FuseOpcode.SetLk, FuseOpcode.SetLkW, FuseOpcode.Access, FuseOpcode.Create,
        FuseOpcode.Interrupt, FuseOpcode.BatchForget, FuseOpcode.Fallocate, FuseOpcode.ReadDirPlus,
        FuseOpcode.Rename2, FuseOpcode.Lseek, FuseOpcode.CopyFileRange,
    ];

    /// <summary>Requests the kernel sends without expecting a reply.</summary>
    public static bool IsUnanswered(FuseOpcode opcode) => opcode is FuseOpcode.Forget or FuseOpcode.BatchForget;

    /// <summary>Also an INTERRUPT of a request that is not waiting: it is remembered, not answered.</summary>
    public static bool IsUnansweredWhenWellFormed(FuseOpcode opcode) => IsUnanswered(opcode) || opcode == FuseOpcode.Interrupt;

    public static byte[] For(FuseOpcode opcode, ulong node = 1, ulong fh = 1) => opcode switch
    {
        FuseOpcode.Lookup or FuseOpcode.Unlink or FuseOpcode.RmDir or FuseOpcode.RemoveXattr => Name("name"),
        FuseOpcode.Forget => Bytes(new FuseForgetIn { Nlookup = 1 }),
        FuseOpcode.BatchForget => [.. Bytes(new FuseBatchForgetIn { Count = 2 }), .. Bytes(new FuseForgetOne { NodeId = node, Nlookup = 1 }), .. Bytes(new FuseForgetOne { NodeId = node, Nlookup = 1 })],
        FuseOpcode.GetAttr => Bytes(new FuseGetAttrIn { Fh = fh }),
        FuseOpcode.SetAttr => Bytes(new FuseSetAttrIn { Fh = fh }),
        FuseOpcode.Symlink => [.. Name("link"), .. Name("target")],
        FuseOpcode.MkNod => [.. Bytes(new FuseMknodIn { Mode = 0x1000 | 0x1a4 }), .. Name("fifo")],
        FuseOpcode.MkDir => [.. Bytes(new FuseMkdirIn { Mode = 0x1ed }), .. Name("dir")],
        FuseOpcode.Rename => [.. Bytes(new FuseRenameIn { NewDir = node }), .. Name("old"), .. Name("new")],
        FuseOpcode.Rename2 => [.. Bytes(new FuseRename2In { NewDir = node }), .. Name("old"), .. Name("new")],
        FuseOpcode.Link => [.. Bytes(new FuseLinkIn { OldNodeId = node }), .. Name("hard")],
        FuseOpcode.Open or FuseOpcode.OpenDir => Bytes(new FuseOpenIn()),
        FuseOpcode.Create => [.. Bytes(new FuseCreateIn { Flags = 2, Mode = 0x81a4 }), .. Name("file")],
        FuseOpcode.Read or FuseOpcode.ReadDir or FuseOpcode.ReadDirPlus => Bytes(new FuseReadIn { Fh = fh, Size = 4096 }),
        FuseOpcode.Write => [.. Bytes(new FuseWriteIn { Fh = fh, Size = 4 }), .. "data"u8],
        FuseOpcode.Release or FuseOpcode.ReleaseDir => Bytes(new FuseReleaseIn { Fh = fh }),
        FuseOpcode.Flush => Bytes(new FuseFlushIn { Fh = fh }),
        FuseOpcode.Fsync or FuseOpcode.FsyncDir => Bytes(new FuseFsyncIn { Fh = fh }),
        // Without FUSE_SETXATTR_EXT: {u32 size, u32 flags}, the name, the value.
        FuseOpcode.SetXattr => [.. BitConverter.GetBytes(5u), .. BitConverter.GetBytes(0), .. Name("user.x"), .. "value"u8],
        FuseOpcode.GetXattr => [.. Bytes(new FuseGetXattrIn { Size = 64 }), .. Name("user.x")],
        FuseOpcode.ListXattr => Bytes(new FuseGetXattrIn { Size = 64 }),
        FuseOpcode.GetLk or FuseOpcode.SetLk or FuseOpcode.SetLkW => Bytes(new FuseLkIn { Fh = fh, Owner = 1, Lk = new FuseFileLock { Type = 2, End = 10 } }),
        FuseOpcode.Access => Bytes(new FuseAccessIn { Mask = 4 }),
        FuseOpcode.Interrupt => Bytes(new FuseInterruptIn { Unique = 1 }),
        FuseOpcode.Fallocate => Bytes(new FuseFallocateIn { Fh = fh, Length = 10 }),
        FuseOpcode.Lseek => Bytes(new FuseLseekIn { Fh = fh }),
        FuseOpcode.CopyFileRange => Bytes(new FuseCopyFileRangeIn { FhIn = fh, FhOut = fh, NodeIdOut = node, Len = 10 }),
        _ => throw new ArgumentOutOfRangeException(nameof(opcode), opcode, "no well-formed payload known"),
    };
}
