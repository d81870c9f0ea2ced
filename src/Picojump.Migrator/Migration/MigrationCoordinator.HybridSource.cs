using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Picojump.Migrator.Images;
using Picojump.Migrator.Jobs;
using Picojump.Migrator.LazyPages;
using Picojump.Migrator.Pages;
using Picojump.Protos.Migration;
using MigrationGrpc = Picojump.Protos.Migration.Migration;

namespace Picojump.Migrator.Migration;

// The source side of a hybrid (post-copy) migration. S freezes the job with criu dump
// --lazy-pages (its memory stays in the frozen process, served by CRIU on a loopback port),
// hashes the lazy pages from /proc/PID/mem, sends the small images and the hashes to D, and
// decides as in eager mode. After the commit the frozen copy is the authority for every page D
// has not got yet; D releases it once all are resident.
//
// Before the decision any failure aborts: the proxy resets CRIU's session, the dump fails, and
// CRIU resumes the job here with its memory untouched (it never left the process). After the
// decision the frozen copy must never run again: a SIGSTOP is queued to it (should CRIU resume
// it for any reason, it stops before running an instruction) and the proxy's connection to
// CRIU ends cleanly on a crash (CRIU then kills it).
public sealed partial class MigrationCoordinator
{
    /// <summary>A hybrid migration of one of this host's jobs: its frozen copy and the proxy that serves it.</summary>
    private sealed class HybridSource
    {
        public required string Id { get; init; }

        public required Process Dump { get; init; }

        public required HybridPageProxy Proxy { get; init; }

        public required HybridPageWriter Writer { get; init; }

        public required JobRecord Job { get; init; }

        public TaskCompletionSource<ReleaseRequest> Released { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Reading the frozen job's lazy pages for their hashes.</summary>
        public Task<LazyPageMap>? Hashing { get; set; }

        public int Ending;
    }

    private const string HybridMode = "hybrid";

    private const int SIGSTOP = 19;

    private readonly ConcurrentDictionary<string, HybridSource> _hybridSources = new(StringComparer.Ordinal);

    private bool IsHybridLive(string id) => _hybridSources.ContainsKey(id) || _hybridIncoming.ContainsKey(id);

