using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;

namespace Picojump.Migrator.Jobs;

/// <summary>
/// The jobs of this host: starts them (<see cref="JobLauncher"/>), keeps them in the state
/// directory, notices their end, signals them and waits for them. A restarted daemon adopts
/// the jobs it finds there: one whose init still lives (same pid, same start time) is still
/// running; one that ended meanwhile left its status in its exit file under the mountpoint.
/// </summary>
public sealed class JobManager
{
    /// <summary>The jobs' directories, relative to the mountpoint.</summary>
    public const string JobsDirectory = ".picojump/jobs";

    /// <summary>0755, whatever the daemon's umask: the jobs' output is readable, not writable, by all.</summary>
    private const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private static readonly TimeSpan FindInitTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan ExitFileGrace = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan KillTimeout = TimeSpan.FromSeconds(5);

    private readonly JobManagerOptions _options;
    private readonly ILogger _logger;
    private readonly JobStore _store;
    private readonly Lazy<JobLauncher> _launcher = new(() => new JobLauncher());
    private readonly Dictionary<string, JobRecord> _jobs = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>Jobs whose init is gone but whose exit file has not shown yet: since when.</summary>
    private readonly Dictionary<string, long> _ending = new(StringComparer.Ordinal);

    public JobManager(JobManagerOptions options, ILogger<JobManager> logger)
    {
        _options = options;
        _logger = logger;
        _store = new JobStore(Path.Combine(options.StateDirectory, "jobs"));
        foreach (var job in _store.Load((path, error) => logger.LogWarning("Skipping job file {Path}: {Error}", path, error)))
        {
            _jobs[job.Id] = job;
            // One migrating stays unknown to the locks until its migration ends (frozen, as it was).
            if (job is { State: JobState.Running, MigrationId: null, PidNamespace: not 0 })
                options.Locks?.Running(job.Id, job.PidNamespace, mayHoldLocks: true);
        }
        var running = _jobs.Values.Count(j => j.State == JobState.Running);
        if (_jobs.Count > 0)
            logger.LogInformation("Adopting {Count} jobs from {Directory} ({Running} were running)", _jobs.Count, _store.Directory, running);
    }

    public string HostName => _options.HostName;

    public string Mountpoint => _options.Mountpoint;

    /// <summary>Starts <paramref name="command"/> as a job in <paramref name="workingDirectory"/> (under the mountpoint; empty: the mountpoint).</summary>
    /// <remarks><paramref name="pin"/> pins the job to this host (the locality policy keeps it here).</remarks>
    public JobRecord Run(IReadOnlyList<string> command, string name, string workingDirectory, IReadOnlyDictionary<string, string> environment, int umask = 0x12, bool pin = false)
    {
        if (command.Count == 0 || string.IsNullOrEmpty(command[0]))
            throw new JobException("no command to run");
        if (command.Any(a => a.Contains('\0', StringComparison.Ordinal)))
            throw new JobException("the command holds a NUL character");
        var mountpoint = _options.Mountpoint.TrimEnd('/');
        var cwd = string.IsNullOrEmpty(workingDirectory) ? mountpoint : workingDirectory.TrimEnd('/');
        if (cwd.Length == 0 || !Path.IsPathFullyQualified(cwd) || (cwd != mountpoint && !cwd.StartsWith(mountpoint + "/", StringComparison.Ordinal)))
            throw new JobException($"the working directory {workingDirectory} is not under {mountpoint}");
        if (!System.IO.Directory.Exists(cwd))
            throw new JobException($"the working directory {cwd} does not exist on {_options.HostName}");

        var id = NewId();
        var directory = Path.Combine(mountpoint, JobsDirectory, id);
        try
        {
            // Through the mount, so that it is made in this host's export (local first) and
            // is the same path on every host.
            System.IO.Directory.CreateDirectory(directory, DirectoryMode);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new JobException($"cannot make the job directory {directory}: {ex.Message}", JobError.Failed);
        }
        var env = new Dictionary<string, string>(environment, StringComparer.Ordinal) { ["PICOJUMP_JOB"] = id };
        var started = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var job = new JobRecord
        {
            Id = id,
            Name = name,
            Command = [.. command],
            WorkingDirectory = cwd,
            Directory = directory,
            Host = _options.HostName,
            State = JobState.Running,
            StartedUnixMs = started,
            PinnedHost = pin ? _options.HostName : null,
        };
        // The command starts when the launch is disposed: once its namespace is known, so that its locks are the job's from the first.
        using (var launched = _launcher.Value.Launch(directory, umask, cwd, command, env))
        {
            job = FindInit(job, launched.UnsharePid);
            lock (_gate)
            {
                _jobs[id] = job;
                _store.Save(job);
            }
            if (job.PidNamespace != 0)
                _options.Locks?.Running(id, job.PidNamespace, mayHoldLocks: false);
        }
        _logger.LogInformation("Job {Id} started: pid {Pid}, {Command}", id, job.Pid, string.Join(' ', command));
        return Refresh(id);
    }

