using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Picojump.Fs.Fuse;
using Picojump.Fs.Native;
using Xunit.Abstractions;

namespace Picojump.Tests.Protocol;

/// <summary>
/// Random requests from a fixed seed: noise headers, random opcodes, well-formed payloads
/// with bytes flipped, cut or extended, aimed at real nodes and open handles. Every request
/// that expects a reply gets exactly one, well-formed and of the size its opcode answers
/// with; afterwards the server still serves the root correctly and met no exception.
/// </summary>
public sealed class FuzzTests(ITestOutputHelper output)
{
    private const int Requests = 4000;
    private const int Seed = 0x5EED;
    private const int RefreshEvery = 25;

    internal enum Expect
    {
        Reply,
        MaybeLater,
        Never,
    }

    /// <summary>Sizes of a successful reply, by opcode, where the protocol fixes them.</summary>
    private static readonly Dictionary<FuseOpcode, int> FixedReplySizes = new()
    {
        [FuseOpcode.Lookup] = Marshal.SizeOf<FuseEntryOut>(),
        [FuseOpcode.MkDir] = Marshal.SizeOf<FuseEntryOut>(),
        [FuseOpcode.MkNod] = Marshal.SizeOf<FuseEntryOut>(),
        [FuseOpcode.Symlink] = Marshal.SizeOf<FuseEntryOut>(),
        [FuseOpcode.Link] = Marshal.SizeOf<FuseEntryOut>(),
        [FuseOpcode.GetAttr] = Marshal.SizeOf<FuseAttrOut>(),
        [FuseOpcode.SetAttr] = Marshal.SizeOf<FuseAttrOut>(),
        [FuseOpcode.Open] = Marshal.SizeOf<FuseOpenOut>(),
        [FuseOpcode.OpenDir] = Marshal.SizeOf<FuseOpenOut>(),
        [FuseOpcode.Create] = Marshal.SizeOf<FuseEntryOut>() + Marshal.SizeOf<FuseOpenOut>(),
        [FuseOpcode.Write] = Marshal.SizeOf<FuseWriteOut>(),
        [FuseOpcode.CopyFileRange] = Marshal.SizeOf<FuseWriteOut>(),
        [FuseOpcode.StatFs] = Marshal.SizeOf<FuseKstatfs>(),
        [FuseOpcode.GetLk] = Marshal.SizeOf<FuseLkOut>(),
        [FuseOpcode.Lseek] = Marshal.SizeOf<FuseLseekOut>(),
        [FuseOpcode.Init] = Marshal.SizeOf<FuseInitOut>(),
        [FuseOpcode.Unlink] = 0, [FuseOpcode.RmDir] = 0, [FuseOpcode.Rename] = 0, [FuseOpcode.Rename2] = 0,
        [FuseOpcode.Release] = 0, [FuseOpcode.ReleaseDir] = 0, [FuseOpcode.Flush] = 0, [FuseOpcode.Fsync] = 0,
        [FuseOpcode.FsyncDir] = 0, [FuseOpcode.SetXattr] = 0, [FuseOpcode.RemoveXattr] = 0, [FuseOpcode.SetLk] = 0,
        [FuseOpcode.SetLkW] = 0, [FuseOpcode.Fallocate] = 0, [FuseOpcode.Destroy] = 0, [FuseOpcode.Access] = 0,
    };

