using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Grpc.Core;
using Grpc.Net.Client;
using Picojump.Cli.Certificates;
using Picojump.Protos.Peer;
using Picojump.Tests.Infrastructure;

namespace Picojump.Tests.Host;

/// <summary>picojumpd with "listen": the peer API beside the mount, or one line and no mount.</summary>
public sealed class DaemonPeerStartTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pjd-peer-").FullName;
    private readonly System.Security.Cryptography.X509Certificates.X509Certificate2 _authority = ClusterCertificates.CreateAuthority("Daemon test CA");
    private Process? _daemon;

    private string Mountpoint => Path.Combine(_dir, "mnt");

    [Fact]
    public void A_listen_address_in_use_is_one_line_before_anything_is_mounted()
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var config = WriteConfig(((IPEndPoint)holder.LocalEndpoint).Port);

        var result = TestProcess.Run(TestProcess.Dotnet, [Path.Combine(AppContext.BaseDirectory, "picojumpd.dll"), "--config", config], TimeSpan.FromSeconds(30));

        Assert.Equal(1, result.ExitCode);
        Assert.Equal($"picojumpd: key \"listen\": cannot listen on {holder.LocalEndpoint}: Address already in use", result.Error.Trim());
        Assert.DoesNotContain(Mountpoint, File.ReadAllText("/proc/self/mounts"), StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Serves_the_peer_api_to_cluster_hosts_beside_the_mount()
    {
        Prerequisites.RequireFuse();
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        var info = new ProcessStartInfo(TestProcess.Dotnet) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { Path.Combine(AppContext.BaseDirectory, "picojumpd.dll"), "--config", WriteConfig(port) })
            info.ArgumentList.Add(argument);
        _daemon = Process.Start(info)!;
        File.WriteAllText(Path.Combine(_dir, "export", "hello"), "from h1");

        var client = new Peer.PeerClient(GrpcChannel.ForAddress($"https://127.0.0.1:{port}", new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                SslOptions = new SslClientAuthenticationOptions
                {
                    ClientCertificates = [ClusterCertificates.IssueHost(_authority, "h2", [IPAddress.Loopback])],
                    RemoteCertificateValidationCallback = ClusterCertificates.PeerValidator(_authority, peerIsServer: true),
                },
            },
        }));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            try
            {
                var reply = await client.LookupAsync(new PathRequest { Path = "hello" }, deadline: DateTime.UtcNow + TimeSpan.FromSeconds(5));
                Assert.Equal(0, reply.Errno);
                Assert.Equal(7ul, reply.Attr.Size);
                return;
            }
            catch (RpcException) when (DateTime.UtcNow < deadline && !_daemon.HasExited)
            {
                await Task.Delay(100); // not listening yet
            }
        }
    }

    private string WriteConfig(int port)
    {
        var tls = Directory.CreateDirectory(Path.Combine(_dir, "tls")).FullName;
        Directory.CreateDirectory(Path.Combine(_dir, "export"));
        Directory.CreateDirectory(Mountpoint);
        CertificateFiles.Write(tls, "ca", _authority);
        using (var host = ClusterCertificates.IssueHost(_authority, "h1", [IPAddress.Loopback]))
            CertificateFiles.Write(tls, "h1", host);
        var config = Path.Combine(_dir, "picojumpd.json");
        File.WriteAllText(config, $$"""
            {
              "export": "{{Path.Combine(_dir, "export")}}", "mountpoint": "{{Mountpoint}}",
              "hostName": "h1", "listen": "127.0.0.1:{{port}}", "controlSocket": "{{_dir}}/control.sock",
              "tls": { "ca": "{{tls}}/ca.crt", "cert": "{{tls}}/h1.crt", "key": "{{tls}}/h1.key" }
            }
            """);
        return config;
    }

    public void Dispose()
    {
        if (_daemon != null)
        {
            if (!_daemon.HasExited)
            {
                _daemon.Kill();
                _daemon.WaitForExit();
            }
            _daemon.Dispose();
            TestProcess.Run("umount", ["--lazy", Mountpoint], TimeSpan.FromSeconds(10));
        }
        _authority.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
