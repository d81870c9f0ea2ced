using System.Runtime.InteropServices;
using System.Text;
using Picojump.Fs.Fuse;
using Picojump.Fs.Native;

namespace Picojump.Tests.Protocol;

/// <summary>Names, attributes, data and directories, request by request, against the export on disk.</summary>
public sealed class FileOperationTests : IDisposable
{
    private const uint Root = FuseTestClient.Root;
    private const uint MaxWrite = 1 << 20;
    private readonly ProtocolHarness _harness = new();

    private FuseTestClient Client => _harness.Client;

    public void Dispose()
    {
        _harness.AssertNoExceptionsLogged();
        Assert.Empty(Client.Unclaimed);
        _harness.Dispose();
    }

    [Fact]
    public void Lookup_and_getattr_describe_the_file_on_disk()
    {
        var path = Path.Combine(_harness.Export, "data.txt");
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
        Assert.Equal("hello WORLD", File.ReadAllText(Path.Combine(_harness.Export, "new")));

        Assert.Equal("WORLD"u8.ToArray(), Client.Read(entry.NodeId, open.Fh, 6, 4096).AssertOk().Payload);
        Assert.Empty(Client.Read(entry.NodeId, open.Fh, 100, 4096).AssertOk().Payload); // past the end: EOF
        Assert.Equal(11UL, Client.GetAttr(entry.NodeId).As<FuseAttrOut>().Attr.Size);

        Client.Release(entry.NodeId, open.Fh).AssertOk();
        Client.Read(entry.NodeId, open.Fh, 0, 10).AssertError(Errno.EBADF);
        // CREATE of an existing name with O_EXCL, as open(O_CREAT|O_EXCL) sends it.
        Client.Create(Root, "new", OpenFlags.O_RDWR | OpenFlags.O_CREAT | OpenFlags.O_EXCL).AssertError(Errno.EEXIST);
    }

    [Fact]
    public void A_write_of_max_write_bytes_fits_the_request_buffer()
    {
        var (entry, open) = Client.CreateOk(Root, "big");
        var data = new byte[MaxWrite];
        new Random(7).NextBytes(data);
        Assert.Equal((uint)data.Length, Client.Write(entry.NodeId, open.Fh, 0, data).As<FuseWriteOut>().Size);
        Assert.Equal(data, File.ReadAllBytes(Path.Combine(_harness.Export, "big")));
        Assert.Equal(data, Client.Read(entry.NodeId, open.Fh, 0, MaxWrite).AssertOk().Payload);
    }

