using System.Diagnostics;
using Picojump.Tests.Infrastructure;

namespace Picojump.Tests.Host;

/// <summary>picojumpd started the way the dev cluster and systemd start it.</summary>
public sealed class DaemonStartTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pjd-start-").FullName;
    private Process? _daemon;

    /// <summary>
    /// The host builder used to watch its content root (the working directory) recursively,
    /// which walked into the daemon's own mount before the FUSE readers ran, and hung there.
    /// </summary>
    [SkippableFact]
    public void Serves_when_started_in_a_directory_above_its_mountpoint()
    {
        Prerequisites.RequireFuse();
        var export = Directory.CreateDirectory(Path.Combine(_dir, "export")).FullName;
        var mountpoint = Directory.CreateDirectory(Path.Combine(_dir, "mnt")).FullName;
        var info = new ProcessStartInfo(TestProcess.Dotnet) { WorkingDirectory = _dir, UseShellExecute = false, RedirectStandardOutput = true };
        foreach (var argument in new[] { Path.Combine(AppContext.BaseDirectory, "picojumpd.dll"), "--export", export, "--mountpoint", mountpoint })
            info.ArgumentList.Add(argument);
        _daemon = Process.Start(info)!;

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!File.ReadAllText("/proc/self/mountinfo").Contains($" {mountpoint} ", StringComparison.Ordinal))
        {
            Assert.False(_daemon.HasExited, "picojumpd exited before mounting");
            Assert.True(DateTime.UtcNow < deadline, "picojumpd did not mount within 30 s");
            Thread.Sleep(100);
        }
        // In a child with a time limit: a stat of a mount nobody serves never returns.
        var stat = TestProcess.Run("stat", ["-c", "%m", mountpoint], TimeSpan.FromSeconds(15));
        Assert.True(stat.ExitCode == 0, stat.ToString());
    }

    public void Dispose()
    {
        if (_daemon is { HasExited: false })
        {
            _daemon.Kill();
            _daemon.WaitForExit();
        }
        _daemon?.Dispose();
        TestProcess.Run("umount", ["--lazy", Path.Combine(_dir, "mnt")], TimeSpan.FromSeconds(10));
        Directory.Delete(_dir, recursive: true);
    }
}
