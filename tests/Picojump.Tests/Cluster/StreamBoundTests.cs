using System.Net;
using Grpc.Core;
using Picojump.Cli.Certificates;
using Picojump.Fs.Cluster;
using Picojump.Fs.Native;
using Picojump.Protos.Peer;

namespace Picojump.Tests.Cluster;

/// <summary>
/// A bulk stream from a peer is bounded by its silence, not its length: a read that keeps
/// delivering lives past the peer timeout, a read that stops delivering fails with ETIMEDOUT.
/// Real streams over TLS from the fixture's owner, with a peer timeout of 1 s.
/// </summary>
public sealed class StreamBoundTests(PeerServerFixture server) : IClassFixture<PeerServerFixture>, IDisposable
{
    private const int FileBytes = 8 << 20;
    private static readonly TimeSpan PeerTimeout = TimeSpan.FromSeconds(1);

    private readonly RemotePeer _peer = new("h1", server.Address.Authority, new PeerClientOptions
    {
        HostName = "h2",
        Authority = server.Authority,
        Certificate = ClusterCertificates.IssueHost(server.Authority, "h2", [IPAddress.Loopback]),
        Timeout = PeerTimeout,
    });

    public void Dispose() => _peer.Dispose();

    private string File(string name)
    {
        var bytes = new byte[FileBytes];
        Random.Shared.NextBytes(bytes);
        System.IO.File.WriteAllBytes(Path.Combine(server.Export, name), bytes);
        return name;
    }

    /// <summary>
    /// Reads the file a chunk at a time, pausing between chunks; gives the bytes read and the
    /// errno of the end. The connection is made first, unbounded: only the stream is measured.
    /// </summary>
    private async Task<(long Bytes, Errno Error)> SlowRead(string path, TimeSpan pause)
    {
        var client = _peer.BulkClient();
        using (var warm = client.Read(new ReadRequest { Path = path, Length = FileBytes }, deadline: DateTime.UtcNow.AddSeconds(30)))
            await foreach (var _ in warm.ResponseStream.ReadAllAsync()) { }
        using var bound = _peer.BoundStream();
        long bytes = 0;
        try
        {
            using var call = client.Read(new ReadRequest { Path = path, Length = FileBytes }, bound.Options);
            await foreach (var chunk in call.ResponseStream.ReadAllAsync())
            {
                bound.Progress();
                bytes += chunk.Data.Length;
                await Task.Delay(pause);
            }
            return (bytes, Errno.OK);
        }
        catch (RpcException ex)
        {
            return (bytes, _peer.Failed(ex, bound));
        }
    }

    [Fact]
    public async Task A_stream_that_keeps_delivering_outlives_the_peer_timeout_and_leaves_the_peer_up()
    {
        var path = File("steady");
        var started = DateTime.UtcNow;
        // Eight chunks of 1 MiB, 250 ms apart: 2 s in all, each gap well inside the 1 s bound.
        var (bytes, error) = await SlowRead(path, TimeSpan.FromMilliseconds(250));
        Assert.Equal(Errno.OK, error);
        Assert.Equal(FileBytes, bytes);
        Assert.True(DateTime.UtcNow - started > PeerTimeout, "the read ended inside the peer timeout: it proves nothing");
        Assert.True(_peer.Reachable);
    }

    [Fact]
    public async Task A_stream_silent_for_the_peer_timeout_fails_with_ETIMEDOUT()
    {
        var path = File("stalled");
        var (bytes, error) = await SlowRead(path, TimeSpan.FromSeconds(2.5));
        Assert.Equal(Errno.ETIMEDOUT, error);
        Assert.True(bytes < FileBytes, $"read {bytes} bytes");
        Assert.False(_peer.Reachable);
    }
}
