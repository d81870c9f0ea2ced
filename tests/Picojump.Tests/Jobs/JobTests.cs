using System.Text.Json;
using System.Text.RegularExpressions;
using Picojump.Tests.DevCluster;
using Picojump.Tests.Infrastructure;
using Picojump.Tests.Union;

namespace Picojump.Tests.Jobs;

/// <summary>
/// `pjctl run`, `ps`, `logs`, `kill` and `wait` on a 3-host dev cluster, with real programs:
/// where a job runs (its own PID namespace and session, its output under /pj in the
/// export of the host that runs it), across hosts, through a crash and restart of its
/// daemon, and that CRIU can dump it.
/// </summary>
public sealed partial class JobTests(DevClusterFixture fixture) : IClassFixture<DevClusterFixture>
{
    private const string Criu = "/usr/local/sbin/criu";

    private readonly UnionCluster _cluster = new(fixture);

    private Pjctl Pjctl => fixture.Pjctl;

    [SkippableFact]
    public void A_job_runs_on_its_host_its_output_lives_in_that_export_and_wait_gives_its_status()
    {
        _cluster.EnsureUp();
        var id = Run("h1", "bash", "-c", "for i in $(seq 1 5); do echo $i; sleep 0.2; done");

        var wait = Pjctl.Run(["--host", "h1", "wait", id]);
        Assert.True(wait.ExitCode == 0, $"wait: {wait}");
        Assert.Equal("exit 0\n", wait.Output);
        Assert.Equal("1\n2\n3\n4\n5\n", Pjctl.Check("--host", "h1", "logs", id).Output);
        // Made by h1 (where it ran), in h1's export, and seen from every host under /pj.
        Assert.Equal("1\n2\n3\n4\n5\n", File.ReadAllText(_cluster.Export("h1", $".picojump/jobs/{id}/stdout")));
        Assert.Equal("0\n", File.ReadAllText(_cluster.Export("h1", $".picojump/jobs/{id}/exit")));
        Assert.False(File.Exists(_cluster.Export("h2", $".picojump/jobs/{id}/stdout")));
        Assert.Equal("1\n2\n3\n4\n5\n", _cluster.ShOk("h3", $"cat /pj/.picojump/jobs/{id}/stdout"));
        // From another host too, by a prefix of its id.
        Assert.Equal("1\n2\n3\n4\n5\n", Pjctl.Check("--host", "h2", "logs", id[..8]).Output);
        var job = Job("h3", id);
        Assert.Equal("h1", job.GetProperty("host").GetString());
        Assert.Equal("JOB_STATE_EXITED", job.GetProperty("state").GetString());
        Assert.Equal(0, job.GetProperty("exitCode").GetInt32());
    }

    [SkippableFact]
    public void A_job_is_its_own_pid_namespace_and_session_with_stdio_it_opened_itself_in_its_directory()
    {
        _cluster.EnsureUp();
        var dir = UnionCluster.UniqueName("cwd");
        _cluster.ShOk("h1", $"mkdir /pj/{dir}");
        var id = RunIn("h1", $"/pj/{dir}", "--name", "ns-check", "--", "sleep", "1000");
        try
        {
            var init = Job("h1", id).GetProperty("pid").GetInt32();
            Assert.True(init > 0);
            var daemon = DaemonPid("h1");
            var jobNamespace = new FileInfo($"/proc/{init}/ns/pid").LinkTarget;
            Assert.NotEqual(new FileInfo($"/proc/{daemon}/ns/pid").LinkTarget, jobNamespace);
            // No mount namespace of its own: CRIU restores it without mounts.
            Assert.Equal(new FileInfo($"/proc/{daemon}/ns/mnt").LinkTarget, new FileInfo($"/proc/{init}/ns/mnt").LinkTarget);
            // The init leads the session and its group; the command is in them, inside the namespace.
            Assert.Equal((init, init), SessionAndGroup(init));
            var command = UnionCluster.PollUntil(TimeSpan.FromSeconds(5), () => Children(init).Count > 0);
            Assert.True(command != null, "the command never appeared under the job's init");
            var sleep = Children(init)[0];
            Assert.Equal((init, init), SessionAndGroup(sleep));
            Assert.Equal(jobNamespace, new FileInfo($"/proc/{sleep}/ns/pid").LinkTarget);
            Assert.Equal($"/pj/{dir}", new FileInfo($"/proc/{sleep}/cwd").LinkTarget);
            // Not the daemon's child: it outlives it.
            Assert.NotEqual(daemon, ParentOf(init));
            foreach (var pid in new[] { init, sleep })
            {
                var fds = Directory.GetFileSystemEntries($"/proc/{pid}/fd").Select(fd => (Path.GetFileName(fd), new FileInfo(fd).LinkTarget)).OrderBy(f => f.Item1).ToList();
                Assert.Equal(
                    [("0", "/dev/null"), ("1", $"/pj/.picojump/jobs/{id}/stdout"), ("2", $"/pj/.picojump/jobs/{id}/stderr")],
                    fds);
            }
        }
        finally
        {
            Pjctl.Run(["--host", "h1", "kill", id]);
        }
        var wait = Pjctl.Run(["--host", "h1", "wait", "ns-check"]);
        Assert.Equal(137, wait.ExitCode);
    }

