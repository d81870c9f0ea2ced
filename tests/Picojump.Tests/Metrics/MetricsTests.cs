using System.Globalization;
using Picojump.Tests.DevCluster;
using Picojump.Tests.Migrate;
using Xunit.Abstractions;

namespace Picojump.Tests.Metrics;

/// <summary>
/// The Prometheus endpoint of real daemons on a dev cluster (metricsListen 127.0.0.1:9464 in
/// each host's own network namespace): remote reads, block cache lookups and a migration move
/// the counters of the hosts where they happen.
/// </summary>
public sealed class MetricsTests(DevClusterFixture fixture, ITestOutputHelper output) : IClassFixture<DevClusterFixture>
{
    private readonly MigrateCluster _cluster = new(fixture);

    [SkippableFact]
    public void Remote_reads_cache_lookups_and_a_migration_move_the_counters_scraped_over_loopback()
    {
        _cluster.EnsureUp();
        var before = Scrape("h1");
        var dir = _cluster.NewDirectory("h2", "metrics");
        _cluster.Union.ShOk("h2", $"head -c 8M /dev/urandom > {dir}/data");
        _cluster.Union.ShOk("h1", $"cat {dir}/data > /dev/null");
        var afterRead = Scrape("h1");
        var remote = Sum(afterRead, "picojump_remote_bytes_total", "owner=\"h2\"", "direction=\"read\"")
            - Sum(before, "picojump_remote_bytes_total", "owner=\"h2\"", "direction=\"read\"");
        output.WriteLine($"h1 read {remote} bytes from h2");
        Assert.True(remote >= 8 << 20, $"h1's picojump_remote_bytes_total from h2 grew by {remote}, not 8 MiB:\n{afterRead}");
        Assert.True(Sum(afterRead, "picojump_cache_reads_total", "result=\"miss\"") > Sum(before, "picojump_cache_reads_total", "result=\"miss\""),
            $"no block cache miss counted:\n{afterRead}");

        var id = _cluster.Run("h1", dir, "sleep", "600");
        var (code, _, result) = _cluster.Migrate("h1", id, "h2");
        Assert.True(code == 0, $"migrate h1 -> h2: {result}");
        var afterMove = Scrape("h1");
        Assert.Equal(1, Sum(afterMove, "picojump_migrations_total", "outcome=\"moved\"", "mode=\"eager\"")
            - Sum(before, "picojump_migrations_total", "outcome=\"moved\"", "mode=\"eager\""));
        Assert.Equal(1, Sum(afterMove, "picojump_migration_freeze_seconds_count", "mode=\"eager\"")
            - Sum(before, "picojump_migration_freeze_seconds_count", "mode=\"eager\""));
        _cluster.Pjctl.Check("--host", "h2", "kill", id);
    }

    [SkippableFact]
    public void The_endpoint_answers_only_metrics_and_only_on_its_port()
    {
        _cluster.EnsureUp();
        var other = _cluster.Union.Sh("h1", "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9464/other");
        Assert.Equal("404", other.Output.Trim());
    }

    private string Scrape(string host)
        => _cluster.Union.ShOk(host, "curl -sS --max-time 10 http://127.0.0.1:9464/metrics");

    /// <summary>The sum of the samples of <paramref name="name"/> whose labels include every one of <paramref name="labels"/>.</summary>
    private static double Sum(string exposition, string name, params string[] labels)
        => exposition.Split('\n')
            .Where(line => line.StartsWith(name + "{", StringComparison.Ordinal) || line.StartsWith(name + " ", StringComparison.Ordinal))
            .Where(line => labels.All(label => line.Contains(label, StringComparison.Ordinal)))
            .Sum(line => double.Parse(line[(Math.Max(line.LastIndexOf('}'), name.Length) + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture));
}
