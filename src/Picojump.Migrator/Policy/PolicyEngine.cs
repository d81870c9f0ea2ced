namespace Picojump.Migrator.Policy;

/// <summary>
/// The locality policy with memory: keeps each job's <see cref="JobPolicyState"/> (hysteresis,
/// last migration) and its last <see cref="PolicyOptions.HistoryLength"/> decisions. A caller
/// feeds it observations and acts on the decisions; it migrates nothing itself. After acting
/// on a move, or when a job arrives from another host, the caller reports the migration with
/// <see cref="RecordMigration"/> to the engine that will evaluate the job next (or carries the
/// state over with <see cref="StateOf"/> and <see cref="Restore"/>). Until then a move keeps
/// being recommended: the caller must not start a second migration of a job already moving.
/// Thread-safe.
/// </summary>
public sealed class PolicyEngine
{
    private readonly PolicyOptions _options;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, JobEntry> _jobs = new(StringComparer.Ordinal);

    public PolicyEngine(PolicyOptions options, TimeProvider time)
    {
        options.Validate();
        _options = options;
        _time = time;
    }

    public PolicyOptions Options => _options;

    /// <summary>Decides for one job at the clock's current time, records the decision and returns it.</summary>
    public Decision Evaluate(ClusterView cluster, JobObservation job)
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            var entry = Entry(job.JobKey);
            var (decision, next) = LocalityPolicy.Decide(_options, entry.State, cluster, job, now);
            entry.State = next;
            entry.History.Enqueue(decision);
            while (entry.History.Count > _options.HistoryLength)
                entry.History.Dequeue();
            return decision;
        }
    }

    /// <summary>
    /// The job migrated from <paramref name="fromHost"/> (or, if <paramref name="succeeded"/> is
    /// false, a migration of it failed) at <paramref name="at"/>, the clock's now by default:
    /// the cooldown starts, the streak ends, and a success makes <paramref name="fromHost"/> the
    /// host a return to needs the larger margin.
    /// </summary>
    public void RecordMigration(string jobKey, string fromHost, bool succeeded = true, DateTimeOffset? at = null)
    {
        var when = at ?? _time.GetUtcNow();
        lock (_lock)
        {
            var entry = Entry(jobKey);
            entry.State = entry.State.AfterMigration(fromHost, when, succeeded);
        }
    }

    /// <summary>The job's state, e.g. to carry it along with a migration; the initial state if unknown.</summary>
    public JobPolicyState StateOf(string jobKey)
    {
        lock (_lock)
            return _jobs.TryGetValue(jobKey, out var entry) ? entry.State : JobPolicyState.Initial;
    }

    /// <summary>Replaces the job's state, e.g. with the one it had on the host it came from.</summary>
    public void Restore(string jobKey, JobPolicyState state)
    {
        lock (_lock)
            Entry(jobKey).State = state;
    }

    /// <summary>The job's last decision, if it was ever evaluated.</summary>
    public Decision? LastDecision(string jobKey)
    {
        lock (_lock)
            return _jobs.TryGetValue(jobKey, out var entry) && entry.History.Count > 0 ? entry.History.Last() : null;
    }

    /// <summary>The job's recent decisions, oldest first.</summary>
    public IReadOnlyList<Decision> History(string jobKey)
    {
        lock (_lock)
            return _jobs.TryGetValue(jobKey, out var entry) ? [.. entry.History] : [];
    }

    /// <summary>The jobs the engine holds state for, by key.</summary>
    public IReadOnlyList<string> Jobs
    {
        get
        {
            lock (_lock)
                return [.. _jobs.Keys.Order(StringComparer.Ordinal)];
        }
    }

    /// <summary>Drops a job's state and history (it ended, or left this host for good).</summary>
    public bool Forget(string jobKey)
    {
        lock (_lock)
            return _jobs.Remove(jobKey);
    }

    private JobEntry Entry(string jobKey)
    {
        if (!_jobs.TryGetValue(jobKey, out var entry))
            _jobs[jobKey] = entry = new JobEntry();
        return entry;
    }

    private sealed class JobEntry
    {
        public JobPolicyState State { get; set; } = JobPolicyState.Initial;

        public Queue<Decision> History { get; } = new();
    }
}