    /// <summary>The first child of unshare is the job's init; a job that ended at once leaves none, only its exit file.</summary>
    private static JobRecord FindInit(JobRecord job, int unshare)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < FindInitTimeout)
        {
            var unshareStart = JobProcesses.StartTicks(unshare);
            foreach (var child in JobProcesses.Children(unshare))
            {
                if (JobProcesses.StartTicks(child) is { } start && JobProcesses.PidNamespace(child) is { } ns)
                    return job with { Pid = child, PidStartTicks = start, PidNamespace = ns };
            }
            if (unshareStart == null)
                return job; // gone already: the job ended (its exit file says how) or never began
            Thread.Sleep(5);
        }
        throw new JobException($"the job's init did not appear within {FindInitTimeout.TotalSeconds:0} s", JobError.Failed);
    }

    /// <summary>Every job of this host, newest last, with its resident memory now.</summary>
    public List<JobRecord> List()
    {
        List<string> ids;
        lock (_gate)
            ids = [.. _jobs.Values.OrderBy(j => j.StartedUnixMs).Select(j => j.Id)];
        return [.. ids.Select(Refresh).Select(WithRss)];
    }

    /// <summary>A job of this host named by its id, a unique prefix of its id, or its name; null if none.</summary>
    public JobRecord? Find(string reference)
    {
        if (string.IsNullOrEmpty(reference))
            return null;
        List<JobRecord> matches;
        lock (_gate)
        {
            if (_jobs.TryGetValue(reference, out var exact))
                return WithRss(Refresh(exact.Id));
            matches = [.. _jobs.Values.Where(j => j.Id.StartsWith(reference, StringComparison.Ordinal) || j.Name == reference)];
        }
        return matches.Count switch
        {
            0 => null,
            1 => WithRss(Refresh(matches[0].Id)),
            _ => throw new JobException($"{reference} names {matches.Count} jobs on {_options.HostName} ({string.Join(", ", matches.Select(j => j.Id))}); give the id"),
        };
    }

    /// <summary>
    /// Sends <paramref name="signal"/> to every process of the job but its init, which then
    /// records the command's status. SIGKILL is repeated until only the init is left (a process
    /// may fork meanwhile).
    /// </summary>
    public JobRecord Kill(string id, int signal)
    {
        var job = Refresh(id);
        if (job.State != JobState.Running)
            throw new JobException($"job {id} has already ended", JobError.Failed);
        if (job.MigrationId != null)
            throw new JobException($"job {id} is being migrated; try again when the migration is over", JobError.Failed);
        lock (_gate)
        {
            job = _jobs[id] with { KillSignal = signal };
            _jobs[id] = job;
            _store.Save(job);
        }
        var clock = Stopwatch.StartNew();
        do
        {
            var members = JobProcesses.IsSame(job.Pid, job.PidStartTicks)
                ? JobProcesses.InNamespace(job.PidNamespace).Where(p => p != job.Pid).ToList()
                : [];
            if (members.Count == 0)
                break;
            foreach (var pid in members)
                JobProcesses.Signal(pid, signal);
            if (signal != JobProcesses.SIGKILL)
                break;
            Thread.Sleep(20);
        }
        while (clock.Elapsed < KillTimeout);
        _logger.LogInformation("Job {Id}: sent signal {Signal}", id, signal);
        return Refresh(id);
    }

    /// <summary>Returns once the job has ended.</summary>
    public async Task<JobRecord> WaitAsync(string id, CancellationToken cancel)
    {
        while (true)
        {
            var job = Refresh(id);
            if (job.State != JobState.Running)
                return job;
            await Task.Delay(100, cancel);
        }
    }

    /// <summary>Checks every running job now and then, so that ends are recorded even when nobody asks.</summary>
    public async Task MonitorAsync(CancellationToken cancel)
    {
        while (!cancel.IsCancellationRequested)
        {
            List<string> running;
            lock (_gate)
                running = [.. _jobs.Values.Where(j => j.State == JobState.Running).Select(j => j.Id)];
            foreach (var id in running)
            {
                try
                {
                    Refresh(id);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    _logger.LogWarning("Job {Id}: cannot record its state: {Error}", id, ex.Message);
                }
            }
            try
            {
                await Task.Delay(_options.PollInterval, cancel);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>The job as it is now: a running job whose init is gone has ended, with the status from its exit file.</summary>
    private JobRecord Refresh(string id)
    {
        JobRecord job;
        lock (_gate)
        {
            if (!_jobs.TryGetValue(id, out job!))
                throw new JobException($"no job {id} on {_options.HostName}", JobError.NotFound);
        }
        // While it migrates, its init is gone from here on purpose: the migration decides.
        if (job.State != JobState.Running || job.MigrationId != null || JobProcesses.IsSame(job.Pid, job.PidStartTicks))
            return job;
        // The init is gone, and wrote the exit file before it went (read through the mount:
        // the file lives wherever the job's directory does).
        var code = ReadExitCode(job);
        lock (_gate)
        {
            if (code == null)
            {
                var now = Stopwatch.GetTimestamp();
                if (!_ending.TryGetValue(id, out var since))
                    _ending[id] = since = now;
                if (Stopwatch.GetElapsedTime(since, now) < ExitFileGrace)
                    return job;
            }
            _ending.Remove(id);
            job = _jobs[id] with
            {
                State = code == null ? JobState.Lost : JobState.Exited,
                ExitCode = code,
                EndedUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
                Pid = 0,
            };
            _jobs[id] = job;
            _store.Save(job);
        }
        _options.Locks?.Ended(id);
        if (code == null)
            _logger.LogWarning("Job {Id} is gone and left no exit status in {Directory}", id, job.Directory);
        else
            _logger.LogInformation("Job {Id} exited with status {Code}", id, code);
        return job;
    }

    /// <summary>
    /// Marks a running job as migrating away (persisted): from now on its init may vanish
    /// without the job being taken for ended. Throws if it is not running here or already migrating.
    /// </summary>
    public JobRecord BeginMigration(string id, string migrationId)
    {
        var job = Refresh(id);
        lock (_gate)
        {
            job = _jobs[id];
            if (job.State != JobState.Running || !JobProcesses.IsSame(job.Pid, job.PidStartTicks))
                throw new JobException($"job {id} is not running on {_options.HostName}", JobError.Failed);
            if (job.MigrationId != null)
                throw new JobException($"job {id} is already being migrated", JobError.Failed);
            job = job with { MigrationId = migrationId };
            _jobs[id] = job;
            _store.Save(job);
        }
        // The dump kills its processes here: their closes must not release the locks the job keeps.
        _options.Locks?.Freezing(id);
        return job;
    }

    /// <summary>
    /// A migration away did not happen: the job runs here again, as it was (<paramref name="restoredInit"/>
    /// null) or restored from its dump (the new init), or is lost when neither is possible.
    /// </summary>
    public JobRecord EndMigration(string id, string migrationId, int? restoredInit, bool lost = false)
    {
        JobRecord job;
        lock (_gate)
        {
            if (!_jobs.TryGetValue(id, out job!) || job.MigrationId != migrationId)
                return job ?? throw new JobException($"no job {id} on {_options.HostName}", JobError.NotFound);
            job = job with { MigrationId = null };
            if (restoredInit is { } pid && JobProcesses.StartTicks(pid) is { } start && JobProcesses.PidNamespace(pid) is { } ns)
                job = job with { Pid = pid, PidStartTicks = start, PidNamespace = ns };
            if (lost)
                job = job with { State = JobState.Lost, Pid = 0, EndedUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() };
            _jobs[id] = job;
            _store.Save(job);
        }
        if (lost)
            _options.Locks?.Ended(id);
        else
            _options.Locks?.Running(id, job.PidNamespace, mayHoldLocks: true);
        return job;
    }

    /// <summary>
    /// A job restored here (stopped) is about to resume: from now on its processes lock as the
    /// job, holding the locks it held before the move. Call before they run.
    /// </summary>
    public void Resuming(string id, ulong pidNamespace) => _options.Locks?.Running(id, pidNamespace, mayHoldLocks: true);

    /// <summary>The job left this host (a committed migration): its record goes; the destination keeps it now.</summary>
    public void Forget(string id)
    {
        lock (_gate)
        {
            _jobs.Remove(id);
            _ending.Remove(id);
            _store.Delete(id);
        }
        _options.Locks?.Left(id);
        _logger.LogInformation("Job {Id} left {Host}", id, _options.HostName);
    }

    /// <summary>Amends the job's last migration entry (a hybrid migration learns when its pages were all in after the job resumed).</summary>
    public void UpdateLastMigration(string id, Func<JobMigration, JobMigration> update)
    {
        ArgumentNullException.ThrowIfNull(update);
        lock (_gate)
        {
            if (!_jobs.TryGetValue(id, out var job) || job.Migrations.Count == 0)
                return;
            job = job with { Migrations = [.. job.Migrations.Take(job.Migrations.Count - 1), update(job.Migrations[^1])] };
            _jobs[id] = job;
            _store.Save(job);
        }
    }

    /// <summary>A job that arrived by migration: runs here from now on, as <paramref name="job"/> says (its init, its history).</summary>
    public JobRecord Adopt(JobRecord job)
    {
        ArgumentNullException.ThrowIfNull(job);
        job = job with { Host = _options.HostName, State = JobState.Running, MigrationId = null, EndedUnixMs = null, ExitCode = null };
        lock (_gate)
        {
            _jobs[job.Id] = job;
            _ending.Remove(job.Id);
            _store.Save(job);
        }
        _options.Locks?.Running(job.Id, job.PidNamespace, mayHoldLocks: true);
        _logger.LogInformation("Job {Id} arrived: pid {Pid}", job.Id, job.Pid);
        return job;
    }

    /// <summary>
    /// Sets what the locality policy may do with a running job of this host (persisted, and carried by
    /// a migration): <paramref name="pin"/> pins it (empty: unpins; null: unchanged), <paramref name="enabled"/>
    /// turns the policy on or off for it (null: unchanged).
    /// </summary>
    public JobRecord SetPolicy(string id, string? pin, bool? enabled)
    {
        JobRecord? job;
        lock (_gate)
        {
            if (!_jobs.TryGetValue(id, out job))
                throw new JobException($"no job {id} on {_options.HostName}", JobError.NotFound);
            if (job.State != JobState.Running)
                throw new JobException($"job {id} has already ended", JobError.Failed);
            if (job.MigrationId != null)
                throw new JobException($"job {id} is being migrated; try again when the migration is over", JobError.Failed);
            job = job with
            {
                PinnedHost = pin == null ? job.PinnedHost : pin.Length == 0 ? null : pin,
                PolicyEnabled = enabled ?? job.PolicyEnabled,
            };
            _jobs[id] = job;
            _store.Save(job);
        }
        _logger.LogInformation("Job {Id}: pinned to {Pin}, policy {Policy}", id, job.PinnedHost ?? "no host", job.PolicyEnabled ? "on" : "off");
        return WithRss(job);
    }

    /// <summary>The job as kept, without looking at its processes; null if this host has no such job.</summary>
    public JobRecord? Get(string id)
    {
        lock (_gate)
            return _jobs.GetValueOrDefault(id);
    }

    private static int? ReadExitCode(JobRecord job)
    {
        try
        {
            var text = File.ReadAllText(Path.Combine(job.Directory, "exit")).Trim();
            return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var code) ? code : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static JobRecord WithRss(JobRecord job)
        => job.State == JobState.Running && job.Pid > 0
            ? job with { RssBytes = JobProcesses.ResidentBytes(JobProcesses.InNamespace(job.PidNamespace)) }
            : job;

    /// <summary>12 hex digits: unique across the cluster in practice, and short enough to type a prefix of.</summary>
    private static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
}
