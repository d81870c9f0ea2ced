using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Picojump.Fs.Fuse;
using Picojump.Fs.Native;

namespace Picojump.Tests.Protocol;

/// <summary>One record of a READDIR or READDIRPLUS reply.</summary>
internal sealed record DirEntry(string Name, ulong Ino, ulong NextOffset, uint Type, FuseEntryOut? Entry);

// Typed requests, built as the kernel builds them (fs/fuse/*.c), so tests read as operations.
internal sealed partial class FuseTestClient
{
    public const uint Root = FuseConstants.RootNodeId;

    /// <summary>What Linux 6.18 offers (FINDINGS.md): 7.45, flags=0x73fffffb, flags2=0x5fd.</summary>
    public static FuseInitIn KernelInit(uint flags = 0x73fffffb, uint flags2 = 0x5fd, uint minor = 45)
        => new() { Major = 7, Minor = minor, MaxReadahead = 128 * 1024, Flags = flags, Flags2 = flags2 };

    public FuseReply Init(in FuseInitIn init) => Call(FuseOpcode.Init, 0, Bytes(in init));

    public FuseReply Lookup(ulong parent, string name) => Call(FuseOpcode.Lookup, parent, Name(name));

    public FuseEntryOut LookupOk(ulong parent, string name) => Lookup(parent, name).As<FuseEntryOut>();

    public FuseReply GetAttr(ulong node) => Call(FuseOpcode.GetAttr, node, Bytes(new FuseGetAttrIn()));

    /// <summary>FORGET has no reply; <see cref="AssertNothingAnsweredBefore"/> proves it got none.</summary>
    public void SendForget(ulong node, ulong count) => Send(FuseOpcode.Forget, node, Bytes(new FuseForgetIn { Nlookup = count }));

    public FuseReply Create(ulong parent, string name, int flags = OpenFlags.O_RDWR, uint mode = 0x8000 | 0b110_100_100)
        => Call(FuseOpcode.Create, parent, [.. Bytes(new FuseCreateIn { Flags = flags, Mode = mode, Umask = 0 }), .. Name(name)]);

    /// <summary>CREATE that must succeed: the node and the open file handle.</summary>
    public (FuseEntryOut Entry, FuseOpenOut Open) CreateOk(ulong parent, string name, int flags = OpenFlags.O_RDWR)
    {
        var reply = Create(parent, name, flags).AssertOk();
        Assert.Equal(Marshal.SizeOf<FuseEntryOut>() + Marshal.SizeOf<FuseOpenOut>(), reply.Payload.Length);
        return (MemoryMarshal.Read<FuseEntryOut>(reply.Payload), MemoryMarshal.Read<FuseOpenOut>(reply.Payload.AsSpan(Marshal.SizeOf<FuseEntryOut>())));
    }

    public FuseReply Open(ulong node, int flags) => Call(FuseOpcode.Open, node, Bytes(new FuseOpenIn { Flags = flags }));

    public FuseReply Read(ulong node, ulong fh, ulong offset, uint size)
        => Call(FuseOpcode.Read, node, Bytes(new FuseReadIn { Fh = fh, Offset = offset, Size = size, Flags = OpenFlags.O_RDWR }));

    public FuseReply Write(ulong node, ulong fh, ulong offset, ReadOnlySpan<byte> data)
        => Call(FuseOpcode.Write, node, [.. Bytes(new FuseWriteIn { Fh = fh, Offset = offset, Size = (uint)data.Length, Flags = OpenFlags.O_RDWR }), .. data]);

    public FuseReply Release(ulong node, ulong fh) => Call(FuseOpcode.Release, node, Bytes(new FuseReleaseIn { Fh = fh }));

    public FuseReply MkDir(ulong parent, string name, uint mode = 0x4000 | 0b111_101_101)
        => Call(FuseOpcode.MkDir, parent, [.. Bytes(new FuseMkdirIn { Mode = mode }), .. Name(name)]);

    public FuseReply Unlink(ulong parent, string name) => Call(FuseOpcode.Unlink, parent, Name(name));

    public FuseReply RmDir(ulong parent, string name) => Call(FuseOpcode.RmDir, parent, Name(name));

    public FuseReply Rename(ulong parent, string name, ulong newParent, string newName)
        => Call(FuseOpcode.Rename, parent, [.. Bytes(new FuseRenameIn { NewDir = newParent }), .. Name(name), .. Name(newName)]);

    public FuseReply Rename2(ulong parent, string name, ulong newParent, string newName, uint flags)
        => Call(FuseOpcode.Rename2, parent, [.. Bytes(new FuseRename2In { NewDir = newParent, Flags = flags }), .. Name(name), .. Name(newName)]);

    public FuseReply Link(ulong node, ulong newParent, string newName)
        => Call(FuseOpcode.Link, newParent, [.. Bytes(new FuseLinkIn { OldNodeId = node }), .. Name(newName)]);

