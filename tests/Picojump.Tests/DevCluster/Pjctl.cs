using Picojump.Tests.Infrastructure;

namespace Picojump.Tests.DevCluster;

/// <summary>
/// pjctl from the test output directory, run as a process (so exit codes, stdio and
/// re-execution are real) against the dev cluster at <paramref name="root"/>, with the
/// picojumpd of the test output directory as its daemon.
/// </summary>
public sealed class Pjctl(string root)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(180);

    public static string Daemon => $"{TestProcess.Dotnet} {Path.Combine(AppContext.BaseDirectory, "picojumpd.dll")}";

    public string Root => root;

    public TestProcess.Result Run(IEnumerable<string> arguments, string? input = null)
        => TestProcess.Run(TestProcess.Dotnet, [Path.Combine(AppContext.BaseDirectory, "pjctl.dll"), .. arguments], Timeout,
            new Dictionary<string, string> { ["PICOJUMP_DEVCLUSTER_ROOT"] = root, ["PICOJUMP_DAEMON"] = Daemon }, input);

    /// <summary>Runs pjctl and fails the test unless it exits 0.</summary>
    public TestProcess.Result Check(params string[] arguments)
    {
        var result = Run(arguments);
        Assert.True(result.ExitCode == 0, $"pjctl {string.Join(' ', arguments)}: {result}");
        return result;
    }

    public TestProcess.Result Exec(string host, params string[] command) => Run(["devcluster", "exec", host, "--", .. command]);

    /// <summary>A state directory under /tmp with a short random name.</summary>
    public static string NewRoot() => Path.Combine(Path.GetTempPath(), $"pjdc-{Guid.NewGuid().ToString("N")[..8]}");

    public static void RequireMachine()
    {
        Prerequisites.RequireFuse();
        foreach (var tool in new[] { "ip", "nsenter", "unshare", "ping" })
            Prerequisites.RequireCommand(tool);
    }
}
