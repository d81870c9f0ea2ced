using Picojump.Tests.Infrastructure;

namespace Picojump.Tests.Control;

/// <summary>`pjctl status` from the test output directory, as a process, optionally as another user.</summary>
public static class PjctlStatus
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    public static TestProcess.Result Run(params string[] arguments)
        => TestProcess.Run(TestProcess.Dotnet, [Pjctl, "status", .. arguments], Timeout);

    /// <summary>As nobody (uid and gid 65534, no supplementary groups).</summary>
    public static TestProcess.Result RunAsNobody(params string[] arguments)
        => TestProcess.Run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", TestProcess.Dotnet, Pjctl, "status", .. arguments], Timeout);

    private static string Pjctl => Path.Combine(AppContext.BaseDirectory, "pjctl.dll");
}
