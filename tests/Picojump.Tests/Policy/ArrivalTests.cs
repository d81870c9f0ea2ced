using System.Text.Json;
using Picojump.Migrator.Jobs;
using Picojump.Migrator.Policy;
using static Picojump.Tests.Policy.Traffic;

namespace Picojump.Tests.Policy;

/// <summary>
/// A job that arrives at a host meets a new engine there: its policy state comes from its
/// migration history (<see cref="PolicyRunner.Arrived"/>), and its pin and policy switch from its
/// record, which travels as JSON. So the cooldown and the return guard hold across hosts.
/// </summary>
public sealed class ArrivalTests
{
    private static JobRecord Job(params JobMigration[] moves) => new()
    {
        Id = "0123456789ab",
        Command = ["bash"],
        WorkingDirectory = "/pj",
        Directory = "/pj/.picojump/jobs/0123456789ab",
        Host = "h2",
        Migrations = moves,
    };

    [Fact]
    public void A_job_that_just_arrived_from_h1_stays_for_the_cooldown_and_then_needs_the_return_hysteresis_to_go_back()
    {
        var job = new PolicyFixture { Host = "h2" };
        var arrivedAt = job.Clock.GetUtcNow();
        job.Engine.Restore(PolicyFixture.JobKey, PolicyRunner.Arrived(Job(new JobMigration("h1", "h2", arrivedAt.ToUnixTimeMilliseconds(), 300_000, 1 << 20))));
        var backToH1 = Split(GiB, ("h1", 1.0));

        job.Advance(10);
        var early = job.Step(backToH1);
        Assert.Equal(DecisionRule.Cooldown, early.Rule);
        Assert.Contains("since the move from h1", early.Reason, StringComparison.Ordinal);

        job.Advance(job.Options.Cooldown.TotalSeconds);
        var confirming = Enumerable.Range(0, job.Options.ReturnHysteresis - 1).Select(_ => { job.Advance(2); return job.Step(backToH1); }).ToList();
        Assert.All(confirming, d => Assert.Equal(DecisionRule.Confirming, d.Rule));
        Assert.All(confirming, d => Assert.True(d.Best!.IsReturn));
        job.Advance(2);
        Assert.Equal(DecisionRule.Move, job.Step(backToH1).Rule);
        Assert.Equal(new[] { ("h2", "h1") }, job.Moves.Select(m => (m.From, m.To)));
    }

    [Fact]
    public void A_job_that_never_moved_starts_afresh_and_its_last_move_is_the_one_that_counts()
    {
        Assert.Equal(JobPolicyState.Initial, PolicyRunner.Arrived(Job()));
        var state = PolicyRunner.Arrived(Job(new JobMigration("h1", "h2", 1_000, 0, 0), new JobMigration("h2", "h3", 60_000, 500_000, 0)));
        Assert.Equal("h2", state.LastLeftHost);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(60_500), state.LastMigrationAt);
        Assert.Equal(0, state.Streak);
    }

    [Fact]
    public void The_pin_and_the_policy_switch_travel_in_the_job_record_and_an_older_record_has_the_policy_on()
    {
        var json = new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
        var pinned = Job() with { PinnedHost = "h1", PolicyEnabled = false };
        var back = JsonSerializer.Deserialize<JobRecord>(JsonSerializer.Serialize(pinned, json), json)!;
        Assert.Equal("h1", back.PinnedHost);
        Assert.False(back.PolicyEnabled);

        var older = JsonSerializer.Deserialize<JobRecord>(
            """{ "id": "0123456789ab", "command": ["bash"], "workingDirectory": "/pj", "directory": "/pj/x", "host": "h1" }""", json)!;
        Assert.True(older.PolicyEnabled);
        Assert.Null(older.PinnedHost);
    }
}