    [Fact]
    public void Thousands_of_random_requests_never_stop_or_break_the_server()
    {
        using var harness = new ProtocolHarness();
        var client = harness.Client;
        var random = new Random(Seed);

        var targets = new FuzzTargets(client);
        var ledger = new FuzzLedger();
        for (var i = 0; i < Requests; i++)
        {
            if (i % RefreshEvery == 0)
                Refresh(targets, client, ledger); // the noise releases handles and forgets nodes; keep real ones in reach
            var (message, expect) = NextRequest(random, client.NewUnique(), targets.Nodes, targets.Handles);
            client.SendRaw(message);
            ledger.Sent(message, expect);

            // With one reader, any reply to this request comes before the reply to a GETATTR sent now.
            var sync = client.Send(FuseOpcode.GetAttr, FuseTestClient.Root, FuseTestClient.Bytes(new FuseGetAttrIn()));
            while (true)
            {
                var reply = client.TryReceiveAny(FuseTestClient.ReplyTimeout);
                Assert.True(reply != null, $"request {i} ({Describe(message)}): the server stopped answering");
                if (reply.Unique == sync)
                {
                    reply.As<FuseAttrOut>();
                    break;
                }
                ledger.Received(reply);
            }
            ledger.AssertAnswered(message);
        }
        FinishLockWaits(client, ledger);

        var root = client.GetAttr(FuseTestClient.Root).As<FuseAttrOut>().Attr;
        Assert.Equal(Stat.S_IFDIR, FileType.Of(root));
        Assert.Equal(InodeOf(harness.Export), root.Ino);
        targets.Refresh();
        harness.AssertNoExceptionsLogged();
        ledger.Report(output, Requests);
    }

    [Fact]
    public void Random_requests_in_flight_on_four_readers_get_one_reply_each()
    {
        using var harness = new ProtocolHarness(readers: 4);
        var client = harness.Client;
        var random = new Random(Seed + 1);
        var targets = new FuzzTargets(client);
        var ledger = new FuzzLedger();
        const int Batch = 16;
        for (var i = 0; i < Requests / 2; i += Batch)
        {
            Refresh(targets, client, ledger);
            var batch = new List<byte[]>();
            for (var k = 0; k < Batch; k++)
            {
                var (message, expect) = NextRequest(random, client.NewUnique(), targets.Nodes, targets.Handles);
                client.SendRaw(message);
                ledger.Sent(message, expect);
                batch.Add(message);
            }
            // Replies come in any order; wait until every request of the batch that needs one has it.
            while (batch.Any(ledger.IsUnanswered))
            {
                var reply = client.TryReceiveAny(FuseTestClient.ReplyTimeout);
                Assert.True(reply != null, $"no reply to {string.Join("; ", batch.Where(ledger.IsUnanswered).Select(Describe))}");
                ledger.Received(reply);
            }
        }
        FinishLockWaits(client, ledger);
        // Nothing late: no second reply, no reply to what must not have one.
        while (client.TryReceiveAny(TimeSpan.FromMilliseconds(200)) is { } late)
            ledger.Received(late);
        Assert.Equal(Stat.S_IFDIR, FileType.Of(client.GetAttr(FuseTestClient.Root).As<FuseAttrOut>().Attr));
        harness.AssertNoExceptionsLogged();
        ledger.Report(output, Requests / 2);
    }

    /// <summary>Refreshes the targets; replies that came meanwhile go through the ledger.</summary>
    private static void Refresh(FuzzTargets targets, FuseTestClient client, FuzzLedger ledger)
    {
        targets.Refresh();
        foreach (var reply in client.TakeUnclaimed())
            ledger.Received(reply);
    }

    /// <summary>Locks still waiting (on a conflict the noise made) end with an interrupt.</summary>
    private static void FinishLockWaits(FuseTestClient client, FuzzLedger ledger)
    {
        var interrupts = ledger.WaitingLocks
            .Select(unique => client.Send(FuseOpcode.Interrupt, 0, FuseTestClient.Bytes(new FuseInterruptIn { Unique = unique })))
            .ToHashSet();
        while (ledger.WaitingLocks.Count > 0)
        {
            var reply = client.TryReceiveAny(FuseTestClient.ReplyTimeout);
            Assert.True(reply != null, $"interrupted SETLKW {string.Join(", ", ledger.WaitingLocks)} never answered");
            if (interrupts.Remove(reply.Unique))
                reply.AssertError(Errno.EAGAIN); // that lock was answered before our INTERRUPT came
            else
                ledger.Received(reply);
        }
    }