    private async Task<MigrateReply> RunHybridSourceAsync(MigrationRecord record, JobRecord job, MigrateReply reply, Stopwatch total, CancellationToken cancel)
    {
        var client = Client(record.Peer)!;
        var directory = record.Directory;
        reply.Mode = HybridMode;
        var freeze = Stopwatch.StartNew();
        HybridSource? session = null;
        long bytes;
        TimeSpan dumped, hashed;
        Task<Fs.WorkingSet.WorkingSetReport?> workingSet;
        try
        {
            Process dump;
            CriuPageServerClient criu;
            // Taken while the job still runs: it only decides whether D waits for the hashes.
            var sample = SampleMemory(job);
            try
            {
                (dump, criu) = await HybridCriu.DumpLazyAsync(_criu.Binary, job.Pid, directory, cancel);
            }
            catch (CriuException ex)
            {
                return await HybridAbortAsync(record, job, null, reply, total, ex.Message);
            }
            dumped = freeze.Elapsed;
            workingSet = OfferWorkingSetAsync(record, job);
            var writer = new HybridPageWriter(_store);
            var proxy = new HybridPageProxy(criu, _options.PageServerAddress ?? IPAddress.Any, _logger,
                Faults.Has(FaultInjection.SlowPageStream) ? SlowTap(writer) : writer.Offer);
            session = new HybridSource { Id = record.Id, Dump = dump, Proxy = proxy, Writer = writer, Job = job };
            _hybridSources[record.Id] = session;
            proxy.Start();

            record = _records.Save(record with { Phase = MigrationPhase.Transferring });

            (var prepare, bytes) = await HybridPrepareCallAsync(client, record, job, proxy, sample, cancel);
            // The hash of each lazy page, 16 bytes a page, read from the frozen job once D has
            // restored it: hashing beside the restore, on the same cores, made the restore (and
            // so the downtime) slower, while D's background fill can wait for the hashes.
            session.Hashing = Task.Run(() =>
            {
                var clock = Stopwatch.StartNew();
                var map = HashFrozenJob(job, directory);
                _logger.LogInformation("Migration {Id} (hybrid): hashed {Pages} lazy pages in {Ms} ms", record.Id, map.PageCount, (long)clock.Elapsed.TotalMilliseconds);
                return map;
            }, CancellationToken.None);
            hashed = freeze.Elapsed;
            _logger.LogInformation(
                "Migration {Id} (hybrid): dumped in {Dump} ms, images sent and {To} restored in {Prepare} ms (restore {Restore} ms); {Bytes} bytes sent",
                record.Id, (long)dumped.TotalMilliseconds, record.Peer, (long)(hashed - dumped).TotalMilliseconds, prepare.RestoreMicros / 1000, bytes);
        }
        catch (Exception ex) when (ex is RpcException or IOException or InvalidDataException or OperationCanceledException or UnauthorizedAccessException)
        {
            var reason = ex is RpcException rpc
                ? rpc.StatusCode is StatusCode.FailedPrecondition or StatusCode.NotFound or StatusCode.InvalidArgument
                    ? $"{record.Peer}: {rpc.Status.Detail}"
                    : $"{record.Peer} did not answer ({rpc.StatusCode}: {rpc.Status.Detail})"
                : ex.Message;
            return await HybridAbortAsync(record, job, session, reply, total, reason);
        }

        if (session.Dump.HasExited || session.Proxy.Broken != null)
        {
            return await HybridAbortAsync(record, job, session, reply, total,
                $"criu's page server on {HostName} ended before the commit ({session.Proxy.Broken ?? $"exit {session.Dump.ExitCode}"})");
        }

        // The decision: from here on the job belongs to the destination; the frozen copy here
        // only serves its pages and must never run again.
        var entry = new JobMigration(HostName, record.Peer, record.StartedUnixMs, Micros(freeze.Elapsed), bytes, 0, 0, HybridMode);
        record = _records.Save(record with { Phase = MigrationPhase.Committed, Entry = entry });
        session.Proxy.Committed();
        foreach (var pid in JobProcesses.InNamespace(job.PidNamespace))
            JobProcesses.Signal(pid, SIGSTOP);
        _jobs.Forget(job.Id);
        reply.Moved = true;
        reply.JobHost = record.Peer;
        reply.FreezeMicros = entry.FreezeMicros;
        _ = WatchHybridSourceAsync(session);
        var hashes = SendHashesAsync(client, record, session);

        var commit = await CommitUntilAnsweredAsync(client, record, CommitPatience, cancel);
        if (commit.Reply is { } committed)
        {
            reply.FreezeMicros = committed.Entry.FreezeMicros;
            _records.Save(record with { Acknowledged = true });
        }
        else
        {
            reply.Error = commit.Error!;
            if (commit.Error!.EndsWith("lost", StringComparison.Ordinal))
                await EndHybridSourceAsync(session, "the destination could not resume the job");
        }

        if (await hashes is { } map)
        {
            reply.PagesTotal = map.PageCount;
            reply.ImageBytes = map.PageCount * Pagemap.PageSize;
            bytes += map.PageCount * PageHash.Size;
        }

        // Until every page is resident at the destination the frozen copy here is the authority: wait for its release.
        if (reply.Error.Length == 0)
        {
            var bound = (2 * _options.LazySourcePatience) + TimeSpan.FromSeconds((double)reply.ImageBytes / _options.MinimumBytesPerSecond);
            var released = await Task.WhenAny(session.Released.Task, Task.Delay(bound, CancellationToken.None));
            if (released == session.Released.Task)
            {
                var release = session.Released.Task.Result;
                reply.ResidentMicros = release.ResidentMicros;
                reply.PagesFromStore = release.PagesFromStore;
                reply.PagesFetched = release.PagesFetched + release.PagesUnhashed;
                reply.PagesSent = reply.PagesFetched;
                reply.PagesFound = release.PagesFromStore;
                if (!release.Resident)
                    reply.Error = $"the page stream from {HostName} to {record.Peer} broke after the commit ({release.Error}): the job is lost";
            }
            else
            {
                reply.Error = $"the job runs on {record.Peer}, but not all its pages were resident there after {bound.TotalSeconds:0} s; {HostName} keeps its frozen copy until they are";
            }
        }
        reply.Bytes = bytes + (session.Proxy.PagesSent * Pagemap.PageSize);
        reply.TotalMicros = Micros(total.Elapsed);
        await AddWorkingSetAsync(reply, workingSet);
        _logger.LogInformation(
            "Migration {Id} (hybrid): job {Job} moved to {To}; freeze {Freeze} ms, every page resident after {Resident} ms, total {Total} ms, {Bytes} bytes, {Store} pages from its store, {Fetched} fetched",
            record.Id, job.Id, record.Peer, reply.FreezeMicros / 1000, reply.ResidentMicros / 1000, reply.TotalMicros / 1000, reply.Bytes, reply.PagesFromStore, reply.PagesFetched);
        return reply;
    }

