using Picojump.Migrator.Policy;
using static Picojump.Tests.Policy.Traffic;

namespace Picojump.Tests.Policy;

/// <summary>
/// A job moves when the time its remote traffic costs, over the next window, clears the cost
/// of the move with the margin; otherwise it stays. The job runs on h1 unless said otherwise.
/// </summary>
public sealed class MovingWhenItPaysTests
{
    private static readonly OwnerTraffic[] NinetyPercentFromH2 = Split(GiB, ("h1", 0.1), ("h2", 0.9));

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void A_job_reading_90_percent_from_h2_with_little_memory_moves_there_at_the_hysteresis_count(int hysteresis)
    {
        var job = new PolicyFixture(new PolicyOptions { Hysteresis = hysteresis });

        var decisions = Enumerable.Range(0, hysteresis).Select(_ => job.Evaluate(NinetyPercentFromH2)).ToList();

        Assert.All(decisions.SkipLast(1), d => Assert.Equal(DecisionRule.Confirming, d.Rule));
        Assert.Equal([.. Enumerable.Range(1, hysteresis)], decisions.Select(d => d.Streak));
        var move = decisions[^1];
        Assert.Equal(DecisionKind.Move, move.Kind);
        Assert.Equal("h2", move.Target);
    }

    [Fact]
    public void Gain_is_the_remote_time_that_becomes_local_minus_the_local_time_that_becomes_remote()
    {
        var job = new PolicyFixture();

        var h2 = job.Evaluate(NinetyPercentFromH2).Candidates.Single(c => c.Host == "h2");

        var local = NinetyPercentFromH2[0];
        var remote = NinetyPercentFromH2[1];
        const double bandwidth = 100e6, roundTrip = 0.0005;
        var expectedGain = (remote.Bytes - local.Bytes) / bandwidth + (remote.Ops - local.Ops) * roundTrip;
        Assert.Equal(expectedGain, h2.Gain.TotalSeconds, 3);
        // 100 MiB of pages over 100 MB/s, plus the 0.3 s freeze; required: twice that plus 1 s.
        Assert.Equal(100 * MiB / bandwidth + 0.3, h2.Cost.TotalSeconds, 3);
        Assert.Equal(2 * h2.Cost.TotalSeconds + 1, h2.Required.TotalSeconds, 3);
        Assert.Equal(100 * MiB, h2.BytesToSend);
        Assert.True(h2.Qualifies);
    }

    [Fact]
    public void It_stays_when_its_memory_is_huge_and_the_link_slow_because_the_move_costs_more_than_it_gains()
    {
        var job = new PolicyFixture { ResidentPages = 64 * GiB / 4096 };
        job.Links["h2"] = job.Links["h2"] with { BytesPerSecond = 10e6 }; // 10 MB/s

        var decisions = Enumerable.Range(0, 5).Select(_ => job.Evaluate(NinetyPercentFromH2)).ToList();

        Assert.All(decisions, d => Assert.Equal(DecisionRule.NotWorthIt, d.Rule));
        var h2 = decisions[^1].Candidates.Single(c => c.Host == "h2");
        Assert.True(h2.Gain > TimeSpan.FromSeconds(60), "the remote reads are slow on that link...");
        Assert.True(h2.Cost > TimeSpan.FromHours(1), "...but 64 GiB of pages take far longer to send");
    }

    [Fact]
    public void Pages_the_target_already_holds_make_a_large_job_cheap_to_move()
    {
        var job = new PolicyFixture { ResidentPages = 64 * GiB / 4096 };
        Assert.Equal(DecisionRule.NotWorthIt, job.Evaluate(NinetyPercentFromH2).Rule);

        job.Targets.Add(new TargetEstimate("h2", PagesHeld: 64 * GiB / 4096 - 1000, CachedBlocksMissing: 10));

        var decision = job.Evaluate(NinetyPercentFromH2);
        Assert.Equal(DecisionRule.Confirming, decision.Rule);
        Assert.Equal(1000 * 4096 + 10 * MiB, decision.Best!.BytesToSend);
    }

