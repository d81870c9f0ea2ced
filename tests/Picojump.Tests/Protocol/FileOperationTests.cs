using System.Runtime.InteropServices;
using System.Text;
using Picojump.Fs.Fuse;
using Picojump.Fs.Native;
using Picojump.Tests.Infrastructure;

namespace Picojump.Tests.Protocol;

/// <summary>Names, attributes, data and directories, request by request, against the export on disk.</summary>
public sealed class FileOperationTests : ProtocolTest
{
    private const uint MaxWrite = 1 << 20;

    [Fact]
    public void Lookup_and_getattr_describe_the_file_on_disk()
    {
        var path = Path.Combine(Harness.Export, "data.txt");
        File.WriteAllText(path, "twelve bytes");

        var entry = Client.LookupOk(Root, "data.txt");
        Assert.True(entry.NodeId > Root);
        Assert.Equal(InodeOf(path), entry.Attr.Ino);
        Assert.Equal(12UL, entry.Attr.Size);
        Assert.Equal(Stat.S_IFREG, FileType.Of(entry.Attr));
        Assert.Equal(1UL, entry.EntryValid); // LocalFileSystemOptions' default 1 s
        Assert.Equal(1UL, entry.AttrValid);

        var attr = Client.GetAttr(entry.NodeId).As<FuseAttrOut>();
        Assert.Equal(entry.Attr.Ino, attr.Attr.Ino);
        Assert.Equal(12UL, attr.Attr.Size);
        // A second lookup of the same file is the same node.
        Assert.Equal(entry.NodeId, Client.LookupOk(Root, "data.txt").NodeId);

        Client.Lookup(Root, "missing").AssertError(Errno.ENOENT);
        Assert.Equal(Stat.S_IFDIR, FileType.Of(Client.GetAttr(Root).As<FuseAttrOut>().Attr));
    }

    [Fact]
    public void Create_write_read_and_release_go_to_the_file_on_disk()
    {
        var (entry, open) = Client.CreateOk(Root, "new");
        Assert.Equal(Stat.S_IFREG, FileType.Of(entry.Attr));
        Assert.Equal(11u, Client.Write(entry.NodeId, open.Fh, 0, "hello world"u8).As<FuseWriteOut>().Size);
        Assert.Equal(5u, Client.Write(entry.NodeId, open.Fh, 6, "WORLD"u8).As<FuseWriteOut>().Size);
        Assert.Equal("hello WORLD", File.ReadAllText(Path.Combine(Harness.Export, "new")));

        Assert.Equal("WORLD"u8.ToArray(), Client.Read(entry.NodeId, open.Fh, 6, 4096).AssertOk().Payload);
        Assert.Empty(Client.Read(entry.NodeId, open.Fh, 100, 4096).AssertOk().Payload); // past the end: EOF
        Assert.Equal(11UL, Client.GetAttr(entry.NodeId).As<FuseAttrOut>().Attr.Size);

        Client.Release(entry.NodeId, open.Fh).AssertOk();
        Client.Read(entry.NodeId, open.Fh, 0, 10).AssertError(Errno.EBADF);
        // CREATE of an existing name with O_EXCL, as open(O_CREAT|O_EXCL) sends it.
        Client.Create(Root, "new", OpenFlags.O_RDWR | OpenFlags.O_CREAT | OpenFlags.O_EXCL).AssertError(Errno.EEXIST);
    }

    [SkippableFact]
    public void A_write_of_max_write_bytes_fits_the_request_buffer()
    {
        Prerequisites.Require(Client.MaxMessage > MaxWrite + 4096, "socket buffers for 1 MiB messages (root, or net.core.wmem_max >= 2 MiB)");
        var (entry, open) = Client.CreateOk(Root, "big");
        var data = new byte[MaxWrite];
        new Random(7).NextBytes(data);
        Assert.Equal((uint)data.Length, Client.Write(entry.NodeId, open.Fh, 0, data).As<FuseWriteOut>().Size);
        Assert.Equal(data, File.ReadAllBytes(Path.Combine(Harness.Export, "big")));
        Assert.Equal(data, Client.Read(entry.NodeId, open.Fh, 0, MaxWrite).AssertOk().Payload);
    }