    /// <summary>The lazy pages' hashes to D once read from the frozen job (D fetches pages unchecked until then); null if they could not be.</summary>
    private async Task<LazyPageMap?> SendHashesAsync(MigrationGrpc.MigrationClient client, MigrationRecord record, HybridSource session)
    {
        LazyPageMap map;
        try
        {
            map = await session.Hashing!;
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            _logger.LogWarning("Migration {Id} (hybrid): the frozen job's pages could not be hashed ({Error}); {To} fetches them unchecked", record.Id, ex.Message, record.Peer);
            return null;
        }
        try
        {
            using var call = client.HybridHashes(deadline: BulkDeadline(map.PageCount * PageHash.Size) + _options.PeerTimeout);
            await call.RequestStream.WriteAsync(new HybridChunk { Header = new HybridHeader { MigrationId = record.Id } });
            var buffer = new byte[ChunkBytes];
            foreach (var pid in map.Tasks.Order())
            {
                var pagemap = $"pagemap-{pid.ToString(CultureInfo.InvariantCulture)}.img";
                var filled = 0;
                foreach (var page in map.PagesOf(pid))
                {
                    page.Hash.WriteTo(buffer.AsSpan(filled, PageHash.Size));
                    filled += PageHash.Size;
                    if (filled == ChunkBytes)
                    {
                        await call.RequestStream.WriteAsync(new HybridChunk { Pagemap = pagemap, Hashes = ByteString.CopyFrom(buffer, 0, filled) });
                        filled = 0;
                    }
                }
                if (filled > 0)
                    await call.RequestStream.WriteAsync(new HybridChunk { Pagemap = pagemap, Hashes = ByteString.CopyFrom(buffer, 0, filled) });
            }
            await call.RequestStream.CompleteAsync();
            await call.ResponseAsync;
        }
        catch (RpcException ex)
        {
            _logger.LogWarning("Migration {Id} (hybrid): {To} did not take the page hashes ({Error}); it fetches pages unchecked", record.Id, record.Peer, ex.Status.Detail);
        }
        return map;
    }

    /// <summary>Test hook <see cref="FaultInjection.SlowPageStream"/>: every reply of the proxy waits 50 ms, so that a test can act during the page stream.</summary>
    private static Action<ReadOnlySpan<byte>> SlowTap(HybridPageWriter writer) => pages =>
    {
        writer.Offer(pages);
        Thread.Sleep(50);
    };

    /// <summary>The hashes of every lazy page of the frozen job, read from its tasks' memory (each task's dump pid mapped to its pid here by NSpid).</summary>
    private static LazyPageMap HashFrozenJob(JobRecord job, string directory)
    {
        var hostPids = new Dictionary<ulong, int>();
        foreach (var pid in JobProcesses.InNamespace(job.PidNamespace))
        {
            if (NamespacePid(pid) is { } inner)
                hostPids[inner] = pid;
        }
        hostPids.TryAdd(1, job.Pid);
        var map = new LazyPageMap();
        foreach (var (pid, path) in LazyPageMap.TaskPagemaps(directory))
        {
            if (!hostPids.TryGetValue(pid, out var hostPid))
                throw new InvalidDataException($"task {pid} of the dump has no process in the job's PID namespace");
            map.AddFrozenTask(pid, hostPid, path);
        }
        return map;
    }

