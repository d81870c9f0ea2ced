using System.Net;
using Grpc.Core;
using Picojump.Cli.Certificates;
using Picojump.Protos.Peer;

namespace Picojump.Tests.Cluster;

/// <summary>Only hosts of the cluster talk to the peer API, and only to a server of the cluster.</summary>
public sealed class PeerAuthTests(PeerServerFixture server) : IClassFixture<PeerServerFixture>
{
    private static CallOptions Deadline => new(deadline: DateTime.UtcNow + PeerServerFixture.Deadline);

    [Fact]
    public async Task Cluster_host_gets_an_answer()
    {
        var reply = await server.ClusterClient().HelloAsync(new HelloRequest { Host = "h2", ProtocolVersion = 1 }, Deadline);
        Assert.Equal("h1", reply.Host);
        Assert.Equal(1u, reply.ProtocolVersion);
    }

    [Fact]
    public async Task Heartbeat_carries_the_incarnation_of_hello()
    {
        var client = server.ClusterClient();
        var hello = await client.HelloAsync(new HelloRequest { Host = "h2", ProtocolVersion = 1 }, Deadline);
        var heartbeat = await client.HeartbeatAsync(new HeartbeatRequest { Host = "h2" }, Deadline);
        Assert.Equal(hello.Incarnation, heartbeat.Incarnation);
        Assert.True(heartbeat.LoadAverage >= 0);
    }

    [Fact]
    public async Task Client_without_a_certificate_gets_nothing()
    {
        var client = server.Client(null, server.Authority);
        await Assert.ThrowsAsync<RpcException>(() => client.LookupAsync(new PathRequest { Path = "" }, Deadline).ResponseAsync);
    }

    [Fact]
    public async Task Client_with_a_certificate_of_another_ca_gets_nothing()
    {
        using var foreign = ClusterCertificates.CreateAuthority("Another CA");
        var client = server.Client(ClusterCertificates.IssueHost(foreign, "h2", [IPAddress.Loopback]), server.Authority);
        await Assert.ThrowsAsync<RpcException>(() => client.LookupAsync(new PathRequest { Path = "" }, Deadline).ResponseAsync);
    }

    [Fact]
    public async Task Client_trusting_another_ca_refuses_the_server()
    {
        using var foreign = ClusterCertificates.CreateAuthority("Another CA");
        var client = server.Client(ClusterCertificates.IssueHost(foreign, "h2", [IPAddress.Loopback]), foreign);
        await Assert.ThrowsAsync<RpcException>(() => client.LookupAsync(new PathRequest { Path = "" }, Deadline).ResponseAsync);
    }
}
