using Picojump.Cli.Infrastructure;

namespace Picojump.Cli.DevCluster;

/// <summary>
/// Which picojumpd a dev cluster runs, as a command (program and leading arguments):
/// --daemon PATH, else $PICOJUMP_DAEMON (split on spaces, e.g. "dotnet /x/picojumpd.dll"),
/// else the picojumpd published next to pjctl, else picojumpd on PATH. A .dll runs on dotnet.
/// </summary>
public static class DaemonLocator
{
    public const string Variable = "PICOJUMP_DAEMON";

    public static string[] Find(string? option)
    {
        if (!string.IsNullOrWhiteSpace(option))
            return Resolve([option], "--daemon");
        var fromEnvironment = Environment.GetEnvironmentVariable(Variable);
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
            return Resolve(fromEnvironment.Split(' ', StringSplitOptions.RemoveEmptyEntries), $"${Variable}");
        var beside = Path.Combine(AppContext.BaseDirectory, "picojumpd");
        if (File.Exists(beside))
            return [beside];
        return [FindOnPath("picojumpd") ?? throw new CliException(
            $"cannot find picojumpd (not in {AppContext.BaseDirectory}, not on PATH): give --daemon PATH or set {Variable}")];
    }

    /// <summary>Absolute paths, so the command means the same inside every host's namespaces.</summary>
    private static string[] Resolve(string[] command, string source)
    {
        var program = command[0].Contains('/', StringComparison.Ordinal) ? Path.GetFullPath(command[0]) : FindOnPath(command[0]);
        if (program == null || !File.Exists(program))
            throw new CliException($"{source}: {command[0]} does not exist");
        if (!program.EndsWith(".dll", StringComparison.Ordinal))
            return [program, .. command[1..]];
        var dotnet = FindOnPath("dotnet") ?? throw new CliException($"{source}: {program} needs dotnet, which is not on PATH");
        return [dotnet, program, .. command[1..]];
    }

    public static string? FindOnPath(string name)
        => (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);
}
