using Picojump.Cli.DevCluster;
using Picojump.Cli.Infrastructure;

namespace Picojump.Cli;

/// <summary>
/// `pjctl --host HOST COMMAND...`: runs COMMAND as that host would. For now HOST is a dev
/// cluster host, and pjctl runs itself again inside the host's namespaces, since commands
/// such as status read the mount table of the namespace they run in.
/// </summary>
public static class HostRedirect
{
    public static int Run(string host, string? root, IReadOnlyList<string> args)
    {
        var target = new DevCluster.DevCluster(ClusterLayout.Resolve(root), Console.Out).ResolveHost(host);
        return ExternalCommand.RunAttached(DevCluster.DevCluster.Enter(target, [.. Self(), .. WithoutHostOption(args)]));
    }

    /// <summary>The arguments minus --host and its value, in any of its spellings; nothing after "--" is touched.</summary>
    public static List<string> WithoutHostOption(IReadOnlyList<string> args)
    {
        var rest = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            if (args[i] == "--")
            {
                rest.AddRange(args.Skip(i));
                break;
            }
            if (args[i] == "--host")
                i++;
            else if (!args[i].StartsWith("--host=", StringComparison.Ordinal) && !args[i].StartsWith("--host:", StringComparison.Ordinal))
                rest.Add(args[i]);
        }
        return rest;
    }

    /// <summary>This pjctl: the apphost, or dotnet with pjctl.dll when run that way.</summary>
    public static string[] Self()
    {
        var process = Environment.ProcessPath ?? throw new CliException("cannot tell where pjctl runs from");
        return Path.GetFileNameWithoutExtension(process) == "dotnet"
            ? [process, Path.Combine(AppContext.BaseDirectory, "pjctl.dll")]
            : [process];
    }
}
