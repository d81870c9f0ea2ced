using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using Picojump.Cli.Certificates;
using Picojump.Cli.Infrastructure;

namespace Picojump.Cli.DevCluster;

/// <summary>`up`: state first (so a failure part-way can be taken down), then TLS, network, mounts, daemons.</summary>
public sealed partial class DevCluster
{
    private static readonly string[] RequiredTools = ["ip", "nsenter", "unshare", "mount", "umount", "bash", "setsid", "stat"];

    /// <remarks><paramref name="settings"/>: daemon settings for every host beyond the dev cluster's own (see <see cref="HostConfig.Write"/>).</remarks>
    public void Up(int hostCount, string[] daemon, JsonObject? settings = null)
    {
        CheckMachine();
        if (ClusterState.Load(layout) is { } existing)
            throw new CliException($"a dev cluster of {existing.Hosts} hosts is already up at {layout.Root}; take it down first (pjctl devcluster down)");
        if (Directory.Exists(layout.Root) && Directory.EnumerateFileSystemEntries(layout.Root).Any())
            throw new CliException($"{layout.Root} is not empty and holds no dev cluster; pick another --root");
        var leftovers = ExistingNamespaces();
        if (leftovers.Count > 0)
            throw new CliException($"network namespaces {string.Join(", ", leftovers)} already exist (a dev cluster with id {layout.Id}); remove them with pjctl devcluster down");

        Directory.CreateDirectory(layout.Root);
        new ClusterState(layout.Id, layout.Root, layout.Subnet, hostCount, daemon).Save(layout);
        MakeRootPrivate();
        var hosts = Enumerable.Range(1, hostCount).Select(layout.Host).ToList();
        using (var authority = ClusterCertificates.CreateAuthority($"Picojump dev cluster {layout.Id} CA"))
        {
            CertificateFiles.Write(layout.AuthorityDirectory, CertificateFiles.AuthorityName, authority);
            foreach (var host in hosts)
                PrepareHost(host, hosts, authority, settings);
        }
        CreateSwitch();
        foreach (var host in hosts)
            ConnectHost(host);
        // After every network namespace exists, so that each mount namespace can drop its copies of all of them.
        foreach (var host in hosts)
            CreateMountNamespace(host);
        WaitUntilServing(hosts.Select(h => (h, Launch(h, daemon))).ToList());
        WaitUntilConnected();

        output.WriteLine($"Dev cluster {layout.Id} is up at {layout.Root}, subnet {layout.Subnet}:");
        foreach (var host in hosts)
            output.WriteLine($"  {host.Name}  {host.Address}");
        output.WriteLine("Try: pjctl devcluster exec h1 -- ls /pj");
    }

    private static void CheckMachine()
    {
        if (!Environment.IsPrivilegedProcess)
            throw new CliException("pjctl devcluster must run as root (it creates namespaces and mounts)");
        if (!File.Exists("/dev/fuse"))
            throw new CliException("/dev/fuse is missing: load the fuse kernel module (modprobe fuse)");
        var missing = RequiredTools.Where(t => DaemonLocator.FindOnPath(t) == null).ToList();
        if (missing.Count > 0)
            throw new CliException($"pjctl devcluster needs {string.Join(", ", missing)} on PATH (packages iproute2, util-linux, bash, coreutils)");
    }

    /// <summary>The host's directories, its certificate (SAN: name and address) and its config files.</summary>
    private static void PrepareHost(HostLayout host, IReadOnlyList<HostLayout> hosts, X509Certificate2 authority, JsonObject? settings)
    {
        foreach (var directory in new[] { host.Export, host.Run, host.Tls })
            Directory.CreateDirectory(directory);
        using (var certificate = ClusterCertificates.IssueHost(authority, host.Name, [IPAddress.Parse(host.Address)]))
            CertificateFiles.Write(host.Tls, host.Name, certificate);
        using (var publicAuthority = X509CertificateLoader.LoadCertificate(authority.RawData))
            CertificateFiles.Write(host.Tls, CertificateFiles.AuthorityName, publicAuthority);

        var peers = hosts.Where(h => h != host).Select(h => new PeerFacts(h.Name, h.Address)).ToList();
        var tls = new TlsFiles(
            CertificateFiles.CertificatePath(host.Tls, CertificateFiles.AuthorityName),
            CertificateFiles.CertificatePath(host.Tls, host.Name),
            CertificateFiles.KeyPath(host.Tls, host.Name));
        HostConfig.Write(host, new HostFacts(host.Name, host.Address, peers, tls), settings);
    }
}
