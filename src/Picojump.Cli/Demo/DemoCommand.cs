using System.CommandLine;
using Picojump.Cli.DevCluster;

namespace Picojump.Cli.Demo;

/// <summary>`pjctl demo`: a job following its data on a 3-host dev cluster, against staying put and copying first.</summary>
public static class DemoCommand
{
    public static Command Create(Option<string?> rootOption)
    {
        var size = new Option<string?>("--size")
        {
            Description = $"Size of each of the three datasets: 512M, 2G, or MiB (default: what h1 reads from h2 in {DemoOptions.RemotePassTarget.TotalSeconds:0} s, from {DemoOptions.MinAutoSizeMiB}M to {DemoOptions.MaxAutoSizeMiB / 1024}G)",
        };
        size.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string>() is { } text && DemoOptions.ParseSize(text) == null)
                result.AddError($"--size must be a size from 1M to {DemoOptions.MaxSizeMiB / 1024}G (e.g. 512M, 2G), not '{result.GetValueOrDefault<string>()}'");
        });
        var passes = new Option<int>("--passes") { Description = "How many times the job reads each dataset", DefaultValueFactory = _ => DemoOptions.DefaultPasses };
        passes.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() is < 1 or > 100)
                result.AddError("--passes must be from 1 to 100");
        });
        var keep = new Option<bool>("--keep") { Description = "Leave the demo cluster up at the end (take it down with pjctl devcluster down --root ROOT)" };
        var json = new Option<bool>("--json") { Description = "Print the final table as JSON on stdout (progress goes to stderr)" };
        var daemon = new Option<string?>("--daemon")
        {
            Description = $"picojumpd to run (default: ${DaemonLocator.Variable}, else the one beside pjctl, else picojumpd on PATH)",
        };
        var demo = new Command("demo", $"Watch a job follow its data: a 3-host dev cluster (--root, default {DemoOptions.DefaultRoot}), three runs, a table; then all of it is taken down")
        {
            size, passes, keep, json, daemon,
        };
        demo.SetAction(result =>
        {
            var layout = ClusterLayout.Resolve(result.GetValue(rootOption) ?? DemoOptions.DefaultRoot);
            var options = new DemoOptions(result.GetValue(size) is { } text ? DemoOptions.ParseSize(text) : null, result.GetValue(passes), result.GetValue(keep), result.GetValue(json),
                DaemonLocator.Find(result.GetValue(daemon)));
            using var run = new DemoRun(layout, options);
            return run.Run();
        });
        return demo;
    }
}
