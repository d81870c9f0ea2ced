using System.Diagnostics;
using System.Text.Json;
using Picojump.Tests.DevCluster;
using Picojump.Tests.Migrate;
using Picojump.Tests.Union;
using Xunit.Abstractions;

namespace Picojump.Tests.Policy;

/// <summary>
/// The locality policy at work in a 3-host dev cluster with its default settings: three bash
/// loops started on h1 that read a file owned by h2 over and over. The free one moves to h2 by
/// itself and its bytes are then local; the pinned one and the one with the policy off stay,
/// and status says why. A fourth job, idle, pinned to h3 after it started, goes there.
/// </summary>
public sealed class FollowTheDataTests(DevClusterFixture fixture, ITestOutputHelper output) : IClassFixture<DevClusterFixture>
{
    private static readonly TimeSpan MoveLimit = TimeSpan.FromSeconds(30);

    private readonly MigrateCluster _cluster = new(fixture);

    [SkippableFact]
    public void A_job_reading_h2s_data_moves_there_by_itself_while_a_pinned_one_and_one_with_the_policy_off_stay()
    {
        _cluster.EnsureUp();
        var dir = _cluster.NewDirectory("h2", "follow");
        _cluster.Union.PutInExport("h2", dir[4..] + "/data", UnionCluster.RandomBytes(16 << 20));
        // Each waits for its go file, so that the test sets the job's policy before it reads.
        string Reader(string go) => $"while [ ! -e {dir}/{go} ]; do sleep 0.1; done; while true; do cat {dir}/data > /dev/null; sleep 0.1; done";

        var pinned = Run("--pin", Reader("go"));
        var off = Run(null, Reader("go"));
        var offReply = _cluster.Pjctl.Check("--host", "h2", "policy", off, "off", "--json");
        Assert.True(JsonDocument.Parse(offReply.Output).RootElement.GetProperty("policyOff").GetBoolean(), offReply.Output);
        var mover = Run(null, Reader("go"));
        var pin = _cluster.Job("h3", pinned);
        Assert.Equal("h1", pin.GetProperty("pinnedHost").GetString());
        var idle = Run(null, "while true; do sleep 1; done");
        Assert.Equal($"job {idle} on h1: pinned to h3, policy on\n", _cluster.Pjctl.Check("--host", "h2", "pin", idle, "h3").Output);

        var go = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        _cluster.Union.ShOk("h2", $"touch {dir}/go");
        // The policy must decide within 30 s; the migration it starts then takes what CRIU takes on this machine.
        var moved = UnionCluster.PollUntil(2 * MoveLimit, () => _cluster.Job("h3", mover).GetProperty("host").GetString() == "h2", TimeSpan.FromMilliseconds(500));
        Assert.True(moved != null, $"job {mover} did not move to h2 within {2 * MoveLimit.TotalSeconds} s: {Status("h1")}");
        var move = Assert.Single(_cluster.Job("h1", mover).GetProperty("migrations").EnumerateArray());
        Assert.Equal("h1", move.GetProperty("fromHost").GetString());
        var decided = DateTimeOffset.FromUnixTimeMilliseconds(MigrateCluster.Long(move, "startedUnixMs")) - go;
        output.WriteLine($"the move began {decided.TotalSeconds:0.0} s after the job began reading; it ran on h2 {clock.Elapsed.TotalSeconds:0.0} s after");
        Assert.True(decided <= MoveLimit, $"the policy took {decided.TotalSeconds:0.0} s to move the job");
        output.WriteLine($"freeze {MigrateCluster.Long(move, "freezeMicros") / 1000.0:0} ms, {MigrateCluster.Long(move, "bytes")} bytes");

        Assert.True(UnionCluster.PollUntil(2 * MoveLimit, () => _cluster.Job("h2", idle).GetProperty("host").GetString() == "h3", TimeSpan.FromMilliseconds(500)) != null,
            $"job {idle}, pinned to h3, is still on h1");
        Assert.Equal("h1", Assert.Single(_cluster.Job("h2", idle).GetProperty("migrations").EnumerateArray()).GetProperty("fromHost").GetString());

        // At h2, over the window: most bytes local (a window counts only what the job did since it arrived).
        JsonElement locality = default;
        var local = UnionCluster.PollUntil(TimeSpan.FromSeconds(30), () =>
        {
            var job = ManagedJob(Status("h3"), mover);
            if (job.GetProperty("host").GetString() != "h2" || job.GetProperty("locality").ValueKind != JsonValueKind.Object)
                return false;
            locality = job.GetProperty("locality");
            return MigrateCluster.Long(locality, "totalBytes") > 0 && locality.GetProperty("localShare").GetDouble() >= 0.9;
        }, TimeSpan.FromSeconds(1));
        Assert.True(local != null, $"job {mover} at h2: {locality}");
        output.WriteLine($"at h2: {locality.GetProperty("localShare").GetDouble():P0} of bytes local; {locality.GetProperty("lastDecision").GetProperty("reason").GetString()}");

        // A move back to h1 would not send what h1's page store kept of the job when it left, nor
        // the blocks of h2's file that h1's cache holds: the estimate behind the cost says so
        // (without it, a move anywhere counted the job's whole resident memory).
        JsonElement back = default;
        long rss = 0;
        var estimated = UnionCluster.PollUntil(TimeSpan.FromSeconds(30), () =>
        {
            var job = ManagedJob(Status("h2"), mover);
            rss = MigrateCluster.Long(job, "rssBytes");
            back = job.GetProperty("locality").GetProperty("lastDecision").GetProperty("candidates").EnumerateArray()
                .FirstOrDefault(c => c.GetProperty("host").GetString() == "h1");
            return back.ValueKind == JsonValueKind.Object && rss > 0 && BytesToSend(back) < rss / 2;
        }, TimeSpan.FromSeconds(1));
        Assert.True(estimated != null, $"a move back to h1 sends {back} of the job's {rss} resident bytes");
        output.WriteLine($"a move back to h1 would send {BytesToSend(back)} of the job's {rss} resident bytes");

        // The others saw the same traffic and stayed, saying why.
        var status = Status("h1");
        var pinnedJob = ManagedJob(status, pinned);
        Assert.Equal("h1", pinnedJob.GetProperty("host").GetString());
        Assert.Equal("Pinned", pinnedJob.GetProperty("locality").GetProperty("lastDecision").GetProperty("rule").GetString());
        Assert.True(pinnedJob.GetProperty("locality").GetProperty("localShare").GetDouble() < 0.5, $"pinned job: {pinnedJob}");
        Assert.Equal(0, pinnedJob.GetProperty("migrations").GetArrayLength());
        var offJob = ManagedJob(status, off);
        Assert.Equal("h1", offJob.GetProperty("host").GetString());
        Assert.Equal("PolicyOffJob", offJob.GetProperty("locality").GetProperty("lastDecision").GetProperty("rule").GetString());
        Assert.Equal(0, offJob.GetProperty("migrations").GetArrayLength());

        // The tables fit 80 columns and explain: the mover's moves, the others' reasons.
        var table = _cluster.Pjctl.Check("--host", "h1", "status").Output;
        output.WriteLine(table);
        Assert.All(table.Split('\n'), line => Assert.True(line.Length <= 80, $"longer than 80 columns: {line}"));
        Assert.Contains("pinned to h1", table, StringComparison.Ordinal);
        Assert.Contains("policy off for this job", table, StringComparison.Ordinal);
        Assert.Contains("moved h1->h2", table, StringComparison.Ordinal);
        foreach (var command in new[] { "hosts", "cache" })
        {
            var text = _cluster.Pjctl.Check("--host", "h1", command).Output;
            Assert.All(text.Split('\n'), line => Assert.True(line.Length <= 80, $"{command}: longer than 80 columns: {line}"));
            JsonDocument.Parse(_cluster.Pjctl.Check("--host", "h1", command, "--json").Output);
        }

        // Bad input: one line and exit 1 for a refusal, exit 2 for a usage error.
        var unknownHost = _cluster.Pjctl.Run(["--host", "h1", "pin", mover, "h9"]);
        Assert.Equal(1, unknownHost.ExitCode);
        Assert.Equal("pjctl: unknown host h9 (the cluster has h1, h2, h3)\n", unknownHost.Error);
        Assert.Equal(2, _cluster.Pjctl.Run(["--host", "h1", "policy", mover, "maybe"]).ExitCode);

        foreach (var id in new[] { mover, pinned, off, idle })
            _cluster.Pjctl.Check("--host", "h3", "kill", id);
    }

    /// <summary>`pjctl --host h3 run --on h1 [FLAG] -- bash -c SCRIPT`: the job id.</summary>
    private string Run(string? flag, string script)
    {
        string[] options = flag == null ? [] : [flag];
        var id = _cluster.Pjctl.Check(["--host", "h3", "run", "--on", "h1", .. options, "--", "bash", "-c", script]).Output.Trim();
        Assert.Matches("^[0-9a-f]{12}$", id);
        return id;
    }

    private JsonElement Status(string host) => _cluster.Union.Status(host);

    /// <summary>A candidate's bytes to send; the JSON leaves a zero out.</summary>
    private static long BytesToSend(JsonElement candidate)
        => candidate.TryGetProperty("bytesToSend", out _) ? MigrateCluster.Long(candidate, "bytesToSend") : 0;

    private static JsonElement ManagedJob(JsonElement status, string id)
        => status.GetProperty("managedJobs").EnumerateArray().Single(j => j.GetProperty("id").GetString() == id);
}
