namespace Picojump.Migrator.Migration;

/// <summary>
/// Test hooks that make a migration fail at a chosen step, to show that a job then runs
/// exactly once. Off unless asked for: the file STATE/fault-injection (one fault name per
/// line) or PICOJUMP_FAULT (comma-separated names) in the daemon's environment. Read at each
/// use, so a test turns them on and off without restarting the daemon.
/// </summary>
public sealed class FaultInjection(string stateDirectory)
{
    /// <summary>Destination: the restore fails (before CRIU runs).</summary>
    public const string RestoreFails = "restore-fails";

    /// <summary>Source: pauses 50 ms after each chunk it sends, so that a test can act during a transfer.</summary>
    public const string SlowTransfer = "slow-transfer";

    /// <summary>Source of a hybrid migration: each page reply waits 50 ms, so that a test can act during the page stream.</summary>
    public const string SlowPageStream = "slow-page-stream";

    /// <summary>Source: its block cache drops the job's working set just before offering it, so the destination must go to the owners.</summary>
    public const string WorkingSetEvicted = "working-set-evicted";

    public string FilePath { get; } = Path.Combine(stateDirectory, "fault-injection");

    public bool Has(string fault)
    {
        var variable = Environment.GetEnvironmentVariable("PICOJUMP_FAULT");
        if (variable != null && variable.Split(',', StringSplitOptions.TrimEntries).Contains(fault))
            return true;
        try
        {
            return File.Exists(FilePath) && File.ReadLines(FilePath).Any(l => l.Trim() == fault);
        }
        catch (IOException)
        {
            return false;
        }
    }
}
