using System.Net.Sockets;

namespace Picojump.Tests.Infrastructure;

/// <summary>
/// picojumpd serving a fresh export at a fresh mountpoint, both below one temporary
/// directory: `dotnet picojumpd.dll --config ROOT/picojumpd.json --export ROOT/export
/// --mountpoint ROOT/mnt`, its control socket at ROOT/run/control.sock. Start returns once the mount is live; Dispose stops the daemon
/// with SIGTERM, checks that it exited 0 and unmounted, and removes the directories
/// (lazily unmounting as a last resort).
/// </summary>
public sealed class MountedDaemon : IDisposable
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(15);

    /// <summary>The daemon waits 5 s for open files, then aborts the connection for 5 s more.</summary>
    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(20);

    private readonly bool _ownsRoot;
    private bool _stopped;

    private MountedDaemon(string root, bool passthrough, bool ownsRoot, DaemonProcess process)
    {
        Root = root;
        Passthrough = passthrough;
        _ownsRoot = ownsRoot;
        Process = process;
    }

    /// <summary>The temporary directory that holds export/ and mnt/ (and the daemon's cwd).</summary>
    public string Root { get; }

    public string Export => ExportOf(Root);

    public string Mountpoint => MountpointOf(Root);

    public string ControlSocket => ControlSocketOf(Root);

    public string Config => Path.Combine(Root, "picojumpd.json");

    public bool Passthrough { get; }

    public DaemonProcess Process { get; }

    public static string ExportOf(string root) => Path.Combine(root, "export");

    public static string MountpointOf(string root) => Path.Combine(root, "mnt");

    /// <summary>Each daemon its own: the default /run/picojump/control.sock would make parallel tests collide.</summary>
    public static string ControlSocketOf(string root) => Path.Combine(root, "run", "control.sock");

    /// <summary>A config with only the control socket of <paramref name="root"/>: the machine's config must not leak in.</summary>
    public static string WriteConfig(string root)
    {
        var config = Path.Combine(root, "picojumpd.json");
        File.WriteAllText(config, $$"""{ "controlSocket": "{{ControlSocketOf(root)}}" }""");
        return config;
    }

    /// <summary>A new temporary directory with empty export/ and mnt/ in it.</summary>
    public static string CreateRoot()
    {
        var root = Directory.CreateTempSubdirectory("picojump-it-").FullName;
        Directory.CreateDirectory(ExportOf(root));
        Directory.CreateDirectory(MountpointOf(root));
        return root;
    }

    /// <summary>Starts a daemon on a new root, which it removes on Dispose.</summary>
    public static MountedDaemon Start(bool passthrough) => Start(CreateRoot(), passthrough, ownsRoot: true);

    /// <summary>
    /// Starts a daemon on an existing root (e.g. over a stale mount). The daemon runs in the
    /// root, so its mountpoint lies below its working directory, as it may in real use.
    /// </summary>
    public static MountedDaemon Start(string root, bool passthrough, bool ownsRoot = false, IReadOnlyDictionary<string, string>? environment = null)
    {
        var config = WriteConfig(root);
        List<string> arguments = ["--config", config, "--export", ExportOf(root), "--mountpoint", MountpointOf(root)];
        if (!passthrough)
            arguments.Add("--no-passthrough");
        var daemon = new MountedDaemon(root, passthrough, ownsRoot, DaemonProcess.Start(arguments, root, environment));
        try
        {
            daemon.WaitUntilServing();
            return daemon;
        }
        catch
        {
            // The start failure is the story; stopping quietly must not replace it.
            daemon._stopped = true;
            daemon.Process.Dispose();
            daemon.CleanUp();
            throw;
        }
    }

    private void WaitUntilServing()
    {
        // The kernel sends INIT once the daemon's mount(2) is done, so an answered INIT means
        // served; the mount table alone could show a stale mount left by a crash.
        if (!Process.WaitForOutput(" negotiated: ", StartTimeout))
        {
            Assert.Fail(Process.HasExited
                ? $"picojumpd exited before serving {Mountpoint}\n{Process.Describe()}"
                : $"picojumpd did not serve {Mountpoint} (no INIT answered) within {StartTimeout.TotalSeconds:F0} s\n{Process.Describe()}");
        }
        if (!MountTable.IsPicojumpMounted(Mountpoint))
            Assert.Fail($"picojumpd answered INIT but {Mountpoint} is not mounted\n{Process.Describe()}");
        var negotiated = Process.Output.Split('\n').First(l => l.Contains(" negotiated: ", StringComparison.Ordinal));
        if (negotiated.Contains("Passthrough", StringComparison.Ordinal) != Passthrough)
            Assert.Fail($"asked for passthrough={Passthrough}, but the daemon negotiated: {negotiated}\n{Process.Describe()}");
        // The control socket listens once the host has started, a moment after the mount.
        var deadline = DateTime.UtcNow + StartTimeout;
        while (!ControlSocketListens())
        {
            if (Process.HasExited || DateTime.UtcNow > deadline)
                Assert.Fail($"picojumpd serves {Mountpoint} but does not listen on {ControlSocket}\n{Process.Describe()}");
            Thread.Sleep(20);
        }
    }

    private bool ControlSocketListens()
    {
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(ControlSocket));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>
    /// Fails if the daemon is gone or logged a warning or error (a malformed request, a
    /// failed reply, a passthrough refusal) since <paramref name="outputOffset"/> (a length
    /// of <see cref="DaemonProcess.Output"/>).
    /// </summary>
    public void AssertHealthy(int outputOffset = 0)
    {
        if (Process.HasExited)
            Assert.Fail($"picojumpd died\n{Process.Describe()}");
        var output = Process.Output;
        var bad = output[Math.Min(outputOffset, output.Length)..].Split('\n')
            .Where(l => l.StartsWith("warn:", StringComparison.Ordinal) || l.StartsWith("fail:", StringComparison.Ordinal)
                || l.StartsWith("crit:", StringComparison.Ordinal))
            .ToList();
        if (bad.Count > 0)
            Assert.Fail($"picojumpd logged {bad.Count} warning(s) or error(s), first: {bad[0]}\n{Process.Describe()}");
    }

    /// <summary>Sends <paramref name="signal"/>, waits for the exit and checks the mount is gone. Returns the exit code.</summary>
    public int Stop(int signal)
    {
        _stopped = true;
        Process.Signal(signal);
        var exitCode = Process.WaitForExit(StopTimeout);
        if (exitCode == null)
            Assert.Fail($"picojumpd still runs {StopTimeout.TotalSeconds:F0} s after signal {signal}\n{Process.Describe()}");
        if (MountTable.IsPicojumpMounted(Mountpoint))
            Assert.Fail($"picojumpd exited ({exitCode}) after signal {signal} but {Mountpoint} is still mounted\n{Process.Describe()}");
        return exitCode.Value;
    }

    /// <summary>Kills the daemon with SIGKILL, leaving its mount behind as a crash would.</summary>
    public void Kill()
    {
        _stopped = true;
        Process.Signal(DaemonProcess.SIGKILL);
        if (Process.WaitForExit(StopTimeout) == null)
            Assert.Fail($"picojumpd survived SIGKILL\n{Process.Describe()}");
    }

    public void Dispose()
    {
        string? failure = null;
        try
        {
            if (!_stopped)
            {
                var exitCode = Stop(DaemonProcess.SIGTERM);
                if (exitCode != 0)
                    failure = $"picojumpd exited with {exitCode} on SIGTERM\n{Process.Describe()}";
            }
        }
        catch (Exception ex)
        {
            failure = ex.Message;
        }
        finally
        {
            Process.Dispose();
            CleanUp();
        }
        if (failure != null)
            Assert.Fail(failure);
    }

    private void CleanUp()
    {
        if (!_ownsRoot)
            return;
        // Last resort for a daemon that died or hung: never delete through a live mount.
        for (var i = 0; i < 10 && MountTable.IsMountPoint(Mountpoint); i++)
            ExternalProgram.Run("umount", ["-l", Mountpoint], timeout: TimeSpan.FromSeconds(10));
        if (!MountTable.IsMountPoint(Mountpoint))
            MountTestBase.DeleteTree(Root);
    }
}
