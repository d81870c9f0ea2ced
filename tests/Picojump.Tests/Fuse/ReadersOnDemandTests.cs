using Picojump.Fs.Fuse;
using Picojump.Fs.Native;
using Picojump.Tests.Protocol;

namespace Picojump.Tests.Fuse;

/// <summary>
/// A request that waits (a remote call to a slow peer) must not stall the mount: when every
/// reader is busy the server starts another, and lets it go once the base number is idle.
/// </summary>
public sealed class ReadersOnDemandTests
{
    /// <summary>A file system whose GETATTR of node 2 waits until released; every other answers at once.</summary>
    private sealed class StallingFileSystem : IFuseFileSystem
    {
        public ManualResetEventSlim Release { get; } = new();

        public Errno GetAttr(in FuseInHeader header, in FuseGetAttrIn input, out FuseAttrOut attr)
        {
            attr = new FuseAttrOut { Attr = new FuseAttr { Ino = header.NodeId, Mode = 0x41ED, Nlink = 2 } };
            if (header.NodeId == 2)
                Release.Wait(TimeSpan.FromSeconds(30));
            return Errno.OK;
        }
    }

    [Fact]
    public void A_waiting_request_does_not_hold_up_the_others_and_extra_readers_go_away()
    {
        var fs = new StallingFileSystem();
        var (serverFd, clientFd) = SocketNative.SeqPacketPair();
        using var mount = FuseMount.FromDevice(serverFd);
        using var server = new FuseServer(mount, fs, new FuseServerOptions { ReaderThreads = 1, MaxReaderThreads = 4 }, new RecordingLogger());
        var client = new FuseTestClient(clientFd);
        server.Start();
        client.Init(FuseTestClient.KernelInit()).As<FuseInitOut>();

        var stalled = client.Send(FuseOpcode.GetAttr, 2, FuseTestClient.Bytes(new FuseGetAttrIn()));
        // The one base reader waits in node 2's GETATTR: node 1's must be answered by another.
        var quick = client.Send(FuseOpcode.GetAttr, FuseTestClient.Root, FuseTestClient.Bytes(new FuseGetAttrIn()));
        Assert.Equal(FuseTestClient.Root, client.Receive(quick, TimeSpan.FromSeconds(5)).As<FuseAttrOut>().Attr.Ino);
        Assert.True(server.Readers >= 2, $"{server.Readers} readers while one request waits");

        fs.Release.Set();
        Assert.Equal(2ul, client.Receive(stalled, TimeSpan.FromSeconds(5)).As<FuseAttrOut>().Attr.Ino);
        // Readers leave after their next request once the base number is idle again; which
        // blocked reader the socket wakes is up to the kernel, so allow many requests.
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (server.Readers > 1 && DateTime.UtcNow < until)
            client.Receive(client.Send(FuseOpcode.GetAttr, FuseTestClient.Root, FuseTestClient.Bytes(new FuseGetAttrIn())), TimeSpan.FromSeconds(5));
        Assert.Equal(1, server.Readers);
        client.Dispose();
    }
}
