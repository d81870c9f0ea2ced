using Picojump.Migrator.Policy;
using static Picojump.Tests.Policy.Traffic;

namespace Picojump.Tests.Policy;

/// <summary>
/// A job whose I/O alternates between hosts must not be dragged back and forth: a host must
/// win several evaluations in a row, no move follows another within the cooldown, and a return
/// to the host just left needs a larger margin over more evaluations.
/// </summary>
public sealed class PingPongTests
{
    private const long BytesPerSecond = 40_000_000;

    private static Func<int, OwnerTraffic[]> Alternating(int phaseSeconds)
        => second => Split(BytesPerSecond, ((second / phaseSeconds) % 2 == 0 ? "h2" : "h3", 1.0));

    [Fact]
    public void Phases_alternating_between_h2_and_h3_every_window_never_move_a_job_evaluated_once_per_window()
    {
        var job = new PolicyFixture();

        var decisions = job.Run(TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(30), Alternating(30));

        Assert.Empty(job.Moves);
        Assert.All(decisions, d => Assert.Equal(DecisionRule.Confirming, d.Rule));
        Assert.All(decisions, d => Assert.Equal(1, d.Streak)); // each window names the other host
    }

    [Fact]
    public void On_overlapping_windows_the_same_alternation_moves_the_job_at_most_once_per_cooldown_and_never_straight_back()
    {
        var job = new PolicyFixture();

        job.Run(TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(5), Alternating(30));

        Assert.InRange(job.Moves.Count, 1, 3); // 120 windows of alternation: h1 -> h2 -> h3, one return at most
        AssertAtMostOnePerCooldown(job);
        AssertNoReturnWithin(job, job.Options.ReturnCooldown);
    }

    [Fact]
    public void Without_hysteresis_or_return_guard_the_cooldown_alone_still_bounds_the_moves()
    {
        var job = new PolicyFixture(new PolicyOptions { Hysteresis = 1, ReturnHysteresis = 1, ReturnMarginFactor = 1 });

        job.Run(TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(5), Alternating(30));

        Assert.True(job.Moves.Count > 3, $"{job.Moves.Count} moves: the guards off, the job chases every phase...");
        AssertAtMostOnePerCooldown(job); // ...but never twice within a cooldown
    }

    [Fact]
    public void A_job_whose_phases_last_several_windows_still_follows_its_data_back_and_forth()
    {
        var job = new PolicyFixture();
        var start = job.Clock.GetUtcNow();

        job.Run(TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(5), Alternating(120));

        Assert.True(job.Moves.Count >= 4, $"{job.Moves.Count} moves in five phases");
        foreach (var (at, _, to) in job.Moves)
        {
            var second = (int)(at - start).TotalSeconds - 1; // the second whose I/O the deciding window ended with
            Assert.Equal(Alternating(120)(second)[0].Host, to); // always towards the current phase's data
        }
        AssertAtMostOnePerCooldown(job);
    }

    [Fact]
    public void A_return_to_the_host_just_left_needs_the_larger_margin_until_the_return_cooldown_ends()
    {
        var job = new PolicyFixture();
        job.Migrate("h2");
        job.Advance(61); // past the cooldown, within the 5 min return cooldown
        // All of it back on h1, gaining about 5 s: above 1.3 s x 2 + 1 s, below 1.3 s x 4 + 2 s.
        var window = Split(360_000_000, ("h1", 1.0));

        var decisions = Enumerable.Range(0, 4).Select(_ => job.Evaluate(window)).ToList();

        Assert.All(decisions, d => Assert.Equal(DecisionRule.NotWorthIt, d.Rule));
        var back = decisions[0].Best!;
        Assert.True(back.IsReturn);
        Assert.InRange(back.Gain.TotalSeconds, 2 * back.Cost.TotalSeconds + 1, 4 * back.Cost.TotalSeconds + 2);
        Assert.Contains("x margin 4 + 2 s (a return to h1, left less than 300 s ago)", decisions[0].Reason);

        job.Advance(240); // 5 min since the move
        Assert.Equal(DecisionRule.Confirming, job.Evaluate(window).Rule);
        var move = job.Evaluate(window);
        Assert.Equal(("h1", DecisionKind.Move), (move.Target, move.Kind));
        Assert.False(move.Best!.IsReturn);
    }

