using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Picojump.Tests.DevCluster;
using Picojump.Tests.Migrate;
using Picojump.Tests.Union;
using Xunit.Abstractions;

namespace Picojump.Tests.Hybrid;

/// <summary>
/// `pjctl migrate --mode hybrid` (post-copy) on a 3-host dev cluster with real, unmodified
/// programs: the job resumes at the destination before its memory is there; its pages come
/// from the destination's page store by hash, the rest from the source's frozen copy.
/// </summary>
public sealed class HybridTests(DevClusterFixture fixture, ITestOutputHelper output) : IClassFixture<DevClusterFixture>
{
    /// <summary>argv: go1 go2 MiB seed. Builds MiB of SHAKE-256(seed) in a bytearray (private anonymous memory), prints "built"; at go1 flips the first byte of each page of the first tenth, prints "changed"; at go2 prints the sha256.</summary>
    private const string StateProgram = """
        import hashlib, os, sys, time
        n = int(sys.argv[3]) << 20
        state = bytearray(hashlib.shake_256(sys.argv[4].encode()).digest(n))
        print("built", flush=True)
        def wait(path):
            while not os.path.exists(path):
                time.sleep(0.05)
        wait(sys.argv[1])
        for offset in range(0, n // 10, 4096):
            state[offset] ^= 0xFF
        print("changed", flush=True)
        wait(sys.argv[2])
        print("sum", hashlib.sha256(state).hexdigest(), flush=True)
        """;

    private readonly MigrateCluster _cluster = new(fixture);

    /// <summary>The destination's log line when its store holds little of the arriving job, and when it holds enough.</summary>
    private const string NoWait = "of a sample of the job's memory: the background fill does not wait for the hashes";

    private const string Wait = "of a sample of the job's memory: the background fill waits up to";

    /// <summary>Lines of the host's daemon log that contain <paramref name="text"/>.</summary>
    private int LogLines(string host, string text)
        => File.ReadLines(Path.Combine(fixture.HostDirectory(host), "log")).Count(line => line.Contains(text, StringComparison.Ordinal));

    [SkippableFact]
    public void A_python_job_with_256_MiB_moves_hybrid_with_a_short_freeze_ends_with_the_same_checksum_and_its_trip_back_fetches_only_what_changed()
    {
        _cluster.EnsureUp();
        var (dir, id, stdout, seed) = StartStateJob("h1", "hstate", 256);
        var notWaiting = LogLines("h2", NoWait);

        var there = MigrateHybrid("h1", id, "h2");
        Report("h1 -> h2", there);
        Assert.Equal("hybrid", there.GetProperty("mode").GetString());
        var lazy = MigrateCluster.Long(there, "pagesTotal");
        Assert.True(lazy >= 256 << 8, $"{lazy} lazy pages");
        // Downtime does not grow with the memory: no page is copied while the job is frozen, so
        // the job runs again well before its 256 MiB have arrived. Compared with the time to
        // residency rather than a fixed bound: a loaded machine stretches both alike.
        var freeze = MigrateCluster.Long(there, "freezeMicros");
        var resident = MigrateCluster.Long(there, "residentMicros");
        Assert.True(freeze < resident, $"freeze {freeze} us, every page resident {resident} us after the resume");
        Assert.True(freeze < 5_000_000, $"freeze {freeze} us");
        Assert.Equal(lazy, MigrateCluster.Long(there, "pagesFromStore") + MigrateCluster.Long(there, "pagesFetched"));
        var job = _cluster.Job("h3", id);
        Assert.Equal("h2", job.GetProperty("host").GetString());
        var entry = job.GetProperty("migrations").EnumerateArray().Last();
        Assert.Equal("hybrid", entry.GetProperty("mode").GetString());
        Assert.True(MigrateCluster.Long(entry, "residentMicros") > 0, $"{entry}");
        // h2's store holds none of this job: CRIU's background fill must not wait for the
        // hashes, holding up the job's faults queued behind it.
        Assert.Equal(notWaiting + 1, LogLines("h2", NoWait));

        _cluster.Union.ShOk("h2", $"touch {dir}/go1");
        _cluster.WaitForLine(stdout, "changed");

        var waiting = LogLines("h1", Wait);
        var back = MigrateHybrid("h2", id, "h1");
        // h1's store holds most of it: the fill waits for the hashes and takes those pages from the store.
        Assert.Equal(waiting + 1, LogLines("h1", Wait));
        Report("h2 -> h1", back);
        // h1's store kept the pages that left it: only about the tenth the job changed is fetched back.
        var fetched = MigrateCluster.Long(back, "pagesFetched");
        var total = MigrateCluster.Long(back, "pagesTotal");
        Assert.True(fetched <= total * 0.15, $"{fetched} of {total} pages fetched from h2");
        Assert.True(MigrateCluster.Long(back, "pagesFromStore") >= total * 0.8, $"{MigrateCluster.Long(back, "pagesFromStore")} of {total} from h1's store");
        Assert.Equal("h1", _cluster.Job("h3", id).GetProperty("host").GetString());

        _cluster.Union.ShOk("h1", $"touch {dir}/go2");
        var wait = _cluster.Pjctl.Run(["--host", "h3", "wait", id]);
        Assert.True(wait.ExitCode == 0, $"wait: {wait}");
        Assert.Equal($"built\nchanged\nsum {ExpectedSum(256, seed)}\n", File.ReadAllText(stdout));
    }

