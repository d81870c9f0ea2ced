using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Picojump.Fs.Fuse;
using Picojump.Fs.Native;

namespace Picojump.Tests.Protocol;

/// <summary>Kernel-bound notifications, and many requests in flight on several readers.</summary>
public sealed class ConnectionTests
{
    private const uint Root = FuseTestClient.Root;

    [Fact]
    public void Inval_entry_and_inval_inode_notifications_are_laid_out_as_the_kernel_reads_them()
    {
        using var harness = new ProtocolHarness();
        var connection = harness.Server.Connection;

        Assert.Equal(Errno.OK, connection.NotifyInvalEntry(Root, "gone"u8));
        var entry = harness.Client.ReceiveNotification();
        Assert.Equal((int)FuseNotifyCode.InvalEntry, entry.RawError);
        // fuse_notify_inval_entry_out, the name, a NUL: the kernel checks namelen + 1 exactly.
        var body = MemoryMarshal.Read<FuseNotifyInvalEntryOut>(entry.Payload);
        Assert.Equal((ulong)Root, body.Parent);
        Assert.Equal(4u, body.NameLen);
        Assert.Equal([.. "gone"u8, 0], entry.Payload[Marshal.SizeOf<FuseNotifyInvalEntryOut>()..]);

        Assert.Equal(Errno.OK, connection.NotifyInvalInode(7, 4096, -1));
        var inode = harness.Client.ReceiveNotification();
        Assert.Equal((int)FuseNotifyCode.InvalInode, inode.RawError);
        Assert.Equal(Marshal.SizeOf<FuseNotifyInvalInodeOut>(), inode.Payload.Length);
        var inval = MemoryMarshal.Read<FuseNotifyInvalInodeOut>(inode.Payload);
        Assert.Equal((7UL, 4096L, -1L), (inval.Ino, inval.Off, inval.Len));
    }

    [Fact]
    public void Requests_in_flight_on_four_readers_each_get_one_correct_reply()
    {
        using var harness = new ProtocolHarness(readers: 4);
        var client = harness.Client;
        var (shared, sharedOpen) = client.CreateOk(Root, "shared");
        const int Rounds = 20, PerRound = 50;
        var lookups = 1UL; // CREATE counted one
        var expectedContent = new byte[Rounds * PerRound * 8];
        var written = 0;

        for (var round = 0; round < Rounds; round++)
        {
            // A burst of requests without waiting, as the kernel sends them from many processes.
            var inFlight = new Dictionary<ulong, (FuseOpcode Opcode, int Index)>();
            for (var k = 0; k < PerRound; k++)
            {
                var index = round * PerRound + k;
                var (opcode, payload, node) = (k % 5) switch
                {
                    0 => (FuseOpcode.Lookup, FuseTestClient.Name("shared"), (ulong)Root),
                    1 => (FuseOpcode.GetAttr, FuseTestClient.Bytes(new FuseGetAttrIn()), shared.NodeId),
                    2 => (FuseOpcode.Write, WriteAt(sharedOpen.Fh, index, expectedContent), shared.NodeId),
                    3 => (FuseOpcode.Create, [.. FuseTestClient.Bytes(new FuseCreateIn { Flags = OpenFlags.O_RDWR, Mode = 0x81a4 }), .. FuseTestClient.Name($"new-{index}")], (ulong)Root),
                    _ => (FuseOpcode.StatFs, [], (ulong)Root),
                };
                if (opcode == FuseOpcode.Write)
                    written = (index + 1) * 8;
                inFlight[client.Send(opcode, node, payload)] = (opcode, index);
                if (opcode == FuseOpcode.Lookup)
                    lookups++;
            }
            foreach (var (unique, (opcode, index)) in inFlight)
            {
                var reply = client.Receive(unique).AssertOk();
                if (opcode == FuseOpcode.Lookup)
                    Assert.Equal(shared.NodeId, MemoryMarshal.Read<FuseEntryOut>(reply.Payload).NodeId);
                else if (opcode == FuseOpcode.Write)
                    Assert.Equal(8u, MemoryMarshal.Read<FuseWriteOut>(reply.Payload).Size);
                else if (opcode == FuseOpcode.Create)
                    Assert.True(File.Exists(Path.Combine(harness.Export, $"new-{index}")));
            }
            Assert.Empty(client.Unclaimed);
        }

        Assert.Equal(expectedContent[..written], File.ReadAllBytes(Path.Combine(harness.Export, "shared")));
        Assert.Equal(Rounds * PerRound / 5 + 3, client.ReadWholeDir(Root, plus: false).Count); // ., .., shared and new-*
        client.Release(shared.NodeId, sharedOpen.Fh).AssertOk();

        // Every lookup, counted on whichever reader served it, is forgotten exactly once.
        client.SendForget(shared.NodeId, lookups - 1);
        client.AssertNothingAnsweredBefore("FORGET");
        client.GetAttr(shared.NodeId).AssertOk();
        client.SendForget(shared.NodeId, 1);
        client.AssertNothingAnsweredBefore("FORGET");
        // FORGET has no reply and another of the four readers may serve the next request
        // first: the node must be gone soon, not necessarily before that request.
        var forgotten = client.GetAttr(shared.NodeId);
        for (var i = 0; i < 200 && forgotten.RawError == 0; i++)
        {
            Thread.Sleep(10);
            forgotten = client.GetAttr(shared.NodeId);
        }
        forgotten.AssertError(Errno.ESTALE);
        harness.AssertNoExceptionsLogged();
    }

