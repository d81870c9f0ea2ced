using System.Diagnostics;
using Picojump.Fs.Accounting;
using Picojump.Tests.Infrastructure;

namespace Picojump.Tests.Accounting;

/// <summary>Jobs of real processes: a PID namespace, else a session; gone or kernel pids are unknown.</summary>
public sealed class JobResolverTests : IDisposable
{
    private readonly List<Process> _processes = [];

    [SkippableFact]
    public void A_pid_namespace_and_a_session_are_different_stable_jobs()
    {
        Prerequisites.RequireRoot();
        Prerequisites.RequireCommand("unshare");
        Prerequisites.RequireCommand("setsid");
        var unshare = Start("unshare", "--pid", "--fork", "sleep", "30");
        var contained = ChildOf(unshare.Id);
        var session = Start("setsid", "sleep", "30"); // no fork: the test's child leads no process group
        WaitForExec(session.Id);
        var resolver = new JobResolver();

        var inNamespace = resolver.Resolve(contained);
        var inSession = resolver.Resolve(session.Id);

        Assert.StartsWith("pidns:", inNamespace.Key, StringComparison.Ordinal);
        Assert.Equal($"sleep (pid {contained}, pidns {inNamespace.Key["pidns:".Length..]})", inNamespace.Label);
        Assert.Equal($"session:{session.Id}", inSession.Key);
        Assert.Equal($"sleep (session {session.Id})", inSession.Label);
        Assert.Equal(inNamespace, new JobResolver().Resolve(contained));
        Assert.Equal(inSession, new JobResolver().Resolve(session.Id));
        // unshare itself stays in the test's namespace and session.
        Assert.Equal(resolver.Resolve(Environment.ProcessId), resolver.Resolve(unshare.Id));
    }

    [SkippableFact]
    public void A_child_in_a_session_is_that_sessions_job()
    {
        // A session of its own: the test runner's may be led from outside this PID namespace (session 0).
        Prerequisites.RequireCommand("setsid");
        Prerequisites.RequireCommand("sh");
        var leader = Start("setsid", "sh", "-c", "sleep 30 & wait");
        var child = ChildOf(leader.Id);
        var resolver = new JobResolver();

        var job = resolver.Resolve(leader.Id);

        Assert.Equal($"session:{leader.Id}", job.Key);
        Assert.Equal($"sh (session {leader.Id})", job.Label);
        Assert.Equal(job, resolver.Resolve(child));
    }

    [Fact]
    public void Pid_zero_and_pids_that_do_not_exist_are_unknown()
    {
        var resolver = new JobResolver();

        Assert.Equal(JobId.Unknown, resolver.Resolve(0));
        Assert.Equal(JobId.Unknown, resolver.Resolve(int.MaxValue)); // above any pid_max
    }

    [SkippableFact]
    public void A_reused_pid_is_looked_up_again_once_its_entry_expires()
    {
        Prerequisites.RequireCommand("setsid");
        var clock = new ManualClock();
        var resolver = new JobResolver(clock);
        var session = Start("setsid", "sleep", "30");
        WaitForExec(session.Id);
        Assert.Equal($"session:{session.Id}", resolver.Resolve(session.Id).Key);

        session.Kill();
        session.WaitForExit();
        Assert.Equal($"session:{session.Id}", resolver.Resolve(session.Id).Key); // cached
        clock.Advance(JobResolver.CacheTime);

        Assert.Equal(JobId.Unknown, resolver.Resolve(session.Id));
    }

    public void Dispose()
    {
        foreach (var process in _processes)
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
            }
            process.Dispose();
        }
    }

    private Process Start(string file, params string[] arguments)
    {
        var info = new ProcessStartInfo(file) { UseShellExecute = false };
        foreach (var argument in arguments)
            info.ArgumentList.Add(argument);
        var process = Process.Start(info)!;
        _processes.Add(process);
        return process;
    }

    /// <summary>The first child of PID (unshare --fork's, or a shell's), once it runs sleep.</summary>
    private static int ChildOf(int pid)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            var children = File.ReadAllText($"/proc/{pid}/task/{pid}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (children.Length > 0)
            {
                var child = int.Parse(children[0], System.Globalization.CultureInfo.InvariantCulture);
                WaitForExec(child);
                return child;
            }
            Thread.Sleep(20);
        }
        throw new TimeoutException($"pid {pid} forked nothing within 10 s");
    }

    /// <summary>Until the process runs sleep: the labels name the program, which is setsid or unshare before the exec.</summary>
    private static void WaitForExec(int pid)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (File.ReadAllText($"/proc/{pid}/comm") != "sleep\n")
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"pid {pid} did not exec sleep within 10 s");
            Thread.Sleep(20);
        }
    }
}