    [Fact]
    public void Mkdir_unlink_and_rmdir()
    {
        var dir = Client.MkDir(Root, "d").As<FuseEntryOut>();
        Assert.Equal(Stat.S_IFDIR, FileType.Of(dir.Attr));
        Assert.True(Directory.Exists(Path.Combine(_harness.Export, "d")));
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
        Assert.Equal("some/where", new FileInfo(Path.Combine(_harness.Export, "l")).LinkTarget);

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
        File.WriteAllText(Path.Combine(_harness.Export, "a"), "A");
        File.WriteAllText(Path.Combine(_harness.Export, "b"), "B");
        var sub = Client.MkDir(Root, "sub").As<FuseEntryOut>();

        Client.Rename2(Root, "a", Root, "b", FuseConstants.RenameNoReplace).AssertError(Errno.EEXIST);
        Client.Rename2(Root, "a", Root, "b", FuseConstants.RenameExchange).AssertOk();
        Assert.Equal("B", File.ReadAllText(Path.Combine(_harness.Export, "a")));
        Assert.Equal("A", File.ReadAllText(Path.Combine(_harness.Export, "b")));
        Client.Rename2(Root, "a", Root, "nothing", FuseConstants.RenameExchange).AssertError(Errno.ENOENT);
        Client.Rename2(Root, "a", Root, "c", FuseConstants.RenameWhiteout).AssertError(Errno.EINVAL);
        Client.Rename2(Root, "a", Root, "c", FuseConstants.RenameNoReplace | FuseConstants.RenameExchange).AssertError(Errno.EINVAL);

        Client.Rename2(Root, "a", sub.NodeId, "moved", FuseConstants.RenameNoReplace).AssertOk();
        Client.Rename(Root, "b", sub.NodeId, "moved").AssertOk(); // plain RENAME replaces
        Assert.Equal("A", File.ReadAllText(Path.Combine(_harness.Export, "sub", "moved")));
        Assert.False(File.Exists(Path.Combine(_harness.Export, "a")));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Readdir_lists_every_entry_once_in_any_buffer_size(bool plus)
    {
        var names = Enumerable.Range(0, 40).Select(i => $"file-{i:D2}-{new string('x', i)}").ToList();
        foreach (var name in names)
            File.WriteAllText(Path.Combine(_harness.Export, name), name);
        Directory.CreateDirectory(Path.Combine(_harness.Export, "subdir"));
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
        File.WriteAllText(Path.Combine(_harness.Export, "only"), "");
        var fh = Client.OpenDirOk(Root);
        Assert.Empty(Client.ReadDir(Root, fh, 0, 16, plus: false).AssertOk().Payload);
        var all = FuseTestClient.ParseDirents(Client.ReadDir(Root, fh, 0, 4096, plus: false).AssertOk().Payload, plus: false);
        Assert.Contains(all, e => e.Name == "only");
        Client.ReadDir(Root, fh + 1000, 0, 4096, plus: false).AssertError(Errno.EBADF);
    }

    [Fact]
    public void Posix_locks_conflict_between_owners_and_unlock_frees_them()
    {
        var (file, open) = Client.CreateOk(Root, "locked");
        const ulong ownerA = 0xA, ownerB = 0xB;
        Client.SetLk(file.NodeId, open.Fh, ownerA, LibC.F_WRLCK, 0, 99).AssertOk();
        Client.SetLk(file.NodeId, open.Fh, ownerB, LibC.F_WRLCK, 50, 60).AssertError(Errno.EAGAIN);
        Client.SetLk(file.NodeId, open.Fh, ownerB, LibC.F_RDLCK, 100, 200).AssertOk(); // no overlap

        var conflict = Client.GetLk(file.NodeId, open.Fh, ownerB, LibC.F_WRLCK, 0, long.MaxValue).As<FuseLkOut>().Lk;
        Assert.Equal((uint)LibC.F_WRLCK, conflict.Type);
        Assert.Equal(0UL, conflict.Start);
        Assert.Equal(99UL, conflict.End);
        // No conflict: GETLK answers F_UNLCK.
        Assert.Equal((uint)LibC.F_UNLCK, Client.GetLk(file.NodeId, open.Fh, ownerA, LibC.F_WRLCK, 0, 10).As<FuseLkOut>().Lk.Type);

        // Unlocking the whole range (as close(2) does via FLUSH/unlock) frees owner B.
        Client.SetLk(file.NodeId, open.Fh, ownerA, LibC.F_UNLCK, 0, long.MaxValue).AssertOk();
        Client.SetLk(file.NodeId, open.Fh, ownerB, LibC.F_WRLCK, 50, 60).AssertOk();
        Client.SetLk(file.NodeId, open.Fh, ownerA, LibC.F_RDLCK, 55, 55).AssertError(Errno.EAGAIN);
    }

    [Fact]
    public void Setlkw_blocked_by_a_conflict_answers_EINTR_when_interrupted()
    {
        var (file, open) = Client.CreateOk(Root, "contended");
        Client.SetLk(file.NodeId, open.Fh, 1, LibC.F_WRLCK, 0, 0).AssertOk();
        var waiting = Client.SendSetLkW(file.NodeId, open.Fh, 2, LibC.F_WRLCK, 0, 0);
        Assert.Null(Client.TryReceiveAny(TimeSpan.FromMilliseconds(200))); // still blocked

        Client.Send(FuseOpcode.Interrupt, 0, FuseTestClient.Bytes(new FuseInterruptIn { Unique = waiting }));
        Client.Receive(waiting).AssertError(Errno.EINTR);
        // The INTERRUPT itself is not answered once it found its request.
        Assert.Null(Client.TryReceiveAny(TimeSpan.FromMilliseconds(100)));
        // The lock was not taken.
        Client.SetLk(file.NodeId, open.Fh, 1, LibC.F_UNLCK, 0, long.MaxValue).AssertOk();
        Assert.Equal((uint)LibC.F_UNLCK, Client.GetLk(file.NodeId, open.Fh, 3, LibC.F_WRLCK, 0, 0).As<FuseLkOut>().Lk.Type);
    }

    [Fact]
    public void Setlkw_completes_once_the_conflicting_lock_goes()
    {
        var (file, open) = Client.CreateOk(Root, "handover");
        Client.SetLk(file.NodeId, open.Fh, 1, LibC.F_WRLCK, 0, 0).AssertOk();
        var waiting = Client.SendSetLkW(file.NodeId, open.Fh, 2, LibC.F_WRLCK, 0, 0);
        Client.SetLk(file.NodeId, open.Fh, 1, LibC.F_UNLCK, 0, long.MaxValue).AssertOk();
        Client.Receive(waiting).AssertOk();
        Client.SetLk(file.NodeId, open.Fh, 1, LibC.F_WRLCK, 0, 0).AssertError(Errno.EAGAIN);
    }

    [Fact]
    public void Interrupt_for_a_request_not_waiting_is_answered_EAGAIN()
    {
        Client.Call(FuseOpcode.Interrupt, 0, FuseTestClient.Bytes(new FuseInterruptIn { Unique = 12345 })).AssertError(Errno.EAGAIN);
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
    public void Forget_drops_the_node_once_every_lookup_is_forgotten()
    {
        File.WriteAllText(Path.Combine(_harness.Export, "f"), "");
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
