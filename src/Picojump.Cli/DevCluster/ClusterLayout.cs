using System.Security.Cryptography;
using System.Text;
using Picojump.Cli.Infrastructure;
using Picojump.Fs.Native;

namespace Picojump.Cli.DevCluster;

/// <summary>
/// Every name and path of one dev cluster, derived from its root directory alone, so that
/// `down` finds all of it even when the state in the root is gone or half written.
/// The cluster id is the first 6 hex digits of SHA-256(root path): network namespaces are
/// pj&lt;id&gt;-sw and pj&lt;id&gt;-hN, links pj&lt;id&gt;br and pj&lt;id&gt;hN (at most 15 characters),
/// and the subnet is 10.X.Y.0/24 with X and Y the id's first two bytes; hN is 10.X.Y.N.
/// </summary>
public sealed class ClusterLayout
{
    /// <summary>
    /// Not under /run/picojump: each host sees its own run/ directory there, which would
    /// hide the state (its export, its config) from the host itself.
    /// </summary>
    public const string DefaultRoot = "/run/picojump-devcluster";

    public const string RootVariable = "PICOJUMP_DEVCLUSTER_ROOT";

    public const int MaxHosts = 64;

    /// <summary>Paths that each host's mount namespace covers with its own mounts.</summary>
    public static readonly string[] HostMountpoints = ["/pj", "/run/picojump", "/etc/picojump"];

    private readonly byte[] _hash;

    private ClusterLayout(string root)
    {
        Root = root;
        _hash = SHA256.HashData(Encoding.UTF8.GetBytes(root));
        Id = Convert.ToHexStringLower(_hash, 0, 3);
    }

    public string Root { get; }

    public string Id { get; }

    /// <summary>The start of every network namespace name of this cluster.</summary>
    public string NamespacePrefix => $"pj{Id}-";

    public string SwitchNamespace => $"pj{Id}-sw";

    public string Bridge => $"pj{Id}br";

    public string Subnet => $"10.{_hash[0]}.{_hash[1]}.0/24";

    public string StateFile => Path.Combine(Root, "cluster.json");

    public string AuthorityDirectory => Path.Combine(Root, "ca");

    public HostLayout Host(int index) => new(this, index, $"10.{_hash[0]}.{_hash[1]}.{index}");

    /// <summary>The root from --root, else $PICOJUMP_DEVCLUSTER_ROOT, else <see cref="DefaultRoot"/>.</summary>
    public static ClusterLayout Resolve(string? rootOption)
    {
        var root = rootOption ?? Environment.GetEnvironmentVariable(RootVariable);
        if (string.IsNullOrWhiteSpace(root))
            root = DefaultRoot;
        root = Path.GetFullPath(root).TrimEnd('/');
        if (root.Length == 0)
            throw new CliException("the dev cluster root cannot be /");
        var hidden = HostMountpoints.FirstOrDefault(m => MountTable.IsAtOrBelow(root, m));
        if (hidden != null)
            throw new CliException($"the dev cluster root {root} cannot lie under {hidden}: each host mounts its own {hidden} there");
        return new ClusterLayout(root);
    }
}

/// <summary>One host hN of a dev cluster: its namespaces, link and state directory.</summary>
public sealed class HostLayout(ClusterLayout cluster, int index, string address)
{
    public int Index { get; } = index;

    public string Name => $"h{Index}";

    public string Address { get; } = address;

    public string NetworkNamespace => $"pj{cluster.Id}-{Name}";

    public string NetworkNamespacePath => Path.Combine("/run/netns", NetworkNamespace);

    /// <summary>The switch-side end of the host's veth pair; the host-side end is eth0.</summary>
    public string SwitchPort => $"pj{cluster.Id}{Name}";

    public string StateDirectory => Path.Combine(cluster.Root, Name);

    public string Export => Path.Combine(StateDirectory, "export");

    /// <summary>Seen by the host as /etc/picojump.</summary>
    public string Etc => Path.Combine(StateDirectory, "etc");

    /// <summary>The host's block cache: it survives a stop and start of the host's daemon.</summary>
    public string Cache => Path.Combine(StateDirectory, "cache");

    /// <summary>The daemon's state directory (its jobs): it survives a stop and start of the host's daemon.</summary>
    public string State => Path.Combine(StateDirectory, "state");

    public string DaemonConfig => Path.Combine(Etc, "picojumpd.json");

    public string ClusterConfig => Path.Combine(Etc, "cluster.json");

    public string Tls => Path.Combine(Etc, "tls");

    /// <summary>Seen by the host as /run/picojump (its daemon's control socket lives there).</summary>
    public string Run => Path.Combine(StateDirectory, "run");

    public string Log => Path.Combine(StateDirectory, "log");

    public string PidFile => Path.Combine(StateDirectory, "pid");

    /// <summary>The bind-mounted mount-namespace file that keeps the host's mount namespace alive.</summary>
    public string MountNamespace => Path.Combine(StateDirectory, "mnt");
}
