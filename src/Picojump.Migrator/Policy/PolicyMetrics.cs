using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Picojump.Migrator.Policy;

/// <summary>
/// Every decision the policy takes, "stay" included, by kind and by the rule that settled it
/// (picojump_policy_decisions_total{kind, rule}). Whoever acts on decisions records each one.
/// </summary>
public static class PolicyMetrics
{
    private static readonly Meter Meter = new("Picojump.Migrator.Policy");

    private static readonly Counter<long> Decisions = Meter.CreateCounter<long>(
        "picojump.policy.decisions", "{decision}", "Policy decisions, by kind (stay, move) and rule");

    public static void Record(Decision decision)
        => Decisions.Add(1, new TagList { { "kind", Label(decision.Kind.ToString()) }, { "rule", Label(decision.Rule.ToString()) } });

    /// <summary>"NotWorthIt" -> "not_worth_it": Prometheus label values in its usual style.</summary>
    private static string Label(string name)
        => string.Concat(name.Select((c, i) => char.IsUpper(c) && i > 0 ? "_" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));
}
