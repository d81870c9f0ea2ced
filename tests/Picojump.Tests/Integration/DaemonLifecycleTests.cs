using Picojump.Tests.Infrastructure;

namespace Picojump.Tests.Integration;

/// <summary>
/// picojumpd as a program (issue #2, item 6): it serves until SIGINT or SIGTERM and then
/// unmounts, cleans a stale mount left by a crash, and refuses bad starts with one line.
/// </summary>
[Collection(Collection)]
public sealed class DaemonLifecycleTests
{
    public const string Collection = "daemon lifecycle";

    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan IoTimeout = TimeSpan.FromSeconds(20);

    [SkippableTheory]
    [InlineData(DaemonProcess.SIGTERM)]
    [InlineData(DaemonProcess.SIGINT)]
    public void SignalStopsTheDaemonAndUnmounts(int signal)
    {
        Prerequisites.RequireFuse();
        using var daemon = MountedDaemon.Start(passthrough: true);
        WriteThroughMount(Path.Combine(daemon.Mountpoint, "kept"), "written before the signal");

        var exitCode = daemon.Stop(signal); // also checks that the mount is gone

        Assert.True(exitCode == 0, $"exit code {exitCode} after signal {signal}\n{daemon.Process.Describe()}");
        Assert.Equal("written before the signal\n", File.ReadAllText(Path.Combine(daemon.Export, "kept")));
        Assert.Empty(Directory.EnumerateFileSystemEntries(daemon.Mountpoint)); // the bare directory again
    }

    [SkippableFact]
    public void StaleMountOfAKilledDaemonIsCleanedAtTheNextStart()
    {
        Prerequisites.RequireFuse();
        Prerequisites.RequireCommand("stat");
        using var crashed = MountedDaemon.Start(passthrough: true);
        WriteThroughMount(Path.Combine(crashed.Mountpoint, "survivor"), "still here");

        crashed.Kill();

        Assert.True(MountTable.IsPicojumpMounted(crashed.Mountpoint), "a killed daemon leaves its mount behind");
        var stale = ExternalProgram.Run("stat", [crashed.Mountpoint]);
        Assert.True(stale.ExitCode != 0 && stale.Stderr.Contains("Transport endpoint is not connected", StringComparison.Ordinal),
            $"expected ENOTCONN from the stale mount\n{stale.Describe()}");

        using var restarted = MountedDaemon.Start(crashed.Root, passthrough: true);

        Assert.Equal(["fuse.picojump"], MountTable.TypesAt(restarted.Mountpoint)); // the stale one is gone
        var read = ExternalProgram.Run("cat", [Path.Combine(restarted.Mountpoint, "survivor")], timeout: IoTimeout).AssertSuccess();
        Assert.Equal("still here\n", read.Stdout);
        Assert.Equal(0, restarted.Stop(DaemonProcess.SIGTERM));
        Assert.False(MountTable.IsMountPoint(restarted.Mountpoint), "nothing stays mounted after the clean stop");
    }

    [SkippableFact]
    public void ServesWhenTheMountpointIsBelowItsWorkingDirectory()
    {
        // Regression: the generic host's default config watcher walked the working directory
        // recursively before the mount was served, and the daemon hung on its own mount.
        Prerequisites.RequireFuse();
        using var daemon = MountedDaemon.Start(passthrough: true);
        var cwd = new DirectoryInfo($"/proc/{daemon.Process.Pid}/cwd").LinkTarget;
        Assert.True(cwd != null && daemon.Mountpoint.StartsWith(cwd + "/", StringComparison.Ordinal),
            $"the daemon's cwd {cwd} should be above {daemon.Mountpoint}");

        ExternalProgram.Run("ls", ["-la", daemon.Mountpoint], timeout: TimeSpan.FromSeconds(10)).AssertSuccess();
    }

    [SkippableFact]
    public void UnmountFromOutsideStopsTheDaemon()
    {
        Prerequisites.RequireFuse();
        Prerequisites.RequireCommand("umount");
        using var daemon = MountedDaemon.Start(passthrough: true);

        ExternalProgram.Run("umount", [daemon.Mountpoint]).AssertSuccess();

        Assert.True(daemon.Process.WaitForExit(ExitTimeout) == 0, $"expected exit 0 after an outside umount\n{daemon.Process.Describe()}");
        daemon.Stop(DaemonProcess.SIGTERM); // already gone: only checks the mount
    }

    [Fact]
    public void UnknownOptionExitsWithTwoAndOneLine()
    {
        var root = MountedDaemon.CreateRoot();
        try
        {
            var result = RunDaemon(root, "--export", MountedDaemon.ExportOf(root), "--mountpoint", MountedDaemon.MountpointOf(root), "--frobnicate");

            result.AssertExitCode(2);
            var line = AssertOneLine(result);
            Assert.Contains("--frobnicate", line, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void MissingExportExitsWithOneLineNamingIt()
    {
        var root = MountedDaemon.CreateRoot();
        var missing = Path.Combine(root, "no-such-export");
        try
        {
            var result = RunDaemon(root, "--export", missing, "--mountpoint", MountedDaemon.MountpointOf(root));

            result.AssertExitCode(1);
            Assert.Contains(missing, AssertOneLine(result), StringComparison.Ordinal);
            Assert.False(MountTable.IsMountPoint(MountedDaemon.MountpointOf(root)));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [SkippableFact]
    public void BusyMountpointExitsWithOneLineSayingBusy()
    {
        Prerequisites.RequireFuse();
        Prerequisites.RequireCommand("mount");
        var root = MountedDaemon.CreateRoot();
        var mountpoint = MountedDaemon.MountpointOf(root);
        ExternalProgram.Run("mount", ["-t", "tmpfs", "-o", "size=1m", "picojump-test-busy", mountpoint]).AssertSuccess();
        try
        {
            File.WriteAllText(Path.Combine(mountpoint, "owned-by-tmpfs"), "x");

            var result = RunDaemon(root, "--export", MountedDaemon.ExportOf(root), "--mountpoint", mountpoint);

            result.AssertExitCode(1);
            Assert.Contains("busy", AssertOneLine(result), StringComparison.Ordinal);
            Assert.Equal(["tmpfs"], MountTable.TypesAt(mountpoint)); // the other mount is left alone
            Assert.True(File.Exists(Path.Combine(mountpoint, "owned-by-tmpfs")));
        }
        finally
        {
            ExternalProgram.Run("umount", ["-l", mountpoint]);
            if (!MountTable.IsMountPoint(mountpoint))
                Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>Through a program with a deadline: a daemon that stopped answering must not hang the test.</summary>
    private static void WriteThroughMount(string path, string line)
        => ExternalProgram.Bash($"echo {ExternalProgram.Quote(line)} > {ExternalProgram.Quote(path)}", timeout: IoTimeout).AssertSuccess();

    private static ProgramResult RunDaemon(string workingDirectory, params string[] arguments)
        => ExternalProgram.Run(DaemonProcess.DotnetHost(), [DaemonProcess.DaemonDll, .. arguments], workingDirectory, ExitTimeout);

    /// <summary>A refused start says why in exactly one line on stderr, and nothing else.</summary>
    private static string AssertOneLine(ProgramResult result)
    {
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line on stderr\n{result.Describe()}");
        Assert.True(result.Stdout.Length == 0, $"expected nothing on stdout\n{result.Describe()}");
        Assert.StartsWith("picojumpd: ", lines[0], StringComparison.Ordinal);
        return lines[0];
    }
}