    [SkippableFact]
    public void A_job_started_for_another_host_runs_there_is_listed_everywhere_and_is_killed_from_a_third()
    {
        _cluster.EnsureUp();
        var name = UnionCluster.UniqueName("remote");
        var id = Pjctl.Check("--host", "h1", "run", "--on", "h2", "--name", name, "--", "bash", "-c", "echo hello; exec sleep 1000").Output.Trim();
        Assert.Matches(JobId(), id);

        var listed = Job("h3", id);
        Assert.Equal("h2", listed.GetProperty("host").GetString());
        Assert.Equal(name, listed.GetProperty("name").GetString());
        Assert.Equal("JOB_STATE_RUNNING", listed.GetProperty("state").GetString());
        Assert.Equal(JsonValueKind.Array, listed.GetProperty("migrations").ValueKind);
        Assert.Equal(0, listed.GetProperty("migrations").GetArrayLength());
        Assert.True(long.Parse(listed.GetProperty("rssBytes").GetString()!, System.Globalization.CultureInfo.InvariantCulture) > 0);
        Assert.Contains(name, Pjctl.Check("--host", "h3", "ps").Output);
        // h2's daemon made its directory, in h2's export.
        Assert.True(UnionCluster.PollUntil(TimeSpan.FromSeconds(5), () => File.Exists(_cluster.Export("h2", $".picojump/jobs/{id}/stdout"))
            && File.ReadAllText(_cluster.Export("h2", $".picojump/jobs/{id}/stdout")) == "hello\n") != null);
        Assert.False(Directory.Exists(_cluster.Export("h1", $".picojump/jobs/{id}")));
        // The init is an h2 process: in h2's network namespace.
        var init = listed.GetProperty("pid").GetInt32();
        Assert.Equal(new FileInfo($"/proc/{DaemonPid("h2")}/ns/net").LinkTarget, new FileInfo($"/proc/{init}/ns/net").LinkTarget);

        var kill = Pjctl.Run(["--host", "h3", "kill", name]);
        Assert.True(kill.ExitCode == 0, $"kill: {kill}");
        var wait = Pjctl.Run(["--host", "h1", "wait", id]);
        Assert.True(wait.ExitCode == 137, $"wait: {wait}");
        Assert.Contains("SIGKILL", wait.Output);
        Assert.Equal("hello\n", Pjctl.Check("--host", "h3", "logs", id).Output);
    }

    [SkippableFact]
    public void Logs_follow_prints_the_output_as_it_comes_and_ends_with_the_job()
    {
        _cluster.EnsureUp();
        var id = Pjctl.Check("--host", "h2", "run", "--on", "h3", "--", "bash", "-c", "for i in $(seq 1 10); do echo out $i; echo err $i >&2; sleep 0.2; done").Output.Trim();
        var follow = Pjctl.Run(["--host", "h2", "logs", "-f", id]);
        Assert.True(follow.ExitCode == 0, $"logs -f: {follow}");
        Assert.Equal(string.Concat(Enumerable.Range(1, 10).Select(i => $"out {i}\n")), follow.Output);
        Assert.Equal(string.Concat(Enumerable.Range(1, 10).Select(i => $"err {i}\n")), follow.Error);
        Assert.Equal("JOB_STATE_EXITED", Job("h1", id).GetProperty("state").GetString());
    }

