using System.Text.RegularExpressions;
using Picojump.Cli.Infrastructure;
using Picojump.Fs.Native;

namespace Picojump.Cli.DevCluster;

/// <summary>
/// `down`: idempotent, and thorough after a partial `up` or a crash of pjctl. It finds the
/// cluster from the state in ROOT and also by what the root path alone names: the
/// namespaces with the cluster's prefix, host directories, mounts under ROOT, daemons
/// whose --config lies there.
/// </summary>
public sealed partial class DevCluster
{
    public void Down()
    {
        var state = ClusterState.Load(layout);
        var namespaces = ExistingNamespaces();
        var machineMounts = MountsUnderRoot();
        var hosts = HostsToTearDown(state, namespaces).Select(layout.Host).ToList();
        if (!Directory.Exists(layout.Root) && namespaces.Count == 0 && machineMounts.Count == 0)
        {
            output.WriteLine($"No dev cluster at {layout.Root}");
            return;
        }

        // Processes first: they hold the namespaces and the FUSE mounts.
        var processes = hosts.SelectMany(RunningDaemons).Concat(namespaces.SelectMany(NamespacePids)).Distinct().ToList();
        if (!Processes.KillAndWait(processes, KillTimeout))
            throw new CliException($"processes of the dev cluster outlived SIGKILL: {string.Join(", ", processes.Where(Processes.IsAlive))}");
        foreach (var host in hosts)
            ReleaseMountNamespace(host, machineMounts);
        // Deleting the switch namespace deletes the bridge and every veth pair with it.
        foreach (var name in namespaces)
            Ip("netns", "delete", name);
        var rest = MountsUnderRoot().Select(m => m.Mountpoint).OrderByDescending(p => p.Count(c => c == '/')).ToList();
        if (rest.Count > 0)
            ExternalCommand.Check(["umount", "--lazy", "--no-canonicalize", .. rest]);
        DeleteRoot(state);
        output.WriteLine($"Dev cluster {layout.Id} at {layout.Root} is down");
    }

    private List<MountEntry> MountsUnderRoot() => MountTable.Current().Where(m => MountTable.IsAtOrBelow(m.Mountpoint, layout.Root)).ToList();

    /// <summary>Host numbers named by the state, by host directories and by network namespaces.</summary>
    private SortedSet<int> HostsToTearDown(ClusterState? state, IEnumerable<string> namespaces)
    {
        var indexes = new SortedSet<int>(Enumerable.Range(1, state?.Hosts ?? 0));
        var names = namespaces.Select(n => n[layout.NamespacePrefix.Length..]);
        if (Directory.Exists(layout.Root))
            names = names.Concat(Directory.EnumerateDirectories(layout.Root).Select(d => Path.GetFileName(d)));
        foreach (var name in names)
        {
            var match = HostName().Match(name);
            if (match.Success && int.TryParse(match.Groups[1].Value, out var index) && index is >= 1 and <= ClusterLayout.MaxHosts)
                indexes.Add(index);
        }
        return indexes;
    }

    /// <summary>Deletes ROOT only if it is a dev cluster's (its state file) or empty: never someone's directory.</summary>
    private void DeleteRoot(ClusterState? state)
    {
        if (!Directory.Exists(layout.Root))
            return;
        if (MountsUnderRoot().Count > 0)
            throw new CliException($"{layout.Root} still has mounts after unmounting; not deleting it");
        if (state == null && Directory.EnumerateFileSystemEntries(layout.Root).Any())
            throw new CliException($"{layout.Root} holds no {Path.GetFileName(layout.StateFile)}; it is not a dev cluster's, so it was left in place");
        Directory.Delete(layout.Root, recursive: true);
    }

    [GeneratedRegex("^h([0-9]+)$")]
    private static partial Regex HostName();
}
