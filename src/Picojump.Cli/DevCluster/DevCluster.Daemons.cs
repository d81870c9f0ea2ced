using Picojump.Cli.Infrastructure;
using Picojump.Fs.Native;

namespace Picojump.Cli.DevCluster;

/// <summary>Each host's picojumpd: started detached inside the host's namespaces, killed like a crash.</summary>
public sealed partial class DevCluster
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan StatTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan KillTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Longer than picojumpd's own shutdown bound (15 s), which covers the cache's last checkpoint.</summary>
    private static readonly TimeSpan TerminateTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Starts "$@" in its own session with stdio on the log and every other inherited
    /// descriptor closed (an inherited pipe would keep pjctl's caller waiting for EOF), and
    /// prints its pid. Without job control the subshell leads no process group, so setsid
    /// does not fork and the pid printed is the daemon's. Under systemd, pjctl's own
    /// notify socket and journal stream are not the daemon's.
    /// </summary>
    private const string Launcher = """
        log=$1; shift
        (
          unset NOTIFY_SOCKET JOURNAL_STREAM
          for fd in /proc/$BASHPID/fd/*; do
            fd=${fd##*/}
            if [ "$fd" -gt 2 ]; then exec {fd}>&-; fi
          done
          cd / && exec setsid "$@" </dev/null >>"$log" 2>&1
        ) 2>/dev/null &
        echo $!
        """;

    public void Start(string name)
    {
        var host = ResolveHost(name);
        var running = RunningDaemons(host);
        if (running.Count > 0)
        {
            output.WriteLine($"{host.Name}: picojumpd is already running (pid {running[0]})");
            return;
        }
        var pid = Launch(host, RequireState().Daemon);
        WaitUntilServing([(host, pid)]);
        WaitUntilConnected();
        output.WriteLine($"{host.Name}: picojumpd started (pid {pid}), /pj is served");
    }

    /// <summary>
    /// SIGKILL, as a crash would: the host's /pj stays mounted and answers ENOTCONN. With
    /// <paramref name="graceful"/>, SIGTERM and a wait for the daemon's clean stop instead: it
    /// unmounts /pj and takes its block cache's last checkpoint (a killed daemon keeps only
    /// what its periodic checkpoints saved).
    /// </summary>
    public void Stop(string name, bool graceful = false)
    {
        var host = ResolveHost(name);
        var running = RunningDaemons(host);
        if (running.Count == 0)
        {
            output.WriteLine($"{host.Name}: picojumpd is not running");
            return;
        }
        if (graceful)
        {
            if (!Processes.TerminateAndWait(running, TerminateTimeout))
            {
                Processes.KillAndWait(running, KillTimeout);
                File.Delete(host.PidFile);
                throw new CliException($"{host.Name}: picojumpd (pid {string.Join(", ", running)}) did not stop within {TerminateTimeout.TotalSeconds:0} s of SIGTERM, so it was killed; {LogTail(host)}");
            }
            File.Delete(host.PidFile);
            output.WriteLine($"{host.Name}: picojumpd stopped (pid {string.Join(", ", running)}); /pj is unmounted until pjctl devcluster start {host.Name}");
            return;
        }
        if (!Processes.KillAndWait(running, KillTimeout))
            throw new CliException($"{host.Name}: picojumpd (pid {string.Join(", ", running)}) is still alive {KillTimeout.TotalSeconds:0} s after SIGKILL");
        File.Delete(host.PidFile);
        output.WriteLine($"{host.Name}: picojumpd killed (pid {string.Join(", ", running)}); /pj is stale until pjctl devcluster start {host.Name}");
    }

    private static int Launch(HostLayout host, IReadOnlyList<string> daemon)
    {
        List<string> command = ["nsenter", $"--net={host.NetworkNamespacePath}", $"--mount={host.MountNamespace}", "--",
            .. daemon, "--config", host.DaemonConfig];
        var printed = ExternalCommand.Check(["bash", "-c", Launcher, "bash", host.Log, .. command]);
        if (!int.TryParse(printed.Trim(), out var pid))
            throw new CliException($"{host.Name}: starting picojumpd printed '{printed.Trim()}' instead of a pid");
        File.WriteAllText(host.PidFile, $"{pid}\n");
        return pid;
    }

    /// <summary>
    /// The live daemons of the host, found by their --config argument rather than the pid
    /// file, which a crash of pjctl can leave missing or stale.
    /// </summary>
    private static List<int> RunningDaemons(HostLayout host) => Processes.WithArguments("--config", host.DaemonConfig);

    private static void WaitUntilServing(IReadOnlyList<(HostLayout Host, int Pid)> daemons)
    {
        var deadline = DateTime.UtcNow + ReadyTimeout;
        var pending = daemons.ToList();
        while (true)
        {
            foreach (var daemon in pending.ToList())
            {
                if (!Processes.IsAlive(daemon.Pid))
                    throw new CliException($"{daemon.Host.Name}: picojumpd exited before /pj was served; {LogTail(daemon.Host)}");
                if (IsServing(daemon.Host, daemon.Pid))
                    pending.Remove(daemon);
            }
            if (pending.Count == 0)
                return;
            if (DateTime.UtcNow > deadline)
                throw new CliException($"{pending[0].Host.Name}: /pj was not served within {ReadyTimeout.TotalSeconds:0} s; {LogTail(pending[0].Host)}");
            Thread.Sleep(100);
        }
    }

    /// <summary>
    /// The daemon's namespace has picojump at /pj and a statfs there is answered by FUSE.
    /// A stale mount left by a killed daemon is listed too, but fails statfs (ENOTCONN) until
    /// the new one replaces it; stat would not do, the kernel answers it from cached attributes.
    /// </summary>
    private static bool IsServing(HostLayout host, int pid)
    {
        try
        {
            if (!MountTable.Parse(File.ReadLines($"/proc/{pid}/mountinfo")).Any(m => m.Mountpoint == "/pj" && m.FsType == "fuse.picojump"))
                return false;
            var statfs = ExternalCommand.Run(["nsenter", $"--mount={host.MountNamespace}", "--", "stat", "--file-system", "--format=%T", "/pj"], StatTimeout);
            return statfs.Succeeded && statfs.Output.Trim() == "fuseblk";
        }
        catch (IOException)
        {
            return false; // the daemon exited meanwhile; the caller reports it
        }
        catch (CliException)
        {
            return false; // the stat hung: not serving yet
        }
    }

    private static string LogTail(HostLayout host)
    {
        var lines = File.Exists(host.Log) ? File.ReadLines(host.Log).TakeLast(10).ToList() : [];
        return lines.Count == 0
            ? $"{host.Log} is empty"
            : $"last lines of {host.Log}:" + string.Concat(lines.Select(l => "\n    " + l));
    }
}