    [Fact]
    public void A_return_that_clears_even_the_larger_margin_must_hold_for_twice_the_evaluations()
    {
        var job = new PolicyFixture();
        job.Migrate("h2");
        job.Advance(61);

        var decisions = Enumerable.Range(0, 4).Select(_ => job.Evaluate(Split(GiB, ("h1", 1.0)))).ToList();

        Assert.Equal([DecisionRule.Confirming, DecisionRule.Confirming, DecisionRule.Confirming, DecisionRule.Move],
            decisions.Select(d => d.Rule));
        Assert.EndsWith("; 3 of 4 evaluations", decisions[2].Reason);
    }

    [Fact]
    public void Returns_can_be_blocked_outright_for_the_return_cooldown()
    {
        var job = new PolicyFixture(new PolicyOptions { ReturnMarginFactor = double.PositiveInfinity });
        job.Migrate("h2");
        job.Advance(61);

        var blocked = job.Evaluate(Split(GiB, ("h1", 1.0)));

        Assert.Equal(DecisionRule.NotWorthIt, blocked.Rule);
        Assert.EndsWith("but returns to h1 are blocked for 300 s after leaving it", blocked.Reason);

        job.Advance(240);
        job.Evaluate(Split(GiB, ("h1", 1.0)));
        Assert.Equal("h1", job.Evaluate(Split(GiB, ("h1", 1.0))).Target);
    }

    [Fact]
    public void No_move_within_the_cooldown_after_a_migration_and_the_reason_counts_down()
    {
        var job = new PolicyFixture();
        job.Migrate("h2");
        var allOnH3 = Split(GiB, ("h3", 1.0));

        job.Advance(48);
        var waiting = job.Evaluate(allOnH3);
        Assert.Equal(DecisionRule.Cooldown, waiting.Rule);
        Assert.Equal("stay: cooldown 12 s left since the move from h1", waiting.Reason);
        Assert.Equal("h3", waiting.Locality.RecommendedHost); // status still shows where the data is

        job.Advance(11.5);
        Assert.Equal("stay: cooldown 1 s left since the move from h1", job.Evaluate(allOnH3).Reason);

        job.Advance(0.5); // exactly 60 s: the cooldown is over, the hysteresis starts from zero
        var first = job.Evaluate(allOnH3);
        Assert.Equal((DecisionRule.Confirming, 1), (first.Rule, first.Streak));
        Assert.Equal("h3", job.Evaluate(allOnH3).Target);
    }

    [Fact]
    public void A_failed_migration_starts_the_cooldown_but_leaves_no_host_to_return_to()
    {
        var job = new PolicyFixture();
        job.Evaluate(Split(GiB, ("h2", 1.0)));
        job.Engine.RecordMigration(PolicyFixture.JobKey, "h1", succeeded: false);

        Assert.Equal("stay: cooldown 60 s left since the last migration attempt", job.Evaluate(Split(GiB, ("h2", 1.0))).Reason);

        job.Advance(60);
        var again = job.Evaluate(Split(GiB, ("h2", 1.0)));
        Assert.Equal((DecisionRule.Confirming, 1), (again.Rule, again.Streak));
        Assert.False(again.Best!.IsReturn);
    }

    [Fact]
    public void A_streak_is_broken_by_any_evaluation_the_host_does_not_win()
    {
        var job = new PolicyFixture();

        var first = job.Evaluate(Split(GiB, ("h2", 1.0)));
        var local = job.Evaluate(Split(GiB, ("h1", 1.0)));
        var second = job.Evaluate(Split(GiB, ("h2", 1.0)));

        Assert.Equal((DecisionRule.Confirming, 1), (first.Rule, first.Streak));
        Assert.Equal((DecisionRule.MostlyLocal, 0), (local.Rule, local.Streak));
        Assert.Equal((DecisionRule.Confirming, 1), (second.Rule, second.Streak));
    }

    private static void AssertAtMostOnePerCooldown(PolicyFixture job)
    {
        foreach (var (earlier, later) in job.Moves.Zip(job.Moves.Skip(1)))
            Assert.True(later.At - earlier.At >= job.Options.Cooldown, $"moves at {earlier.At:T} and {later.At:T}");
    }

    private static void AssertNoReturnWithin(PolicyFixture job, TimeSpan returnCooldown)
    {
        foreach (var (earlier, later) in job.Moves.Zip(job.Moves.Skip(1)))
            if (later.To == earlier.From)
                Assert.True(later.At - earlier.At >= returnCooldown, $"back to {later.To} {(later.At - earlier.At).TotalSeconds} s after leaving it");
    }
}
