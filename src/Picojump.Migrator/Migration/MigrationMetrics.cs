using System.Diagnostics;
using System.Diagnostics.Metrics;
using Picojump.Protos.Migration;

namespace Picojump.Migrator.Migration;

/// <summary>
/// Migrations started on this host (the source), by outcome and mode, and the freezes of
/// those that moved (picojump_migrations_total, picojump_migration_freeze_seconds).
/// </summary>
internal static class MigrationMetrics
{
    private static readonly Meter Meter = new("Picojump.Migrator.Migration");

    private static readonly Counter<long> Migrations = Meter.CreateCounter<long>(
        "picojump.migrations", "{migration}", "Migrations started on this host, by outcome (moved, aborted, error) and mode (eager, hybrid)");

    /// <summary>Buckets from a small job's eager move (tens of ms) to a large one's (tens of s).</summary>
    private static readonly Histogram<double> Freeze = Meter.CreateHistogram(
        "picojump.migration.freeze", "s", "How long moved jobs were frozen",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] });

    public static void Finished(MigrateReply reply)
    {
        Migrations.Add(1, new TagList { { "outcome", reply.Moved ? "moved" : "aborted" }, { "mode", reply.Mode } });
        if (reply.Moved)
            Freeze.Record(reply.FreezeMicros / 1e6, new KeyValuePair<string, object?>("mode", reply.Mode));
    }

    public static void Broke(string mode) => Migrations.Add(1, new TagList { { "outcome", "error" }, { "mode", mode } });
}