    [Fact]
    public void Mkdir_unlink_and_rmdir()
    {
        var dir = Client.MkDir(Root, "d").As<FuseEntryOut>();
        Assert.Equal(Stat.S_IFDIR, FileType.Of(dir.Attr));
        Assert.True(Directory.Exists(Path.Combine(Harness.Export, "d")));
        Client.MkDir(Root, "d").AssertError(Errno.EEXIST);

        var (file, open) = Client.CreateOk(dir.NodeId, "inner");
        Client.Release(file.NodeId, open.Fh).AssertOk();
        Client.RmDir(Root, "d").AssertError(Errno.ENOTEMPTY);
        Client.Unlink(Root, "d").AssertError(Errno.EISDIR);
        Client.Unlink(dir.NodeId, "inner").AssertOk();
        Client.RmDir(Root, "d").AssertOk();
        Client.Lookup(Root, "d").AssertError(Errno.ENOENT);
        Client.Unlink(Root, "never-was").AssertError(Errno.ENOENT);
    }

    [Fact]
    public void Symlink_readlink_and_link()
    {
        var link = Client.Symlink(Root, "l", "some/where").As<FuseEntryOut>();
        Assert.Equal(Stat.S_IFLNK, FileType.Of(link.Attr));
        Assert.Equal("some/where", Encoding.UTF8.GetString(Client.ReadLink(link.NodeId).AssertOk().Payload));
        Assert.Equal("some/where", new FileInfo(Path.Combine(Harness.Export, "l")).LinkTarget);

        var (file, open) = Client.CreateOk(Root, "f");
        Client.Release(file.NodeId, open.Fh).AssertOk();
        var hard = Client.Link(file.NodeId, Root, "f2").As<FuseEntryOut>();
        Assert.Equal(file.NodeId, hard.NodeId); // one node per inode
        Assert.Equal(2u, hard.Attr.Nlink);
        Client.Link(file.NodeId, Root, "f2").AssertError(Errno.EEXIST);
    }

