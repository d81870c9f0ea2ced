using Picojump.Fs.Union;

namespace Picojump.Migrator.Jobs;

public sealed record JobManagerOptions
{
    /// <summary>This host's name, shown with each job.</summary>
    public required string HostName { get; init; }

    /// <summary>Where the namespace is mounted (usually /pj): jobs' working directories and output live below.</summary>
    public required string Mountpoint { get; init; }

    /// <summary>The daemon's state directory; jobs are kept in its jobs/ subdirectory.</summary>
    public required string StateDirectory { get; init; }

    /// <summary>Told where each job's processes run, when they are dumped, and when the job ends, so its locks on the mount follow it (none: they do not).</summary>
    public IJobLocks? Locks { get; init; }

    /// <summary>How often running jobs are checked for their end.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);
}
