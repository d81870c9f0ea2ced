using System.Diagnostics;
using System.Globalization;

namespace Picojump.Migrator.Jobs;

/// <summary>
/// Starts a job so that CRIU can dump it later and so that it outlives the daemon:
/// <code>
/// picojumpd -> bash (launcher, exits at once)
///                -> unshare --pid --fork (outside the namespace; waits for its child)
///                     -> bash (init wrapper: PID 1 and session leader) -> COMMAND
/// </code>
/// The launcher runs the unshare in the background and exits, so the job is no child of the
/// daemon (its parent is the unshare, which the system's init or a subreaper inherits). Every
/// inherited descriptor but stdio is closed before unshare, and the init wrapper opens its
/// own stdio (/dev/null and the files under /pj) after the namespace exists: every descriptor
/// of the job is one it opened in the host's mount namespace. No mount namespace is made
/// (not even for --mount-proc), so a restore needs no mounts of its own. The wrapper stays
/// as PID 1 and writes the command's status to the job's `exit` file under /pj: it
/// survives a daemon restart and will travel with the job. It starts the command only once
/// the daemon lets it (a line or the end of its stdin, a pipe from the daemon): until the
/// daemon knows the job's PID namespace, the job's locks would not be the job's.
/// </summary>
internal sealed class JobLauncher
{
    /// <summary>
    /// $1 the job directory, $2 the init wrapper's script, $3 bash, $4 unshare, $5 setsid, then
    /// the umask, the working directory and the command. Prints the pid of unshare. The job
    /// keeps the launcher's stdin (explicitly: a background command's would be /dev/null).
    /// </summary>
    private const string Launcher = """
        dir=$1 wrapper=$2 bash=$3 unshare=$4 setsid=$5; shift 5
        (
          for fd in /proc/$BASHPID/fd/*; do
            fd=${fd##*/}
            if [ "$fd" -gt 2 ]; then exec {fd}>&-; fi
          done
          cd / && exec "$unshare" --pid --fork "$setsid" "$bash" -c "$wrapper" picojump-job "$dir" "$@" >/dev/null 2>>"$dir/launch"
        ) <&0 2>/dev/null &
        echo $!
        """;

    /// <summary>
    /// PID 1 of the job's namespace: its own stdio, the command as its child, then the status
    /// (as $? gives it: 128 + N for signal N). A signal from outside reaches the wrapper only
    /// as SIGKILL (it sets no handler, and the kernel shields a namespace's init).
    /// </summary>
    private const string Wrapper = """
        dir=$1 mask=$2 cwd=$3; shift 3
        umask "$mask"
        IFS= read -r go || :
        exec </dev/null >>"$dir/stdout" 2>>"$dir/stderr"
        if cd -- "$cwd"; then
          "$@"
          code=$?
        else
          code=126
        fi
        cd /
        printf '%s\n' "$code" >"$dir/exit"
        """;

    private static readonly TimeSpan LaunchTimeout = TimeSpan.FromSeconds(10);

    private readonly string _bash;
    private readonly string _unshare;
    private readonly string _setsid;

    public JobLauncher()
    {
        _bash = Find("bash");
        _unshare = Find("unshare");
        _setsid = Find("setsid");
    }

    /// <summary>Starts the job, held before its command until the result is disposed.</summary>
    public LaunchedJob Launch(string directory, int umask, string workingDirectory, IReadOnlyList<string> command, IReadOnlyDictionary<string, string> environment)
    {
        var info = new ProcessStartInfo(_bash)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = "/",
        };
        foreach (var argument in (string[])["-c", Launcher, "picojump-launch", directory, Wrapper, _bash, _unshare, _setsid,
            Convert.ToString(umask & 0x1FF, 8).PadLeft(3, '0'), workingDirectory, .. command])
            info.ArgumentList.Add(argument);
        // The job's environment is the caller's; the launcher itself names its tools by path.
        info.Environment.Clear();
        foreach (var (name, value) in environment)
            info.Environment[name] = value;
        var process = Process.Start(info) ?? throw new JobException("cannot start bash", JobError.Failed);
        var launched = new LaunchedJob(process);
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        try
        {
            if (!process.WaitForExit(LaunchTimeout))
            {
                process.Kill();
                throw new JobException($"the job launcher did not finish within {LaunchTimeout.TotalSeconds:0} s", JobError.Failed);
            }
            process.WaitForExit();
            if (process.ExitCode != 0 || !int.TryParse(output.Result.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                throw new JobException($"the job launcher failed (exit {process.ExitCode}): {error.Result.Trim()}", JobError.Failed);
            launched.UnsharePid = pid;
            return launched;
        }
        catch
        {
            launched.Dispose();
            throw;
        }
    }

    private static string Find(string tool)
    {
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") + ":/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var path = Path.Combine(directory, tool);
            if (Path.IsPathFullyQualified(path) && File.Exists(path))
                return path;
        }
        throw new JobException($"{tool} is not installed (jobs need bash and util-linux's unshare and setsid)", JobError.Failed);
    }
}

/// <summary>A job just launched, whose init waits to start the command until this is disposed.</summary>
internal sealed class LaunchedJob(Process launcher) : IDisposable
{
    /// <summary>The unshare process whose child is the job's init.</summary>
    public int UnsharePid { get; set; }

    /// <summary>Lets the command start (the end of the pipe would too: a job is never held for good).</summary>
    public void Dispose()
    {
        try
        {
            launcher.StandardInput.WriteLine();
            launcher.StandardInput.Close();
        }
        catch (IOException)
        {
            // The job is gone already.
        }
        launcher.Dispose();
    }
}
