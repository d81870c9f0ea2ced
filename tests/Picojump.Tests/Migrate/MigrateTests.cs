using Picojump.Tests.DevCluster;
using Picojump.Tests.Union;
using Xunit.Abstractions;

namespace Picojump.Tests.Migrate;

/// <summary>
/// `pjctl migrate` (eager) on a 3-host dev cluster with real, unmodified programs: a bash
/// loop moved around the cluster while it writes, and a python3 job with 256 MiB of state
/// whose checksum must come out as if it never moved, and whose trip back carries only what
/// it changed.
/// </summary>
public sealed class MigrateTests(DevClusterFixture fixture, ITestOutputHelper output) : IClassFixture<DevClusterFixture>
{
    private readonly MigrateCluster _cluster = new(fixture);

    [SkippableFact]
    public void A_bash_loop_moves_h1_h2_h3_h1_while_it_writes_and_its_output_has_no_gap_and_no_duplicate()
    {
        _cluster.EnsureUp();
        var dir = _cluster.NewDirectory("h1", "loop");
        var marker = UnionCluster.UniqueName("loop");
        var id = _cluster.Run("h1", dir, "bash", "-c", $"m={marker}; i=0; while true; do i=$((i+1)); echo $i >> {dir}/out; sleep 0.05; done");
        var outPath = _cluster.Union.Export("h1", dir[4..] + "/out");
        MigrateCluster.AssertGrows(outPath, 0, "start");

        var from = "h1";
        foreach (var to in new[] { "h2", "h3", "h1" })
        {
            var count = File.ReadAllLines(outPath).Length;
            var (code, reply, result) = _cluster.Migrate(from, id, to);
            Assert.True(code == 0, $"migrate {from} -> {to}: {result}");
            output.WriteLine($"{from} -> {to}: freeze {MigrateCluster.Long(reply, "freezeMicros") / 1000.0:0.0} ms, total {MigrateCluster.Long(reply, "totalMicros") / 1000.0:0.0} ms, "
                + $"{MigrateCluster.Long(reply, "bytes")} bytes, {MigrateCluster.Long(reply, "pagesSent")} of {MigrateCluster.Long(reply, "pagesTotal")} pages sent, {MigrateCluster.Long(reply, "pagesFound")} found");
            // It runs on the destination: listed there, its init in that host's network namespace, still writing.
            var job = _cluster.Job("h2", id);
            Assert.Equal(to, job.GetProperty("host").GetString());
            Assert.Equal(_cluster.NetNamespace(_cluster.DaemonPid(to)), _cluster.NetNamespace(job.GetProperty("pid").GetInt32()));
            MigrateCluster.AssertGrows(outPath, count, $"after the move to {to}");
            MigrateCluster.AssertOneRunningCopy(marker);
            from = to;
        }

        var moves = _cluster.Job("h3", id).GetProperty("migrations").EnumerateArray().ToList();
        Assert.Equal(["h1->h2", "h2->h3", "h3->h1"], moves.Select(m => $"{m.GetProperty("fromHost").GetString()}->{m.GetProperty("toHost").GetString()}"));
        Assert.All(moves, m => Assert.True(MigrateCluster.Long(m, "freezeMicros") > 0));
        Assert.Contains("3 (h3->h1", _cluster.Pjctl.Check("--host", "h2", "ps").Output);

        _cluster.Pjctl.Check("--host", "h2", "kill", id);
        Assert.Equal(137, _cluster.Pjctl.Run(["--host", "h1", "wait", id]).ExitCode);
        var lines = MigrateCluster.AssertNumbered(outPath);
        output.WriteLine($"{lines} lines, none missing, none twice");
        Assert.Empty(MigrateCluster.Copies(marker));
    }

    [SkippableFact]
    public void A_python_job_with_256_MiB_of_state_moves_mid_run_ends_with_the_same_checksum_and_its_trip_back_carries_only_what_changed()
    {
        _cluster.EnsureUp();
        var dir = _cluster.NewDirectory("h1", "state");
        _cluster.Union.PutInExport("h1", dir[4..] + "/state.py", MigrateCluster.StateProgram);
        var id = _cluster.Run("h1", dir, "python3", "state.py", $"{dir}/go1", $"{dir}/go2", "256");
        var stdout = _cluster.Union.Export("h1", $".picojump/jobs/{id}/stdout");
        _cluster.WaitForLine(stdout, "built");

        var (code, there, result) = _cluster.Migrate("h1", id, "h2");
        Assert.True(code == 0, $"migrate h1 -> h2: {result}");
        Report("h1 -> h2", there);
        _cluster.Union.ShOk("h2", $"touch {dir}/go1");
        _cluster.WaitForLine(stdout, "changed");

        var (backCode, back, backResult) = _cluster.Migrate("h1", id, "h1");
        Assert.True(backCode == 0, $"migrate h2 -> h1: {backResult}");
        Report("h2 -> h1", back);
        // h1's store kept the first leg's pages: only about the tenth the job changed travels back.
        var total = MigrateCluster.Long(back, "pagesTotal");
        var sent = MigrateCluster.Long(back, "pagesSent");
        Assert.True(sent <= total * 0.15, $"{sent} of {total} pages sent back");
        Assert.True(MigrateCluster.Long(back, "bytes") <= MigrateCluster.Long(back, "imageBytes") * 0.15);
        Assert.Equal("h1", _cluster.Job("h3", id).GetProperty("host").GetString());

        _cluster.Union.ShOk("h1", $"touch {dir}/go2");
        var wait = _cluster.Pjctl.Run(["--host", "h3", "wait", id]);
        Assert.True(wait.ExitCode == 0, $"wait: {wait}");
        Assert.Equal($"built\nchanged\nsum {MigrateCluster.ExpectedStateSum(256)}\n", File.ReadAllText(stdout));
    }

