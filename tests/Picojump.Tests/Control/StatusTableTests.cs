using Picojump.Cli.Control;
using Picojump.Protos.Control;
using Picojump.Protos.Jobs;

namespace Picojump.Tests.Control;

/// <summary>`pjctl status` as a table: 80 columns whatever the names, and every word of a decision's reason kept.</summary>
public sealed class StatusTableTests
{
    private static readonly DateTimeOffset Now = new(2030, 1, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Long_names_are_cut_long_reasons_wrap_and_no_line_passes_80_columns()
    {
        const string reason = "stay: a-very-long-host-name-indeed (55% of bytes) would gain 0.4 s per 30 s, not more than cost 1.3 s x 2 + 1 s, "
            + "and this sentence goes on to make sure that it needs three lines to be read whole";
        var job = new JobInfo
        {
            Id = "0123456789ab", Name = "a-job-with-a-long-name", Host = "a-very-long-host-name-indeed", State = JobState.Running,
            PinnedHost = "another-very-long-host-name",
            Locality = new JobLocality
            {
                WindowSeconds = 30, TotalBytes = 100, LocalShare = 0.45, RecommendedHost = "a-very-long-host-name-indeed",
                LastDecision = new PolicyDecision { AtUnixMs = Now.AddSeconds(-3).ToUnixTimeMilliseconds(), Kind = "stay", Rule = "NotWorthIt", Reason = reason },
            },
        };
        job.Locality.Hosts.Add(new HostShare { Host = "a-very-long-host-name-indeed", Bytes = 45, Share = 0.45, Local = true });
        job.Locality.Hosts.Add(new HostShare { Host = "yet-another-very-long-host-name", Bytes = 55, Share = 0.55 });
        job.Migrations.Add(new Picojump.Protos.Jobs.Migration { FromHost = "a-very-long-host-name-indeed", ToHost = "yet-another-very-long-host-name", FreezeMicros = 123_456, Bytes = 5 << 20, Mode = "hybrid" });
        var reply = new StatusReply
        {
            HostName = "a-very-long-host-name-indeed", Mountpoint = "/pj", Export = "/var/lib/picojump/export/with/a/long/path/below/it/too",
            StartedUnixMs = Now.AddHours(-2).ToUnixTimeMilliseconds(), Policy = new PolicyStatus { Enabled = true, IntervalSeconds = 2, WindowSeconds = 30, MarginFactor = 2, MarginSeconds = 1, CooldownSeconds = 60, Mode = "eager" },
            Cache = new CacheStatus { BytesUsed = 3L << 30, Hits = 123_456_789, Misses = 987_654_321, Evictions = 42 },
            PageStore = new PageStoreStatus { BytesStored = 1L << 40, Puts = 123_456_789, Hits = 123_456_789, Misses = 987_654_321, Evictions = 7 },
        };
        reply.Hosts.Add(new HostStatus { Name = "yet-another-very-long-host-name", Address = "[fd00:1234:5678::1]:7070", Reachable = false, Error = new string('x', 200) });
        reply.ManagedJobs.Add(job);

        var table = StatusTable.Format(reply, Now);

        Assert.All(table.Split('\n'), line => Assert.True(line.Length <= 80, $"{line.Length} columns: {line}"));
        var why = string.Join(' ', table.Split('\n').SkipWhile(l => !l.Contains("why:", StringComparison.Ordinal)).TakeWhile(l => !l.Contains("moved", StringComparison.Ordinal)).Select(l => l.Trim()));
        Assert.Equal($"why: {reason} (3s ago)", why);
        Assert.Contains("55%", table, StringComparison.Ordinal);
        Assert.Contains("freeze 123 ms, 5.0M sent (hybrid)", table, StringComparison.Ordinal);
        Assert.All(StatusTable.Hosts(reply).Split('\n'), line => Assert.True(line.Length <= 80, line));
        Assert.All(StatusTable.Cache(reply).Split('\n'), line => Assert.True(line.Length <= 80, line));
    }
}
