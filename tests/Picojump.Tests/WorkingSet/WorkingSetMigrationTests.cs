using System.Text.Json;
using Picojump.Tests.DevCluster;
using Picojump.Tests.Migrate;
using Picojump.Tests.Union;
using Xunit.Abstractions;

namespace Picojump.Tests.WorkingSet;

/// <summary>
/// A job's file working set moves with it, on a 3-host dev cluster: a python3 job on h1 reads
/// an 8 MiB file owned by h3 (8 blocks in h1's block cache), moves to h2, and reads it again
/// there. h2 takes the blocks from the nearer holder as measured (a host whose link is shaped to
/// 5 MB/s with tc tbf is seen as slow once h2 has measured it), or from the owner when h1's
/// cache no longer has them; the job's second read is then all cache hits on h2.
/// </summary>
public sealed class WorkingSetMigrationTests(DevClusterFixture fixture, ITestOutputHelper output) : IClassFixture<DevClusterFixture>
{
    private const int Blocks = 8;

    private const string Reader = """
        import os, sys, time
        def read_all():
            n = 0
            with open(sys.argv[1], 'rb') as f:
                while True:
                    b = f.read(1 << 20)
                    if not b:
                        return n
                    n += len(b)
        print("read", read_all(), flush=True)
        while not os.path.exists(sys.argv[2]):
            time.sleep(0.05)
        print("again", read_all(), flush=True)
        """;

    private readonly MigrateCluster _cluster = new(fixture);

    [SkippableFact]
    public void Eager_the_owner_far_away_the_destination_takes_the_blocks_from_the_source_cache_and_the_job_rereads_from_its_cache()
    {
        var (dir, id) = StartReader();
        using (Shape("h3"))
        {
            WaitUntilMeasured("h2", "h3", dir, slow: true);
            WaitUntilMeasured("h2", "h1", dir, slow: false);
            var reply = MigrateOk(id, "eager");
            AssertFetched(reply, "h1", "cache");
        }
        AssertRereadHits(dir, id);

        // The destination keeps the figures in the job's history (pjctl ps --json).
        JsonElement recorded = default;
        Assert.True(UnionCluster.PollUntil(TimeSpan.FromSeconds(20), () =>
            _cluster.Job("h2", id).GetProperty("migrations").EnumerateArray().Last() is var last
            && last.TryGetProperty("workingSet", out recorded) && recorded.ValueKind == JsonValueKind.Object) != null, "no working set in the job's migration history");
        Assert.Equal(Blocks, MigrateCluster.Long(recorded, "blocksOffered"));
        Assert.Equal("h1", recorded.GetProperty("fetched")[0].GetProperty("host").GetString());
    }

    [SkippableFact]
    public void Eager_the_source_far_away_the_destination_takes_the_blocks_from_the_owner()
    {
        var (dir, id) = StartReader();
        using (Shape("h1"))
        {
            WaitUntilMeasured("h2", "h1", dir, slow: true);
            WaitUntilMeasured("h2", "h3", dir, slow: false);
            var reply = MigrateOk(id, "eager");
            AssertFetched(reply, "h3", "owner");
        }
        AssertRereadHits(dir, id);
    }

    [SkippableFact]
    public void Hybrid_the_source_cache_lost_the_blocks_the_destination_falls_back_to_the_owner_and_the_move_succeeds()
    {
        var (dir, id) = StartReader();
        _cluster.Fault("h1", "working-set-evicted");
        try
        {
            var reply = MigrateOk(id, "hybrid");
            AssertFetched(reply, "h3", "owner");
        }
        finally
        {
            _cluster.Fault("h1", null);
        }
        AssertRereadHits(dir, id);
    }

    /// <summary>The reader on h1, its 8 MiB input on h3, once it has read it (so h1's cache holds it).</summary>
    private (string Dir, string Id) StartReader()
    {
        _cluster.EnsureUp();
        var dir = _cluster.NewDirectory("h1", "workingset");
        _cluster.Union.PutInExport("h1", dir[4..] + "/reader.py", Reader);
        _cluster.Union.PutInExport("h3", dir[4..] + "/input", UnionCluster.RandomBytes(Blocks << 20));
        // Written into h3's export behind its daemon's back: h1 sees it once its cached view of
        // the directory expires (cacheSeconds), not at once.
        Assert.True(UnionCluster.PollUntil(TimeSpan.FromSeconds(10), () => _cluster.Union.Sh("h1", $"test -f {dir}/input").ExitCode == 0) != null,
            $"h1 never saw {dir}/input");
        var id = _cluster.Run("h1", dir, "python3", "reader.py", $"{dir}/input", $"{dir}/go");
        _cluster.WaitForLine(Stdout(id), $"read {Blocks << 20}");
        return (dir, id);
    }

