using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Picojump.Fs.Cluster;

namespace Picojump.Host;

/// <summary>The cluster CA and this host's certificate (with its key), loaded from the PEM files in the settings.</summary>
public sealed record PeerCertificates(X509Certificate2 Authority, X509Certificate2 Host)
{
    public static PeerCertificates Load(TlsSettings tls)
    {
        X509Certificate2 authority;
        try
        {
            authority = X509Certificate2.CreateFromPem(File.ReadAllText(tls.Ca));
        }
        catch (CryptographicException ex)
        {
            throw new SettingsException($"key \"tls.ca\": {tls.Ca} is not a PEM certificate ({ex.Message})");
        }
        try
        {
            return new PeerCertificates(authority, X509Certificate2.CreateFromPemFile(tls.Cert, tls.Key));
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            throw new SettingsException($"keys \"tls.cert\" and \"tls.key\": {tls.Cert} and {tls.Key} are not a PEM certificate and its key ({ex.Message})");
        }
    }
}

/// <summary>
/// The peer API on Kestrel: HTTP/2 over TLS with the host certificate, and only for clients
/// whose certificate chains to the cluster CA; any other client fails the TLS handshake.
/// </summary>
public static class PeerServer
{
    public static void Configure(WebApplicationBuilder builder, IPEndPoint listen, PeerCertificates certificates, ExportPeerService service)
    {
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            // Streams a peer sends (a migration's pages) at Kestrel's default 768 KiB window stall
            // on every 1 MiB message until the window update comes back: receive windows as the
            // clients' (RemotePeer) are for what they receive.
            kestrel.Limits.Http2.InitialConnectionWindowSize = 32 << 20;
            kestrel.Limits.Http2.InitialStreamWindowSize = 16 << 20;
            kestrel.Listen(listen, endpoint =>
            {
                endpoint.Protocols = HttpProtocols.Http2;
                endpoint.UseHttps(new HttpsConnectionAdapterOptions
                {
                    ServerCertificate = certificates.Host,
                    SslProtocols = SslProtocols.Tls13,
                    ClientCertificateMode = ClientCertificateMode.RequireCertificate,
                    CheckCertificateRevocation = false,
                    // Chain errors are expected (the cluster CA is in no system store): PeerTrust decides.
                    ClientCertificateValidation = (certificate, _, _) =>
                        PeerTrust.IsValidPeer(certificates.Authority, certificate, PeerTrust.ClientAuth, out _),
                });
            });
        });
        builder.Services.AddRouting();
        // A write carries at most one chunk; anything much larger is not a peer talking.
        builder.Services.AddGrpc(o => o.MaxReceiveMessageSize = ExportPeerService.MaxChunk + 64 * 1024);
        // Through a factory, so that the container disposes it (and its export descriptor).
        builder.Services.AddSingleton(_ => service);
        builder.Services.AddSingleton<Control.JobPeerService>();
        builder.Services.AddSingleton<Migrator.Migration.MigrationPeerService>();
    }

    /// <summary>
    /// Binds <paramref name="listen"/> once and lets go: an address in use or not on this host
    /// is a one-line error before anything is mounted, not a failure of the started host.
    /// </summary>
    public static void CheckCanListen(IPEndPoint listen, string key = "listen")
    {
        try
        {
            using var socket = new Socket(listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            // As Kestrel binds: connections of a previous daemon lingering in TIME_WAIT must
            // not stop a restart; a live listener still makes the bind fail.
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(listen);
        }
        catch (SocketException ex)
        {
            throw new SettingsException($"key \"{key}\": cannot listen on {listen}: {ex.Message}");
        }
    }

    /// <summary>
    /// The file peer API and, beside it, JobPeer (jobs run, listed, signalled and waited for
    /// from other hosts) and Migration (jobs moved between hosts).
    /// </summary>
    public static void Map(WebApplication app)
    {
        app.MapGrpcService<ExportPeerService>();
        app.MapGrpcService<Control.JobPeerService>();
        app.MapGrpcService<Migrator.Migration.MigrationPeerService>();
    }
}
