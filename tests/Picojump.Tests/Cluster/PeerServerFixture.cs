using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Picojump.Cli.Certificates;
using Picojump.Fs.Cluster;
using Picojump.Host;
using Picojump.Protos.Peer;

namespace Picojump.Tests.Cluster;

/// <summary>
/// The peer API as picojumpd serves it (Kestrel, mutual TLS), in-process on 127.0.0.1 with
/// an ephemeral port, over a temp export; certificates from a fresh cluster CA as PEM files.
/// </summary>
public sealed class PeerServerFixture : IAsyncLifetime
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(5);

    private readonly string _dir = Directory.CreateTempSubdirectory("pj-peer-").FullName;
    private WebApplication? _app;

    public string Export => Path.Combine(_dir, "export");

    public string CertificateDir => Path.Combine(_dir, "tls");

    public X509Certificate2 Authority { get; } = ClusterCertificates.CreateAuthority("Peer test CA");

    public Uri Address { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Export);
        Directory.CreateDirectory(CertificateDir);
        CertificateFiles.Write(CertificateDir, "ca", Authority);
        using (var h1 = ClusterCertificates.IssueHost(Authority, "h1", [IPAddress.Loopback]))
            CertificateFiles.Write(CertificateDir, "h1", h1);
        var certificates = PeerCertificates.Load(new TlsSettings(
            CertificateFiles.CertificatePath(CertificateDir, "ca"),
            CertificateFiles.CertificatePath(CertificateDir, "h1"),
            CertificateFiles.KeyPath(CertificateDir, "h1")));

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        PeerServer.Configure(builder, new IPEndPoint(IPAddress.Loopback, 0), certificates, new ExportPeerService(Export, "h1"));
        _app = builder.Build();
        PeerServer.Map(_app);
        await _app.StartAsync();
        var bound = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        Address = new Uri(bound);
    }

    /// <summary>A client presenting <paramref name="clientCertificate"/> (none: null) and trusting <paramref name="trusted"/> for the server.</summary>
    public Peer.PeerClient Client(X509Certificate2? clientCertificate, X509Certificate2 trusted)
    {
        var ssl = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = ClusterCertificates.PeerValidator(trusted, peerIsServer: true) };
        if (clientCertificate != null)
            ssl.ClientCertificates = [clientCertificate];
        var channel = GrpcChannel.ForAddress(Address, new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler { SslOptions = ssl, ConnectTimeout = Deadline },
            DisposeHttpClient = true,
        });
        return new Peer.PeerClient(channel);
    }

    /// <summary>A client of this cluster: h2's certificate from the cluster CA.</summary>
    public Peer.PeerClient ClusterClient()
        => Client(ClusterCertificates.IssueHost(Authority, "h2", [IPAddress.Loopback]), Authority);

    public async Task DisposeAsync()
    {
        if (_app != null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        Directory.Delete(_dir, recursive: true);
    }
}