    /// <summary>SYMLINK carries the new name first, then the target.</summary>
    public FuseReply Symlink(ulong parent, string name, string target)
        => Call(FuseOpcode.Symlink, parent, [.. Name(name), .. Name(target)]);

    public FuseReply ReadLink(ulong node) => Call(FuseOpcode.ReadLink, node, []);

    public FuseReply SetAttr(ulong node, in FuseSetAttrIn input) => Call(FuseOpcode.SetAttr, node, Bytes(in input));

    public ulong OpenDirOk(ulong node) => Call(FuseOpcode.OpenDir, node, Bytes(new FuseOpenIn())).As<FuseOpenOut>().Fh;

    public FuseReply ReadDir(ulong node, ulong fh, ulong offset, uint size, bool plus)
        => Call(plus ? FuseOpcode.ReadDirPlus : FuseOpcode.ReadDir, node, Bytes(new FuseReadIn { Fh = fh, Offset = offset, Size = size }));

    /// <summary>Reads a whole directory in <paramref name="bufferSize"/>-byte replies, as getdents would.</summary>
    public List<DirEntry> ReadWholeDir(ulong node, bool plus, uint bufferSize = 4096)
    {
        var fh = OpenDirOk(node);
        var all = new List<DirEntry>();
        ulong offset = 0;
        for (var calls = 0; ; calls++)
        {
            Assert.True(calls < 10_000, "READDIR never reached the end of the directory");
            var batch = ParseDirents(ReadDir(node, fh, offset, bufferSize, plus).AssertOk().Payload, plus);
            if (batch.Count == 0)
                break;
            all.AddRange(batch);
            offset = batch[^1].NextOffset;
        }
        Call(FuseOpcode.ReleaseDir, node, Bytes(new FuseReleaseIn { Fh = fh })).AssertOk();
        return all;
    }

    /// <summary>Decodes fuse_dirent / fuse_direntplus records, each padded to 8 bytes.</summary>
    public static List<DirEntry> ParseDirents(ReadOnlySpan<byte> data, bool plus)
    {
        var entries = new List<DirEntry>();
        var entrySize = plus ? Marshal.SizeOf<FuseEntryOut>() : 0;
        var direntSize = Marshal.SizeOf<FuseDirent>();
        while (!data.IsEmpty)
        {
            Assert.True(data.Length >= entrySize + direntSize, $"a {data.Length}-byte tail is no whole record");
            FuseEntryOut? entry = plus ? MemoryMarshal.Read<FuseEntryOut>(data) : null;
            var dirent = MemoryMarshal.Read<FuseDirent>(data[entrySize..]);
            var nameAt = entrySize + direntSize;
            var size = (int)((nameAt + dirent.NameLen + 7) & ~7u);
            Assert.True(size <= data.Length, $"record of {size} bytes overruns the reply");
            Assert.True(data[(nameAt + (int)dirent.NameLen)..size].IndexOfAnyExcept((byte)0) < 0, "record padding is not zeroed");
            entries.Add(new DirEntry(Encoding.UTF8.GetString(data.Slice(nameAt, (int)dirent.NameLen)), dirent.Ino, dirent.Off, dirent.Type, entry));
            data = data[size..];
        }
        return entries;
    }

    public FuseReply SetLk(ulong node, ulong fh, ulong owner, short type, ulong start, ulong end)
        => Call(FuseOpcode.SetLk, node, Bytes(LockRequest(fh, owner, type, start, end)));

    public ulong SendSetLkW(ulong node, ulong fh, ulong owner, short type, ulong start, ulong end)
        => Send(FuseOpcode.SetLkW, node, Bytes(LockRequest(fh, owner, type, start, end)));

    public FuseReply GetLk(ulong node, ulong fh, ulong owner, short type, ulong start, ulong end)
        => Call(FuseOpcode.GetLk, node, Bytes(LockRequest(fh, owner, type, start, end)));

    private static FuseLkIn LockRequest(ulong fh, ulong owner, short type, ulong start, ulong end) => new()
    {
        Fh = fh,
        Owner = owner,
        Lk = new FuseFileLock { Start = start, End = end, Type = (uint)type, Pid = 4242 },
    };

    /// <summary>SETXATTR without FUSE_SETXATTR_EXT: the 8-byte compat struct {size, flags}.</summary>
    public FuseReply SetXattr(ulong node, string name, ReadOnlySpan<byte> value, int flags = 0)
    {
        var head = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(head, (uint)value.Length);
        BinaryPrimitives.WriteInt32LittleEndian(head.AsSpan(4), flags);
        return Call(FuseOpcode.SetXattr, node, [.. head, .. Name(name), .. value]);
    }

    public FuseReply GetXattr(ulong node, string name, uint size)
        => Call(FuseOpcode.GetXattr, node, [.. Bytes(new FuseGetXattrIn { Size = size }), .. Name(name)]);

    public FuseReply ListXattr(ulong node, uint size) => Call(FuseOpcode.ListXattr, node, Bytes(new FuseGetXattrIn { Size = size }));
}
