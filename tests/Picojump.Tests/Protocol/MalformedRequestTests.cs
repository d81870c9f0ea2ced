using System.Runtime.InteropServices;
using Picojump.Fs.Fuse;
using Picojump.Fs.Native;

namespace Picojump.Tests.Protocol;

/// <summary>
/// A request that is short, lies about its length or names nothing gets EINVAL (or, where
/// the kernel expects no reply, nothing) and never reaches the file system or stops the server.
/// </summary>
public sealed class MalformedRequestTests : ProtocolTest
{

    public static TheoryData<FuseOpcode> DecodedOpcodes => [.. WellFormedPayloads.Decoded];

    private protected override void CheckAfterTest()
    {
        // Whatever came before, the server still answers.
        Assert.Equal(Stat.S_IFDIR, FileType.Of(Client.GetAttr(Root).As<FuseAttrOut>().Attr));
    }

    [Fact]
    public void Messages_shorter_than_the_header_are_dropped()
    {
        // (An empty message would read as end of file on a socket; /dev/fuse never yields one.)
        foreach (var length in new[] { 1, 8, 16, 39 })
        {
            var bytes = new byte[length];
            new Random(length).NextBytes(bytes);
            Client.SendRaw(bytes);
            Client.AssertNothingAnsweredBefore($"a {length}-byte message");
        }
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(39u)]
    [InlineData(40u)] // the header alone, but 16 payload bytes follow
    [InlineData(57u)]
    [InlineData(1u << 20)]
    [InlineData(uint.MaxValue)]
    public void Declared_length_other_than_the_bytes_sent_is_EINVAL(uint declared)
    {
        var unique = Client.Send(FuseOpcode.GetAttr, Root, FuseTestClient.Bytes(new FuseGetAttrIn()), declaredLength: declared);
        Client.Receive(unique).AssertError(Errno.EINVAL);
    }

    [Fact]
    public void Extension_length_beyond_the_message_is_EINVAL()
    {
        var header = new FuseInHeader { Len = 40 + 16, Opcode = FuseOpcode.GetAttr, Unique = Client.NewUnique(), NodeId = Root, TotalExtLen = 3 };
        Client.SendRaw([.. FuseTestClient.Bytes(in header), .. new byte[16]]);
        Client.Receive(header.Unique).AssertError(Errno.EINVAL);
    }

    [Theory]
    [MemberData(nameof(DecodedOpcodes))]
    public void Every_truncated_payload_is_EINVAL_or_dropped(FuseOpcode opcode)
    {
        var payload = WellFormedPayloads.For(opcode);
        for (var length = 0; length < payload.Length; length++)
        {
            var unique = Client.Send(opcode, Root, payload.AsSpan(0, length));
            if (WellFormedPayloads.IsUnanswered(opcode))
                Client.AssertNothingAnsweredBefore($"{opcode} cut to {length} of {payload.Length} bytes");
            else
                Assert.True(Client.Receive(unique).Errno == Errno.EINVAL, $"{opcode} cut to {length} of {payload.Length} bytes was not answered EINVAL");
        }
        // The whole payload is decoded (whatever the file system then says of it).
        var whole = Client.Send(opcode, Root, payload);
        if (WellFormedPayloads.IsUnansweredWhenWellFormed(opcode))
            Client.AssertNothingAnsweredBefore($"a well-formed {opcode}");
        else
            Assert.NotEqual(Errno.EINVAL, Client.Receive(whole).Errno);
    }