    /// <summary>Faults (a) the restore fails at the destination, (d) a bad job id: the job keeps running on the source, once, its output whole.</summary>
    [SkippableFact]
    public void A_failed_restore_at_the_destination_leaves_the_job_running_on_the_source_exactly_once()
    {
        _cluster.EnsureUp();
        var dir = _cluster.NewDirectory("h1", "restorefault");
        var marker = UnionCluster.UniqueName("rf");
        var id = _cluster.Run("h1", dir, "bash", "-c", $"m={marker}; i=0; while true; do i=$((i+1)); echo $i >> {dir}/out; sleep 0.05; done");
        var outPath = _cluster.Union.Export("h1", dir[4..] + "/out");
        MigrateCluster.AssertGrows(outPath, 0, "start");
        try
        {
            _cluster.Fault("h2", "restore-fails");
            var (code, reply, result) = _cluster.Migrate("h1", id, "h2");
            Assert.True(code == 1, $"migrate with a failing restore: {result}");
            var error = result.Error.TrimEnd('\n');
            Assert.Single(error.Split('\n'));
            Assert.Contains("fault injected", error);
            Assert.Contains("restored on h1", error);
            Assert.Equal("h1", reply.GetProperty("jobHost").GetString());
        }
        finally
        {
            _cluster.Fault("h2", null);
        }
        Assert.Equal("h1", _cluster.Job("h3", id).GetProperty("host").GetString());
        MigrateCluster.AssertGrows(outPath, File.ReadAllLines(outPath).Length, "after the aborted migration");
        MigrateCluster.AssertOneRunningCopy(marker);

        var unknown = _cluster.Pjctl.Run(["--host", "h1", "migrate", "0123456789ab", "h2"]);
        Assert.True(unknown.ExitCode == 1, $"migrate of an unknown job: {unknown}");
        Assert.Equal("pjctl: no job 0123456789ab on any host\n", unknown.Error);
        var badMode = _cluster.Pjctl.Run(["--host", "h1", "migrate", id, "h2", "--mode", "lazy"]);
        Assert.Equal(2, badMode.ExitCode);

        // A migration after the aborted one works.
        var (again, _, againResult) = _cluster.Migrate("h1", id, "h3");
        Assert.True(again == 0, $"migrate after an abort: {againResult}");
        MigrateCluster.AssertGrows(outPath, File.ReadAllLines(outPath).Length, "after the move to h3");
        MigrateCluster.AssertOneRunningCopy(marker);
        _cluster.Pjctl.Check("--host", "h1", "kill", id);
        Assert.Equal(137, _cluster.Pjctl.Run(["--host", "h1", "wait", id]).ExitCode);
        MigrateCluster.AssertNumbered(outPath);
    }

    /// <summary>Fault (d): CRIU cannot dump the job (it holds a Unix socket connected outside it); it goes on running where it was.</summary>
    [SkippableFact]
    public void A_job_that_criu_cannot_dump_keeps_running_on_its_host()
    {
        _cluster.EnsureUp();
        var dir = _cluster.NewDirectory("h1", "dumpfault");
        var marker = UnionCluster.UniqueName("df");
        var address = UnionCluster.UniqueName("pjsock");
        var server = _cluster.Run("h1", dir, "python3", "-c",
            $"import socket, time\ns = socket.socket(socket.AF_UNIX)\ns.bind('\\0{address}')\ns.listen()\nc, _ = s.accept()\ntime.sleep(100000)");
        var client = _cluster.Run("h1", dir, "python3", "-c",
            $"import socket, time\nm = '{marker}'\nfor _ in range(100):\n    try:\n        c = socket.socket(socket.AF_UNIX); c.connect('\\0{address}'); break\n    except OSError: time.sleep(0.05)\n"
            + $"i = 0\nwhile True:\n    i += 1\n    with open('{dir}/out', 'a') as f: f.write(f'{{i}}\\n')\n    time.sleep(0.05)");
        var outPath = _cluster.Union.Export("h1", dir[4..] + "/out");
        MigrateCluster.AssertGrows(outPath, 0, "start");

        var (code, _, result) = _cluster.Migrate("h1", client, "h2");
        Assert.True(code == 1, $"migrate of an undumpable job: {result}");
        Assert.Contains("criu dump failed", result.Error);
        Assert.Contains("the job kept running on h1", result.Error);
        Assert.Equal("h1", _cluster.Job("h2", client).GetProperty("host").GetString());
        MigrateCluster.AssertGrows(outPath, File.ReadAllLines(outPath).Length, "after the failed dump");
        MigrateCluster.AssertOneRunningCopy(marker);
        _cluster.Pjctl.Check("--host", "h1", "kill", client);
        _cluster.Pjctl.Check("--host", "h1", "kill", server);
        _cluster.Pjctl.Run(["--host", "h1", "wait", client]);
        MigrateCluster.AssertNumbered(outPath);
    }

