using System.Text.Json.Serialization;
using Picojump.Fs.WorkingSet;

namespace Picojump.Migrator.Jobs;

[JsonConverter(typeof(JsonStringEnumConverter<JobState>))]
public enum JobState
{
    Running,

    /// <summary>The command ended and its init wrote the exit status.</summary>
    Exited,

    /// <summary>The job's processes are gone and left no exit status (its init was killed from outside).</summary>
    Lost,
}

/// <summary>
/// One move of a job between hosts (kept for `pjctl ps`): its downtime, payload bytes, pages sent and pages the destination held;
/// its mode ("eager" or "hybrid") and, for hybrid, the time from the resumption until every page was resident (0: not seen);
/// how the destination warmed its block cache with the job's file working set (null: not known).
/// </summary>
public sealed record JobMigration(string From, string To, long StartedUnixMs, long FreezeMicros, long Bytes, long PagesSent = 0, long PagesFound = 0,
    string Mode = "eager", long ResidentMicros = 0, WorkingSetReport? WorkingSet = null);

/// <summary>
/// A job as its host's daemon keeps it, persisted in the state directory so that a restarted
/// daemon adopts it. The job's init (PID 1 of its PID namespace) is known by its pid and its
/// start time together, so that a pid reused after a restart is never taken for the job.
/// </summary>
public sealed record JobRecord
{
    public required string Id { get; init; }

    public string Name { get; init; } = "";

    public required IReadOnlyList<string> Command { get; init; }

    public required string WorkingDirectory { get; init; }

    /// <summary>Under the mountpoint: stdout, stderr and exit live there.</summary>
    public required string Directory { get; init; }

    public required string Host { get; init; }

    public JobState State { get; init; }

    /// <summary>The job's init as this host sees it; 0 when it was gone before the launcher saw it.</summary>
    public int Pid { get; init; }

    /// <summary>The init's start time in clock ticks since boot (field 22 of /proc/PID/stat).</summary>
    public long PidStartTicks { get; init; }

    /// <summary>The inode of the job's PID namespace.</summary>
    public ulong PidNamespace { get; init; }

    public long StartedUnixMs { get; init; }

    public long? EndedUnixMs { get; init; }

    /// <summary>As a shell reports it: 128 + N when the command died of signal N.</summary>
    public int? ExitCode { get; init; }

    /// <summary>The last signal that `pjctl kill` sent.</summary>
    public int? KillSignal { get; init; }

    public IReadOnlyList<JobMigration> Migrations { get; init; } = [];

    /// <summary>The host the locality policy keeps the job on, and brings it back to (pjctl pin, run --pin); it travels with the job.</summary>
    public string? PinnedHost { get; init; }

    /// <summary>False once the user turned the locality policy off for this job (pjctl policy JOB off): it moves only when asked.</summary>
    public bool PolicyEnabled { get; init; } = true;

    /// <summary>
    /// Set while this host migrates the job away: its init may be gone (dumped) until the
    /// migration commits (the job leaves this host) or aborts (it is restored here).
    /// </summary>
    public string? MigrationId { get; init; }

    /// <summary>Not persisted: filled in when the job is listed.</summary>
    [JsonIgnore]
    public long RssBytes { get; init; }
}

/// <summary>A request that cannot be served, in one line for the user.</summary>
public sealed class JobException : Exception
{
    public JobException(string message, JobError kind = JobError.Invalid) : base(message) => Kind = kind;

    public JobException() { }

    public JobException(string message, Exception inner) : base(message, inner) { }

    public JobError Kind { get; }
}

public enum JobError
{
    Invalid,
    NotFound,
    Failed,
}
