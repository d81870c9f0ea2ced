using Picojump.Fs.Accounting;
using Picojump.Fs.Cache;
using Picojump.Fs.Cluster;
using Picojump.Migrator.Pages;
using Picojump.Protos.Control;

namespace Picojump.Host.Control;

/// <summary>From the file system's records to the control API's messages.</summary>
internal static class StatusMapping
{
    public static HostStatus ToHost(PeerStatus peer)
    {
        var host = new HostStatus
        {
            Name = peer.Name,
            Address = peer.Address,
            Reachable = peer.Reachable,
            LoadAverage = peer.LoadAverage,
            Incarnation = peer.Incarnation,
            Error = peer.Error ?? "",
            CacheBytes = peer.CacheBytes,
            PageStoreBytes = peer.PageStoreBytes,
        };
        if (peer.RoundTrip is { } rtt)
            host.RttMicros = Micros(rtt);
        if (peer.LastSeen is { } seen)
            host.LastSeenUnixMs = seen.ToUnixTimeMilliseconds();
        if (peer.BytesPerSecond > 0)
            host.BytesPerSecond = peer.BytesPerSecond;
        return host;
    }

    public static CacheStatus ToCache(CacheStats cache) => new()
    {
        BytesUsed = cache.BytesCached,
        Hits = cache.Hits,
        Misses = cache.Misses,
        Evictions = cache.Evictions,
        EvictedBytes = cache.EvictedBytes,
    };

    public static PolicyStatus ToPolicy(PolicySettings policy) => new()
    {
        Enabled = policy.Enabled,
        IntervalSeconds = policy.IntervalSeconds,
        WindowSeconds = policy.WindowSeconds,
        MinRemoteShare = policy.MinRemoteShare,
        MarginFactor = policy.MarginFactor,
        MarginSeconds = policy.MarginSeconds,
        Hysteresis = policy.Hysteresis,
        CooldownSeconds = policy.CooldownSeconds,
        ReturnCooldownSeconds = policy.ReturnCooldownSeconds,
        ReturnMarginFactor = policy.ReturnMarginFactor,
        ReturnHysteresis = policy.ReturnHysteresis,
        Mode = policy.Mode,
        BandwidthMibPerSecond = policy.BandwidthMiBps,
    };

    public static PageStoreStatus ToPageStore(PageStoreStats store) => new()
    {
        BytesStored = store.BytesStored,
        Puts = store.Puts,
        Hits = store.Hits,
        Misses = store.Misses,
        Evictions = store.Evictions,
    };

    public static JobStatus ToJob(JobAccess job)
    {
        var status = new JobStatus { Key = job.JobKey, Label = job.Label };
        status.Totals.AddRange(job.Totals.Select(ToOwner));
        status.Window.AddRange(job.Window.Select(ToOwner));
        return status;
    }

    private static Protos.Control.OwnerAccess ToOwner(Fs.Accounting.OwnerAccess access) => new()
    {
        OwnerHost = access.OwnerHost,
        Ops = access.Ops,
        BytesRead = access.BytesRead,
        BytesWritten = access.BytesWritten,
        RemoteOps = access.RemoteOps,
        RemoteLatencyAvgMicros = Micros(access.RemoteLatencyAverage),
        RemoteLatencyMaxMicros = Micros(access.RemoteLatencyMax),
        FirstSeenUnixMs = access.FirstSeen.ToUnixTimeMilliseconds(),
        LastSeenUnixMs = access.LastSeen.ToUnixTimeMilliseconds(),
    };

    private static long Micros(TimeSpan span) => span.Ticks / TimeSpan.TicksPerMicrosecond;
}
