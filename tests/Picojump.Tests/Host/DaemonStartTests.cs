using System.Diagnostics;
using Picojump.Tests.Infrastructure;

namespace Picojump.Tests.Host;

/// <summary>picojumpd started the way the dev cluster and systemd start it.</summary>
public sealed class DaemonStartTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pjd-start-").FullName;
    private readonly List<Process> _daemons = [];

    private string Export => Path.Combine(_dir, "export");

    private string Mountpoint => Path.Combine(_dir, "mnt");

    /// <summary>
    /// The host builder used to watch its content root (the working directory) recursively,
    /// which walked into the daemon's own mount before the FUSE readers ran, and hung there.
    /// </summary>
    [SkippableFact]
    public void Serves_when_started_in_a_directory_above_its_mountpoint()
    {
        Prerequisites.RequireFuse();

        WaitUntilServed(StartDaemon());
    }

    /// <summary>
    /// Right after a crash the kernel still answers stat on the dead mount from cached
    /// attributes (here for an hour), so the new daemon must not take the mount for alive.
    /// </summary>
    [SkippableFact]
    public void Replaces_the_mount_of_a_daemon_killed_a_moment_ago()
    {
        Prerequisites.RequireFuse();
        var config = Path.Combine(_dir, "picojumpd.json");
        File.WriteAllText(config, """{ "cacheSeconds": 3600 }""");
        var crashed = StartDaemon("--config", config);
        WaitUntilServed(crashed);
        Assert.Equal(0, TestProcess.Run("stat", [Mountpoint], TimeSpan.FromSeconds(15)).ExitCode);

        crashed.Kill();
        crashed.WaitForExit();
        Assert.Equal(0, TestProcess.Run("stat", [Mountpoint], TimeSpan.FromSeconds(15)).ExitCode);

        WaitUntilServed(StartDaemon("--config", config));
    }

    private Process StartDaemon(params string[] options)
    {
        Directory.CreateDirectory(Export);
        Directory.CreateDirectory(Mountpoint);
        var info = new ProcessStartInfo(TestProcess.Dotnet) { WorkingDirectory = _dir, UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { Path.Combine(AppContext.BaseDirectory, "picojumpd.dll"), "--export", Export, "--mountpoint", Mountpoint, "--control-socket", Path.Combine(_dir, "control.sock") }.Concat(options))
            info.ArgumentList.Add(argument);
        var daemon = Process.Start(info)!;
        _daemons.Add(daemon);
        return daemon;
    }

    /// <summary>
    /// Until a statfs of the mountpoint answers for FUSE: unlike stat, statfs always reaches
    /// the daemon, and before the mount it answers for the directory's own file system.
    /// In a child with a time limit, since a call into a mount nobody serves never returns.
    /// </summary>
    private void WaitUntilServed(Process daemon)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (TestProcess.Run("stat", ["-f", "-c", "%T", Mountpoint], TimeSpan.FromSeconds(15)) is { Output: not "fuseblk\n" } statfs)
        {
            if (daemon.HasExited)
                Assert.Fail($"picojumpd exited: {daemon.StandardError.ReadToEnd().Trim()}");
            Assert.True(DateTime.UtcNow < deadline, $"{Mountpoint} not served within 30 s: {statfs.Error.Trim()}");
            Thread.Sleep(100);
        }
        Assert.False(daemon.HasExited, "picojumpd exited");
    }

    public void Dispose()
    {
        foreach (var daemon in _daemons)
        {
            if (!daemon.HasExited)
            {
                daemon.Kill();
                daemon.WaitForExit();
            }
            daemon.Dispose();
        }
        while (TestProcess.Run("umount", ["--lazy", Mountpoint], TimeSpan.FromSeconds(10)).ExitCode == 0)
        {
            // One stacked mount at a time, until none is left.
        }
        Directory.Delete(_dir, recursive: true);
    }
}