    /// <summary>The process's pid in its own (innermost) PID namespace: the last field of NSpid.</summary>
    private static ulong? NamespacePid(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("NSpid:", StringComparison.Ordinal))
                {
                    var fields = line["NSpid:".Length..].Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries);
                    return fields.Length > 0 ? ulong.Parse(fields[^1], CultureInfo.InvariantCulture) : null;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Gone.
        }
        return null;
    }

    /// <summary>Hashes of a few hundred of the job's non-zero pages, end to end; empty if its memory cannot be read.</summary>
    private ByteString SampleMemory(JobRecord job)
    {
        try
        {
            var sample = MemorySample.NonZeroPages(JobProcesses.InNamespace(job.PidNamespace), MemorySample.Pages, Random.Shared);
            return UnsafeByteOperations.UnsafeWrap(PageHash.Concat(sample));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _logger.LogWarning("Job {Job}: its memory cannot be sampled ({Error}); the destination will wait for the hashes", job.Id, ex.Message);
            return ByteString.Empty;
        }
    }

    /// <summary>One call: the header and every image file of the lazy dump; D answers once it holds the job restored and stopped.</summary>
    private async Task<(PrepareReply Reply, long Bytes)> HybridPrepareCallAsync(
        MigrationGrpc.MigrationClient client, MigrationRecord record, JobRecord job, HybridPageProxy proxy, ByteString sample, CancellationToken cancel)
    {
        var files = Directory.EnumerateFiles(record.Directory, "*.img").Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList();
        var fileBytes = files.Sum(f => new FileInfo(Path.Combine(record.Directory, f)).Length);
        using var call = client.HybridPrepare(deadline: BulkDeadline(fileBytes) + (2 * _options.PeerTimeout), cancellationToken: cancel);
        var header = new HybridHeader
        {
            MigrationId = record.Id,
            SourceHost = HostName,
            JobJson = JobJson(job),
            StartedUnixMs = record.StartedUnixMs,
            PageServer = proxy.EndPoint.ToString(),
            Token = ByteString.CopyFrom(proxy.Token),
            MemorySample = sample,
        };
        long bytes = header.CalculateSize();
        await call.RequestStream.WriteAsync(new HybridChunk { Header = header }, cancel);
        var buffer = new byte[ChunkBytes];
        foreach (var name in files)
        {
            using var file = File.OpenHandle(Path.Combine(record.Directory, name), FileMode.Open, FileAccess.Read, FileShare.Read);
            var length = RandomAccess.GetLength(file);
            long offset = 0;
            do
            {
                var count = (int)Math.Min(ChunkBytes, length - offset);
                PageHashes.ReadExactly(file, buffer.AsSpan(0, count), offset, name);
                await call.RequestStream.WriteAsync(new HybridChunk { File = name, Offset = offset, Data = ByteString.CopyFrom(buffer, 0, count) }, cancel);
                bytes += count;
                offset += count;
            }
            while (offset < length);
        }
        await call.RequestStream.CompleteAsync();
        return (await call.ResponseAsync, bytes);
    }

    /// <summary>
    /// No decision was made: record "aborted" first, then end CRIU's session with a reset: the
    /// dump fails and CRIU resumes the frozen job here, its memory untouched. D is told to discard.
    /// </summary>
    private async Task<MigrateReply> HybridAbortAsync(MigrationRecord record, JobRecord job, HybridSource? session, MigrateReply reply, Stopwatch total, string reason)
    {
        record = _records.Save(record with { Phase = MigrationPhase.Aborted });
        if (session != null)
        {
            _hybridSources.TryRemove(session.Id, out _);
            // Killing criu dump --lazy-pages ends its ptrace hold: the job goes on from where it was frozen,
            // its memory untouched. (Closing its session would do the same with a reset, but a socket
            // closed by .NET may end with a FIN, which CRIU takes for a finished session: it would kill the job.)
            HybridCriu.Kill(session.Dump);
            await session.Proxy.Abort();
            var exit = await HybridCriu.WaitAsync(session.Dump, TimeSpan.FromSeconds(30));
            _logger.LogInformation("Migration {Id}: criu dump --lazy-pages ended with {Exit} after the reset", record.Id, exit?.ToString(CultureInfo.InvariantCulture) ?? "a kill");
            session.Writer.Dispose();
        }
        var outcome = ResumeLocally(record, job);
        reply.Moved = false;
        reply.JobHost = outcome.Running ? HostName : "";
        reply.Error = $"{reason}; {outcome.Text}";
        _logger.LogWarning("Migration {Id}: aborted: {Reason}; {Outcome}", record.Id, reason, outcome.Text);
        _ = TellAbortAsync(record);
        reply.TotalMicros = Micros(total.Elapsed);
        return reply;
    }

    /// <summary>After a hybrid abort: the job resumed here (CRIU does that when its lazy dump fails), or it is lost. Never restored from the lazy dump: its memory is not in the images.</summary>
    private (bool Running, string Text) ResumeLocally(MigrationRecord record, JobRecord job)
    {
        var clock = Stopwatch.StartNew();
        while (JobProcesses.IsSame(job.Pid, job.PidStartTicks) && IsTraced(job.Pid) && clock.Elapsed < TimeSpan.FromSeconds(5))
            Thread.Sleep(10);
        if (JobProcesses.IsSame(job.Pid, job.PidStartTicks))
        {
            _jobs.EndMigration(job.Id, record.Id, null);
            return (true, $"the job runs on {HostName} again, its memory intact (the lazy dump never took it out of the process)");
        }
        _jobs.EndMigration(job.Id, record.Id, null, lost: true);
        return (false, $"the job is gone from {HostName} and a lazy dump cannot be restored there: it is lost");
    }

    /// <summary>Whether the process sits in a ptrace stop (CRIU still holds it).</summary>
    private static bool IsTraced(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].StartsWith('t');
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>D -> S: every page is resident at D (or the stream failed for good): end the frozen copy.</summary>
    public async Task<ReleaseReply> ReleaseAsync(ReleaseRequest request, CancellationToken cancel)
    {
        if (!MigrationStore.IsId(request.MigrationId))
            throw new MigrationException($"bad migration id {request.MigrationId}", StatusCode.InvalidArgument);
        if (_hybridSources.TryGetValue(request.MigrationId, out var session))
        {
            session.Released.TrySetResult(request);
            await EndHybridSourceAsync(session, request.Resident ? null : $"the destination lost the job: {request.Error}");
        }
        else if (_records.Load(request.MigrationId) is { Role: MigrationRole.Source, IsHybrid: true, Phase: MigrationPhase.Committed } record)
        {
            // Released after a restart of this daemon: its frozen copy went with it.
            CleanUpHybridSource(record);
        }
        return new ReleaseReply();
    }

    /// <summary>Ends the frozen copy (PS_IOV_CLOSE: criu dump finishes and kills it) and the migration's record here.</summary>
    private async Task EndHybridSourceAsync(HybridSource session, string? trouble)
    {
        if (Interlocked.Exchange(ref session.Ending, 1) != 0)
            return;
        try
        {
            var status = await session.Proxy.ReleaseAsync(CancellationToken.None);
            var exit = await HybridCriu.WaitAsync(session.Dump, TimeSpan.FromSeconds(30));
            _logger.LogInformation("Migration {Id}: frozen copy released (criu status {Status}, exit {Exit}); {Pages} pages were served from it",
                session.Id, status, exit?.ToString(CultureInfo.InvariantCulture) ?? "killed", session.Proxy.PagesSent);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or System.Net.Sockets.SocketException)
        {
            _logger.LogWarning("Migration {Id}: criu's page server was gone at the release: {Error}", session.Id, ex.Message);
            HybridCriu.Kill(session.Dump);
        }
        if (trouble != null)
            _logger.LogError("Migration {Id}: job {Job}: {Trouble}", session.Id, session.Job.Id, trouble);
        // Whatever CRIU did, no copy of the job may stay here.
        KillCopy(session.Job.Pid, session.Job.PidStartTicks, session.Job.PidNamespace);
        session.Writer.Complete();
        _ = session.Writer.Completion.ContinueWith(_ => session.Writer.Dispose(), TaskScheduler.Default);
        await session.Proxy.DisposeAsync();
        session.Dump.Dispose();
        _hybridSources.TryRemove(session.Id, out _);
        if (_records.Load(session.Id) is { } record)
            CleanUpHybridSource(record);
    }

    private void CleanUpHybridSource(MigrationRecord record)
    {
        HybridCriu.KillLeftovers(record.Directory);
        if (record.Pid > 0)
            KillCopy(record.Pid, record.PidStartTicks, record.PidNamespace);
        if (record.Acknowledged || record.Phase != MigrationPhase.Committed)
        {
            _records.Delete(record.Id);
        }
        else
        {
            // The commit is still to be acknowledged: the recovery loop sends it, then deletes the record.
            _records.DeleteWork(record.Id);
        }
    }

    /// <summary>
    /// After the commit, until the release: the frozen copy must not outlive its use. If the
    /// destination has not been connected nor asked anything for twice the patience it gives the
    /// source, it has given the job up (or is gone): the copy is ended. If criu dump ended on its
    /// own, the frozen copy is gone: the proxy answers so to the destination.
    /// </summary>
    private async Task WatchHybridSourceAsync(HybridSource session)
    {
        while (session.Ending == 0)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), CancellationToken.None);
            if (session.Ending != 0)
                return;
            if (session.Dump.HasExited)
            {
                _logger.LogError("Migration {Id}: criu dump --lazy-pages ended on its own (exit {Exit}) before the release: pages not yet at {To} are lost",
                    session.Id, session.Dump.ExitCode, "the destination");
                KillCopy(session.Job.Pid, session.Job.PidStartTicks, session.Job.PidNamespace);
                // Keep the proxy up a while: a destination that connects is told the copy is gone.
            }
            if (!session.Proxy.Connected && session.Proxy.Idle > 2 * _options.LazySourcePatience)
            {
                await EndHybridSourceAsync(session, $"no word from the destination for {session.Proxy.Idle.TotalSeconds:0} s: its copy of the job is presumed lost");
                session.Released.TrySetResult(new ReleaseRequest { MigrationId = session.Id, Resident = false, Error = "no word from the destination" });
                return;
            }
        }
    }
}