    [SkippableFact]
    public void The_exit_code_propagates_to_wait()
    {
        _cluster.EnsureUp();
        var id = Run("h1", "bash", "-c", "echo oops >&2; exit 7");
        var wait = Pjctl.Run(["--host", "h1", "wait", id]);
        Assert.True(wait.ExitCode == 7, $"wait: {wait}");
        Assert.Equal("exit 7\n", wait.Output);
        var logs = Pjctl.Check("--host", "h1", "logs", id);
        Assert.Equal("", logs.Output);
        Assert.Equal("oops\n", logs.Error);
    }

    [SkippableFact]
    public void Bad_input_is_one_line_and_the_right_exit_code()
    {
        _cluster.EnsureUp();
        foreach (var command in new[] { "wait", "kill", "logs" })
        {
            var unknown = Pjctl.Run(["--host", "h1", command, "0123456789ab"]);
            Assert.True(unknown.ExitCode == 1, $"{command} of an unknown job: {unknown}");
            Assert.Equal("pjctl: no job 0123456789ab on any host\n", unknown.Error);
        }
        var noCommand = Pjctl.Run(["--host", "h1", "run"]);
        Assert.True(noCommand.ExitCode == 2, $"run without a command: {noCommand}");
        Assert.Single(noCommand.Error.TrimEnd('\n').Split('\n'));
        var unknownHost = Pjctl.Run(["--host", "h1", "run", "--on", "h9", "--", "true"]);
        Assert.True(unknownHost.ExitCode == 1, $"run --on an unknown host: {unknownHost}");
        Assert.Contains("unknown host h9", unknownHost.Error);
    }

    [SkippableFact]
    public void A_job_outlives_a_crash_of_its_daemon_and_the_restarted_daemon_adopts_it()
    {
        _cluster.EnsureUp();
        var trigger = UnionCluster.UniqueName("trigger");
        var id = Run("h1", "bash", "-c", $"echo started; while [ ! -e /pj/{trigger} ]; do sleep 0.2; done; exit 3");
        Assert.True(UnionCluster.PollUntil(TimeSpan.FromSeconds(5), () => File.ReadAllText(_cluster.Export("h1", $".picojump/jobs/{id}/stdout")) == "started\n") != null);
        var init = Job("h1", id).GetProperty("pid").GetInt32();
        try
        {
            Pjctl.Check("devcluster", "stop", "h1");
            Assert.True(Directory.Exists($"/proc/{init}"), "the job died with its daemon");
        }
        finally
        {
            Pjctl.Check("devcluster", "start", "h1");
        }
        _cluster.WaitUntilReachable("h2", ["h1"], TimeSpan.FromSeconds(20));
        var adopted = Job("h1", id);
        Assert.Equal("JOB_STATE_RUNNING", adopted.GetProperty("state").GetString());
        Assert.Equal(init, adopted.GetProperty("pid").GetInt32());
        Assert.Equal("JOB_STATE_RUNNING", Job("h2", id).GetProperty("state").GetString());

        _cluster.ShOk("h1", $"touch /pj/{trigger}");
        var wait = Pjctl.Run(["--host", "h2", "wait", id]);
        Assert.True(wait.ExitCode == 3, $"wait after the restart: {wait}");
        Assert.Equal("3\n", File.ReadAllText(_cluster.Export("h1", $".picojump/jobs/{id}/exit")));
    }

