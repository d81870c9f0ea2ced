using System.Security.Cryptography;
using System.Text;
using Picojump.Tests.DevCluster;
using Picojump.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Picojump.Tests.Demo;

/// <summary>
/// `pjctl demo` end to end on its own dev cluster (not a terminal, so plain lines): the table
/// and its three runs, the job moved by the policy, and nothing left behind, also when the
/// demo fails part-way or is given a bad option.
/// </summary>
public sealed class DemoTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _root = Pjctl.NewRoot();
    private readonly string _scratch = Directory.CreateTempSubdirectory("pj-demo-test-").FullName;

    private Pjctl Pjctl => new(_root);

    [SkippableFact]
    public void A_small_demo_prints_the_table_of_its_three_runs_moves_the_job_and_leaves_nothing_behind()
    {
        Pjctl.RequireMachine();
        Prerequisites.RequireCommand("python3");
        // Small datasets read many times: each phase lasts long enough for the policy to move the job.
        var demo = Pjctl.Run(["demo", "--root", _root, "--size", "64M", "--passes", "8"]);
        output.WriteLine(demo.ToString());
        Assert.True(demo.ExitCode == 0, $"pjctl demo: {demo}");
        var rows = demo.Output.Split('\n').Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
        string[] Row(string label) => rows.Single(r => string.Join(' ', r).StartsWith(label, StringComparison.Ordinal));
        var picojump = Row("Picojump (follows its data)");
        Row("Pinned to h1 (remote I/O)");
        Row("Data copied to h1 first");
        Assert.True(int.Parse(picojump[^1], System.Globalization.CultureInfo.InvariantCulture) >= 1, $"the Picojump run did not move the job:\n{demo.Output}");
        Assert.Contains("moved h1 -> h2", demo.Output, StringComparison.Ordinal);
        Assert.Contains("Taking the demo cluster down... done", demo.Output, StringComparison.Ordinal);
        Leftovers.AssertNone(_root, ClusterId(_root));
    }

    [SkippableTheory]
    [InlineData("--size", "0")]
    [InlineData("--size", "lots")]
    [InlineData("--passes", "0")]
    public void A_bad_option_is_a_usage_error_and_makes_nothing(string option, string value)
    {
        var demo = Pjctl.Run(["demo", "--root", _root, option, value]);
        Assert.Equal(2, demo.ExitCode);
        Assert.Contains(option, demo.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_root));
    }

    [SkippableFact]
    public void A_demo_whose_cluster_fails_part_way_takes_down_what_it_made()
    {
        Pjctl.RequireMachine();
        var daemon = Path.Combine(_scratch, "refusing-daemon");
        File.WriteAllText(daemon, "#!/bin/sh\necho 'test double: picojumpd refuses to start' >&2\nexit 3\n");
        File.SetUnixFileMode(daemon, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var demo = Pjctl.Run(["demo", "--root", _root, "--size", "16M", "--daemon", daemon]);
        Assert.True(demo.ExitCode == 1, $"pjctl demo: {demo}");
        Assert.Contains("Taking the demo cluster down... done", demo.Output, StringComparison.Ordinal);
        Assert.Contains("refuses to start", demo.Error, StringComparison.Ordinal);
        Leftovers.AssertNone(_root, ClusterId(_root));
    }

    [SkippableFact]
    public void A_demo_leaves_a_cluster_already_at_its_root_alone()
    {
        Pjctl.RequireMachine();
        Pjctl.Check("devcluster", "up", "--hosts", "1");
        try
        {
            var demo = Pjctl.Run(["demo", "--root", _root]);
            Assert.True(demo.ExitCode == 1, $"pjctl demo: {demo}");
            Assert.Contains("already up", demo.Error, StringComparison.Ordinal);
            Assert.Contains("running", Pjctl.Check("devcluster", "status").Output, StringComparison.Ordinal);
        }
        finally
        {
            Pjctl.Run(["devcluster", "down"]);
        }
    }

    /// <summary>The id a dev cluster at <paramref name="root"/> has: its namespaces and links carry it.</summary>
    private static string ClusterId(string root) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(root)))[..6];

    public void Dispose()
    {
        if (Directory.Exists(_root))
            Pjctl.Run(["devcluster", "down"]);
        Directory.Delete(_scratch, recursive: true);
    }
}