    /// <summary>
    /// Faults (b) the link to the destination is cut during the transfer and (c) the
    /// destination's daemon is killed during it: the source aborts and restores the job from
    /// its own dump; its state comes out intact (the checksum of an unmigrated run).
    /// </summary>
    [SkippableFact]
    public void A_transfer_cut_or_a_destination_killed_mid_way_leaves_the_job_on_the_source_with_its_memory_intact()
    {
        _cluster.EnsureUp();
        var dir = _cluster.NewDirectory("h1", "cutfault");
        _cluster.Union.PutInExport("h1", dir[4..] + "/state.py", MigrateCluster.StateProgram);
        var id = _cluster.Run("h1", dir, "python3", "state.py", $"{dir}/go1", $"{dir}/go2", "64");
        var stdout = _cluster.Union.Export("h1", $".picojump/jobs/{id}/stdout");
        _cluster.WaitForLine(stdout, "built");
        var marker = $"{dir}/go1";
        var h2Migrations = Path.Combine(fixture.HostDirectory("h2"), "state", "migrations");
        _cluster.Fault("h1", "slow-transfer");
        try
        {
            foreach (var (fault, heal) in new (string[] Fault, string[] Heal)[]
            {
                (["devcluster", "cut", "h2"], ["devcluster", "heal", "h2"]),
                (["devcluster", "stop", "h2"], ["devcluster", "start", "h2"]),
            })
            {
                var migrate = Task.Run(() => _cluster.Migrate("h1", id, "h2"));
                // Pages are written in place as they come (into sparse images): count the blocks written.
                var receiving = UnionCluster.PollUntil(TimeSpan.FromSeconds(30), () => Directory.Exists(h2Migrations) && DiskKiB(h2Migrations) > 4096);
                Assert.True(receiving != null, "the transfer never began");
                _cluster.Pjctl.Check(fault);
                var (code, reply, result) = migrate.Result;
                _cluster.Pjctl.Check(heal);
                Assert.True(code == 1, $"migrate during {string.Join(' ', fault)}: {result}");
                Assert.Contains("restored on h1", result.Error);
                Assert.Equal("h1", reply.GetProperty("jobHost").GetString());
                output.WriteLine($"{string.Join(' ', fault)}: {result.Error.Trim()}");
                _cluster.Union.WaitUntilReachable("h1", ["h2"], TimeSpan.FromSeconds(30));
                Assert.Equal("h1", _cluster.Job("h1", id).GetProperty("host").GetString());
                MigrateCluster.AssertOneRunningCopy(marker);
            }
        }
        finally
        {
            _cluster.Fault("h1", null);
        }
        _cluster.Union.ShOk("h1", $"touch {dir}/go1 {dir}/go2");
        var wait = _cluster.Pjctl.Run(["--host", "h2", "wait", id]);
        Assert.True(wait.ExitCode == 0, $"wait: {wait}");
        Assert.Equal($"built\nchanged\nsum {MigrateCluster.ExpectedStateSum(64)}\n", File.ReadAllText(stdout));
    }

    /// <summary>The disk space used under a directory (du -sk), 0 if it cannot be told (files vanishing meanwhile).</summary>
    private static long DiskKiB(string directory)
    {
        var du = Picojump.Tests.Infrastructure.TestProcess.Run("du", ["-sk", directory], TimeSpan.FromSeconds(10));
        return du.ExitCode == 0 && long.TryParse(du.Output.Split('\t')[0], out var kib) ? kib : 0;
    }

    private void Report(string leg, System.Text.Json.JsonElement reply)
        => output.WriteLine($"{leg}: freeze {MigrateCluster.Long(reply, "freezeMicros") / 1000.0:0.0} ms, total {MigrateCluster.Long(reply, "totalMicros") / 1000.0:0.0} ms, "
            + $"{MigrateCluster.Long(reply, "bytes") / (double)(1 << 20):0.00} MiB on the wire, {MigrateCluster.Long(reply, "pagesSent")} of {MigrateCluster.Long(reply, "pagesTotal")} pages sent, "
            + $"{MigrateCluster.Long(reply, "pagesFound")} found at the destination");
}