    [Fact]
    public void Rename2_noreplace_and_exchange()
    {
        File.WriteAllText(Path.Combine(Harness.Export, "a"), "A");
        File.WriteAllText(Path.Combine(Harness.Export, "b"), "B");
        var sub = Client.MkDir(Root, "sub").As<FuseEntryOut>();

        Client.Rename2(Root, "a", Root, "b", FuseConstants.RenameNoReplace).AssertError(Errno.EEXIST);
        Client.Rename2(Root, "a", Root, "b", FuseConstants.RenameExchange).AssertOk();
        Assert.Equal("B", File.ReadAllText(Path.Combine(Harness.Export, "a")));
        Assert.Equal("A", File.ReadAllText(Path.Combine(Harness.Export, "b")));
        Client.Rename2(Root, "a", Root, "nothing", FuseConstants.RenameExchange).AssertError(Errno.ENOENT);
        Client.Rename2(Root, "a", Root, "c", FuseConstants.RenameWhiteout).AssertError(Errno.EINVAL);
        Client.Rename2(Root, "a", Root, "c", FuseConstants.RenameNoReplace | FuseConstants.RenameExchange).AssertError(Errno.EINVAL);

        Client.Rename2(Root, "a", sub.NodeId, "moved", FuseConstants.RenameNoReplace).AssertOk();
        Client.Rename(Root, "b", sub.NodeId, "moved").AssertOk(); // plain RENAME replaces
        Assert.Equal("A", File.ReadAllText(Path.Combine(Harness.Export, "sub", "moved")));
        Assert.False(File.Exists(Path.Combine(Harness.Export, "a")));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Readdir_lists_every_entry_once_in_any_buffer_size(bool plus)
    {
        var names = Enumerable.Range(0, 40).Select(i => $"file-{i:D2}-{new string('x', i)}").ToList();
        foreach (var name in names)
            File.WriteAllText(Path.Combine(Harness.Export, name), name);
        Directory.CreateDirectory(Path.Combine(Harness.Export, "subdir"));
        string[] expected = [".", "..", "subdir", .. names];

        // Down to a buffer that holds just the largest record (152 + 47 bytes with plus).
        foreach (var bufferSize in plus ? new uint[] { 4096, 200 } : [4096, 200, 72])
        {
            var entries = Client.ReadWholeDir(Root, plus, bufferSize);
            Assert.Equal(expected.Order(StringComparer.Ordinal), entries.Select(e => e.Name).Order(StringComparer.Ordinal));
            var file = entries.Single(e => e.Name == "file-03-xxx");
            Assert.Equal(8u, file.Type); // DT_REG
            Assert.Equal(4u, entries.Single(e => e.Name == "subdir").Type); // DT_DIR
            if (plus)
            {
                // Each entry is a lookup: the node answers GETATTR; "." and ".." carry no node.
                Assert.True(file.Entry!.Value.NodeId > Root);
                Assert.Equal(11UL, Client.GetAttr(file.Entry.Value.NodeId).As<FuseAttrOut>().Attr.Size);
                Assert.Equal(0UL, entries.Single(e => e.Name == "..").Entry!.Value.NodeId);
            }
        }
    }

    [Fact]
    public void Readdir_buffer_too_small_for_one_record_returns_nothing_and_keeps_the_position()
    {
        File.WriteAllText(Path.Combine(Harness.Export, "only"), "");
        var fh = Client.OpenDirOk(Root);
        Assert.Empty(Client.ReadDir(Root, fh, 0, 16, plus: false).AssertOk().Payload);
        var all = FuseTestClient.ParseDirents(Client.ReadDir(Root, fh, 0, 4096, plus: false).AssertOk().Payload, plus: false);
        Assert.Contains(all, e => e.Name == "only");
        Client.ReadDir(Root, fh + 1000, 0, 4096, plus: false).AssertError(Errno.EBADF);
    }

    [Fact]
    public void Getxattr_and_listxattr_answer_size_probes()
    {
        var (file, open) = Client.CreateOk(Root, "x");
        Client.Release(file.NodeId, open.Fh).AssertOk();
        Client.SetXattr(file.NodeId, "user.pj", "hello"u8).AssertOk();

        Assert.Equal(5u, Client.GetXattr(file.NodeId, "user.pj", 0).As<FuseGetXattrOut>().Size);
        Assert.Equal("hello"u8.ToArray(), Client.GetXattr(file.NodeId, "user.pj", 5).AssertOk().Payload);
        Assert.Equal("hello"u8.ToArray(), Client.GetXattr(file.NodeId, "user.pj", 4096).AssertOk().Payload);
        Client.GetXattr(file.NodeId, "user.pj", 2).AssertError(Errno.ERANGE);
        Client.GetXattr(file.NodeId, "user.none", 0).AssertError(Errno.ENODATA);

        var listSize = Client.ListXattr(file.NodeId, 0).As<FuseGetXattrOut>().Size;
        var list = Client.ListXattr(file.NodeId, listSize).AssertOk().Payload;
        Assert.Equal((int)listSize, list.Length);
        Assert.Contains("user.pj", Encoding.UTF8.GetString(list).Split('\0'));
        Client.SetXattr(file.NodeId, "user.pj", "x"u8, flags: 1 /* XATTR_CREATE */).AssertError(Errno.EEXIST);
        Client.Call(FuseOpcode.RemoveXattr, file.NodeId, FuseTestClient.Name("user.pj")).AssertOk();
        Client.GetXattr(file.NodeId, "user.pj", 0).AssertError(Errno.ENODATA);
    }

    [Fact]
    public void Setattr_truncates_changes_mode_and_sets_times()
    {
        var (file, open) = Client.CreateOk(Root, "attrs");
        Client.Write(file.NodeId, open.Fh, 0, "0123456789"u8).AssertOk();
        var path = Path.Combine(Harness.Export, "attrs");

        var truncated = Client.SetAttr(file.NodeId, new FuseSetAttrIn { Valid = FuseSetAttrValid.Size | FuseSetAttrValid.Fh, Fh = open.Fh, Size = 3 }).As<FuseAttrOut>();
        Assert.Equal(3UL, truncated.Attr.Size);
        Assert.Equal("012", File.ReadAllText(path));
        Client.SetAttr(file.NodeId, new FuseSetAttrIn { Valid = FuseSetAttrValid.Size, Size = 1 }).AssertOk(); // by path, no handle
        Assert.Equal(1L, new FileInfo(path).Length);

        var chmod = Client.SetAttr(file.NodeId, new FuseSetAttrIn { Valid = FuseSetAttrValid.Mode, Mode = 0x8000 | 0b110_000_000 }).As<FuseAttrOut>();
        Assert.Equal(0x8000u | 0b110_000_000, chmod.Attr.Mode);

        var times = new FuseSetAttrIn { Valid = FuseSetAttrValid.Atime | FuseSetAttrValid.Mtime, Atime = 1_000_000_000, AtimeNsec = 5, Mtime = 1_500_000_000, MtimeNsec = 7 };
        var touched = Client.SetAttr(file.NodeId, in times).As<FuseAttrOut>().Attr;
        Assert.Equal((1_000_000_000UL, 5u, 1_500_000_000UL, 7u), (touched.Atime, touched.AtimeNsec, touched.Mtime, touched.MtimeNsec));
        Assert.Equal(1_500_000_000L, new DateTimeOffset(File.GetLastWriteTimeUtc(path)).ToUnixTimeSeconds());
        var now = Client.SetAttr(file.NodeId, new FuseSetAttrIn { Valid = FuseSetAttrValid.Mtime | FuseSetAttrValid.MtimeNow }).As<FuseAttrOut>().Attr;
        Assert.True(now.Mtime > 1_500_000_000UL);
        Assert.Equal(1_000_000_000UL, now.Atime); // UTIME_OMIT for what was not asked
    }

    [Fact]
    public void Mknod_makes_a_fifo_and_getattr_through_a_handle_uses_it()
    {
        var fifo = Client.Call(FuseOpcode.MkNod, Root, [.. FuseTestClient.Bytes(new FuseMknodIn { Mode = 0x1000 | 0b110_100_100 }), .. FuseTestClient.Name("fifo")]).As<FuseEntryOut>();
        Assert.Equal(0x1000u, fifo.Attr.Mode & Stat.S_IFMT);

        var (file, open) = Client.CreateOk(Root, "f");
        Client.Write(file.NodeId, open.Fh, 0, "abc"u8).AssertOk();
        var byHandle = Client.Call(FuseOpcode.GetAttr, file.NodeId, FuseTestClient.Bytes(new FuseGetAttrIn { GetAttrFlags = FuseConstants.GetAttrFh, Fh = open.Fh })).As<FuseAttrOut>();
        Assert.Equal(3UL, byHandle.Attr.Size);
    }

    [Fact]
    public void Copy_file_range_lseek_and_fallocate_act_on_the_open_files()
    {
        var (source, sourceOpen) = Client.CreateOk(Root, "source");
        var (target, targetOpen) = Client.CreateOk(Root, "target");
        Client.Write(source.NodeId, sourceOpen.Fh, 0, "copy me please"u8).AssertOk();

        var copy = new FuseCopyFileRangeIn { FhIn = sourceOpen.Fh, OffIn = 5, NodeIdOut = target.NodeId, FhOut = targetOpen.Fh, OffOut = 2, Len = 2 };
        Assert.Equal(2u, Client.Call(FuseOpcode.CopyFileRange, source.NodeId, FuseTestClient.Bytes(in copy)).As<FuseWriteOut>().Size);
        Assert.Equal("\0\0me", File.ReadAllText(Path.Combine(Harness.Export, "target")));

        var end = new FuseLseekIn { Fh = sourceOpen.Fh, Offset = 0, Whence = 2 /* SEEK_END */ };
        Assert.Equal(14L, Client.Call(FuseOpcode.Lseek, source.NodeId, FuseTestClient.Bytes(in end)).As<FuseLseekOut>().Offset);
        var hole = new FuseLseekIn { Fh = sourceOpen.Fh, Offset = 0, Whence = 4 /* SEEK_HOLE */ };
        Assert.Equal(14L, Client.Call(FuseOpcode.Lseek, source.NodeId, FuseTestClient.Bytes(in hole)).As<FuseLseekOut>().Offset);

        var grow = new FuseFallocateIn { Fh = targetOpen.Fh, Offset = 0, Length = 8192 };
        Client.Call(FuseOpcode.Fallocate, target.NodeId, FuseTestClient.Bytes(in grow)).AssertOk();
        Assert.Equal(8192L, new FileInfo(Path.Combine(Harness.Export, "target")).Length);
    }

    [Fact]
    public void Readdirplus_counts_one_lookup_per_entry_sent_and_none_for_entries_that_did_not_fit()
    {
        File.WriteAllText(Path.Combine(Harness.Export, "a"), "");
        File.WriteAllText(Path.Combine(Harness.Export, "b"), "");
        var fh = Client.OpenDirOk(Root);
        // Room for one plus record at a time: every other entry is read, and skipped, once per call.
        var seen = new Dictionary<string, ulong>();
        ulong offset = 0;
        while (FuseTestClient.ParseDirents(Client.ReadDir(Root, fh, offset, 160, plus: true).AssertOk().Payload, plus: true) is [var entry])
        {
            seen[entry.Name] = entry.Entry!.Value.NodeId;
            offset = entry.NextOffset;
        }
        Assert.Equal([".", "..", "a", "b"], seen.Keys.Order(StringComparer.Ordinal));
        foreach (var name in new[] { "a", "b" })
        {
            // One FORGET of 1 must drop it: any lookup counted for a record that was not sent would keep it.
            Client.SendForget(seen[name], 1);
            Client.AssertNothingAnsweredBefore("FORGET");
            Client.GetAttr(seen[name]).AssertError(Errno.ESTALE);
        }
    }

    [Fact]
    public void Forget_drops_the_node_once_every_lookup_is_forgotten()
    {
        File.WriteAllText(Path.Combine(Harness.Export, "f"), "");
        var node = Client.LookupOk(Root, "f").NodeId;
        Assert.Equal(node, Client.LookupOk(Root, "f").NodeId);
        Client.SendForget(node, 1);
        Client.AssertNothingAnsweredBefore("FORGET");
        Client.GetAttr(node).AssertOk(); // one lookup left
        var batch = new byte[8 + 16];
        MemoryMarshal.Write(batch, new FuseBatchForgetIn { Count = 1 });
        MemoryMarshal.Write(batch.AsSpan(8), new FuseForgetOne { NodeId = node, Nlookup = 1 });
        Client.Send(FuseOpcode.BatchForget, 0, batch);
        Client.AssertNothingAnsweredBefore("BATCH_FORGET");
        Client.GetAttr(node).AssertError(Errno.ESTALE);
    }

    private static unsafe ulong InodeOf(string path)
    {
        Stat st;
        fixed (byte* p = Encoding.UTF8.GetBytes(path + "\0"))
            Assert.Equal(0, LibC.fstatat(LibC.AT_FDCWD, p, &st, LibC.AT_SYMLINK_NOFOLLOW));
        return st.Ino;
    }
}
