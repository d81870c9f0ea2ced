using Picojump.Migrator.Policy;
using Picojump.Tests.Accounting;

namespace Picojump.Tests.Policy;

/// <summary>Synthetic traffic: a window's bytes split between owner hosts, one operation per 128 KiB read.</summary>
internal static class Traffic
{
    public const long GiB = 1L << 30;
    public const long MiB = 1L << 20;
    public const long OpSize = 128 << 10;

    public static OwnerTraffic[] Split(long totalBytes, params (string Host, double Share)[] shares)
        => [.. shares.Select(s =>
        {
            var bytes = (long)(totalBytes * s.Share);
            return new OwnerTraffic(s.Host, Math.Max(1, bytes / OpSize), bytes);
        })];
}

/// <summary>
/// One job on a three-host cluster (h1, h2, h3), evaluated by a <see cref="PolicyEngine"/> on a
/// clock the test moves. Defaults: the job runs on h1 with 100 MiB resident, a move freezes it
/// 0.3 s, links are 100 MB/s with 0.5 ms round trips.
/// </summary>
internal sealed class PolicyFixture
{
    public const string JobKey = "session:100";

    public PolicyFixture(PolicyOptions? options = null)
    {
        Options = options ?? new PolicyOptions();
        Engine = new PolicyEngine(Options, Clock);
    }

    public ManualClock Clock { get; } = new();

    public PolicyOptions Options { get; }

    public PolicyEngine Engine { get; }

    public string Host { get; set; } = "h1";

    public long ResidentPages { get; set; } = 100 * Traffic.MiB / 4096;

    public TimeSpan Freeze { get; set; } = TimeSpan.FromSeconds(0.3);

    public bool HostPolicy { get; set; } = true;

    public bool JobPolicy { get; set; } = true;

    public string? Pin { get; set; }

    public Dictionary<string, HostLink> Links { get; } = new(StringComparer.Ordinal)
    {
        ["h1"] = new("h1", true, 100e6, TimeSpan.FromMilliseconds(0.5)),
        ["h2"] = new("h2", true, 100e6, TimeSpan.FromMilliseconds(0.5)),
        ["h3"] = new("h3", true, 100e6, TimeSpan.FromMilliseconds(0.5)),
    };

    public List<TargetEstimate> Targets { get; } = [];

    /// <summary>Every move the job made: when, from, to.</summary>
    public List<(DateTimeOffset At, string From, string To)> Moves { get; } = [];

    public ClusterView Cluster()
        => new(HostPolicy, [.. Links.Values.Where(l => l.Host != Host).OrderBy(l => l.Host, StringComparer.Ordinal)]);

    public JobObservation Observe(IReadOnlyList<OwnerTraffic> window)
        => new(JobKey, Host, Options.Window, window, ResidentPages, Targets, Freeze)
        {
            PolicyEnabled = JobPolicy,
            PinnedHost = Pin,
        };

    /// <summary>One evaluation on this window's traffic; the engine only decides.</summary>
    public Decision Evaluate(params OwnerTraffic[] window) => Engine.Evaluate(Cluster(), Observe(window));

    /// <summary>An evaluation after which the caller acts: a move is carried out at once and reported.</summary>
    public Decision Step(params OwnerTraffic[] window)
    {
        var decision = Evaluate(window);
        if (decision.IsMove)
            Migrate(decision.Target!);
        return decision;
    }

    public void Migrate(string to)
    {
        Moves.Add((Clock.GetUtcNow(), Host, to));
        Engine.RecordMigration(JobKey, Host);
        Host = to;
    }

    public void Advance(double seconds) => Clock.Advance(TimeSpan.FromSeconds(seconds));

    /// <summary>
    /// Runs the job for <paramref name="duration"/>: each second it does the I/O
    /// <paramref name="perSecond"/> gives for that second; every <paramref name="every"/> the
    /// engine is fed the sums over the last window (as the accounting's sliding window would be)
    /// and moves are carried out. Returns the decisions.
    /// </summary>
    public List<Decision> Run(TimeSpan duration, TimeSpan every, Func<int, OwnerTraffic[]> perSecond)
    {
        var windowSeconds = (int)Options.Window.TotalSeconds;
        var recent = new Queue<OwnerTraffic[]>();
        var decisions = new List<Decision>();
        for (var second = 0; second < (int)duration.TotalSeconds; second++)
        {
            recent.Enqueue(perSecond(second));
            while (recent.Count > windowSeconds)
                recent.Dequeue();
            Advance(1);
            if ((second + 1) % (int)every.TotalSeconds == 0)
            {
                var window = recent.SelectMany(t => t)
                    .GroupBy(t => t.Host, StringComparer.Ordinal)
                    .Select(g => new OwnerTraffic(g.Key, g.Sum(t => t.Ops), g.Sum(t => t.Bytes)))
                    .ToArray();
                decisions.Add(Step(window));
            }
        }
        return decisions;
    }
}
