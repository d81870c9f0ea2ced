using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Picojump.Tests.Migration;

/// <summary>
/// The output of the CRIU test jobs: "ready DIGEST" once their memory is built, then
/// "tick N DIGEST" at every tick, DIGEST being the sha256 of that memory.
/// </summary>
internal static partial class JobOutput
{
    [GeneratedRegex("^ready ([0-9a-f]{64})$")]
    public static partial Regex ReadyLine();

    [GeneratedRegex("^tick ([0-9]+) ([0-9a-f]{64})$")]
    public static partial Regex TickLine();

    public static int LastTick(string outputPath)
        => File.ReadAllLines(outputPath).Select(line => TickLine().Match(line)).Where(m => m.Success)
            .Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).DefaultIfEmpty(0).Max();

    /// <summary>The first line matching <paramref name="pattern"/> that <paramref name="accept"/> takes, within 60 s.</summary>
    public static Match WaitForLine(string workDirectory, string outputPath, Regex pattern, Func<Match, bool> accept)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (File.Exists(outputPath))
            {
                foreach (var line in File.ReadAllLines(outputPath))
                {
                    var match = pattern.Match(line);
                    if (match.Success && accept(match))
                        return match;
                }
            }
            Thread.Sleep(50);
        }
        var errors = Path.Combine(workDirectory, "err.txt");
        Assert.Fail($"the job printed no line like {pattern} in 60 s; stderr: {(File.Exists(errors) ? File.ReadAllText(errors) : "")}");
        return null!;
    }
}
