using System.Diagnostics;
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
    public void SigtermWithAFileStillOpenAbortsTheConnectionAndExits()
    {
        Prerequisites.RequireFuse();
        using var daemon = MountedDaemon.Start(passthrough: true);
        var file = Path.Combine(daemon.Mountpoint, "held");
        WriteThroughMount(file, "held open");
        // A process that keeps the file open (fd 3) across the stop.
        using var holder = Process.Start(new ProcessStartInfo("bash", ["-c", "exec 3< \"$1\" && echo open && exec sleep 60", "_", file])
        {
            RedirectStandardOutput = true,
        })!;
        try
        {
            var opened = holder.StandardOutput.ReadLineAsync();
            Assert.True(opened.Wait(IoTimeout) && opened.Result == "open", "the holder could not open the file");

            var exitCode = daemon.Stop(DaemonProcess.SIGTERM); // within the 5 s grace plus the abort

            Assert.True(exitCode == 0, $"exit code {exitCode}\n{daemon.Process.Describe()}");
            Assert.Contains("still open; aborting the FUSE connection", daemon.Process.Output, StringComparison.Ordinal);
        }
        finally
        {
            holder.Kill();
            holder.WaitForExit(10_000);
        }
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

    [Theory]
    [InlineData("--frobnicate", 2, "--frobnicate")]
    [InlineData("--export", 2, "--export")]
    [InlineData("stray-argument", 2, "stray-argument")]
    [InlineData("--config ROOT/empty.json", 1, "no export directory")]
    [InlineData("--config ROOT/empty.json --export ROOT/export", 1, "no mountpoint")]
    [InlineData("--config ROOT/missing.json", 1, "ROOT/missing.json does not exist")]
    [InlineData("--config ROOT/broken.json", 1, "not valid JSON")]
    [InlineData("--config ROOT/unknown-key.json", 1, "\"colour\" is not a known setting")]
    [InlineData("--export ROOT/export --mountpoint ROOT/export/inside", 1, "lies inside the export")]
    [InlineData("--export ROOT/export --mountpoint ROOT/no-such-dir", 1, "ROOT/no-such-dir does not exist")]
    [InlineData("--export ROOT/export --mountpoint ROOT/mnt --listen localhost", 1, "--listen must be ADDRESS:PORT")]
    [InlineData("--export ROOT/export --mountpoint ROOT/mnt --cache-size-mib 100", 1, "\"cacheSizeMiB\" (100) must be at least twice")]
    public void BadArgumentsExitNonZeroWithOneLine(string arguments, int exitCode, string expected)
    {
        // Explicit --config files throughout: the default /etc/picojump/picojumpd.json of the
        // machine must not decide what the daemon does here.
        var root = MountedDaemon.CreateRoot();
        try
        {
            File.WriteAllText(Path.Combine(root, "empty.json"), "{}");
            File.WriteAllText(Path.Combine(root, "broken.json"), "{ \"export\": ");
            File.WriteAllText(Path.Combine(root, "unknown-key.json"), "{ \"colour\": \"blue\" }");
            Directory.CreateDirectory(Path.Combine(root, "export", "inside"));

            var result = RunDaemon(root, [.. arguments.Replace("ROOT", root, StringComparison.Ordinal).Split(' ')]);

            result.AssertExitCode(exitCode);
            Assert.Contains(expected.Replace("ROOT", root, StringComparison.Ordinal), AssertOneLine(result), StringComparison.Ordinal);
            Assert.False(MountTable.IsMountPoint(MountedDaemon.MountpointOf(root)));
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
            File.WriteAllText(Path.Combine(root, "empty.json"), "{}");

            var result = RunDaemon(root, "--config", Path.Combine(root, "empty.json"), "--export", missing, "--mountpoint", MountedDaemon.MountpointOf(root));

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

            var config = MountedDaemon.WriteConfig(root);

            var result = RunDaemon(root, "--config", config, "--export", MountedDaemon.ExportOf(root), "--mountpoint", mountpoint);

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
