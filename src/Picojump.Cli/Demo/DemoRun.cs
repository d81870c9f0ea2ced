using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Picojump.Cli.DevCluster;
using Picojump.Cli.Infrastructure;

namespace Picojump.Cli.Demo;

/// <summary>
/// `pjctl demo` from start to end: its own 3-host dev cluster, the datasets, three runs of the
/// same job (<see cref="Scenario"/>), the table; and the cluster taken down whatever happens
/// (an error, Ctrl-C, SIGTERM), unless --keep. Split by concern: Data (datasets, program,
/// copies), Job (starting and following the job).
/// </summary>
public sealed partial class DemoRun(ClusterLayout layout, DemoOptions options) : IDisposable
{
    private readonly DevCluster.DevCluster _cluster = new(layout, TextWriter.Null);
    private readonly CancellationTokenSource _stop = new();
    private int _sizeMiB;

    /// <summary>Progress and the human table: stdout, or stderr when stdout carries the JSON.</summary>
    private readonly TextWriter _out = options.Json ? Console.Error : Console.Out;

    public int Run()
    {
        // Ctrl-C, SIGTERM and SIGHUP end the demo through its teardown, not on the spot.
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var hangUp = PosixSignalRegistration.Create(PosixSignal.SIGHUP, Stop);
        CheckFreshRoot();
        if (options.SizeMiB is { } size)
            CheckFreeSpace(size);
        try
        {
            _out.WriteLine($"Picojump demo: one job reads three datasets, {options.Passes} passes over each, on a 3-host");
            _out.WriteLine($"dev cluster: {string.Join(", ", Datasets.Select(d => $"{d.Name} on {d.Host}"))}. It starts on h1.");
            Step($"Bringing up h1, h2, h3 at {layout.Root} (block cache {DemoOptions.CacheSizeMiB} MiB per host)",
                () => _cluster.Up(3, options.Daemon, DemoOptions.DaemonSettings()));
            _sizeMiB = options.SizeMiB ?? Calibrate();
            Step($"Writing the datasets ({Mib(_sizeMiB)} each) into h2's and h3's exports", PlaceData);
            var results = new List<RunResult>();
            foreach (var scenario in Scenario.All)
                results.Add(RunScenario(scenario, results.Count + 1));
            var report = new DemoReport(_sizeMiB, options.Passes, Datasets, results);
            report.CheckChecksums(ExpectedChecksums());
            _out.WriteLine();
            report.WriteTable(_out);
            if (options.Json)
                Console.Out.WriteLine(report.ToJson());
            return 0;
        }
        catch (Exception ex) when (_stop.IsCancellationRequested && ex is OperationCanceledException or CliException)
        {
            // Ctrl-C on a terminal reaches the commands the demo runs too: whatever failed then, the user stopped it.
            _out.WriteLine();
            _out.WriteLine("Interrupted.");
            return 130;
        }
        finally
        {
            TearDown();
        }
    }

    private void Stop(PosixSignalContext context)
    {
        context.Cancel = true;
        _stop.Cancel();
    }

    private CancellationToken Stopping => _stop.Token;

    public void Dispose() => _stop.Dispose();

    /// <summary>Nothing is made before this passes, so a refusal here leaves nothing to take down.</summary>
    private void CheckFreshRoot()
    {
        if (ClusterState.Load(layout) != null)
            throw new CliException($"a dev cluster is already up at {layout.Root} (a demo run with --keep?); take it down with: pjctl devcluster down --root {layout.Root}");
        if (Directory.Exists(layout.Root) && Directory.EnumerateFileSystemEntries(layout.Root).Any())
            throw new CliException($"{layout.Root} is not empty and holds no dev cluster; give another --root");
    }

    /// <summary>The datasets, and their copies for the copy-first run, on the root's file system.</summary>
    private void CheckFreeSpace(int sizeMiB)
    {
        var existing = layout.Root;
        while (!Directory.Exists(existing))
            existing = Path.GetDirectoryName(existing) ?? "/";
        var needed = (2L * Datasets.Count * sizeMiB + 1024) << 20;
        var free = new DriveInfo(existing).AvailableFreeSpace;
        if (free < needed)
            throw new CliException($"the demo needs {needed >> 30} GiB free under {layout.Root} for the datasets and their copies, and {free >> 30} GiB are free; give a smaller --size");
    }

    private void TearDown()
    {
        if (options.Keep && !_stop.IsCancellationRequested)
        {
            if (ClusterState.Load(layout) != null)
                _out.WriteLine($"The demo cluster stays up at {layout.Root} (--keep): pjctl --root {layout.Root} --host h1 status; take it down with pjctl devcluster down --root {layout.Root}");
            return;
        }
        if (!Directory.Exists(layout.Root))
            return;
        Step("Taking the demo cluster down", _cluster.Down);
    }

    /// <summary>One line "what... done (N s)", around an action.</summary>
    private void Step(string what, Action action)
    {
        _out.Write(what + "... ");
        var clock = Stopwatch.StartNew();
        try
        {
            action();
        }
        catch
        {
            _out.WriteLine("failed");
            throw;
        }
        _out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"done ({clock.Elapsed.TotalSeconds:0.0} s)"));
    }

    private RunResult RunScenario(Scenario scenario, int number)
    {
        Stopping.ThrowIfCancellationRequested();
        _out.WriteLine();
        _out.WriteLine($"Run {number}/{Scenario.All.Count}: {scenario.Title}");
        var delivered = _cluster.DeliveredBytes();
        var clock = Stopwatch.StartNew();
        TimeSpan? copy = null;
        if (scenario.CopiesFirst)
        {
            CopyToH1();
            copy = clock.Elapsed;
            _out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  copied the three datasets to h1 in {copy.Value.TotalSeconds:0.0} s"));
        }
        var job = FollowJob(scenario, clock);
        var result = new RunResult(scenario, clock.Elapsed, copy, _cluster.DeliveredBytes() - delivered, job.Moves, job.Checksums);
        if (scenario.CopiesFirst)
        {
            CheckCopies();
            RemoveCopies();
        }
        return result;
    }

    public static string Mib(long mib) => mib % 1024 == 0 ? $"{mib / 1024} GiB" : $"{mib} MiB";
}