    [SkippableFact]
    public void A_failed_restore_at_the_destination_leaves_the_job_running_on_the_source_with_its_memory_intact()
    {
        _cluster.EnsureUp();
        var (dir, id, stdout, seed) = StartStateJob("h1", "hrestorefault", 64);
        try
        {
            _cluster.Fault("h2", "restore-fails");
            var result = _cluster.Pjctl.Run(["--host", "h1", "migrate", id, "h2", "--mode", "hybrid", "--json"]);
            Assert.True(result.ExitCode == 1, $"migrate with a failing restore: {result}");
            var error = result.Error.TrimEnd('\n');
            output.WriteLine(error);
            Assert.Single(error.Split('\n'));
            Assert.Contains("fault injected", error);
            Assert.Contains("runs on h1 again", error);
            Assert.Equal("h1", JsonDocument.Parse(result.Output).RootElement.GetProperty("jobHost").GetString());
        }
        finally
        {
            _cluster.Fault("h2", null);
        }
        Assert.Equal("h1", _cluster.Job("h3", id).GetProperty("host").GetString());
        MigrateCluster.AssertOneRunningCopy($"{dir}/go1");

        _cluster.Union.ShOk("h1", $"touch {dir}/go1 {dir}/go2");
        var wait = _cluster.Pjctl.Run(["--host", "h2", "wait", id]);
        Assert.True(wait.ExitCode == 0, $"wait: {wait}");
        Assert.Equal($"built\nchanged\nsum {ExpectedSum(64, seed)}\n", File.ReadAllText(stdout));
    }

    /// <summary>After the commit the source's frozen copy holds the pages the destination lacks; a link cut while they stream in only delays them.</summary>
    [SkippableFact]
    public void A_link_cut_during_the_page_stream_after_the_commit_delays_the_job_but_it_completes_intact()
    {
        _cluster.EnsureUp();
        var (dir, id, stdout, seed) = StartStateJob("h1", "hcut", 64);
        var h1Migrations = Path.Combine(fixture.HostDirectory("h1"), "state", "migrations");
        _cluster.Fault("h1", "slow-page-stream");
        (int ExitCode, string Output, string Error) result;
        try
        {
            var migrate = Task.Run(() =>
            {
                var r = _cluster.Pjctl.Run(["--host", "h1", "migrate", id, "h2", "--mode", "hybrid", "--json"]);
                return (r.ExitCode, r.Output, r.Error);
            });
            // The source recorded the destination's answer to the commit: the job runs there, its pages streaming in.
            var committed = UnionCluster.PollUntil(TimeSpan.FromSeconds(60), () => Directory.Exists(h1Migrations)
                && Directory.EnumerateFiles(h1Migrations, "*.json").Any(f => IsCommittedHybrid(f)), TimeSpan.FromMilliseconds(20));
            Assert.True(committed != null, "the migration never committed");
            _cluster.Pjctl.Check("devcluster", "cut", "h1");
            Thread.Sleep(3000);
            _cluster.Pjctl.Check("devcluster", "heal", "h1");
            result = migrate.Result;
        }
        finally
        {
            _cluster.Pjctl.Run(["devcluster", "heal", "h1"]);
            _cluster.Fault("h1", null);
        }
        Assert.True(result.ExitCode == 0, $"migrate with a cut during the page stream: {result}");
        var reply = JsonDocument.Parse(result.Output).RootElement;
        Report("h1 -> h2, link cut 3 s", reply);
        Assert.Equal("h2", reply.GetProperty("jobHost").GetString());
        Assert.True(MigrateCluster.Long(reply, "residentMicros") > 3_000_000, "every page was in before the cut: the test proved nothing");
        _cluster.Union.WaitUntilReachable("h2", ["h1"], TimeSpan.FromSeconds(30));
        MigrateCluster.AssertOneRunningCopy($"{dir}/go1");

        _cluster.Union.ShOk("h2", $"touch {dir}/go1 {dir}/go2");
        var wait = _cluster.Pjctl.Run(["--host", "h2", "wait", id]);
        Assert.True(wait.ExitCode == 0, $"wait: {wait}");
        Assert.Equal($"built\nchanged\nsum {ExpectedSum(64, seed)}\n", File.ReadAllText(stdout));
    }

