using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Picojump.Cli.Certificates;
using Picojump.Cli.Infrastructure;

namespace Picojump.Tests.DevCluster;

public sealed class ClusterCertificatesTests : IDisposable
{
    private static readonly IPAddress H1Address = IPAddress.Parse("10.1.2.1");
    private readonly X509Certificate2 _authority = ClusterCertificates.CreateAuthority("Test cluster CA");
    private readonly X509Certificate2 _foreignAuthority = ClusterCertificates.CreateAuthority("Another cluster CA");
    private readonly string _dir = Directory.CreateTempSubdirectory("pj-ca-").FullName;

    [Fact]
    public void Authority_is_a_ca_that_signs_certificates_only()
    {
        var constraints = _authority.Extensions.OfType<X509BasicConstraintsExtension>().Single();
        Assert.True(constraints.CertificateAuthority);
        Assert.Equal(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, _authority.Extensions.OfType<X509KeyUsageExtension>().Single().KeyUsages);
        using var key = _authority.GetECDsaPublicKey();
        Assert.Equal(256, key?.KeySize);
        Assert.InRange((_authority.NotAfter - _authority.NotBefore).TotalDays, 3650, 3660);
    }

    [Fact]
    public void Host_certificate_chains_to_the_authority_with_its_names_and_both_usages()
    {
        using var host = ClusterCertificates.IssueHost(_authority, "h1", [H1Address]);

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(_authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        Assert.True(chain.Build(host), string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));
        Assert.Equal(_authority.Thumbprint, chain.ChainElements[^1].Certificate.Thumbprint);

        var names = host.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Equal(["h1"], names.EnumerateDnsNames());
        Assert.Equal([H1Address], names.EnumerateIPAddresses());
        var usages = host.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single().EnhancedKeyUsages.Cast<System.Security.Cryptography.Oid>().Select(o => o.Value);
        Assert.Equal([ClusterCertificates.ServerAuth.Value, ClusterCertificates.ClientAuth.Value], usages);
        Assert.False(host.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        Assert.True(host.HasPrivateKey);
        Assert.InRange((host.NotAfter - host.NotBefore).TotalDays, 365, 2 * 366);
        Assert.True(ClusterCertificates.IsValidPeer(_authority, host, ClusterCertificates.ServerAuth, out var problem), problem);
        Assert.True(ClusterCertificates.IsValidPeer(_authority, host, ClusterCertificates.ClientAuth, out problem), problem);
    }

    [Fact]
    public void Certificate_of_another_authority_is_not_a_valid_peer()
    {
        using var stranger = ClusterCertificates.IssueHost(_foreignAuthority, "h1", [H1Address]);

        Assert.False(ClusterCertificates.IsValidPeer(_authority, stranger, ClusterCertificates.ClientAuth, out var problem));
        Assert.NotEmpty(problem);
    }

    [Fact]
    public async Task Mutual_tls_handshake_succeeds_between_two_hosts_of_the_cluster()
    {
        using var h1 = ClusterCertificates.IssueHost(_authority, "h1", [H1Address]);
        using var h2 = ClusterCertificates.IssueHost(_authority, "h2", [IPAddress.Parse("10.1.2.2")]);

        var (server, client) = await Handshake(clientCertificate: h1, serverCertificate: h2, serverName: "h2", async (s, c) =>
        {
            await c.WriteAsync(new byte[] { 42 });
            var buffer = new byte[1];
            Assert.Equal(1, await s.ReadAsync(buffer));
            Assert.Equal(42, buffer[0]);
            Assert.Equal("CN=h1", s.RemoteCertificate!.Subject);
            Assert.Equal("CN=h2", c.RemoteCertificate!.Subject);
        });

        Assert.True(server.IsCompletedSuccessfully, server.Exception?.ToString());
        Assert.True(client.IsCompletedSuccessfully, client.Exception?.ToString());
    }

    [Fact]
    public async Task Server_refuses_a_client_certificate_of_another_authority()
    {
        using var stranger = ClusterCertificates.IssueHost(_foreignAuthority, "h1", [H1Address]);
        using var h2 = ClusterCertificates.IssueHost(_authority, "h2", []);

        var (server, _) = await Handshake(clientCertificate: stranger, serverCertificate: h2, serverName: "h2");

        Assert.IsType<AuthenticationException>(server.Exception?.InnerException);
    }

    [Fact]
    public async Task Client_refuses_a_server_certificate_of_another_authority_or_name()
    {
        using var h1 = ClusterCertificates.IssueHost(_authority, "h1", [H1Address]);
        using var stranger = ClusterCertificates.IssueHost(_foreignAuthority, "h2", []);
        using var h3 = ClusterCertificates.IssueHost(_authority, "h3", []);

        var (_, client) = await Handshake(clientCertificate: h1, serverCertificate: stranger, serverName: "h2");
        Assert.IsType<AuthenticationException>(client.Exception?.InnerException);

        (_, client) = await Handshake(clientCertificate: h1, serverCertificate: h3, serverName: "h2");
        Assert.IsType<AuthenticationException>(client.Exception?.InnerException);
    }

    [Fact]
    public void Ca_commands_write_pem_files_that_load_back_with_keys_readable_by_root_only()
    {
        CaCommands.Init(_dir, TextWriter.Null);
        CaCommands.Issue(_dir, "node-7", ["192.0.2.7", "::1"], TextWriter.Null);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_dir, "ca.key")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_dir, "node-7.key")));
        using var authority = CertificateFiles.Read(_dir, "ca", withKey: false);
        using var host = CertificateFiles.Read(_dir, "node-7", withKey: true);
        Assert.True(host.HasPrivateKey);
        Assert.True(ClusterCertificates.IsValidPeer(authority, host, ClusterCertificates.ServerAuth, out var problem), problem);
        Assert.Equal([IPAddress.Parse("192.0.2.7"), IPAddress.IPv6Loopback], host.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().EnumerateIPAddresses());

        Assert.Throws<CliException>(() => CaCommands.Init(_dir, TextWriter.Null));
        Assert.Throws<CliException>(() => CaCommands.Issue(_dir, "../escape", [], TextWriter.Null));
        Assert.Throws<CliException>(() => CaCommands.Issue(_dir, "h1", ["not-an-ip"], TextWriter.Null));
    }

    /// <summary>
    /// A TLS handshake over loopback, each side checking the other with the cluster's
    /// validator; returns both sides' handshake tasks once both have finished.
    /// </summary>
    private async Task<(Task Server, Task Client)> Handshake(X509Certificate2 clientCertificate, X509Certificate2 serverCertificate, string serverName,
        Func<SslStream, SslStream, Task>? exchange = null)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var clientSocket = new TcpClient();
        await clientSocket.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        using var serverSocket = await listener.AcceptTcpClientAsync();
        await using var serverStream = new SslStream(serverSocket.GetStream());
        await using var clientStream = new SslStream(clientSocket.GetStream());

        var server = serverStream.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
        {
            ServerCertificateContext = SslStreamCertificateContext.Create(serverCertificate, null, offline: true),
            ClientCertificateRequired = true,
            RemoteCertificateValidationCallback = ClusterCertificates.PeerValidator(_authority, peerIsServer: false),
        });
        var client = clientStream.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = serverName,
            ClientCertificateContext = SslStreamCertificateContext.Create(clientCertificate, null, offline: true),
            RemoteCertificateValidationCallback = ClusterCertificates.PeerValidator(_authority, peerIsServer: true),
        });
        // A side that refuses closes the connection, which ends the other side's handshake too.
        await Task.WhenAll(server, client).ContinueWith(_ => { }, TaskScheduler.Default).WaitAsync(TimeSpan.FromSeconds(30));
        if (exchange != null && server.IsCompletedSuccessfully && client.IsCompletedSuccessfully)
            await exchange(serverStream, clientStream);
        return (server, client);
    }

    public void Dispose()
    {
        _authority.Dispose();
        _foreignAuthority.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
