using System.Globalization;
using System.Text;
using Picojump.Protos.Control;
using Picojump.Protos.Jobs;

namespace Picojump.Cli.Jobs;

/// <summary>`pjctl ps` as a table: one line per job, of every host that answered.</summary>
public static class JobTable
{
    public static string Format(PsReply reply, DateTimeOffset now)
    {
        var rows = new List<string[]> { new[] { "ID", "NAME", "HOST", "STATE", "RSS", "STARTED", "MOVES", "COMMAND" } };
        foreach (var job in reply.Jobs.OrderBy(j => j.StartedUnixMs))
        {
            rows.Add([
                job.Id,
                job.Name.Length == 0 ? "-" : job.Name,
                job.Host,
                State(job),
                job.State == JobState.Running ? Size(job.RssBytes) : "-",
                Ago(now - DateTimeOffset.FromUnixTimeMilliseconds(job.StartedUnixMs)),
                Moves(job),
                string.Join(' ', job.Command),
            ]);
        }
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        var text = new StringBuilder();
        foreach (var row in rows)
            text.AppendLine(string.Join("  ", row.Select((cell, c) => c == row.Length - 1 ? cell : cell.PadRight(widths[c]))).TrimEnd());
        return text.ToString();
    }

    /// <summary>How many times the job moved and the last move's freeze: "2 (h2->h3, 120 ms)".</summary>
    private static string Moves(JobInfo job)
    {
        if (job.Migrations.Count == 0)
            return "0";
        var last = job.Migrations[^1];
        return string.Create(CultureInfo.InvariantCulture, $"{job.Migrations.Count} ({last.FromHost}->{last.ToHost}, {last.FreezeMicros / 1000.0:0} ms)");
    }

    private static string State(JobInfo job) => job.State switch
    {
        JobState.Running => "running",
        JobState.Exited => JobCommands.Describe(job),
        JobState.Lost => "lost",
        _ => "?",
    };

    private static string Size(long bytes) => bytes switch
    {
        >= 1L << 30 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):0.0} GiB"),
        >= 1L << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):0.0} MiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes >> 10} KiB"),
    };

    private static string Ago(TimeSpan span) => span.TotalSeconds switch
    {
        < 60 => string.Create(CultureInfo.InvariantCulture, $"{Math.Max(0, (int)span.TotalSeconds)}s ago"),
        < 3600 => string.Create(CultureInfo.InvariantCulture, $"{(int)span.TotalMinutes}m ago"),
        < 86400 => string.Create(CultureInfo.InvariantCulture, $"{(int)span.TotalHours}h ago"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{(int)span.TotalDays}d ago"),
    };
}