    [Theory]
    [InlineData(FuseOpcode.Lookup)]
    [InlineData(FuseOpcode.Unlink)]
    [InlineData(FuseOpcode.RmDir)]
    [InlineData(FuseOpcode.MkDir)]
    [InlineData(FuseOpcode.Create)]
    [InlineData(FuseOpcode.Symlink)]
    [InlineData(FuseOpcode.Rename)]
    public void Names_without_a_terminating_NUL_are_EINVAL(FuseOpcode opcode)
    {
        var payload = WellFormedPayloads.For(opcode);
        // Same length, but the final NUL replaced: a name running to the end of the message.
        payload[^1] = (byte)'z';
        Client.Call(opcode, Root, payload).AssertError(Errno.EINVAL);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Harness.Export));
    }

    [Fact]
    public void Empty_names_are_EINVAL_for_every_opcode_that_takes_one()
    {
        // The kernel never sends an empty name (the VFS stops "" with ENOENT or ERANGE), and an
        // empty span pins to a null pointer: it must not reach a syscall as a name.
        File.WriteAllText(Path.Combine(Harness.Export, "f"), "");
        var node = Client.LookupOk(Root, "f").NodeId;
        Client.Lookup(Root, "").AssertError(Errno.EINVAL);
        Client.GetXattr(node, "", 64).AssertError(Errno.EINVAL);
        Client.GetXattr(node, "", 0).AssertError(Errno.EINVAL);
        Client.SetXattr(node, "", "v"u8).AssertError(Errno.EINVAL);
        Client.Call(FuseOpcode.RemoveXattr, node, FuseTestClient.Name("")).AssertError(Errno.EINVAL);
        Client.Symlink(Root, "link", "").AssertError(Errno.EINVAL);
        Client.Symlink(Root, "", "target").AssertError(Errno.EINVAL);
        Client.Rename(Root, "f", Root, "").AssertError(Errno.EINVAL);
        Assert.Equal(["f"], Directory.EnumerateFileSystemEntries(Harness.Export).Select(Path.GetFileName));
    }

    [Fact]
    public void Batch_forget_counting_more_items_than_it_carries_is_dropped_whole()
    {
        File.WriteAllText(Path.Combine(Harness.Export, "kept"), "");
        var node = Client.LookupOk(Root, "kept").NodeId;
        foreach (var count in new uint[] { 2, 1000, uint.MaxValue, uint.MaxValue / 16 + 1 })
        {
            // One real item, but a count that claims more: nothing may be forgotten.
            byte[] message = [.. FuseTestClient.Bytes(new FuseBatchForgetIn { Count = count }), .. FuseTestClient.Bytes(new FuseForgetOne { NodeId = node, Nlookup = 1 })];
            Client.Send(FuseOpcode.BatchForget, 0, message);
            Client.AssertNothingAnsweredBefore($"BATCH_FORGET with count {count}");
        }
        Client.GetAttr(node).AssertOk();
    }

    [Theory]
    [InlineData(6u)]
    [InlineData(1000u)]
    [InlineData(uint.MaxValue)]
    public void Setxattr_value_size_beyond_the_message_is_EINVAL(uint size)
    {
        byte[] payload = [.. BitConverter.GetBytes(size), .. BitConverter.GetBytes(0), .. FuseTestClient.Name("user.x"), .. "value"u8];
        Client.Call(FuseOpcode.SetXattr, Root, payload).AssertError(Errno.EINVAL);
        Client.GetXattr(Root, "user.x", 0).AssertError(Errno.ENODATA);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(7u)] // between SYMLINK (6) and MKNOD (8)
    [InlineData(19u)]
    [InlineData((uint)FuseOpcode.BMap)]
    [InlineData((uint)FuseOpcode.Ioctl)]
    [InlineData((uint)FuseOpcode.Poll)]
    [InlineData((uint)FuseOpcode.SetupMapping)]
    [InlineData((uint)FuseOpcode.RemoveMapping)]
    [InlineData((uint)FuseOpcode.SyncFs)]
    [InlineData((uint)FuseOpcode.TmpFile)]
    [InlineData((uint)FuseOpcode.Statx)]
    [InlineData((uint)FuseOpcode.CopyFileRange64)]
    [InlineData(4096u)] // CUSE_INIT
    [InlineData(9999u)]
    [InlineData(uint.MaxValue)]
    public void Opcodes_not_served_are_ENOSYS(uint opcode)
    {
        Client.Call((FuseOpcode)opcode, Root, new byte[64]).AssertError(Errno.ENOSYS);
    }

    [Fact]
    public void Huge_offsets_give_clean_errors()
    {
        var (entry, open) = Client.CreateOk(Root, "f");
        Client.Write(entry.NodeId, open.Fh, 0, "abc"u8).AssertOk();
        const ulong maxOffset = long.MaxValue;

        var read = Client.Read(entry.NodeId, open.Fh, maxOffset, 4096);
        Assert.True(read.RawError == 0 ? read.Payload.Length == 0 : read.Errno == Errno.EINVAL, $"READ at 2^63-1: {read}");
        Client.Read(entry.NodeId, open.Fh, ulong.MaxValue, 4096).AssertError(Errno.EINVAL);
        Client.Read(entry.NodeId, open.Fh, 1UL << 63, 4096).AssertError(Errno.EINVAL);

        Assert.Contains(Client.Write(entry.NodeId, open.Fh, maxOffset, "x"u8).Errno, new[] { Errno.EFBIG, Errno.EINVAL });
        Assert.Contains(Client.Write(entry.NodeId, open.Fh, maxOffset - 2, "xyz"u8).Errno, new[] { Errno.EFBIG, Errno.EINVAL });
        Client.Write(entry.NodeId, open.Fh, ulong.MaxValue, "x"u8).AssertError(Errno.EINVAL);

        var fallocate = new FuseFallocateIn { Fh = open.Fh, Offset = maxOffset, Length = maxOffset };
        Assert.Contains(Client.Call(FuseOpcode.Fallocate, entry.NodeId, FuseTestClient.Bytes(in fallocate)).Errno, new[] { Errno.EFBIG, Errno.EINVAL });
        var truncate = new FuseSetAttrIn { Valid = FuseSetAttrValid.Size | FuseSetAttrValid.Fh, Fh = open.Fh, Size = ulong.MaxValue };
        Client.SetAttr(entry.NodeId, in truncate).AssertError(Errno.EINVAL);
        Assert.Equal(3L, new FileInfo(Path.Combine(Harness.Export, "f")).Length);
        // A READ asking for more than max_write is served up to what fits the reply buffer.
        Assert.Equal("abc"u8.ToArray(), Client.Read(entry.NodeId, open.Fh, 0, uint.MaxValue).AssertOk().Payload);
    }

    [Theory]
    [InlineData(FuseOpcode.Read)]
    [InlineData(FuseOpcode.Write)]
    [InlineData(FuseOpcode.Release)]
    [InlineData(FuseOpcode.Flush)]
    [InlineData(FuseOpcode.Fsync)]
    [InlineData(FuseOpcode.Fallocate)]
    [InlineData(FuseOpcode.Lseek)]
    [InlineData(FuseOpcode.CopyFileRange)]
    [InlineData(FuseOpcode.ReadDir)]
    [InlineData(FuseOpcode.ReadDirPlus)]
    [InlineData(FuseOpcode.ReleaseDir)]
    [InlineData(FuseOpcode.FsyncDir)]
    public void Unknown_file_handles_are_EBADF(FuseOpcode opcode)
    {
        var (entry, open) = Client.CreateOk(Root, "f");
        foreach (var fh in new[] { open.Fh + 1, 0UL, ulong.MaxValue })
            Client.Call(opcode, entry.NodeId, WellFormedPayloads.For(opcode, entry.NodeId, fh)).AssertError(Errno.EBADF);
    }

    [Fact]
    public void Flock_on_an_unknown_file_handle_is_EBADF()
    {
        var (entry, open) = Client.CreateOk(Root, "f");
        var lk = new FuseLkIn { Fh = open.Fh + 7, Owner = 1, LkFlags = FuseConstants.LkFlock, Lk = new FuseFileLock { Type = 1 } };
        Client.Call(FuseOpcode.SetLk, entry.NodeId, FuseTestClient.Bytes(in lk)).AssertError(Errno.EBADF);
    }

    [Theory]
    [MemberData(nameof(DecodedOpcodes))]
    public void Unknown_node_ids_are_an_error_never_a_crash(FuseOpcode opcode)
    {
        foreach (var node in new[] { 0UL, 2UL, 0xDEADBEEFUL, ulong.MaxValue })
        {
            var unique = Client.Send(opcode, node, WellFormedPayloads.For(opcode, node, fh: 99));
            if (WellFormedPayloads.IsUnansweredWhenWellFormed(opcode))
            {
                Client.AssertNothingAnsweredBefore($"{opcode} of node {node}");
                continue;
            }
            var reply = Client.Receive(unique);
            // Calls that name a node must say it is stale; handle and interrupt calls fail on those first.
            if (opcode is FuseOpcode.Lookup or FuseOpcode.GetAttr or FuseOpcode.SetAttr or FuseOpcode.Open or FuseOpcode.OpenDir
                or FuseOpcode.MkDir or FuseOpcode.MkNod or FuseOpcode.Create or FuseOpcode.Symlink or FuseOpcode.Unlink
                or FuseOpcode.RmDir or FuseOpcode.Rename or FuseOpcode.Rename2 or FuseOpcode.Link or FuseOpcode.GetXattr
                or FuseOpcode.SetXattr or FuseOpcode.ListXattr or FuseOpcode.RemoveXattr or FuseOpcode.GetLk or FuseOpcode.SetLk
                or FuseOpcode.SetLkW)
                Assert.True(reply.Errno == Errno.ESTALE, $"{opcode} of unknown node {node}: {reply}");
            else
                Assert.True(reply.RawError != 0 || opcode == FuseOpcode.Interrupt, $"{opcode} of unknown node {node} succeeded");
        }
        Assert.Empty(Directory.EnumerateFileSystemEntries(Harness.Export));
    }

    [Fact]
    public void Readlink_of_a_node_that_is_no_symlink_fails_and_statfs_needs_no_payload()
    {
        // As readlink(2) of a path that is no symlink (the kernel asks only for symlinks).
        Assert.Equal(Errno.EINVAL, Client.ReadLink(Root).Errno);
        var statfs = Client.Call(FuseOpcode.StatFs, Root, []).AssertOk();
        Assert.Equal(Marshal.SizeOf<FuseKstatfs>(), statfs.Payload.Length);
        Assert.True(MemoryMarshal.Read<FuseKstatfs>(statfs.Payload).NameLen > 0);
    }
}
