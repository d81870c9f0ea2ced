namespace Picojump.Tests.Infrastructure;

/// <summary>
/// What a test needs from the machine. Outside CI a missing piece skips the test and says
/// why; under CI=true (which runs as root with everything installed) it fails the test.
/// </summary>
public static class Prerequisites
{
    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static void Require(bool present, string what)
    {
        if (present)
            return;
        if (InCi)
            Assert.Fail($"Missing prerequisite under CI=true: {what}");
        Skip.If(true, $"Missing prerequisite: {what}");
    }

    public static void RequireRoot() => Require(Environment.UserName == "root" || geteuid() == 0, "root (FUSE mounts and CRIU need it)");

    public static void RequireFuse()
    {
        RequireRoot();
        Require(File.Exists("/dev/fuse"), "/dev/fuse (modprobe fuse)");
    }

    /// <summary>An executable on PATH, e.g. sqlite3 or git (./install.sh installs them).</summary>
    public static void RequireCommand(string name) => Require(FindOnPath(name) != null, $"{name} on PATH (run ./install.sh)");

    public static string? FindOnPath(string name)
        => (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);

    [System.Runtime.InteropServices.DllImport("libc")]
    private static extern uint geteuid();
}
