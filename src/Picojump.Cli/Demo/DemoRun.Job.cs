using System.Diagnostics;
using Picojump.Cli.Control;
using Picojump.Cli.Infrastructure;
using Picojump.Cli.Jobs;
using Picojump.Protos.Jobs;

namespace Picojump.Cli.Demo;

// The job: started on h1 with `pjctl run` (as a user would), then followed through the
// control sockets of the hosts (where it runs, its moves, where its bytes go) until it ends.
public sealed partial class DemoRun
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(500);

    /// <summary>The locality shown: short, so that a move shows within seconds.</summary>
    private const uint LocalityWindowSeconds = 5;

    private sealed record JobOutcome(IReadOnlyList<Move> Moves, IReadOnlyDictionary<string, string> Checksums);

    /// <summary>A host's control socket, reached from outside the hosts through its run/ directory.</summary>
    private string SocketOf(string host) => Path.Combine(_cluster.ResolveHost(host).Run, "control.sock");

    private JobOutcome FollowJob(Scenario scenario, Stopwatch clock)
    {
        var id = StartJob(scenario, JobCommand(scenario.CopiesFirst ? CopyOf : DataDirectory));
        using var jobs = new JobClient(SocketOf("h1"));
        JobInfo? job = null;
        JobOutput? output = null;
        var view = DemoView.Create(_out, interactive: !options.Json && !Console.IsOutputRedirected);
        try
        {
            while (true)
            {
                Stopping.ThrowIfCancellationRequested();
                job = jobs.Ps().Jobs.FirstOrDefault(j => j.Id == id) ?? job ?? throw new CliException($"no host lists the demo job {id}");
                // Its stdout stays where it was created, in h1's export, wherever the job runs.
                output ??= new JobOutput(InExport("h1", Path.Combine(job.Directory, "stdout")));
                output.Read();
                var running = job.State == JobState.Running;
                view.Show(new JobSample(clock.Elapsed, job.Host, output.Progress, running ? Locality(job) : [], Moves(job)));
                if (!running)
                    break;
                Stopping.WaitHandle.WaitOne(PollInterval);
            }
        }
        finally
        {
            view.End();
        }
        if (job.State != JobState.Exited || job.ExitCode != 0)
        {
            var stderr = InExport("h1", Path.Combine(job.Directory, "stderr"));
            var said = File.Exists(stderr) ? File.ReadLines(stderr).LastOrDefault(l => l.Trim().Length > 0) : null;
            throw new CliException($"the demo job {id} on {job.Host} ended: {(job.HasExitCode ? JobCommands.Describe(job) : job.State.ToString())}{(said == null ? "" : $" ({said.Trim()})")}");
        }
        return new JobOutcome(Moves(job), output!.Checksums);
    }

    /// <summary>`pjctl --host h1 run`, with --pin for the runs that must stay on h1.</summary>
    private string StartJob(Scenario scenario, string[] command)
    {
        string[] pin = scenario.Pinned ? ["--pin"] : [];
        var printed = ExternalCommand.Check([.. HostRedirect.Self(), "--root", layout.Root, "--host", "h1", "run", "--name", $"demo-{scenario.Key}", .. pin, "--", .. command],
            TimeSpan.FromSeconds(60));
        return printed.Trim();
    }

    private static List<Move> Moves(JobInfo job)
        => [.. job.Migrations.Select(m => new Move(m.FromHost, m.ToHost,
            TimeSpan.FromMilliseconds(m.StartedUnixMs - job.StartedUnixMs), TimeSpan.FromMicroseconds(m.FreezeMicros)))];

    /// <summary>
    /// The share of the job's bytes per owner host over the last few seconds, from the daemon
    /// of the host it runs on; empty while that host has not counted any (or the job is moving).
    /// </summary>
    private List<HostShare> Locality(JobInfo job)
    {
        Protos.Control.StatusReply status;
        try
        {
            status = ControlClient.Status(SocketOf(job.Host), LocalityWindowSeconds);
        }
        catch (CliException)
        {
            return []; // a host busy restoring the job may not answer in time: the next poll will
        }
        // The accounting names a job by its PID namespace, labelled with its init's pid as the host sees it.
        var access = status.Jobs.FirstOrDefault(j => j.Label.Contains($"(pid {job.Pid},", StringComparison.Ordinal));
        if (access == null)
            return [];
        var bytes = access.Window.Select(o => (o.OwnerHost, Bytes: o.BytesRead + o.BytesWritten)).Where(o => o.Bytes > 0).ToList();
        var total = (double)bytes.Sum(o => o.Bytes);
        return [.. bytes.OrderByDescending(o => o.Bytes).Select(o => new HostShare(o.OwnerHost, o.Bytes / total, o.OwnerHost == job.Host))];
    }
}