    private string Stdout(string id) => _cluster.Union.Export("h1", $".picojump/jobs/{id}/stdout");

    private JsonElement MigrateOk(string id, string mode)
    {
        var result = _cluster.Pjctl.Run(["--host", "h1", "migrate", id, "h2", "--mode", mode, "--json"]);
        Assert.True(result.ExitCode == 0, $"migrate h1 -> h2 ({mode}): {result}");
        var reply = JsonDocument.Parse(result.Output).RootElement.Clone();
        output.WriteLine($"{mode}: freeze {MigrateCluster.Long(reply, "freezeMicros") / 1000.0:0.0} ms, total {MigrateCluster.Long(reply, "totalMicros") / 1000.0:0.0} ms; working set {reply.GetProperty("workingSet")}");
        return reply;
    }

    /// <summary>Every block lacking at h2 came from <paramref name="host"/> in <paramref name="role"/>.</summary>
    private static void AssertFetched(JsonElement reply, string host, string role)
    {
        var set = reply.GetProperty("workingSet");
        Assert.Equal(Blocks, MigrateCluster.Long(set, "blocksOffered"));
        Assert.Equal(0, MigrateCluster.Long(set, "blocksHeld"));
        Assert.Equal(0, MigrateCluster.Long(set, "blocksFailed"));
        var fetched = set.GetProperty("fetched").EnumerateArray().ToList();
        Assert.True(fetched.Count == 1, $"fetched from several holders: {set}");
        Assert.Equal(host, fetched[0].GetProperty("host").GetString());
        Assert.Equal(role, fetched[0].GetProperty("role").GetString());
        Assert.Equal(Blocks, MigrateCluster.Long(fetched[0], "blocks"));
        Assert.Equal(Blocks << 20, MigrateCluster.Long(fetched[0], "bytes"));
    }

    /// <summary>The job reads its input again on h2: every block a hit in h2's block cache, none a miss.</summary>
    private void AssertRereadHits(string dir, string id)
    {
        var before = _cluster.Union.Status("h2").GetProperty("cache");
        _cluster.Union.ShOk("h2", $"touch {dir}/go");
        _cluster.WaitForLine(Stdout(id), $"again {Blocks << 20}");
        var after = _cluster.Union.Status("h2").GetProperty("cache");
        var hits = MigrateCluster.Long(after, "hits") - MigrateCluster.Long(before, "hits");
        var misses = MigrateCluster.Long(after, "misses") - MigrateCluster.Long(before, "misses");
        output.WriteLine($"second read on h2: {hits} cache hits, {misses} misses");
        Assert.True(hits >= Blocks, $"{hits} hits on h2");
        Assert.Equal(0, misses);
        Assert.Equal(0, _cluster.Pjctl.Run(["--host", "h2", "wait", id]).ExitCode);
    }

    /// <summary>Shapes what the host sends (tc tbf on its eth0) to 40 Mbit/s until disposed.</summary>
    private Netem Shape(string host)
    {
        _cluster.Union.ShOk(host, "tc qdisc add dev eth0 root tbf rate 40mbit burst 32kbit latency 400ms");
        return new Netem(_cluster.Union, host);
    }

    private sealed class Netem(UnionCluster union, string host) : IDisposable
    {
        public void Dispose() => union.ShOk(host, "tc qdisc del dev eth0 root");
    }

    /// <summary>
    /// Reads fresh 4 MiB files of <paramref name="peer"/> on <paramref name="host"/> until the
    /// bandwidth it measures from that peer (observed block streams, as pjctl status shows it)
    /// is under 10 MB/s (<paramref name="slow"/>) or over 20 MB/s: a heartbeat probe taken while
    /// the machine is busy can leave a fast link measured slow, and the choice would be right.
    /// </summary>
    private void WaitUntilMeasured(string host, string peer, string dir, bool slow)
    {
        double last = -1;
        var reads = 0;
        var seen = UnionCluster.PollUntil(TimeSpan.FromSeconds(90), () =>
        {
            var name = $"probe-{reads++}";
            _cluster.Union.PutInExport(peer, $"{dir[4..]}/{name}", UnionCluster.RandomBytes(4 << 20));
            _cluster.Union.ShOk(host, $"cat {dir}/{name} > /dev/null");
            var status = _cluster.Union.Status(host).GetProperty("hosts").EnumerateArray().First(h => h.GetProperty("name").GetString() == peer);
            last = status.TryGetProperty("bytesPerSecond", out var rate) ? rate.GetDouble() : -1;
            return slow ? last >= 0 && last < 10e6 : last > 20e6;
        });
        output.WriteLine($"{host} measures {last / 1e6:0.0} MB/s from {peer} after {reads} reads");
        Assert.True(seen != null, $"{host} measures {last / 1e6:0.0} MB/s from {peer}");
    }
}
