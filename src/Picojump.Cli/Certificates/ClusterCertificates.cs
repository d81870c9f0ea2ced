using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Picojump.Fs.Cluster;

namespace Picojump.Cli.Certificates;

/// <summary>
/// The cluster's mutual-TLS material: one CA per cluster, and per host a certificate that
/// the host presents both as a server and as a client. Peers trust exactly the cluster CA
/// (not the system store), so a certificate from any other CA is refused.
/// </summary>
public static class ClusterCertificates
{
    public static readonly TimeSpan AuthorityValidity = TimeSpan.FromDays(3653);
    public static readonly TimeSpan HostValidity = TimeSpan.FromDays(731);

    /// <summary>Backdating covers clocks a few minutes apart between hosts.</summary>
    private static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(5);

    public static readonly Oid ServerAuth = PeerTrust.ServerAuth;
    public static readonly Oid ClientAuth = PeerTrust.ClientAuth;

    /// <summary>A self-signed CA (ECDSA P-256) that may sign host certificates only, with its private key.</summary>
    public static X509Certificate2 CreateAuthority(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={name}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        var now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now - ClockSkew, now + AuthorityValidity);
    }

    /// <summary>
    /// A host certificate signed by <paramref name="authority"/> (which must carry its private
    /// key): SAN = the host name and its addresses, EKU = server and client authentication.
    /// </summary>
    public static X509Certificate2 IssueHost(X509Certificate2 authority, string host, IEnumerable<IPAddress> addresses)
    {
        if (!authority.HasPrivateKey)
            throw new ArgumentException("the CA certificate has no private key", nameof(authority));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={host}"), key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(host);
        foreach (var address in addresses)
            names.AddIpAddress(address);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([ServerAuth, ClientAuth], critical: false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(authority, includeKeyIdentifier: true, includeIssuerAndSerial: false));

        var now = DateTimeOffset.UtcNow;
        var notAfter = now + HostValidity;
        if (notAfter > authority.NotAfter)
            notAfter = authority.NotAfter;
        // A random 128-bit serial; the leading 0x01 keeps the DER integer positive and minimal.
        byte[] serial = [0x01, .. RandomNumberGenerator.GetBytes(16)];
        using var certificate = request.Create(authority, now - ClockSkew, notAfter, serial);
        return certificate.CopyWithPrivateKey(key);
    }

    /// <summary>
    /// Whether <paramref name="peer"/> chains to <paramref name="authority"/> alone and may act
    /// in the given role (<see cref="ServerAuth"/> or <see cref="ClientAuth"/>); else why not.
    /// </summary>
    public static bool IsValidPeer(X509Certificate2 authority, X509Certificate2 peer, Oid role, out string problem)
        => PeerTrust.IsValidPeer(authority, peer, role, out problem);

    /// <summary>
    /// The SslStream callback for one side of a peer connection: the other side must present
    /// a certificate of this cluster for its role; a client also checks the server's name.
    /// </summary>
    public static RemoteCertificateValidationCallback PeerValidator(X509Certificate2 authority, bool peerIsServer)
        => (_, certificate, _, errors) =>
        {
            // Chain errors are expected (the cluster CA is in no system store): IsValidPeer decides.
            if (certificate is not X509Certificate2 peer || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
                return false;
            return IsValidPeer(authority, peer, peerIsServer ? ServerAuth : ClientAuth, out _);
        };
}
