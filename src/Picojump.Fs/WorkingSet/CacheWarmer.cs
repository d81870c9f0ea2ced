using System.Collections.Concurrent;
using System.Diagnostics;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Picojump.Fs.Cache;
using Picojump.Fs.Cluster;
using Picojump.Protos.Peer;

namespace Picojump.Fs.WorkingSet;

/// <summary>
/// Warms this host's block cache with a working set (the blocks a job read elsewhere): finds the
/// ones it lacks and takes each file's from its nearest holder, the host whose cache offered
/// them or the file's owner, chosen by <see cref="NearestHolder"/> on measured links. Blocks of
/// this host's own files are local and never fetched. A block taken from a cache is asked for
/// by its full key (version included) after the owner confirmed that version is still the
/// file's, so nothing stale is fetched; one the cache no longer has comes from the owner.
/// Best effort: whatever is not in by the time bound is left to the job's own reads.
/// </summary>
public sealed partial class CacheWarmer
{
    public const string CacheRole = "cache";
    public const string OwnerRole = "owner";

    /// <summary>Blocks per call to a holder: small enough to share the link, large enough to stream.</summary>
    private const int BlocksPerCall = 8;

    /// <summary>Calls in flight at once: the warm-up shares the link with whatever else moves (a job's pages).</summary>
    private const int ConcurrentCalls = 2;

    private readonly string _hostName;
    private readonly BlockCache _cache;
    private readonly PeerSet _peers;
    private readonly ILogger _logger;

    public CacheWarmer(string hostName, BlockCache cache, PeerSet peers, ILogger logger)
    {
        _hostName = hostName;
        _cache = cache;
        _peers = peers;
        _logger = logger;
    }

