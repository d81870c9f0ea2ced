using Picojump.Fs.Fuse;
using Picojump.Fs.Native;

namespace Picojump.Tests.Protocol;

/// <summary>INIT as the kernel sends it, and what the server must answer.</summary>
public sealed class InitNegotiationTests
{
    private const ulong PassthroughBit = 1UL << 37;

    [Fact]
    public void Kernel_7_45_offer_gets_1_MiB_writes_256_pages_and_only_offered_flags()
    {
        using var harness = new ProtocolHarness(initialise: false);
        var offer = FuseTestClient.KernelInit();
        var reply = harness.Client.Init(offer).As<FuseInitOut>();

        Assert.Equal(7u, reply.Major);
        Assert.Equal(45u, reply.Minor);
        Assert.Equal(1u << 20, reply.MaxWrite);
        Assert.Equal(256, reply.MaxPages);
        Assert.True(reply.MaxReadahead <= offer.MaxReadahead, $"max_readahead {reply.MaxReadahead} exceeds the offered {offer.MaxReadahead}");
        Assert.Equal(1u, reply.TimeGran);
        Assert.True(reply.MaxBackground > 0 && reply.CongestionThreshold <= reply.MaxBackground);

        var offered = offer.Flags | (ulong)offer.Flags2 << 32;
        var agreed = reply.Flags | (ulong)reply.Flags2 << 32;
        Assert.True((agreed & ~offered) == 0, $"the reply sets flags the kernel did not offer: 0x{agreed & ~offered:x}");
        var needed = FuseInitFlags.InitExt | FuseInitFlags.AsyncRead | FuseInitFlags.PosixLocks | FuseInitFlags.FlockLocks
            | FuseInitFlags.MaxPages | FuseInitFlags.DoReaddirplus | FuseInitFlags.AtomicOTrunc | FuseInitFlags.BigWrites;
        Assert.Equal(needed, (FuseInitFlags)agreed & needed);
        // Writeback caching makes BACKING_OPEN fail with EPERM (FINDINGS.md): never with passthrough.
        Assert.Equal(0UL, agreed & (ulong)FuseInitFlags.WritebackCache);
        Assert.Equal(PassthroughBit, agreed & PassthroughBit);
        Assert.Equal(1u, reply.MaxStackDepth);
        Assert.Equal(45u, harness.Server.Connection.ProtocolMinor);
    }

    [Fact]
    public void Without_passthrough_offered_the_reply_asks_no_stack_depth()
    {
        using var harness = new ProtocolHarness(initialise: false);
        var reply = harness.Client.Init(FuseTestClient.KernelInit(flags2: 0x5fd & ~(1u << 5))).As<FuseInitOut>();
        Assert.Equal(0u, reply.Flags2 & (1u << 5));
        Assert.Equal(0u, reply.MaxStackDepth);
    }

    [Fact]
    public void Older_kernel_7_31_without_init_ext_gets_its_own_minor_and_no_flags2()
    {
        using var harness = new ProtocolHarness(initialise: false);
        var offer = FuseTestClient.KernelInit(flags: 0x73fffffb & ~(uint)FuseInitFlags.InitExt, flags2: 0x5fd, minor: 31);
        var reply = harness.Client.Init(offer).As<FuseInitOut>();
        Assert.Equal(31u, reply.Minor);
        Assert.Equal(0u, reply.Flags2); // flags2 means nothing without INIT_EXT
        Assert.Equal(0u, reply.Flags & (uint)FuseInitFlags.InitExt);
    }

    [Fact]
    public void Kernel_newer_than_7_45_is_answered_in_7_45()
    {
        using var harness = new ProtocolHarness(initialise: false);
        var reply = harness.Client.Init(FuseTestClient.KernelInit(minor: 46)).As<FuseInitOut>();
        Assert.Equal((7u, 45u), (reply.Major, reply.Minor));
    }

    [Fact]
    public void Kernel_older_than_7_31_is_refused()
    {
        using var harness = new ProtocolHarness(initialise: false);
        harness.Client.Init(FuseTestClient.KernelInit(minor: 30)).AssertError(Errno.EPROTO);
    }

    [Fact]
    public void Newer_major_is_answered_with_ours_so_the_kernel_can_retry()
    {
        using var harness = new ProtocolHarness(initialise: false);
        var offer = FuseTestClient.KernelInit();
        offer.Major = 8;
        var reply = harness.Client.Init(offer).As<FuseInitOut>();
        Assert.Equal(7u, reply.Major);
        Assert.Equal(45u, reply.Minor);
        // The kernel then asks again in 7.x.
        Assert.Equal(45u, harness.Client.Init(FuseTestClient.KernelInit()).As<FuseInitOut>().Minor);
    }

    [Fact]
    public void Init_shorter_than_the_oldest_init_in_is_EINVAL()
    {
        using var harness = new ProtocolHarness(initialise: false);
        harness.Client.Call(FuseOpcode.Init, 0, new byte[12]).AssertError(Errno.EINVAL);
        harness.Client.Init(FuseTestClient.KernelInit()).AssertOk();
    }

    [Fact]
    public void Passthrough_refused_by_the_device_falls_back_to_reads_and_writes_through_the_server()
    {
        // On a socket the BACKING_OPEN ioctl fails, as it does on a kernel that refuses it.
        using var harness = new ProtocolHarness();
        var client = harness.Client;
        var (entry, open) = client.CreateOk(FuseTestClient.Root, "f");
        Assert.Equal(FuseOpenOutFlags.None, open.OpenFlags & FuseOpenOutFlags.Passthrough);
        Assert.Equal(0, open.BackingId);
        Assert.Equal(5u, client.Write(entry.NodeId, open.Fh, 0, "hello"u8).As<FuseWriteOut>().Size);
        Assert.Equal("hello"u8.ToArray(), client.Read(entry.NodeId, open.Fh, 0, 4096).AssertOk().Payload);
        client.Release(entry.NodeId, open.Fh).AssertOk();

        // Later opens do not try again.
        var reopened = client.Open(entry.NodeId, OpenFlags.O_RDONLY).As<FuseOpenOut>();
        Assert.Equal(FuseOpenOutFlags.None, reopened.OpenFlags & FuseOpenOutFlags.Passthrough);
        Assert.Single(harness.Log.Entries, e => e.Message.Contains("passthrough refused", StringComparison.OrdinalIgnoreCase));
        harness.AssertNoExceptionsLogged();
    }
}