    /// <summary>One random message and what the kernel would expect back for it.</summary>
    private static (byte[] Message, Expect Expect) NextRequest(Random random, ulong unique, ulong[] nodes, ulong[] handles)
    {
        switch (random.Next(20))
        {
            case 0:
            {
                // Shorter than a header: dropped.
                var bytes = new byte[random.Next(1, 40)];
                random.NextBytes(bytes);
                return (bytes, Expect.Never);
            }
            case 1:
            {
                // A header of noise (but for a nonzero unique): its length is almost surely wrong.
                var bytes = new byte[random.Next(40, 300)];
                random.NextBytes(bytes);
                BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(8), unique);
                var header = MemoryMarshal.Read<FuseInHeader>(bytes);
                var malformed = header.Len != bytes.Length || 40 + header.TotalExtLen * 8 > bytes.Length;
                return (bytes, malformed ? Expect.Reply : ExpectationOf(header.Opcode));
            }
        }

        var opcode = random.Next(10) switch
        {
            0 => (FuseOpcode)random.Next(),
            < 4 => (FuseOpcode)random.Next(1, 60),
            _ => WellFormedPayloads.Decoded[random.Next(WellFormedPayloads.Decoded.Length)],
        };
        var payload = random.Next(3) == 0 || !WellFormedPayloads.Decoded.Contains(opcode)
            ? RandomBytes(random, random.Next(0, 300))
            : Mutate(random, WellFormedPayloads.For(opcode, nodes[random.Next(nodes.Length)], handles[random.Next(handles.Length)]));
        Sanitise(opcode, payload);
        var node = random.Next(4) == 0 ? (ulong)random.NextInt64() : nodes[random.Next(nodes.Length)];
        var extensions = random.Next(20) == 0 ? (ushort)random.Next(0, 4) : (ushort)0;
        var head = new FuseInHeader
        {
            Len = (uint)(40 + payload.Length),
            Opcode = opcode,
            Unique = unique,
            NodeId = node,
            Uid = random.Next(4) == 0 ? (uint)random.Next() : 0,
            Gid = random.Next(4) == 0 ? (uint)random.Next() : 0,
            Pid = (uint)random.Next(),
            TotalExtLen = extensions,
        };
        var expect = 40 + extensions * 8 > head.Len ? Expect.Reply : ExpectationOf(opcode);
        return ([.. FuseTestClient.Bytes(in head), .. payload], expect);
    }

    /// <summary>
    /// What a well-formed request of <paramref name="opcode"/> gets: nothing for the kinds the
    /// kernel never waits on; INTERRUPT is answered only while its target is not waiting, and
    /// SETLKW whenever the lock comes free; everything else exactly one reply.
    /// </summary>
    private static Expect ExpectationOf(FuseOpcode opcode) => opcode switch
    {
        FuseOpcode.Forget or FuseOpcode.BatchForget or FuseOpcode.NotifyReply => Expect.Never,
        FuseOpcode.Interrupt or FuseOpcode.SetLkW => Expect.MaybeLater,
        _ => Expect.Reply,
    };

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>Flips bytes, cuts the tail or appends noise.</summary>
    private static byte[] Mutate(Random random, byte[] payload)
    {
        switch (random.Next(4))
        {
            case 0:
                return payload;
            case 1:
                return payload[..random.Next(0, payload.Length + 1)];
            case 2:
                return [.. payload, .. RandomBytes(random, random.Next(1, 64))];
            default:
                for (var flips = random.Next(1, 4); flips > 0 && payload.Length > 0; flips--)
                    payload[random.Next(payload.Length)] = (byte)random.Next(256);
                return payload;
        }
    }

    /// <summary>
    /// Keeps the noise from doing real harm as root: MKNOD makes only FIFOs (no device
    /// nodes); FALLOCATE and COPY_FILE_RANGE never move more than 1 MiB, as the export is on
    /// a shared disk and noise writes can make the target file a huge sparse one.
    /// </summary>
    private static void Sanitise(FuseOpcode opcode, byte[] payload)
    {
        if (opcode == FuseOpcode.MkNod && payload.Length >= 4)
        {
            var mode = BinaryPrimitives.ReadUInt32LittleEndian(payload);
            BinaryPrimitives.WriteUInt32LittleEndian(payload, (mode & 0xFFF) | 0x1000);
        }
        if (opcode == FuseOpcode.Fallocate && payload.Length >= 24)
        {
            var offset = BinaryPrimitives.ReadUInt64LittleEndian(payload.AsSpan(8));
            var length = BinaryPrimitives.ReadUInt64LittleEndian(payload.AsSpan(16));
            BinaryPrimitives.WriteUInt64LittleEndian(payload.AsSpan(8), offset % (1 << 30));
            BinaryPrimitives.WriteUInt64LittleEndian(payload.AsSpan(16), length % (1 << 20));
        }
        if (opcode == FuseOpcode.CopyFileRange && payload.Length >= 48)
        {
            var length = BinaryPrimitives.ReadUInt64LittleEndian(payload.AsSpan(40));
            BinaryPrimitives.WriteUInt64LittleEndian(payload.AsSpan(40), length % (1 << 20));
        }
    }

    internal static void CheckReplySize(in FuseInHeader header, byte[] message, FuseReply reply, int i)
    {
        if (reply.RawError != 0)
            return;
        var payload = message.AsSpan(40);
        if (FixedReplySizes.TryGetValue(header.Opcode, out var size))
        {
            Assert.True(reply.Payload.Length == size, $"request {i} ({Describe(message)}): {reply.Payload.Length}-byte success reply, {header.Opcode} answers {size}");
        }
        else if (header.Opcode is FuseOpcode.Read or FuseOpcode.ReadDir or FuseOpcode.ReadDirPlus)
        {
            var asked = BinaryPrimitives.ReadUInt32LittleEndian(payload[16..]);
            Assert.True((uint)reply.Payload.Length <= asked, $"request {i} ({Describe(message)}): {reply.Payload.Length} bytes for {asked} asked");
        }
        else if (header.Opcode is FuseOpcode.GetXattr or FuseOpcode.ListXattr)
        {
            // A size probe (size 0) is answered with fuse_getxattr_out, else with at most size bytes.
            var asked = BinaryPrimitives.ReadUInt32LittleEndian(payload);
            Assert.True(asked == 0 ? reply.Payload.Length == 8 : (uint)reply.Payload.Length <= asked, $"request {i} ({Describe(message)}): {reply.Payload.Length} bytes for size {asked}");
        }
    }

    internal static string Describe(byte[] message)
    {
        if (message.Length < 40)
            return $"{message.Length}-byte fragment";
        var header = MemoryMarshal.Read<FuseInHeader>(message);
        return $"{header.Opcode}, len {header.Len}/{message.Length}, node {header.NodeId}, payload {Convert.ToHexString(message.AsSpan(40, Math.Min(64, message.Length - 40)))}";
    }

    private static unsafe ulong InodeOf(string path)
    {
        Stat st;
        fixed (byte* p = System.Text.Encoding.UTF8.GetBytes(path + "\0"))
            Assert.Equal(0, LibC.fstatat(LibC.AT_FDCWD, p, &st, 0));
        return st.Ino;
    }
}

/// <summary>
/// Real nodes and open handles for the noise to aim at: a file with data and a directory.
/// Refreshing them is itself a check: amid the noise, plain requests keep working.
/// </summary>
internal sealed class FuzzTargets(FuseTestClient client)
{
    public ulong[] Nodes { get; private set; } = [];

    public ulong[] Handles { get; private set; } = [];

    public void Refresh()
    {
        const uint root = FuseTestClient.Root;
        var file = client.Lookup(root, "victim");
        if (file.RawError != 0)
        {
            var (created, open) = client.CreateOk(root, "victim");
            client.Write(created.NodeId, open.Fh, 0, new byte[10_000]).AssertOk();
            file = client.Lookup(root, "victim");
        }
        var dir = client.Lookup(root, "dir");
        if (dir.RawError != 0)
            dir = client.MkDir(root, "dir");
        var fileNode = file.As<FuseEntryOut>().NodeId;
        var dirNode = dir.As<FuseEntryOut>().NodeId;
        var fileFh = client.Open(fileNode, OpenFlags.O_RDWR).As<FuseOpenOut>().Fh;
        var dirFh = client.OpenDirOk(dirNode);
        Nodes = [root, fileNode, dirNode];
        Handles = [fileFh, dirFh];
    }
}