    /// <summary>Per block: not of <paramref name="host"/>'s own files and not in <paramref name="blockCache"/> (none: lacks all).</summary>
    public static bool[] Missing(BlockCache? blockCache, string host, IReadOnlyList<WorkingSetBlock> blocks)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        var remote = blocks.Select((b, i) => (Block: b, Index: i)).Where(b => b.Block.Owner != host).ToList();
        var held = blockCache?.Holds([.. remote.Select(b => b.Block.Key)]) ?? new bool[remote.Count];
        var missing = new bool[blocks.Count];
        for (var i = 0; i < remote.Count; i++)
            missing[remote[i].Index] = !held[i];
        return missing;
    }

    /// <summary>
    /// How many of <paramref name="blocks"/> <paramref name="host"/> lacks (blocks of its own
    /// files count as held): one cheap call, no data read. Null if the host did not answer.
    /// </summary>
    public async Task<long?> CountMissingAsync(string host, IReadOnlyList<WorkingSetBlock> blocks, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        if (host == _hostName)
            return Missing(_cache, _hostName, blocks).LongCount(m => m);
        if (_peers.Find(host) is not { Reachable: true } peer)
            return null;
        var request = new CachedBlocksRequest();
        request.Files.AddRange(CachedFiles.ToWire(blocks));
        try
        {
            return (await peer.Client.MissingBlocksAsync(request, peer.Options(cancel))).MissingCount;
        }
        catch (RpcException ex)
        {
            peer.Failed(ex);
            return null;
        }
    }

    /// <summary>Hides the files of <paramref name="blocks"/> in this host's cache (as an invalidation would): a fault test's evicted cache.</summary>
    public void Forget(IEnumerable<WorkingSetBlock> blocks)
    {
        foreach (var (owner, ino) in blocks.Select(b => (b.Owner, b.Ino)).Distinct())
            _cache.Invalidate(BlockKey.HashHost(owner), ino);
    }

    /// <summary>Takes the blocks of <paramref name="blocks"/> this host lacks; <paramref name="cacheHolder"/> offered them from its cache.</summary>
    public async Task<WorkingSetReport> WarmAsync(IReadOnlyList<WorkingSetBlock> blocks, string cacheHolder, TimeSpan bound, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        var clock = Stopwatch.StartNew();
        var missing = Missing(_cache, _hostName, blocks);
        var local = blocks.LongCount(b => b.Owner == _hostName);
        var lacking = blocks.Where((_, i) => missing[i]).ToList();
        var run = new WarmRun(this, cacheHolder);
        using var timeUp = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        timeUp.CancelAfter(bound);
        try
        {
            await Parallel.ForEachAsync(Plan(lacking, cacheHolder), new ParallelOptions { MaxDegreeOfParallelism = ConcurrentCalls, CancellationToken = timeUp.Token },
                async (item, token) => await run.FetchAsync(item, token));
        }
        catch (OperationCanceledException) when (timeUp.IsCancellationRequested)
        {
            _logger.LogInformation("Warming the cache with {Count} blocks: time bound of {Bound} s reached", lacking.Count, bound.TotalSeconds);
        }
        var report = new WorkingSetReport(blocks.Count, blocks.Count - local - lacking.Count, local, run.Stale,
            [.. run.Fetched.OrderBy(f => f.Key.Host, StringComparer.Ordinal).ThenBy(f => f.Key.Role, StringComparer.Ordinal)
                .Select(f => new BlockSourceCount(f.Key.Host, f.Key.Role, f.Value.Blocks, f.Value.Bytes))],
            0, clock.Elapsed);
        report = report with { Failed = lacking.Count - report.FetchedBlocks - report.Stale };
        _logger.LogInformation("Warmed the cache with a working set from {Holder}: {Offered} offered, {Held} held, {Local} local, {Stale} stale, {Fetched} fetched ({Sources}), {Failed} not, in {Ms} ms",
            cacheHolder, report.Offered, report.Held, report.Local, report.Stale, report.FetchedBlocks,
            string.Join(", ", report.Fetched.Select(f => $"{f.Blocks} from {f.Host}'s {f.Role}")), report.Failed, (long)report.Elapsed.TotalMilliseconds);
        return report;
    }

    /// <summary>The lacking blocks cut into calls of one file each, every owner's files to its nearest holder.</summary>
    private List<WarmItem> Plan(List<WorkingSetBlock> lacking, string cacheHolder)
    {
        var items = new List<WarmItem>();
        foreach (var owner in lacking.GroupBy(b => b.Owner, StringComparer.Ordinal))
        {
            var bytes = owner.LongCount() * _cache.BlockSize;
            var holders = new List<HolderLink>();
            if (cacheHolder != owner.Key && _peers.Find(cacheHolder) is { } source)
                holders.Add(Link(source, CacheRole));
            if (_peers.Find(owner.Key) is { } ownerPeer)
                holders.Add(Link(ownerPeer, OwnerRole));
            var chosen = NearestHolder.Choose(holders, bytes) ?? holders.LastOrDefault();
            if (chosen == null)
                continue;
            _logger.LogInformation("Working set: {Count} blocks of {Owner}'s files from {Holder}'s {Role} ({Links})", owner.Count(), owner.Key, chosen.Host, chosen.Role,
                string.Join(", ", holders.Select(h => $"{h.Host} {h.Role}: {(h.RoundTrip ?? TimeSpan.Zero).TotalMilliseconds:0.0} ms, {h.BytesPerSecond / 1e6:0} MB/s, ~{NearestHolder.EstimatedTime(h, bytes).TotalMilliseconds:0} ms")));
            foreach (var file in owner.GroupBy(b => (b.Path, b.Ino, b.Version)))
            {
                var indexes = file.Select(b => b.BlockIndex).Order().ToList();
                for (var at = 0; at < indexes.Count; at += BlocksPerCall)
                    items.Add(new WarmItem(owner.Key, file.Key.Path, file.Key.Ino, file.Key.Version, indexes[at..Math.Min(indexes.Count, at + BlocksPerCall)], chosen.Role));
            }
        }
        return items;
    }

    private static HolderLink Link(RemotePeer peer, string role)
        => new(peer.Name, role, peer.Reachable, peer.Status.RoundTrip, peer.Status.BytesPerSecond);

    /// <summary>Blocks of one file to take in one call, from the owner or the offering host's cache.</summary>
    private sealed record WarmItem(string Owner, string Path, ulong Ino, long Version, List<ulong> Blocks, string Role);

    /// <summary>One warm-up's tallies and the owners' answers on the versions, shared by its calls.</summary>
    private sealed partial class WarmRun(CacheWarmer warmer, string cacheHolder)
    {
        private long _stale;

        public ConcurrentDictionary<(string Host, string Role), (long Blocks, long Bytes)> Fetched { get; } = new();

        /// <summary>Per file: whether its owner still has the offered version (or could not say).</summary>
        public ConcurrentDictionary<(string Owner, ulong Ino, long Version), Lazy<Task<bool>>> Current { get; } = new();

        public long Stale => Interlocked.Read(ref _stale);

        public string CacheHolder => cacheHolder;

        public CacheWarmer Warmer => warmer;

        public void AddStale(long blocks) => Interlocked.Add(ref _stale, blocks);

        public void AddFetched(string host, string role, long bytes)
            => Fetched.AddOrUpdate((host, role), (1, bytes), (_, t) => (t.Blocks + 1, t.Bytes + bytes));
    }
}
