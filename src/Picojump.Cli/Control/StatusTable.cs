using System.Globalization;
using System.Text;
using Picojump.Protos.Control;

namespace Picojump.Cli.Control;

/// <summary>`pjctl status` for people: the daemon, its peers, its cache and its jobs, in 80 columns.</summary>
public static class StatusTable
{
    private const int JobWidth = 26;
    private const int Width = 80;

    public static string Format(StatusReply reply, DateTimeOffset now)
    {
        var text = new StringBuilder();
        var up = now - DateTimeOffset.FromUnixTimeMilliseconds(reply.StartedUnixMs);
        text.AppendLine(Fit($"{reply.HostName}: {reply.Mountpoint} serves {reply.Export}, picojumpd up {Duration(up)}"));

        text.AppendLine().AppendLine("HOSTS");
        if (reply.Hosts.Count == 0)
            text.AppendLine("  none: this host runs alone");
        else
            text.AppendLine($"  {"NAME",-12} {"ADDRESS",-24} {"REACHABLE",-9} {"RTT",10} {"LOAD",6}");
        foreach (var host in reply.Hosts)
        {
            var rtt = host.HasRttMicros ? $"{host.RttMicros / 1000.0:0.00} ms" : "-";
            text.AppendLine($"  {Cut(host.Name, 12),-12} {Cut(host.Address, 24),-24} {(host.Reachable ? "yes" : "no"),-9} {rtt,10} {host.LoadAverage,6:0.00}");
            if (host.Error.Length > 0)
                text.AppendLine(Fit($"    {host.Error}"));
        }

        text.AppendLine().AppendLine(reply.Cache is { } cache ? CacheLine(cache) : "CACHE  none on this host");

        text.AppendLine().AppendLine("JOBS (since first seen)");
        if (reply.Jobs.Count == 0)
            text.AppendLine("  none has touched the mount yet");
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
        return text.ToString();
    }

    private static string CacheLine(CacheStatus cache)
    {
        var lookups = cache.Hits + cache.Misses;
        var ratio = lookups == 0 ? "no reads yet" : $"{100.0 * cache.Hits / lookups:0}% hits";
        return Fit($"CACHE  {Bytes(cache.BytesUsed)} used, {cache.Hits} hits, {cache.Misses} misses ({ratio}), {cache.Evictions} evictions");
    }

    private static string Duration(TimeSpan span) => span switch
    {
        { TotalDays: >= 1 } => $"{(int)span.TotalDays}d{span.Hours:00}h",
        { TotalHours: >= 1 } => $"{(int)span.TotalHours}h{span.Minutes:00}m",
        { TotalMinutes: >= 1 } => $"{(int)span.TotalMinutes}m{span.Seconds:00}s",
        _ => $"{Math.Max(0, (int)span.TotalSeconds)}s",
    };

    public static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 40 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 40):0.0}T"),
        >= 1L << 30 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):0.0}G"),
        >= 1L << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):0.0}M"),
        >= 1L << 10 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.0}K"),
        _ => $"{bytes}B",
    };

    private static string Fit(string line) => Cut(line, Width);

    /// <summary>Long names end in '~' rather than push the columns out.</summary>
    private static string Cut(string text, int width) => text.Length <= width ? text : text[..(width - 1)] + "~";
}