    [Fact]
    public void Cached_blocks_missing_at_the_target_count_in_the_cost()
    {
        var job = new PolicyFixture { ResidentPages = 0, Freeze = TimeSpan.Zero };
        job.Targets.Add(new TargetEstimate("h2", PagesHeld: 0, CachedBlocksMissing: 2000)); // 2000 MiB

        var h2 = job.Evaluate(NinetyPercentFromH2).Candidates.Single(c => c.Host == "h2");

        Assert.Equal(2000 * MiB / 100e6, h2.Cost.TotalSeconds, 3);
        Assert.False(h2.Qualifies); // 21 s of transfer x 2 + 1 s is more than the 11.9 s gained
    }

    [Fact]
    public void It_stays_when_most_of_its_bytes_are_local()
    {
        var job = new PolicyFixture();

        var decision = job.Evaluate(Split(GiB, ("h1", 0.82), ("h2", 0.18)));

        Assert.Equal(DecisionRule.MostlyLocal, decision.Rule);
        Assert.StartsWith("stay: 82% of bytes (1.0 GiB/30 s) are local", decision.Reason);
    }

    [Fact]
    public void A_bare_majority_remote_is_not_enough_when_the_local_traffic_would_become_remote()
    {
        var job = new PolicyFixture();

        var decision = job.Evaluate(Split(GiB, ("h1", 0.45), ("h2", 0.55)));

        Assert.Equal(DecisionRule.NotWorthIt, decision.Rule); // gains 10% of the traffic's time, about 1.3 s
        Assert.True(decision.Best!.Gain < TimeSpan.FromSeconds(2));
    }

    [Fact]
    public void Traffic_to_a_third_host_stays_remote_either_way_and_counts_for_neither_candidate()
    {
        var job = new PolicyFixture();
        var window = Split(GiB, ("h1", 0.1), ("h2", 0.3), ("h3", 0.6));

        var decision = job.Evaluate(window);

        Assert.Equal("h3", decision.Best!.Host);
        var h2 = decision.Candidates.Single(c => c.Host == "h2");
        var expected = (window[1].Bytes - window[0].Bytes) / 100e6 + (window[1].Ops - window[0].Ops) * 0.0005;
        Assert.Equal(expected, h2.Gain.TotalSeconds, 3); // h3's 60% plays no part in moving to h2
    }

    [Fact]
    public void It_stays_when_its_traffic_is_tiny_even_if_moving_is_free()
    {
        var job = new PolicyFixture { ResidentPages = 0, Freeze = TimeSpan.Zero };

        var decisions = Enumerable.Range(0, 3).Select(_ => job.Evaluate(Split(MiB, ("h2", 1.0)))).ToList();

        Assert.All(decisions, d => Assert.Equal(DecisionRule.NotWorthIt, d.Rule));
        Assert.Contains("stay: h2 (100% of bytes) would gain 0.01 s per 30 s, not more than cost 0 s x margin 2 + 1 s", decisions[0].Reason);
    }

    [Fact]
    public void It_stays_when_it_did_no_io_in_the_window()
    {
        var job = new PolicyFixture();

        var decision = job.Evaluate();

        Assert.Equal(DecisionRule.NoTraffic, decision.Rule);
        Assert.Equal("stay: no bytes read or written in the last 30 s", decision.Reason);
        Assert.Equal("h1", decision.Locality.RecommendedHost);
    }

    [Fact]
    public void Unreachable_hosts_and_hosts_without_a_measured_bandwidth_are_no_candidates()
    {
        var job = new PolicyFixture();
        job.Links["h2"] = job.Links["h2"] with { Reachable = false };
        job.Links["h3"] = job.Links["h3"] with { BytesPerSecond = 0 };

        var decision = job.Evaluate(Split(GiB, ("h2", 0.5), ("h3", 0.5)));

        Assert.Equal(DecisionRule.NoCandidate, decision.Rule);
        Assert.Empty(decision.Candidates);
        Assert.Equal("stay: 100% of bytes are remote, but no reachable host with the policy on to move to", decision.Reason);
    }

    [Fact]
    public void A_job_that_changes_datasets_follows_within_the_window_and_the_hysteresis()
    {
        // Reads 40 MB/s from h2; evaluated every 5 s on the last 30 s, as the daemon would.
        var job = new PolicyFixture();
        var start = job.Clock.GetUtcNow();

        job.Run(TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(5), _ => Split(40_000_000, ("h2", 1.0)));

        var move = Assert.Single(job.Moves);
        Assert.Equal(("h1", "h2"), (move.From, move.To));
        Assert.True(move.At - start <= TimeSpan.FromSeconds(30), $"moved after {move.At - start}");
    }
}
