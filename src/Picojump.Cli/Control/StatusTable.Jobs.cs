using System.Globalization;
using System.Text;
using Picojump.Protos.Control;
using Picojump.Protos.Jobs;

namespace Picojump.Cli.Control;

// The jobs in `pjctl status`: where each running job's bytes go, what the policy decided and why,
// its moves; then every process group's access per owner host, as the accounting counts it.
public static partial class StatusTable
{
    private const int MovesShown = 3;

    private static void Locality(StringBuilder text, StatusReply reply, DateTimeOffset now)
    {
        var running = reply.ManagedJobs.Where(j => j.State == JobState.Running).OrderBy(j => j.StartedUnixMs).ToList();
        var window = running.Select(j => j.Locality?.WindowSeconds ?? 0).FirstOrDefault(w => w > 0);
        text.AppendLine().AppendLine(window > 0 ? $"JOBS (locality over the last {window} s)" : "JOBS (locality)");
        if (running.Count == 0)
        {
            text.AppendLine("  no job runs on any reachable host");
            return;
        }
        text.AppendLine($"  {"ID",-12} {"NAME",-8} {"HOST",-8} {"LOCAL",5} {"TOP REMOTE",-13} {"BEST",-8} {"PIN",-8} {"MOVES",5}");
        foreach (var job in running)
        {
            var locality = job.Locality;
            var remote = locality?.Hosts.Where(h => !h.Local && h.Bytes > 0).MaxBy(h => h.Bytes);
            var local = locality == null || locality.TotalBytes == 0 ? "-" : Percent(locality.LocalShare);
            text.AppendLine($"  {Cut(job.Id, 12),-12} {Cut(job.Name.Length == 0 ? "-" : job.Name, 8),-8} {Cut(job.Host, 8),-8} {local,5} "
                + $"{Cut(remote == null ? "-" : $"{remote.Host} {Percent(remote.Share)}", 13),-13} {Cut(locality?.RecommendedHost ?? "-", 8),-8} "
                + $"{Cut(job.PinnedHost.Length == 0 ? "-" : job.PinnedHost, 8),-8} {job.Migrations.Count,5}");
            var why = locality?.LastDecision is { } last
                ? $"{last.Reason} ({Ago(now - DateTimeOffset.FromUnixTimeMilliseconds(last.AtUnixMs))})"
                : job.PolicyOff ? "policy off for this job" : "not evaluated yet";
            Wrap(text, "why: " + why);
            foreach (var move in job.Migrations.TakeLast(MovesShown))
            {
                var at = DateTimeOffset.FromUnixTimeMilliseconds(move.StartedUnixMs).ToString("HH:mm:ss", CultureInfo.InvariantCulture);
                Wrap(text, string.Create(CultureInfo.InvariantCulture,
                    $"moved {move.FromHost}->{move.ToHost} at {at} UTC, freeze {move.FreezeMicros / 1000.0:0} ms, {Bytes(move.Bytes)} sent ({move.Mode})"));
            }
        }
    }

    private static void Access(StringBuilder text, StatusReply reply)
    {
        text.AppendLine().AppendLine("ACCESS (since first seen, per PID namespace or session)");
        if (reply.Jobs.Count == 0)
            text.AppendLine("  nothing has touched the mount yet");
        else
            text.AppendLine($"  {"JOB",-JobWidth} {"OWNER",-12} {"OPS",9} {"READ",8} {"WRITTEN",8} {"AVG REMOTE",10}");
        foreach (var job in reply.Jobs)
        {
            var label = job.Label;
            foreach (var owner in job.Totals)
            {
                var latency = owner.RemoteOps == 0 ? "-" : $"{owner.RemoteLatencyAvgMicros / 1000.0:0.00} ms";
                text.AppendLine($"  {Cut(label, JobWidth),-JobWidth} {Cut(owner.OwnerHost, 12),-12} {owner.Ops,9} {Bytes(owner.BytesRead),8} {Bytes(owner.BytesWritten),8} {latency,10}");
                label = "";
            }
        }
    }

    /// <summary>A sentence over as many indented lines of at most 80 columns as it needs.</summary>
    private static void Wrap(StringBuilder text, string sentence)
    {
        const string indent = "    ";
        var line = new StringBuilder(indent);
        foreach (var word in sentence.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.Length > indent.Length && line.Length + 1 + word.Length > Width)
            {
                text.AppendLine(line.ToString());
                line.Clear().Append(indent).Append("  ");
            }
            if (line.Length > indent.Length && line[^1] != ' ')
                line.Append(' ');
            line.Append(word);
        }
        text.AppendLine(Fit(line.ToString()));
    }

    private static string Percent(double share) => string.Create(CultureInfo.InvariantCulture, $"{Math.Round(share * 100):0}%");

    private static string Ago(TimeSpan span) => span.TotalSeconds < 1 ? "just now" : $"{Duration(span)} ago";
}
