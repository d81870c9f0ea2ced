using System.Globalization;
using System.Text;
using Picojump.Protos.Control;

namespace Picojump.Cli.Control;

/// <summary>`pjctl status`, `hosts` and `cache` for people, in 80 columns.</summary>
public static partial class StatusTable
{
    private const int JobWidth = 26;
    private const int Width = 80;

    public static string Format(StatusReply reply, DateTimeOffset now)
    {
        var text = new StringBuilder();
        var up = now - DateTimeOffset.FromUnixTimeMilliseconds(reply.StartedUnixMs);
        text.AppendLine(Fit($"{reply.HostName}: {reply.Mountpoint} serves {reply.Export}, picojumpd up {Duration(up)}"));
        text.AppendLine().AppendLine("HOSTS").Append(Hosts(reply));
        text.AppendLine().AppendLine(reply.Cache is { } cache ? CacheLine(cache) : "CACHE  none on this host");
        text.AppendLine(reply.PageStore is { } store ? PageStoreLine(store) : "PAGES  no page store on this host");
        text.AppendLine().AppendLine(PolicyLine(reply.Policy));
        Locality(text, reply, now);
        Access(text, reply);
        return text.ToString();
    }

    /// <summary>This host first, then its peers: reachable, round trip, load, block cache and page store bytes.</summary>
    public static string Hosts(StatusReply reply)
    {
        var text = new StringBuilder();
        text.AppendLine($"  {"NAME",-12} {"ADDRESS",-21} {"REACHABLE",-9} {"RTT",9} {"LOAD",5} {"CACHE",7} {"PAGES",7}");
        text.AppendLine($"  {Cut(reply.HostName, 12),-12} {"(this host)",-21} {"-",-9} {"-",9} {reply.LoadAverage,5:0.00} {Bytes(reply.Cache?.BytesUsed ?? 0),7} {Bytes(reply.PageStore?.BytesStored ?? 0),7}");
        foreach (var host in reply.Hosts)
        {
            var rtt = host.HasRttMicros ? $"{host.RttMicros / 1000.0:0.00} ms" : "-";
            text.AppendLine($"  {Cut(host.Name, 12),-12} {Cut(host.Address, 21),-21} {(host.Reachable ? "yes" : "no"),-9} {rtt,9} {host.LoadAverage,5:0.00} {Bytes(host.CacheBytes),7} {Bytes(host.PageStoreBytes),7}");
            if (host.Error.Length > 0)
                text.AppendLine(Fit($"    {host.Error}"));
        }
        return text.ToString();
    }

    public static string Cache(StatusReply reply)
        => (reply.Cache is { } cache ? CacheLine(cache) : "CACHE  none on this host") + "\n"
            + (reply.PageStore is { } store ? PageStoreLine(store) : "PAGES  no page store on this host") + "\n";

    private static string CacheLine(CacheStatus cache)
    {
        var lookups = cache.Hits + cache.Misses;
        var ratio = lookups == 0 ? "no reads yet" : $"{100.0 * cache.Hits / lookups:0}% hits";
        return Fit($"CACHE  {Bytes(cache.BytesUsed)} used, {cache.Hits} hits, {cache.Misses} misses ({ratio}), {cache.Evictions} evictions");
    }

    private static string PageStoreLine(PageStoreStatus store)
        => Fit($"PAGES  {Bytes(store.BytesStored)} stored, {store.Puts} puts, {store.Hits} hits, {store.Misses} misses, {store.Evictions} evictions");

    private static string PolicyLine(PolicyStatus? policy)
    {
        if (policy == null)
            return "POLICY unknown";
        if (!policy.Enabled)
            return "POLICY off on this host: its jobs move only when asked";
        return Fit(string.Create(CultureInfo.InvariantCulture,
            $"POLICY on: every {policy.IntervalSeconds:0.#} s over {policy.WindowSeconds:0.#} s, margin x{policy.MarginFactor:0.##} + {policy.MarginSeconds:0.#} s, cooldown {policy.CooldownSeconds:0} s, {policy.Mode}"));
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
