using Picojump.Migrator.Policy;
using static Picojump.Tests.Policy.Traffic;

namespace Picojump.Tests.Policy;

/// <summary>
/// Every decision explains itself with the numbers behind it, for `pjctl status`: shares per
/// host, the recommended host, gain and cost; the engine keeps a bounded history; the same
/// inputs always give the same decision.
/// </summary>
public sealed class DecisionReportTests
{
    [Fact]
    public void A_move_says_where_the_bytes_go_and_how_gain_compares_with_cost()
    {
        var job = new PolicyFixture();
        var window = Split(GiB, ("h1", 0.1), ("h2", 0.9));

        var confirming = job.Evaluate(window);
        var move = job.Evaluate(window);

        Assert.Equal("stay: h2 (90% of bytes) beats h1, gain 11.9 s > cost 1.3 s x margin 2 + 1 s; 1 of 2 evaluations", confirming.Reason);
        Assert.Equal("move to h2: 90% of bytes (921.6 MiB/30 s) go to h2; gain 11.9 s > cost 1.3 s x margin 2 + 1 s", move.Reason);
        Assert.Equal(("h1", "h2", 2), (move.CurrentHost, move.Target, move.Streak));
        Assert.Equal(job.Clock.GetUtcNow(), move.At);
    }

    [Fact]
    public void A_stay_that_does_not_pay_says_by_how_much()
    {
        var job = new PolicyFixture { ResidentPages = 16 * GiB / 4096 };

        var decision = job.Evaluate(Split(GiB, ("h1", 0.1), ("h2", 0.9)));

        Assert.Equal("stay: h2 (90% of bytes) would gain 11.9 s per 30 s, not more than cost 172 s x margin 2 + 1 s", decision.Reason);
    }

    [Fact]
    public void Shares_per_host_are_of_bytes_most_first_with_the_current_host_always_listed()
    {
        var job = new PolicyFixture();

        var locality = job.Evaluate(Split(1000 * MiB, ("h3", 0.25), ("h2", 0.75))).Locality;

        Assert.Equal(["h2", "h3", "h1"], locality.Hosts.Select(h => h.Host));
        Assert.Equal([0.75, 0.25, 0.0], locality.Hosts.Select(h => h.Share));
        Assert.Equal([false, false, true], locality.Hosts.Select(h => h.IsLocal));
        Assert.Equal((0.0, 1.0, 1000 * MiB), (locality.LocalShare, locality.RemoteShare, locality.TotalBytes));
        Assert.Equal("h2", locality.RecommendedHost);
        Assert.Equal(TimeSpan.FromSeconds(30), locality.Window);
    }

    [Fact]
    public void The_recommended_host_is_reported_even_when_the_job_stays()
    {
        var job = new PolicyFixture { ResidentPages = 64 * GiB / 4096 };

        var decision = job.Evaluate(Split(GiB, ("h1", 0.3), ("h2", 0.7)));

        Assert.Equal(DecisionKind.Stay, decision.Kind);
        Assert.Equal("h2", decision.Locality.RecommendedHost);
        Assert.Equal(0.7, decision.Locality.ShareOf("h2"), 6);
    }

    [Fact]
    public void On_an_equal_split_the_current_host_is_recommended()
    {
        var job = new PolicyFixture();

        Assert.Equal("h1", job.Evaluate(Split(GiB, ("h2", 0.5), ("h1", 0.5))).Locality.RecommendedHost);
    }

    [Fact]
    public void A_tie_between_two_hosts_goes_to_the_first_by_name_whatever_the_input_order()
    {
        var forward = new PolicyFixture();
        var backward = new PolicyFixture();
        var window = Split(GiB, ("h2", 0.45), ("h3", 0.45), ("h1", 0.1));

        forward.Evaluate(window);
        var a = forward.Evaluate(window);
        var reversedLinks = backward.Cluster() with { Links = [.. backward.Cluster().Links.Reverse()] };
        var reversedWindow = backward.Observe([.. window.Reverse()]);
        backward.Engine.Evaluate(reversedLinks, reversedWindow);
        var b = backward.Engine.Evaluate(reversedLinks, reversedWindow);

        Assert.Equal(a.Candidates[0].Gain, a.Candidates[1].Gain); // a real tie
        Assert.Equal(("h2", "h2"), (a.Target, b.Target));
        Assert.Equal(a.Reason, b.Reason);
        Assert.Equal(a.Locality.Hosts, b.Locality.Hosts);
        Assert.Equal(a.Candidates, b.Candidates);
    }

