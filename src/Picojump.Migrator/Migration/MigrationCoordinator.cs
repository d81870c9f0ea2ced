using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Picojump.Fs.Cluster;
using Picojump.Migrator.Jobs;
using Picojump.Migrator.Pages;
using MigrationGrpc = Picojump.Protos.Migration.Migration;

namespace Picojump.Migrator.Migration;

/// <summary>
/// Eager migration of this host's jobs to other hosts, and of other hosts' jobs to this one,
/// as a transaction that the source decides (see protos/migration.proto). Both sides keep
/// each migration in STATE/migrations/ID.json so that a restart finishes it
/// (<see cref="RunRecoveryAsync"/>).
/// </summary>
public sealed partial class MigrationCoordinator
{
    private readonly JobManager _jobs;
    private readonly PageStore _store;
    private readonly PeerSet? _peers;
    private readonly MigrationOptions _options;
    private readonly ILogger _logger;
    private readonly MigrationStore _records;
    private readonly Criu _criu;

    /// <summary>Migrations this process is working on right now (the recovery loop leaves them alone).</summary>
    private readonly ConcurrentDictionary<string, bool> _active = new(StringComparer.Ordinal);

    /// <summary>One lock per migration: Prepare, Commit and Abort of one migration never overlap.</summary>
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _gates = new(StringComparer.Ordinal);

    public MigrationCoordinator(JobManager jobs, PageStore store, PeerSet? peers, MigrationOptions options, ILogger<MigrationCoordinator> logger)
    {
        _jobs = jobs;
        _store = store;
        _peers = peers;
        _options = options;
        _logger = logger;
        _records = new MigrationStore(Path.Combine(options.StateDirectory, "migrations"));
        _criu = new Criu(options.CriuPath, jobs.Mountpoint);
        Faults = new FaultInjection(options.StateDirectory);
    }

    public FaultInjection Faults { get; }

    public string HostName => _options.HostName;

    private static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    private SemaphoreSlim Gate(string id) => _gates.GetOrAdd(id, _ => new SemaphoreSlim(1, 1));

    private MigrationGrpc.MigrationClient? Client(string host)
        => _peers?.Find(host) is { } peer ? new MigrationGrpc.MigrationClient(peer.CallInvoker) : null;

    private CallOptions Small(CancellationToken cancel = default) => new(deadline: DateTime.UtcNow + _options.PeerTimeout, cancellationToken: cancel);

    /// <summary>A bulk call's deadline: the small-call bound plus the time for <paramref name="bytes"/> at the slowest rate allowed.</summary>
    private DateTime BulkDeadline(long bytes)
        => DateTime.UtcNow + _options.PeerTimeout + TimeSpan.FromSeconds((double)bytes / _options.MinimumBytesPerSecond);

    private static string JobJson(JobRecord job) => JsonSerializer.Serialize(job, MigrationStore.Json);

    private static JobRecord ParseJob(string json)
        => JsonSerializer.Deserialize<JobRecord>(json, MigrationStore.Json) ?? throw new InvalidDataException("no job record");

    private static long Micros(TimeSpan span) => span.Ticks / TimeSpan.TicksPerMicrosecond;

    private static Protos.Migration.MigrationEntry ToWire(JobMigration entry) => new()
    {
        FromHost = entry.From,
        ToHost = entry.To,
        StartedUnixMs = entry.StartedUnixMs,
        FreezeMicros = entry.FreezeMicros,
        Bytes = entry.Bytes,
        PagesSent = entry.PagesSent,
        PagesFound = entry.PagesFound,
        Mode = entry.Mode,
        ResidentMicros = entry.ResidentMicros,
    };

    internal static JobMigration FromWire(Protos.Migration.MigrationEntry entry)
        => new(entry.FromHost, entry.ToHost, entry.StartedUnixMs, entry.FreezeMicros, entry.Bytes, entry.PagesSent, entry.PagesFound,
            entry.Mode.Length > 0 ? entry.Mode : "eager", entry.ResidentMicros);

    /// <summary>The distinct non-zero hashes of a dump in first-use order over its pagemaps sorted by name: both sides compute the same list.</summary>
    internal static List<PageHash> DistinctPages(IEnumerable<(string Pagemap, IReadOnlyList<PageHash> Hashes)> pagemaps)
    {
        var seen = new HashSet<PageHash>();
        var list = new List<PageHash>();
        foreach (var (_, hashes) in pagemaps.OrderBy(p => p.Pagemap, StringComparer.Ordinal))
        {
            foreach (var hash in hashes)
            {
                if (hash != PageHash.ZeroPage && seen.Add(hash))
                    list.Add(hash);
            }
        }
        return list;
    }

    /// <summary>Kills every process of a PID namespace whose init is still the one recorded; waits a little for them to go.</summary>
    private static void KillCopy(int pid, long startTicks, ulong pidNamespace)
    {
        for (var attempt = 0; attempt < 100 && JobProcesses.IsSame(pid, startTicks); attempt++)
        {
            foreach (var member in JobProcesses.InNamespace(pidNamespace))
                JobProcesses.Signal(member, JobProcesses.SIGKILL);
            Thread.Sleep(20);
        }
    }
}

/// <summary>A migration request that cannot be served, with the gRPC status to answer.</summary>
public sealed class MigrationException : Exception
{
    public MigrationException(string message, StatusCode status = StatusCode.FailedPrecondition) : base(message) => Status = status;

    public MigrationException() { }

    public MigrationException(string message, Exception inner) : base(message, inner) { }

    public StatusCode Status { get; } = StatusCode.FailedPrecondition;
}