    /// <summary>
    /// Not a migration: proof that a job as `pjctl run` starts it is what CRIU can dump (its
    /// namespace, session and descriptors), left running afterwards.
    /// </summary>
    [SkippableFact]
    public void Criu_dumps_a_running_job()
    {
        _cluster.EnsureUp();
        Prerequisites.Require(File.Exists(Criu), $"{Criu} (./install.sh installs CRIU)");
        var dir = UnionCluster.UniqueName("criu");
        _cluster.ShOk("h1", $"mkdir /pj/{dir}");
        var id = RunIn("h1", $"/pj/{dir}", "--", "bash", "-c", "i=0; while :; do i=$((i+1)); echo $i >> counter; echo $i; sleep 0.1; done");
        try
        {
            var init = Job("h1", id).GetProperty("pid").GetInt32();
            var images = Path.Combine(fixture.Root, $"criu-{id}");
            Directory.CreateDirectory(images);
            Thread.Sleep(500);
            var dump = Pjctl.Exec("h1", Criu, "dump", "-t", init.ToString(System.Globalization.CultureInfo.InvariantCulture), "-D", images,
                "--leave-running", "-v4", "--log-file", Path.Combine(images, "dump.log"));
            var log = File.Exists(Path.Combine(images, "dump.log")) ? File.ReadAllLines(Path.Combine(images, "dump.log")) : [];
            Assert.True(dump.ExitCode == 0, $"criu dump: {dump}\n" + string.Join('\n', log.Where(l => l.Contains("Error", StringComparison.Ordinal)).Concat(log.TakeLast(15))));
            Assert.Contains(log, l => l.Contains("Dumping finished successfully", StringComparison.Ordinal));
            Assert.NotEmpty(Directory.GetFiles(images, "pages-*.img"));
            // Left running, still writing.
            var before = File.ReadAllLines(_cluster.Export("h1", $"{dir}/counter")).Length;
            Assert.True(UnionCluster.PollUntil(TimeSpan.FromSeconds(5), () => File.ReadAllLines(_cluster.Export("h1", $"{dir}/counter")).Length > before + 3) != null,
                "the job stopped writing after the dump");
            Assert.Equal("JOB_STATE_RUNNING", Job("h1", id).GetProperty("state").GetString());
        }
        finally
        {
            Pjctl.Run(["--host", "h1", "kill", id]);
        }
        Assert.Equal(137, Pjctl.Run(["--host", "h1", "wait", id]).ExitCode);
    }

    /// <summary>`pjctl --host HOST run -- COMMAND`; returns the id it printed.</summary>
    private string Run(string host, params string[] command)
    {
        var id = Pjctl.Check(["--host", host, "run", "--", .. command]).Output.Trim();
        Assert.Matches(JobId(), id);
        return id;
    }

    /// <summary>The job as `pjctl --host HOST ps --json` lists it.</summary>
    private JsonElement Job(string host, string id)
    {
        var reply = JsonDocument.Parse(Pjctl.Check("--host", host, "ps", "--json").Output).RootElement;
        var jobs = reply.GetProperty("jobs").EnumerateArray().Where(j => j.GetProperty("id").GetString() == id).ToList();
        Assert.True(jobs.Count == 1, $"ps on {host} lists job {id} {jobs.Count} times: {reply}");
        return jobs[0].Clone();
    }

    /// <summary>`pjctl run ARGS` on the host from <paramref name="directory"/> (a path under its /pj); returns the id it printed.</summary>
    private string RunIn(string host, string directory, params string[] arguments)
    {
        var id = Pjctl.Check(["devcluster", "exec", host, "--", "sh", "-c", "cd \"$1\" && shift && exec \"$@\"", "sh", directory,
            TestProcess.Dotnet, Path.Combine(AppContext.BaseDirectory, "pjctl.dll"), "run", .. arguments]).Output.Trim();
        Assert.Matches(JobId(), id);
        return id;
    }

    private int DaemonPid(string host) => int.Parse(File.ReadAllText(Path.Combine(fixture.HostDirectory(host), "pid")).Trim(), System.Globalization.CultureInfo.InvariantCulture);

    private static string[] Stat(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
    }

    /// <summary>Fields 6 and 5 of /proc/PID/stat.</summary>
    private static (int Session, int Group) SessionAndGroup(int pid)
    {
        var fields = Stat(pid);
        return (int.Parse(fields[3], System.Globalization.CultureInfo.InvariantCulture), int.Parse(fields[2], System.Globalization.CultureInfo.InvariantCulture));
    }

    private static int ParentOf(int pid) => int.Parse(Stat(pid)[1], System.Globalization.CultureInfo.InvariantCulture);

    private static List<int> Children(int pid)
        => [.. File.ReadAllText($"/proc/{pid}/task/{pid}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, System.Globalization.CultureInfo.InvariantCulture))];

    [GeneratedRegex("^[0-9a-f]{12}$")]
    private static partial Regex JobId();
}