    [Fact]
    public void The_same_inputs_at_the_same_instant_give_the_same_decision_and_state()
    {
        var job = new PolicyFixture();
        var observation = job.Observe(Split(GiB, ("h1", 0.2), ("h2", 0.5), ("h3", 0.3)));
        var state = new JobPolicyState { StreakHost = "h2", Streak = 1 };
        var now = job.Clock.GetUtcNow();

        var (first, firstState) = LocalityPolicy.Decide(job.Options, state, job.Cluster(), observation, now);
        var (second, secondState) = LocalityPolicy.Decide(job.Options, state, job.Cluster(), observation, now);

        Assert.Equal(first.Reason, second.Reason);
        Assert.Equal(first.Candidates, second.Candidates);
        Assert.Equal(firstState, secondState);
        Assert.Equal(new JobPolicyState { StreakHost = "h2", Streak = 1 }, state); // the input is not changed
    }

    [Fact]
    public void The_engine_keeps_the_last_decisions_per_job_oldest_first()
    {
        var job = new PolicyFixture(new PolicyOptions { HistoryLength = 3 });

        for (var i = 0; i < 5; i++)
        {
            job.Evaluate(Split(GiB, ("h1", 1.0)));
            job.Advance(10);
        }

        var history = job.Engine.History(PolicyFixture.JobKey);
        Assert.Equal(3, history.Count);
        Assert.True(history[0].At < history[1].At && history[1].At < history[2].At);
        Assert.Same(history[^1], job.Engine.LastDecision(PolicyFixture.JobKey));
        Assert.Equal([PolicyFixture.JobKey], job.Engine.Jobs);

        Assert.True(job.Engine.Forget(PolicyFixture.JobKey));
        Assert.Empty(job.Engine.History(PolicyFixture.JobKey));
        Assert.Null(job.Engine.LastDecision(PolicyFixture.JobKey));
    }

    [Fact]
    public void The_state_can_travel_with_the_job_to_its_next_host()
    {
        var source = new PolicyFixture();
        source.Migrate("h2");
        var destination = new PolicyFixture { Host = "h2" };

        destination.Engine.Restore(PolicyFixture.JobKey, source.Engine.StateOf(PolicyFixture.JobKey));

        Assert.Equal(DecisionRule.Cooldown, destination.Evaluate(Split(GiB, ("h1", 1.0))).Rule);
        Assert.Equal("h1", destination.Engine.StateOf(PolicyFixture.JobKey).LastLeftHost);
    }

    [Theory]
    [InlineData(nameof(PolicyOptions.MinRemoteShare))]
    [InlineData(nameof(PolicyOptions.MarginFactor))]
    [InlineData(nameof(PolicyOptions.Hysteresis))]
    [InlineData(nameof(PolicyOptions.ReturnHysteresis))]
    [InlineData(nameof(PolicyOptions.HistoryLength))]
    public void Options_that_make_no_sense_are_refused(string name)
    {
        var options = name switch
        {
            nameof(PolicyOptions.MinRemoteShare) => new PolicyOptions { MinRemoteShare = 1 },
            nameof(PolicyOptions.MarginFactor) => new PolicyOptions { MarginFactor = 0.5 },
            nameof(PolicyOptions.Hysteresis) => new PolicyOptions { Hysteresis = 0 },
            nameof(PolicyOptions.ReturnHysteresis) => new PolicyOptions { Hysteresis = 3, ReturnHysteresis = 2 },
            _ => new PolicyOptions { HistoryLength = 0 },
        };

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new PolicyEngine(options, TimeProvider.System));
        Assert.Equal(name, error.ParamName);
    }
}
