using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Picojump.Fs.Cluster;

/// <summary>
/// Who may talk to whom: a peer's certificate must chain to the cluster CA alone (no system
/// roots) and allow its role, server or client authentication.
/// </summary>
public static class PeerTrust
{
    public static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1", "Server Authentication");
    public static readonly Oid ClientAuth = new("1.3.6.1.5.5.7.3.2", "Client Authentication");

    public static bool IsValidPeer(X509Certificate2 authority, X509Certificate2 peer, Oid role, out string problem)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(role);
        if (!chain.Build(peer))
        {
            problem = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Distinct());
            return false;
        }
        if (chain.ChainElements[^1].Certificate.Thumbprint != authority.Thumbprint)
        {
            problem = "the certificate does not chain to the cluster CA";
            return false;
        }
        problem = "";
        return true;
    }
}
