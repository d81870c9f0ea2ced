namespace Picojump.Fs.Accounting;

/// <summary>
/// One job's counters for one owner host: totals plus a ring of 1 s buckets for the sliding
/// window. One short lock: only requests of the same job to the same owner contend for it,
/// and it is held for a few additions.
/// </summary>
internal sealed class OwnerCounters(string ownerHost, long firstSeenTicks)
{
    private readonly Lock _gate = new();
    private readonly Bucket[] _ring = new Bucket[AccessAccounting.MaxWindowSeconds];
    private readonly long _firstSeenTicks = firstSeenTicks;
    private Bucket _total;
    private long _lastSeenTicks = firstSeenTicks;

    public string OwnerHost => ownerHost;

    public long LastSeenTicks => Volatile.Read(ref _lastSeenTicks);

    public void Add(long nowTicks, long bytesRead, long bytesWritten, long latencyTicks)
    {
        var second = nowTicks / TimeSpan.TicksPerSecond;
        lock (_gate)
        {
            ref var bucket = ref _ring[second % _ring.Length];
            if (bucket.Second != second)
                bucket = new Bucket { Second = second };
            bucket.Add(bytesRead, bytesWritten, latencyTicks);
            _total.Add(bytesRead, bytesWritten, latencyTicks);
            if (nowTicks > _lastSeenTicks)
                Volatile.Write(ref _lastSeenTicks, nowTicks);
        }
    }

    public OwnerAccess Totals()
    {
        lock (_gate)
            return _total.ToAccess(ownerHost, _firstSeenTicks, _lastSeenTicks);
    }

    /// <summary>The sum of the buckets of seconds after <paramref name="afterSecond"/>; null if none was touched.</summary>
    public OwnerAccess? Since(long afterSecond)
    {
        lock (_gate)
        {
            var sum = new Bucket { Second = long.MaxValue };
            foreach (var bucket in _ring)
            {
                if (bucket.Second <= afterSecond || bucket.Ops == 0)
                    continue;
                sum.Second = Math.Min(sum.Second, bucket.Second);
                sum.Merge(bucket);
            }
            if (sum.Ops == 0)
                return null;
            var first = Math.Max(_firstSeenTicks, sum.Second * TimeSpan.TicksPerSecond);
            return sum.ToAccess(ownerHost, first, _lastSeenTicks);
        }
    }

    private struct Bucket
    {
        public long Second;
        public long Ops;
        public long RemoteOps;
        public long BytesRead;
        public long BytesWritten;
        public long LatencyTicks;
        public long MaxLatencyTicks;

        public void Add(long bytesRead, long bytesWritten, long latencyTicks)
        {
            Ops++;
            BytesRead += bytesRead;
            BytesWritten += bytesWritten;
            if (latencyTicks <= 0)
                return;
            RemoteOps++;
            LatencyTicks += latencyTicks;
            MaxLatencyTicks = Math.Max(MaxLatencyTicks, latencyTicks);
        }

        public void Merge(in Bucket other)
        {
            Ops += other.Ops;
            RemoteOps += other.RemoteOps;
            BytesRead += other.BytesRead;
            BytesWritten += other.BytesWritten;
            LatencyTicks += other.LatencyTicks;
            MaxLatencyTicks = Math.Max(MaxLatencyTicks, other.MaxLatencyTicks);
        }

        public readonly OwnerAccess ToAccess(string owner, long firstTicks, long lastTicks) => new(
            owner, Ops, BytesRead, BytesWritten, RemoteOps,
            TimeSpan.FromTicks(LatencyTicks), TimeSpan.FromTicks(MaxLatencyTicks),
            new DateTimeOffset(firstTicks, TimeSpan.Zero), new DateTimeOffset(lastTicks, TimeSpan.Zero));
    }
}