    [Fact]
    public void Disposing_the_server_and_file_system_closes_every_descriptor_into_the_export()
    {
        var harness = new ProtocolHarness();
        var root = harness.Root;
        try
        {
            var client = harness.Client;
            var (file, open) = client.CreateOk(Root, "open-file");
            client.MkDir(Root, "looked-up").AssertOk();
            client.OpenDirOk(Root);
            client.SetLk(file.NodeId, open.Fh, 1, LibC.F_WRLCK, 0, 0).AssertOk(); // a lock descriptor too
        }
        finally
        {
            harness.Dispose();
        }

        var leaked = Directory.EnumerateFileSystemEntries("/proc/self/fd")
            .Select(fd => (Fd: fd, Target: new FileInfo(fd).LinkTarget))
            .Where(fd => fd.Target != null && fd.Target.StartsWith(root, StringComparison.Ordinal))
            .ToList();
        Assert.True(leaked.Count == 0, "descriptors still open after Dispose: " + string.Join(", ", leaked.Select(l => $"{Path.GetFileName(l.Fd)} -> {l.Target}")));
    }

    [Fact]
    public void A_lock_wait_still_blocked_at_shutdown_is_over_when_Dispose_returns()
    {
        using var harness = new ProtocolHarness(); // stopping and disposing twice is harmless
        var client = harness.Client;
        var (file, open) = client.CreateOk(Root, "contended");
        client.SetLk(file.NodeId, open.Fh, 1, LibC.F_WRLCK, 0, 0).AssertOk();
        client.SendSetLkW(file.NodeId, open.Fh, 2, LibC.F_WRLCK, 0, 0);
        Assert.Null(client.TryReceiveAny(TimeSpan.FromMilliseconds(100))); // waiting

        harness.Server.Stop(TimeSpan.FromSeconds(5));
        harness.Server.Dispose();
        // Whatever the waiting request does (answer, fail to answer, log it), it must have done
        // it by now: the owner closes the device next, and its number may then belong to anyone.
        var logged = harness.Log.Entries.Count;
        Thread.Sleep(200);
        Assert.Equal(logged, harness.Log.Entries.Count);
    }

    /// <summary>WRITE of 8 bytes (the index) at index * 8, remembered in <paramref name="expected"/>.</summary>
    private static byte[] WriteAt(ulong fh, int index, byte[] expected)
    {
        var data = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(data, index + 1);
        data.CopyTo(expected, index * 8);
        return [.. FuseTestClient.Bytes(new FuseWriteIn { Fh = fh, Offset = (ulong)index * 8, Size = 8 }), .. data];
    }
}
