using System.CommandLine;
using System.Globalization;
using Picojump.Cli.Control;
using Picojump.Cli.Infrastructure;
using Picojump.Protos.Control;
using Picojump.Protos.Jobs;

namespace Picojump.Cli.Jobs;

/// <summary>`pjctl run`, `ps`, `logs`, `kill` and `wait`: jobs on any host, through this host's daemon.</summary>
public static class JobCommands
{
    private static readonly TimeSpan FollowInterval = TimeSpan.FromMilliseconds(200);

    public static IEnumerable<Command> Create()
    {
        yield return Run();
        yield return Ps();
        yield return Logs();
        yield return Kill();
        yield return Wait();
        yield return Migrate();
        foreach (var command in PolicyCommands.Create())
            yield return command;
    }

    private static Command Migrate()
    {
        var job = JobArgument();
        var host = new Argument<string>("host") { Description = "The host to move it to" };
        var mode = new Option<string>("--mode")
        {
            Description = "eager (freeze, dump, send what the destination lacks, restore) or hybrid (post-copy: resume at the destination at once, pages follow)",
            DefaultValueFactory = _ => "eager",
        };
        var json = new Option<bool>("--json") { Description = "Print the whole reply as JSON" };
        var socket = SocketOption();
        var migrate = new Command("migrate", "Move a running job to another host (only the memory pages it lacks travel)") { job, host, mode, json, socket };
        migrate.SetAction(result =>
        {
            var chosen = result.GetValue(mode);
            if (chosen is not ("eager" or "hybrid"))
            {
                Console.Error.WriteLine($"pjctl: unknown mode {chosen} (eager or hybrid)");
                return 2;
            }
            using var client = new JobClient(ControlClient.SocketPath(result.GetValue(socket)));
            var reply = client.Migrate(result.GetValue(job)!, result.GetValue(host)!, chosen == "hybrid" ? Protos.Migration.Mode.Hybrid : Protos.Migration.Mode.Eager);
            if (result.GetValue(json))
                Console.Out.WriteLine(JsonOutput.Format(reply));
            if (!reply.Moved)
            {
                Console.Error.WriteLine($"pjctl: job {reply.JobId} did not move to {reply.ToHost}: {reply.Error}");
                return 1;
            }
            if (!result.GetValue(json) && reply.Mode == "hybrid")
            {
                Console.Out.WriteLine($"moved job {reply.JobId} from {reply.FromHost} to {reply.ToHost} (hybrid)");
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"freeze {reply.FreezeMicros / 1000.0:0.0} ms, every page resident {reply.ResidentMicros / 1000.0:0.0} ms after the resume, total {reply.TotalMicros / 1000.0:0.0} ms, {reply.Bytes / (double)(1 << 20):0.00} MiB on the wire"));
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"pages: {reply.PagesTotal} lazy ({reply.ImageBytes / (double)(1 << 20):0.0} MiB), {reply.PagesFromStore} from {reply.ToHost}'s store, {reply.PagesFetched} fetched from {reply.FromHost}"));
            }
            else if (!result.GetValue(json))
            {
                Console.Out.WriteLine($"moved job {reply.JobId} from {reply.FromHost} to {reply.ToHost}");
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"freeze {reply.FreezeMicros / 1000.0:0.0} ms, total {reply.TotalMicros / 1000.0:0.0} ms, {reply.Bytes / (double)(1 << 20):0.00} MiB on the wire"));
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"pages: {reply.PagesTotal} in the dump ({reply.ImageBytes / (double)(1 << 20):0.0} MiB), {reply.PagesSent} sent, {reply.PagesFound} found at {reply.ToHost}"));
            }
            if (!result.GetValue(json) && reply.WorkingSet is { } workingSet)
                Console.Out.WriteLine(WorkingSetLine(workingSet, reply.ToHost));
            if (reply.Error.Length > 0)
            {
                Console.Error.WriteLine($"pjctl: {reply.Error}");
                return 1;
            }
            return 0;
        });
        return migrate;
    }

    /// <summary>"file working set: 8 blocks, 0 held at h2, 8 fetched (8 from h1's cache, 8.0 MiB) in 41 ms".</summary>
    private static string WorkingSetLine(Protos.Migration.WorkingSetReport report, string destination)
    {
        var sources = string.Join(", ", report.Fetched.Select(f => $"{f.Blocks} from {f.Host}'s {f.Role}"));
        var fetched = report.Fetched.Sum(f => f.Blocks);
        var bytes = report.Fetched.Sum(f => f.Bytes);
        var fetchedText = fetched > 0 ? string.Create(CultureInfo.InvariantCulture, $" ({sources}, {bytes / (double)(1 << 20):0.0} MiB)") : "";
        var stale = report.BlocksStale > 0 ? $", {report.BlocksStale} stale" : "";
        var failed = report.BlocksFailed > 0 ? $", {report.BlocksFailed} not in time" : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"file working set: {report.BlocksOffered} blocks, {report.BlocksHeld} held at {destination}, {report.BlocksLocal} local there, {fetched} fetched{fetchedText}{stale}{failed} in {report.Micros / 1000.0:0} ms");
    }

    public static Option<string?> SocketOption() => new("--socket")
    {
        Description = $"The daemon's control socket (default: \"controlSocket\" in {ControlClient.DaemonConfig}, else {ControlClient.DefaultSocket})",
    };

    public static Argument<string> JobArgument() => new("job") { Description = "The job's id, a unique prefix of it, or its name" };

    private static Command Run()
    {
        var on = new Option<string?>("--on") { Description = "The host to run it on (default: this one)" };
        var name = new Option<string?>("--name") { Description = "A name to find the job by" };
        var pin = new Option<bool>("--pin") { Description = "Pin the job to the host it starts on: the locality policy never moves it" };
        var json = new Option<bool>("--json") { Description = "Print the started job as JSON instead of its id" };
        var socket = SocketOption();
        var command = new Argument<string[]>("command") { Description = "The program and its arguments, after --", Arity = ArgumentArity.OneOrMore };
        var run = new Command("run", "Start a job (its own PID namespace and session; output under /pj/.picojump/jobs/ID/); prints its id")
        {
            on, name, pin, json, socket, command,
        };
        run.SetAction(result =>
        {
            // The caller's directory when it lies in the namespace (the same path on every host), else the namespace's root.
            var mountpoint = ControlClient.Mountpoint();
            var cwd = Environment.CurrentDirectory.TrimEnd('/');
            var workingDirectory = cwd == mountpoint || cwd.StartsWith(mountpoint + "/", StringComparison.Ordinal) ? cwd : "";
            using var client = new JobClient(ControlClient.SocketPath(result.GetValue(socket)));
            var job = client.Run(result.GetValue(on), result.GetValue(name), result.GetValue(command)!, workingDirectory, result.GetValue(pin));
            Console.Out.WriteLine(result.GetValue(json) ? JsonOutput.Format(job) : job.Id);
            return 0;
        });
        return run;
    }

    private static Command Ps()
    {
        var json = new Option<bool>("--json") { Description = "Print the whole reply as JSON" };
        var socket = SocketOption();
        var ps = new Command("ps", "List the jobs of every reachable host") { json, socket };
        ps.SetAction(result =>
        {
            using var client = new JobClient(ControlClient.SocketPath(result.GetValue(socket)));
            var reply = client.Ps();
            if (result.GetValue(json))
                Console.Out.WriteLine(JsonOutput.Format(reply));
            else
                Console.Out.Write(JobTable.Format(reply, DateTimeOffset.UtcNow));
            if (reply.UnreachableHosts.Count > 0)
                Console.Error.WriteLine($"pjctl: not listed: {string.Join(", ", reply.UnreachableHosts)} did not answer");
            return 0;
        });
        return ps;
    }

    private static Command Logs()
    {
        var job = JobArgument();
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing what the job writes until it ends" };
        var socket = SocketOption();
        var logs = new Command("logs", "Print a job's stdout and stderr (from /pj/.picojump/jobs/ID/)") { job, follow, socket };
        logs.SetAction(async (result, cancel) =>
        {
            using var client = new JobClient(ControlClient.SocketPath(result.GetValue(socket)));
            var reply = client.Ps();
            var found = Resolve(reply, result.GetValue(job)!);
            var directory = Path.Combine(reply.Mountpoint, ".picojump", "jobs", found.Id);
            using var stdout = new Tail(Path.Combine(directory, "stdout"), Console.OpenStandardOutput());
            using var stderr = new Tail(Path.Combine(directory, "stderr"), Console.OpenStandardError());
            if (!result.GetValue(follow) || found.State != JobState.Running)
            {
                stdout.Drain();
                stderr.Drain();
                return 0;
            }
            var ended = client.WaitAsync(found.Id, cancel);
            while (!ended.IsCompleted)
            {
                stdout.Drain();
                stderr.Drain();
                await Task.WhenAny(ended, Task.Delay(FollowInterval, cancel));
            }
            await ended;
            // Its last words: reopened, so that what another host wrote is seen whole (close-to-open).
            stdout.Drain(reopen: true);
            stderr.Drain(reopen: true);
            return 0;
        });
        return logs;
    }

    private static Command Kill()
    {
        var job = JobArgument();
        var signal = new Option<string>("--signal", "-s") { Description = "The signal, by name (TERM, INT, HUP, KILL...) or number", DefaultValueFactory = _ => "KILL" };
        var json = new Option<bool>("--json") { Description = "Print the job as JSON" };
        var socket = SocketOption();
        var kill = new Command("kill", "Send a signal (SIGKILL by default) to every process of a job") { job, signal, json, socket };
        kill.SetAction(result =>
        {
            var number = SignalNumber(result.GetValue(signal)!);
            using var client = new JobClient(ControlClient.SocketPath(result.GetValue(socket)));
            var killed = client.Kill(result.GetValue(job)!, number);
            Console.Out.WriteLine(result.GetValue(json) ? JsonOutput.Format(killed) : $"sent {SignalName(number)} to job {killed.Id} on {killed.Host}");
            return 0;
        });
        return kill;
    }

    private static Command Wait()
    {
        var job = JobArgument();
        var json = new Option<bool>("--json") { Description = "Print the ended job as JSON (the exit code is still the job's)" };
        var socket = SocketOption();
        var wait = new Command("wait", "Wait for a job to end; prints its status and exits with the job's exit code") { job, json, socket };
        wait.SetAction(async (result, cancel) =>
        {
            using var client = new JobClient(ControlClient.SocketPath(result.GetValue(socket)));
            var ended = await client.WaitAsync(result.GetValue(job)!, cancel);
            if (result.GetValue(json))
                Console.Out.WriteLine(JsonOutput.Format(ended));
            if (ended.State == JobState.Lost || !ended.HasExitCode)
            {
                Console.Error.WriteLine($"pjctl: job {ended.Id} on {ended.Host} ended without an exit status (its init was killed from outside)");
                return 1;
            }
            if (!result.GetValue(json))
                Console.Out.WriteLine(Describe(ended));
            return ended.ExitCode is >= 0 and <= 255 ? ended.ExitCode : 255;
        });
        return wait;
    }

    /// <summary>"exit 7", or "killed by SIGKILL (exit 137)" when that is how the command ended.</summary>
    public static string Describe(JobInfo job)
    {
        var code = job.ExitCode;
        if (code > 128 && code - 128 <= 64 && (!job.HasKillSignal || job.KillSignal == code - 128))
            return $"killed by {SignalName(code - 128)} (exit {code})";
        return $"exit {code}";
    }

    /// <summary>The job by exact id, else by unique id prefix or name, among every host's.</summary>
    public static JobInfo Resolve(PsReply reply, string reference)
    {
        var exact = reply.Jobs.FirstOrDefault(j => j.Id == reference);
        if (exact != null)
            return exact;
        var matches = reply.Jobs.Where(j => j.Id.StartsWith(reference, StringComparison.Ordinal) || j.Name == reference).ToList();
        return matches.Count switch
        {
            1 => matches[0],
            0 => throw new CliException(reply.UnreachableHosts.Count == 0
                ? $"no job {reference} on any host"
                : $"no job {reference} on any reachable host ({string.Join(", ", reply.UnreachableHosts)} did not answer)"),
            _ => throw new CliException($"{reference} names {matches.Count} jobs ({string.Join(", ", matches.Select(m => $"{m.Id} on {m.Host}"))}); give the id"),
        };
    }

    private static readonly string[] SignalNames =
        ["", "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM", "TERM"];

    public static string SignalName(int signal) => signal > 0 && signal < SignalNames.Length ? "SIG" + SignalNames[signal] : $"signal {signal}";

    public static int SignalNumber(string text)
    {
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number is >= 1 and <= 64)
            return number;
        var name = text.ToUpperInvariant();
        if (name.StartsWith("SIG", StringComparison.Ordinal))
            name = name[3..];
        var index = Array.IndexOf(SignalNames, name);
        return index > 0 ? index : throw new CliException($"unknown signal {text}");
    }
}