    [SkippableFact]
    public void A_bash_loop_moves_hybrid_h1_h2_h1_while_it_writes_and_its_output_has_no_gap_and_no_duplicate()
    {
        _cluster.EnsureUp();
        var dir = _cluster.NewDirectory("h1", "hloop");
        var marker = UnionCluster.UniqueName("hloop");
        var id = _cluster.Run("h1", dir, "bash", "-c", $"m={marker}; i=0; while true; do i=$((i+1)); echo $i >> {dir}/out; sleep 0.02; done");
        var outPath = _cluster.Union.Export("h1", dir[4..] + "/out");
        MigrateCluster.AssertGrows(outPath, 0, "start");

        var from = "h1";
        foreach (var to in new[] { "h2", "h1" })
        {
            var count = File.ReadAllLines(outPath).Length;
            var reply = MigrateHybrid(from, id, to);
            Report($"{from} -> {to}", reply);
            var job = _cluster.Job("h3", id);
            Assert.Equal(to, job.GetProperty("host").GetString());
            Assert.Equal(_cluster.NetNamespace(_cluster.DaemonPid(to)), _cluster.NetNamespace(job.GetProperty("pid").GetInt32()));
            MigrateCluster.AssertGrows(outPath, count, $"after the move to {to}");
            MigrateCluster.AssertOneRunningCopy(marker);
            from = to;
        }
        _cluster.Pjctl.Check("--host", "h2", "kill", id);
        Assert.Equal(137, _cluster.Pjctl.Run(["--host", "h1", "wait", id]).ExitCode);
        output.WriteLine($"{MigrateCluster.AssertNumbered(outPath)} lines, none missing, none twice");
        Assert.Empty(MigrateCluster.Copies(marker));
    }

    private (string Dir, string Id, string Stdout, string Seed) StartStateJob(string host, string what, int mebibytes)
    {
        var dir = _cluster.NewDirectory(host, what);
        var seed = UnionCluster.UniqueName("seed");
        _cluster.Union.PutInExport(host, dir[4..] + "/state.py", StateProgram);
        var id = _cluster.Run(host, dir, "python3", "state.py", $"{dir}/go1", $"{dir}/go2", mebibytes.ToString(CultureInfo.InvariantCulture), seed);
        var stdout = _cluster.Union.Export(host, $".picojump/jobs/{id}/stdout");
        _cluster.WaitForLine(stdout, "built");
        return (dir, id, stdout, seed);
    }

    private JsonElement MigrateHybrid(string from, string id, string to)
    {
        var result = _cluster.Pjctl.Run(["--host", from, "migrate", id, to, "--mode", "hybrid", "--json"]);
        Assert.True(result.ExitCode == 0, $"migrate --mode hybrid {from} -> {to}: {result}");
        return JsonDocument.Parse(result.Output).RootElement.Clone();
    }

    private static bool IsCommittedHybrid(string path)
    {
        try
        {
            var record = JsonDocument.Parse(File.ReadAllText(path)).RootElement;
            return record.GetProperty("mode").GetString() == "hybrid" && record.GetProperty("phase").GetString() == "Committed"
                && record.GetProperty("acknowledged").GetBoolean();
        }
        catch (Exception ex) when (ex is IOException or JsonException or KeyNotFoundException)
        {
            return false;
        }
    }

    private static string ExpectedSum(int mebibytes, string seed)
    {
        var state = Shake256.HashData(System.Text.Encoding.UTF8.GetBytes(seed), mebibytes << 20);
        for (var offset = 0; offset < state.Length / 10; offset += 4096)
            state[offset] ^= 0xFF;
        return Convert.ToHexStringLower(SHA256.HashData(state));
    }

    private void Report(string leg, JsonElement reply)
        => output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{leg}: freeze {MigrateCluster.Long(reply, "freezeMicros") / 1000.0:0.0} ms, every page resident {MigrateCluster.Long(reply, "residentMicros") / 1000.0:0.0} ms after the resume, "
            + $"total {MigrateCluster.Long(reply, "totalMicros") / 1000.0:0.0} ms, {MigrateCluster.Long(reply, "bytes") / (double)(1 << 20):0.00} MiB on the wire, "
            + $"{MigrateCluster.Long(reply, "pagesTotal")} lazy pages: {MigrateCluster.Long(reply, "pagesFromStore")} from the destination's store, {MigrateCluster.Long(reply, "pagesFetched")} fetched"));
}
