using System.Diagnostics;
using Picojump.Fs.Accounting;
using Picojump.Tests.Infrastructure;

namespace Picojump.Tests.Accounting;

/// <summary>Per-job, per-owner sums, the sliding window and idle expiry, on a clock the test moves.</summary>
public sealed class AccessAccountingTests
{
    private static readonly JobId Build = new("session:100", "make (session 100)");
    private static readonly JobId Query = new("pidns:4026532201", "sqlite3 (pid 4242, pidns 4026532201)");

    private readonly ManualClock _clock = new();
    private readonly AccessAccounting _accounting;

    public AccessAccountingTests() => _accounting = new AccessAccounting(new JobResolver(_clock), _clock);

    [Fact]
    public void Totals_sum_per_job_and_owner_and_average_only_remote_latency()
    {
        _accounting.Record(Build, "h1", 4096, 0, TimeSpan.Zero);
        _accounting.Record(Build, "h2", 1000, 0, TimeSpan.FromMilliseconds(2));
        _clock.Advance(TimeSpan.FromSeconds(1));
        _accounting.Record(Build, "h2", 0, 500, TimeSpan.FromMilliseconds(6));
        _accounting.Record(Query, "h2", 10, 20, TimeSpan.Zero);

        var jobs = _accounting.Snapshot(TimeSpan.FromSeconds(60)).Jobs;

        Assert.Equal([Query.Key, Build.Key], jobs.Select(j => j.JobKey)); // by key
        var build = jobs[1];
        Assert.Equal(Build.Label, build.Label);
        Assert.Equal(["h1", "h2"], build.Totals.Select(o => o.OwnerHost));
        var h1 = build.Totals[0];
        Assert.Equal((1L, 4096L, 0L, 0L), (h1.Ops, h1.BytesRead, h1.BytesWritten, h1.RemoteOps));
        var h2 = build.Totals[1];
        Assert.Equal((2L, 1000L, 500L, 2L), (h2.Ops, h2.BytesRead, h2.BytesWritten, h2.RemoteOps));
        Assert.Equal(TimeSpan.FromMilliseconds(4), h2.RemoteLatencyAverage);
        Assert.Equal(TimeSpan.FromMilliseconds(6), h2.RemoteLatencyMax);
        Assert.Equal(h2.FirstSeen + TimeSpan.FromSeconds(1), h2.LastSeen);
        Assert.Equal(build.Totals, build.Window); // everything happened within the window
        Assert.Equal(TimeSpan.Zero, jobs[0].Totals[0].RemoteLatencyAverage);
    }

    [Fact]
    public void The_window_keeps_only_the_last_seconds_while_totals_keep_everything()
    {
        _accounting.Record(Build, "h2", 100, 0, TimeSpan.FromMilliseconds(1));
        _clock.Advance(TimeSpan.FromSeconds(30));
        _accounting.Record(Build, "h2", 10, 0, TimeSpan.FromMilliseconds(1));
        _accounting.Record(Build, "h3", 1, 0, TimeSpan.FromMilliseconds(1));

        Assert.Equal(110, Window(60, "h2")!.BytesRead);
        Assert.Equal(10, Window(10, "h2")!.BytesRead);

        _clock.Advance(TimeSpan.FromSeconds(40)); // the first read is 70 s old, the others 40 s
        Assert.Equal(10, Window(60, "h2")!.BytesRead);
        Assert.Null(Window(30, "h2"));

        _clock.Advance(TimeSpan.FromSeconds(30)); // a ring slot is reused only by a later second
        _accounting.Record(Build, "h2", 7, 0, TimeSpan.Zero);
        Assert.Equal(7, Window(60, "h2")!.BytesRead);
        Assert.Null(Window(60, "h3"));
        var totals = _accounting.Snapshot(TimeSpan.FromSeconds(60)).Jobs.Single().Totals;
        Assert.Equal([117L, 1L], totals.Select(o => o.BytesRead));
    }

