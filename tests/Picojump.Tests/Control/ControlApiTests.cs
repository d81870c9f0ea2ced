using System.Text.Json;
using Picojump.Tests.Infrastructure;

namespace Picojump.Tests.Control;

/// <summary>
/// The control API end to end: a real picojumpd, its real Unix socket, pjctl as a process.
/// (Jobs seen through the mount come once the file system feeds the accounting.)
/// </summary>
public sealed class ControlApiTests
{
    [SkippableFact]
    public void The_socket_is_root_only_and_pjctl_status_shows_this_daemon()
    {
        Prerequisites.RequireFuse();
        using var daemon = MountedDaemon.Start(passthrough: true);

        var owner = TestProcess.Run("stat", ["--format=%F %a %U", daemon.ControlSocket], TimeSpan.FromSeconds(10));
        Assert.Equal("socket 600 root\n", owner.Output);
        Assert.Equal("755", TestProcess.Run("stat", ["--format=%a", Path.GetDirectoryName(daemon.ControlSocket)!], TimeSpan.FromSeconds(10)).Output.Trim());

        var json = PjctlStatus.Run("--json", "--socket", daemon.ControlSocket);
        Assert.True(json.ExitCode == 0, json.ToString());
        var reply = JsonDocument.Parse(json.Output).RootElement;
        Assert.Equal(Environment.MachineName, reply.GetProperty("hostName").GetString());
        Assert.Equal(daemon.Mountpoint, reply.GetProperty("mountpoint").GetString());
        Assert.Equal(daemon.Export, reply.GetProperty("export").GetString());
        Assert.Equal(0, reply.GetProperty("hosts").GetArrayLength());
        Assert.Equal(60, reply.GetProperty("windowSeconds").GetInt32());

        var table = PjctlStatus.Run("--socket", daemon.ControlSocket);
        Assert.True(table.ExitCode == 0, table.ToString());
        Assert.StartsWith($"{Environment.MachineName}: {daemon.Mountpoint} serves {daemon.Export}", table.Output, StringComparison.Ordinal);
        Assert.Contains("\nHOSTS\n", table.Output, StringComparison.Ordinal);
        Assert.Contains("\nJOBS ", table.Output, StringComparison.Ordinal);
        daemon.AssertHealthy();
    }

    [SkippableFact]
    public void Nobody_but_root_may_connect()
    {
        Prerequisites.RequireFuse();
        Prerequisites.RequireCommand("setpriv");
        using var daemon = MountedDaemon.Start(passthrough: true);

        var denied = PjctlStatus.RunAsNobody("--socket", daemon.ControlSocket);

        Assert.Equal(1, denied.ExitCode);
        Assert.Equal($"pjctl: permission denied on the control socket {daemon.ControlSocket} (only root may ask picojumpd)\n", denied.Error);
    }

    [SkippableFact]
    public void A_second_daemon_on_the_same_socket_is_refused_with_one_line()
    {
        Prerequisites.RequireFuse();
        using var daemon = MountedDaemon.Start(passthrough: true);
        var other = MountedDaemon.CreateRoot();
        try
        {
            var second = TestProcess.Run(DaemonProcess.DotnetHost(),
                [DaemonProcess.DaemonDll, "--config", daemon.Config, "--export", MountedDaemon.ExportOf(other), "--mountpoint", MountedDaemon.MountpointOf(other)],
                TimeSpan.FromSeconds(30));

            Assert.Equal(1, second.ExitCode);
            Assert.Equal($"picojumpd: control socket {daemon.ControlSocket} is in use by another picojumpd\n", second.Error);
            Assert.False(MountTable.IsMountPoint(MountedDaemon.MountpointOf(other)), "a refused daemon mounts nothing");
            Assert.Equal(0, PjctlStatus.Run("--socket", daemon.ControlSocket).ExitCode);
        }
        finally
        {
            Directory.Delete(other, recursive: true);
        }
    }

    [SkippableFact]
    public void A_socket_left_by_a_killed_daemon_is_replaced_and_a_clean_stop_removes_it()
    {
        Prerequisites.RequireFuse();
        using var crashed = MountedDaemon.Start(passthrough: true);
        crashed.Kill();
        Assert.True(File.Exists(crashed.ControlSocket), "SIGKILL leaves the socket file behind");
        var stale = PjctlStatus.Run("--socket", crashed.ControlSocket);
        Assert.Equal(1, stale.ExitCode);
        Assert.Equal($"pjctl: picojumpd is not running on this host (nothing listens on the control socket at {crashed.ControlSocket})\n", stale.Error);

        using var restarted = MountedDaemon.Start(crashed.Root, passthrough: true);
        Assert.Equal(0, PjctlStatus.Run("--socket", restarted.ControlSocket).ExitCode);
        Assert.Equal(0, restarted.Stop(DaemonProcess.SIGTERM));

        Assert.False(File.Exists(restarted.ControlSocket), "a clean stop removes the socket");
    }

    [Fact]
    public void Without_a_daemon_pjctl_says_so_in_one_line()
    {
        var missing = Path.Combine(Path.GetTempPath(), $"pj-no-daemon-{Guid.NewGuid():N}", "control.sock");

        var result = PjctlStatus.Run("--socket", missing);

        Assert.Equal(1, result.ExitCode);
        Assert.Equal($"pjctl: picojumpd is not running on this host (no control socket at {missing})\n", result.Error);
        Assert.Equal("", result.Output);
        Assert.Equal(2, PjctlStatus.Run("--no-such-option").ExitCode);
    }
}
