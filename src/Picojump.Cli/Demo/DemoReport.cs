using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Picojump.Cli.Infrastructure;

namespace Picojump.Cli.Demo;

/// <summary>The demo's final table (80 columns) and its JSON, from the three runs.</summary>
public sealed class DemoReport(int sizeMiB, int passes, IReadOnlyList<Dataset> datasets, IReadOnlyList<RunResult> runs)
{
    private RunResult Run(Scenario scenario) => runs.Single(r => r.Scenario == scenario);

    /// <summary>
    /// Every run read exactly the datasets' bytes: each printed the CRC-32 computed from the
    /// owners' files, or the demo fails naming what every run read.
    /// </summary>
    public void CheckChecksums(IReadOnlyDictionary<string, string> expected)
    {
        foreach (var dataset in datasets)
        {
            var want = expected[dataset.Name];
            if (runs.All(r => r.Checksums.GetValueOrDefault(dataset.Name) == want))
                continue;
            var read = string.Join(", ", runs.Select(r => $"the {r.Scenario.Key} run {r.Checksums.GetValueOrDefault(dataset.Name) ?? "(none)"}"));
            throw new CliException($"dataset {dataset.Name} has CRC-32 {want} in {dataset.Host}'s export; {read}");
        }
    }

    /// <summary>The Picojump run's time over <paramref name="other"/>'s.</summary>
    public double Ratio(Scenario other) => Run(Scenario.Picojump).Elapsed / Run(other).Elapsed;

    public void WriteTable(TextWriter output)
    {
        output.WriteLine($"{"Run",-30} {"Runtime",9} {"vs Picojump",11} {"Network MiB",11} {"Moves",5}");
        var picojump = Run(Scenario.Picojump).Elapsed;
        foreach (var run in runs)
        {
            var copy = run.Copy is { } c ? string.Create(CultureInfo.InvariantCulture, $" (copy {c.TotalSeconds:0.0} s)") : "";
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{run.Scenario.Label,-30} {run.Elapsed.TotalSeconds,7:0.0} s {run.Elapsed / picojump,10:0.00}x {run.NetworkBytes / (double)(1 << 20),11:N0} {run.Moves.Count,5}"));
            if (copy.Length > 0)
                output.WriteLine($"  {copy.Trim()}");
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Picojump took {Ratio(Scenario.PinnedToH1):0.00}x the pinned run's time and {Ratio(Scenario.CopyFirst):0.00}x the copy-first run's."));
        output.WriteLine("Network MiB: bytes the cluster's links carried during the run (file data, copies, migrations).");
    }

    public string ToJson()
    {
        var document = new JsonObject
        {
            ["sizeMiB"] = sizeMiB,
            ["passes"] = passes,
            ["cacheSizeMiB"] = DemoOptions.CacheSizeMiB,
            ["datasets"] = new JsonArray([.. datasets.Select(d => new JsonObject { ["name"] = d.Name, ["host"] = d.Host })]),
            ["runs"] = new JsonArray([.. runs.Select(r => new JsonObject
            {
                ["name"] = r.Scenario.Key,
                ["label"] = r.Scenario.Label,
                ["seconds"] = Math.Round(r.Elapsed.TotalSeconds, 3),
                ["copySeconds"] = r.Copy is { } c ? Math.Round(c.TotalSeconds, 3) : null,
                ["networkBytes"] = r.NetworkBytes,
                ["moves"] = new JsonArray([.. r.Moves.Select(m => new JsonObject
                {
                    ["from"] = m.From,
                    ["to"] = m.To,
                    ["atSeconds"] = Math.Round(m.At.TotalSeconds, 3),
                    ["freezeMs"] = Math.Round(m.Freeze.TotalMilliseconds, 1),
                })]),
                ["checksums"] = new JsonObject([.. r.Checksums.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))]),
            })]),
            ["picojumpVsPinned"] = Math.Round(Ratio(Scenario.PinnedToH1), 4),
            ["picojumpVsCopyFirst"] = Math.Round(Ratio(Scenario.CopyFirst), 4),
        };
        return document.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}
