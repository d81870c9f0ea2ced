using Picojump.Cli.Infrastructure;
using Picojump.Fs.Native;

namespace Picojump.Cli.DevCluster;

/// <summary>
/// Each host's mount namespace, kept alive by a bind mount of its namespace file (hN/mnt)
/// instead of a process: /pj is the host's own FUSE mount, /run/picojump and /etc/picojump
/// are the host's run/ and etc/ directories, everything else is the machine's.
/// </summary>
public sealed partial class DevCluster
{
    /// <summary>unshare refuses to bind a namespace file onto a shared mount (the bind would propagate into the namespace itself).</summary>
    private void MakeRootPrivate()
    {
        ExternalCommand.Check(["mount", "--bind", layout.Root, layout.Root]);
        ExternalCommand.Check(["mount", "--make-private", layout.Root]);
    }

    private static void CreateMountNamespace(HostLayout host)
    {
        File.WriteAllBytes(host.MountNamespace, []);
        ExternalCommand.Check(["unshare", $"--mount={host.MountNamespace}", "--propagation", "private", "true"]);

        // The new namespace starts as a copy of the machine's. Copies of FUSE mounts (other
        // hosts', other clusters', tests') would keep those file systems alive after their
        // owners unmount them, and copies of namespace files would keep those namespaces.
        var inherited = MountsInside(host)
            .Where(m => m.FsType is "fuse" or "fuseblk" or "nsfs" || m.FsType.StartsWith("fuse.", StringComparison.Ordinal))
            .Select(m => m.Mountpoint)
            .ToList();
        Unmount(host, inherited);

        InHost(host, ["mkdir", "-p", .. ClusterLayout.HostMountpoints]);
        InHost(host, ["mount", "--bind", host.Run, "/run/picojump"]);
        InHost(host, ["mount", "--bind", host.Etc, "/etc/picojump"]);
    }

    /// <summary>Unmounts what the host mounted and lets its namespace go; a no-op if it is gone.</summary>
    private static void ReleaseMountNamespace(HostLayout host, IReadOnlyList<MountEntry> machineMounts)
    {
        if (!machineMounts.Any(m => m.Mountpoint == host.MountNamespace))
            return;
        var own = MountsInside(host)
            .Where(m => ClusterLayout.HostMountpoints.Any(p => MountTable.IsAtOrBelow(m.Mountpoint, p)))
            .Select(m => m.Mountpoint)
            .ToList();
        Unmount(host, own);
        ExternalCommand.Check(["umount", "--lazy", host.MountNamespace]);
    }

    private static List<MountEntry> MountsInside(HostLayout host)
        => MountTable.Parse(InHost(host, ["cat", "/proc/self/mountinfo"]).Split('\n'));

    /// <summary>
    /// Lazily, deepest first, and without stat (--no-canonicalize): a dead FUSE mount answers
    /// ENOTCONN and a hung one never answers. Duplicates stay: stacked mounts need one each.
    /// </summary>
    private static void Unmount(HostLayout host, IEnumerable<string> mountpoints)
    {
        var ordered = mountpoints.OrderByDescending(p => p.Count(c => c == '/')).ToList();
        if (ordered.Count > 0)
            InHost(host, ["umount", "--lazy", "--no-canonicalize", .. ordered]);
    }

    /// <summary>Runs a command in the host's mount namespace only, for setup and teardown.</summary>
    private static string InHost(HostLayout host, IReadOnlyList<string> command)
        => ExternalCommand.Check(["nsenter", $"--mount={host.MountNamespace}", "--", .. command]);
}
