using Picojump.Migrator.Policy;
using static Picojump.Tests.Policy.Traffic;

namespace Picojump.Tests.Policy;

/// <summary>What the user decides wins over the arithmetic: pins, and the policy turned off per host or per job.</summary>
public sealed class PinningAndSwitchesTests
{
    private static readonly OwnerTraffic[] AllOnH2 = Split(GiB, ("h2", 1.0));

    [Fact]
    public void A_job_pinned_to_its_host_never_moves_whatever_its_traffic()
    {
        var job = new PolicyFixture { Pin = "h1" };

        var decisions = Enumerable.Range(0, 10).Select(_ => job.Step(AllOnH2)).ToList();

        Assert.Empty(job.Moves);
        Assert.All(decisions, d => Assert.Equal("stay: pinned to h1", d.Reason));
        Assert.All(decisions, d => Assert.Equal(DecisionRule.Pinned, d.Rule));
        Assert.Equal("h2", decisions[^1].Locality.RecommendedHost); // status still says where the data is
    }

    [Fact]
    public void A_job_pinned_elsewhere_moves_to_its_pin_at_once_and_nowhere_else()
    {
        var job = new PolicyFixture { Pin = "h3" };

        var decision = job.Step(AllOnH2); // all its data on h2, but the user said h3

        Assert.Equal((DecisionKind.Move, DecisionRule.MoveToPin, "h3"), (decision.Kind, decision.Rule, decision.Target));
        Assert.Equal("move to h3: pinned to h3", decision.Reason);
        Assert.Equal(0, decision.Streak); // no hysteresis for an explicit pin
        job.Advance(120);
        Assert.Equal("stay: pinned to h3", job.Step(AllOnH2).Reason);
    }

    [Fact]
    public void A_move_to_the_pin_waits_for_the_cooldown()
    {
        var job = new PolicyFixture();
        job.Migrate("h2");
        job.Pin = "h1";
        job.Advance(50);

        Assert.Equal("stay: pinned to h1, moving there when the cooldown ends (10 s left)", job.Evaluate(AllOnH2).Reason);

        job.Advance(10);
        Assert.Equal("h1", job.Evaluate(AllOnH2).Target); // a return, but the user asked for it
    }

    [Fact]
    public void A_pin_to_an_unreachable_host_keeps_the_job_where_it_is()
    {
        var job = new PolicyFixture { Pin = "h3" };
        job.Links["h3"] = job.Links["h3"] with { Reachable = false };

        var decision = job.Evaluate(AllOnH2);

        Assert.Equal((DecisionKind.Stay, DecisionRule.PinUnreachable), (decision.Kind, decision.Rule));
        Assert.Equal("stay: pinned to h3, which is unreachable", decision.Reason);
    }

    [Fact]
    public void A_pin_is_honoured_even_to_a_host_with_the_policy_off()
    {
        var job = new PolicyFixture { Pin = "h3" };
        job.Links["h3"] = job.Links["h3"] with { PolicyEnabled = false };

        Assert.Equal("h3", job.Evaluate(AllOnH2).Target);
    }

    [Fact]
    public void With_the_policy_off_on_its_host_a_job_stays_however_remote_its_io()
    {
        var job = new PolicyFixture { HostPolicy = false };

        var decisions = Enumerable.Range(0, 5).Select(_ => job.Step(AllOnH2)).ToList();

        Assert.Empty(job.Moves);
        Assert.All(decisions, d => Assert.Equal("stay: policy off on this host", d.Reason));
        Assert.Equal(1.0, decisions[0].Locality.RemoteShare); // the numbers are still there for status
        Assert.True(decisions[0].Best!.Qualifies);
    }

    [Fact]
    public void With_the_policy_off_for_the_job_it_stays_while_others_may_move()
    {
        var job = new PolicyFixture { JobPolicy = false };
        var other = new JobObservation("session:200", "h1", TimeSpan.FromSeconds(30), AllOnH2, 0, [], TimeSpan.Zero);

        var decisions = Enumerable.Range(0, 5).Select(_ => job.Step(AllOnH2)).ToList();
        var others = Enumerable.Range(0, 2).Select(_ => job.Engine.Evaluate(job.Cluster(), other)).ToList();

        Assert.Empty(job.Moves);
        Assert.All(decisions, d => Assert.Equal((DecisionRule.PolicyOffJob, "stay: policy off for this job"), (d.Rule, d.Reason)));
        Assert.Equal("h2", others[^1].Target);
    }

    [Fact]
    public void The_policy_off_for_a_job_wins_over_its_pin()
    {
        var job = new PolicyFixture { JobPolicy = false, Pin = "h3" };

        Assert.Equal(DecisionRule.PolicyOffJob, job.Evaluate(AllOnH2).Rule);
    }

    [Fact]
    public void A_host_with_the_policy_off_receives_no_job_but_the_next_best_host_may()
    {
        var job = new PolicyFixture { ResidentPages = 0, Freeze = TimeSpan.Zero };
        job.Links["h2"] = job.Links["h2"] with { PolicyEnabled = false };
        var window = Split(GiB, ("h2", 0.6), ("h3", 0.4));

        job.Step(window);
        var decision = job.Step(window);

        Assert.DoesNotContain(decision.Candidates, c => c.Host == "h2");
        Assert.Equal([("h1", "h3")], job.Moves.Select(m => (m.From, m.To)));
    }
}