    [Fact]
    public void Windows_are_whole_seconds_from_one_to_sixty()
    {
        Assert.Equal(TimeSpan.FromSeconds(60), _accounting.Snapshot(TimeSpan.FromHours(1)).Window);
        Assert.Equal(TimeSpan.FromSeconds(1), _accounting.Snapshot(TimeSpan.Zero).Window);
        Assert.Equal(TimeSpan.FromSeconds(3), _accounting.Snapshot(TimeSpan.FromSeconds(2.5)).Window);
    }

    [Fact]
    public void Jobs_idle_for_ten_minutes_are_dropped()
    {
        _accounting.Record(Build, "h1", 1, 0, TimeSpan.Zero);
        _clock.Advance(TimeSpan.FromMinutes(9));
        _accounting.Record(Query, "h1", 1, 0, TimeSpan.Zero);
        _clock.Advance(TimeSpan.FromMinutes(2));

        Assert.Equal([Query.Key], _accounting.Snapshot(TimeSpan.FromSeconds(60)).Jobs.Select(j => j.JobKey));
    }

    [Fact]
    public void Concurrent_records_from_many_threads_sum_exactly()
    {
        const int Threads = 8;
        const int PerThread = 50_000;
        var accounting = new AccessAccounting();
        var start = new Barrier(Threads);
        var workers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            var job = t % 2 == 0 ? Build : Query;
            start.SignalAndWait();
            for (var i = 0; i < PerThread; i++)
                accounting.Record(job, i % 3 == 0 ? "h1" : "h2", 3, 1, i % 2 == 0 ? TimeSpan.Zero : TimeSpan.FromTicks(10));
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());

        var jobs = accounting.Snapshot(TimeSpan.FromSeconds(60)).Jobs;
        Assert.Equal(2, jobs.Count);
        var all = jobs.SelectMany(j => j.Totals).ToList();
        Assert.Equal(Threads * PerThread, all.Sum(o => o.Ops));
        Assert.Equal(3L * Threads * PerThread, all.Sum(o => o.BytesRead));
        Assert.Equal(Threads * PerThread, all.Sum(o => o.BytesWritten));
        Assert.Equal(Threads * PerThread / 2, all.Sum(o => o.RemoteOps));
        Assert.Equal(Threads / 2 * ((PerThread + 2) / 3), jobs[0].Totals.Single(o => o.OwnerHost == "h1").Ops);
    }

    [SkippableFact]
    public void A_pid_is_counted_under_its_job()
    {
        // A session of its own: the test runner's may be led from outside this PID namespace (session 0).
        Prerequisites.RequireCommand("setsid");
        using var sleeper = Process.Start("setsid", ["sleep", "30"]);
        try
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (File.ReadAllText($"/proc/{sleeper.Id}/comm") != "sleep\n" && DateTime.UtcNow < deadline)
                Thread.Sleep(20); // setsid has made its session once it runs sleep
            var accounting = new AccessAccounting(new JobResolver(_clock), _clock);

            accounting.Record(sleeper.Id, "h1", 5, 0, TimeSpan.Zero);
            accounting.Record(0, "h1", 7, 0, TimeSpan.Zero);

            var jobs = accounting.Snapshot(TimeSpan.FromSeconds(60)).Jobs;
            Assert.Equal(5, jobs.Single(j => j.JobKey == $"session:{sleeper.Id}").Totals.Single().BytesRead);
            Assert.Equal(7, jobs.Single(j => j.JobKey == JobId.Unknown.Key).Totals.Single().BytesRead);
        }
        finally
        {
            sleeper.Kill();
            sleeper.WaitForExit();
        }
    }

    private OwnerAccess? Window(int seconds, string owner)
        => _accounting.Snapshot(TimeSpan.FromSeconds(seconds)).Jobs.Single().Window.SingleOrDefault(o => o.OwnerHost == owner);
}
