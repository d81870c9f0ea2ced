using System.Collections.Concurrent;
using System.Diagnostics;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Picojump.Migrator.Images;
using Picojump.Migrator.Jobs;
using Picojump.Migrator.Pages;
using Picojump.Protos.Migration;

namespace Picojump.Migrator.Migration;

// The destination side: take the hashes, answer what is missing, receive, rebuild, restore
// stopped, and then do what the source decided: resume and adopt, or kill and forget.
public sealed partial class MigrationCoordinator
{
    /// <summary>A migration being received: its page lists and, once offered, the pages images being written as pages come.</summary>
    private sealed class Incoming(string id, string directory) : IDisposable
    {
        public string Id { get; } = id;

        public string Directory { get; } = directory;

        public Dictionary<string, List<PageHash>> Pagemaps { get; } = new(StringComparer.Ordinal);

        public ReceivedImages? Images { get; set; }

        public long LastActivity { get; set; } = Stopwatch.GetTimestamp();

        public void Dispose() => Images?.Dispose();
    }

    private readonly ConcurrentDictionary<string, Incoming> _incoming = new(StringComparer.Ordinal);

    public async Task<OfferReply> OfferAsync(IAsyncStreamReader<OfferChunk> stream, CancellationToken cancel)
    {
        if (!await stream.MoveNext(cancel) || stream.Current.Header is not { } header)
            throw new MigrationException("an offer must begin with its header", StatusCode.InvalidArgument);
        if (!MigrationStore.IsId(header.MigrationId))
            throw new MigrationException($"bad migration id {header.MigrationId}", StatusCode.InvalidArgument);
        var job = ParseJob(header.JobJson);
        var id = header.MigrationId;
        await Gate(id).WaitAsync(cancel);
        Incoming incoming;
        try
        {
            if (_records.Load(id) is { } existing)
                throw new MigrationException($"migration {id} is already {existing.Phase.ToString().ToLowerInvariant()} here");
            if (_jobs.Get(job.Id) is { State: JobState.Running })
                throw new MigrationException($"job {job.Id} already runs on {HostName}");
            var directory = _records.WorkDirectory(id);
            Directory.CreateDirectory(directory);
            _records.Save(new MigrationRecord
            {
                Id = id, Role = MigrationRole.Destination, Phase = MigrationPhase.Receiving, JobId = job.Id, Peer = header.SourceHost,
                Directory = directory, JobJson = header.JobJson, StartedUnixMs = header.StartedUnixMs,
            });
            incoming = new Incoming(id, directory);
            _incoming[id] = incoming;
        }
        finally
        {
            Gate(id).Release();
        }

        var clock = Stopwatch.StartNew();
        while (await stream.MoveNext(cancel))
        {
            var chunk = stream.Current;
            if (!IsImageName(chunk.Pagemap, "pagemap-") || chunk.Hashes.Length % PageHash.Size != 0)
                throw new MigrationException($"bad pagemap chunk ({chunk.Pagemap}, {chunk.Hashes.Length} bytes)", StatusCode.InvalidArgument);
            if (!incoming.Pagemaps.TryGetValue(chunk.Pagemap, out var hashes))
                incoming.Pagemaps[chunk.Pagemap] = hashes = [];
            var span = chunk.Hashes.Span;
            for (var at = 0; at < span.Length; at += PageHash.Size)
                hashes.Add(PageHash.ReadFrom(span.Slice(at, PageHash.Size)));
        }
        var received = clock.Elapsed;
        var distinct = DistinctPages(incoming.Pagemaps.Select(p => (p.Key, (IReadOnlyList<PageHash>)p.Value)));
        var waited = clock.Elapsed;
        // What the store lacks, but a fill under way (the pages of a migration that just ended) is putting, counts as held.
        var missingList = NotPending(_store.Missing(distinct));
        var looked = clock.Elapsed;
        var missing = missingList.ToHashSet();
        incoming.Images = new ReceivedImages(incoming.Directory, incoming.Pagemaps, missingList);
        _logger.LogInformation("Migration {Id}: offer received in {Received} ms, distinct pages in {Waited} ms, {Distinct} pages looked up in {Lookup} ms, images set up in {Setup} ms",
            id, (long)received.TotalMilliseconds, (long)(waited - received).TotalMilliseconds, distinct.Count, (long)(looked - waited).TotalMilliseconds, (long)(clock.Elapsed - looked).TotalMilliseconds);
        var bitmap = new byte[(distinct.Count + 7) / 8];
        for (var i = 0; i < distinct.Count; i++)
        {
            if (missing.Contains(distinct[i]))
                bitmap[i >> 3] |= (byte)(1 << (i & 7));
        }
        incoming.LastActivity = Stopwatch.GetTimestamp();
        return new OfferReply { Missing = Google.Protobuf.ByteString.CopyFrom(bitmap), Distinct = distinct.Count, MissingCount = missing.Count };
    }

    public async Task<TransferReply> TransferAsync(IAsyncStreamReader<TransferChunk> stream, CancellationToken cancel)
    {
        Incoming? incoming = null;
        FileStream? file = null;
        string? fileName = null;
        long files = 0;
        try
        {
            while (await stream.MoveNext(cancel))
            {
                var chunk = stream.Current;
                if (incoming == null)
                {
                    if (!_incoming.TryGetValue(chunk.MigrationId, out incoming))
                        throw new MigrationException($"no migration {chunk.MigrationId} is being received here");
                }
                else if (chunk.MigrationId != incoming.Id)
                {
                    throw new MigrationException("a transfer carries one migration", StatusCode.InvalidArgument);
                }
                incoming.LastActivity = Stopwatch.GetTimestamp();
                if (chunk.File.Length > 0)
                {
                    if (!IsImageName(chunk.File, "") || chunk.File.StartsWith("pages-", StringComparison.Ordinal))
                        throw new MigrationException($"bad image file name {chunk.File}", StatusCode.InvalidArgument);
                    if (chunk.File != fileName)
                    {
                        file?.Dispose();
                        file = new FileStream(Path.Combine(incoming.Directory, chunk.File), FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0);
                        fileName = chunk.File;
                        files++;
                    }
                    if (chunk.Offset != file!.Position)
                        throw new MigrationException($"{chunk.File}: data at {chunk.Offset}, expected {file.Position}", StatusCode.InvalidArgument);
                    file.Write(chunk.Data.Span);
                }
                if (chunk.Pages.Length > 0)
                {
                    var images = incoming.Images ?? throw new MigrationException($"migration {incoming.Id} sends pages before its offer", StatusCode.InvalidArgument);
                    images.Append(chunk.Pages.Span);
                }
            }
        }
        finally
        {
            file?.Dispose();
        }
        if (incoming == null)
            throw new MigrationException("an empty transfer", StatusCode.InvalidArgument);
        return new TransferReply { Files = files, Pages = incoming.Images?.ReceivedCount ?? 0 };
    }

    public async Task<PrepareReply> PrepareAsync(string id, CancellationToken cancel)
    {
        await Gate(id).WaitAsync(cancel);
        try
        {
            var record = _records.Load(id);
            if (record is not { Role: MigrationRole.Destination, Phase: MigrationPhase.Receiving } || !_incoming.TryGetValue(id, out var incoming))
                throw new MigrationException($"migration {id} is not being received here ({record?.Phase.ToString() ?? "unknown"})");
            var clock = Stopwatch.StartNew();
            try
            {
                var images = incoming.Images ?? throw new InvalidDataException("no offer came");
                var pagesFiles = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (var (name, hashes) in incoming.Pagemaps)
                {
                    var pagemap = Pagemap.Read(Path.Combine(incoming.Directory, name));
                    if (pagemap.PresentPageCount != hashes.Count)
                        throw new InvalidDataException($"{name} lists {pagemap.PresentPageCount} pages, the offer {hashes.Count}");
                    if (!IsImageName(pagemap.PagesFileName, "pages-"))
                        throw new InvalidDataException($"{name} names a bad pages image {pagemap.PagesFileName}");
                    pagesFiles[name] = pagemap.PagesFileName;
                }
                // The received pages are in place already; what the host held comes from its store.
                images.Complete(_store, new PendingOrStore(this), name => pagesFiles[name]);
            }
            catch (Exception ex) when (ex is MissingPagesException or InvalidDataException or IOException)
            {
                Discard(record, incoming);
                throw new MigrationException($"rebuilding the images failed: {ex.Message}");
            }
            var rebuild = clock.Elapsed;
            int pid;
            try
            {
                if (Faults.Has(FaultInjection.RestoreFails))
                    throw new CriuException($"criu restore failed: fault injected ({FaultInjection.RestoreFails} in {Faults.FilePath} or PICOJUMP_FAULT)");
                pid = _criu.Restore(incoming.Directory, stopped: true, "restored.pid");
            }
            catch (Exception ex) when (ex is CriuException or IOException or FormatException)
            {
                Discard(record, incoming);
                throw new MigrationException(ex.Message);
            }
            var start = JobProcesses.StartTicks(pid);
            var ns = JobProcesses.PidNamespace(pid);
            if (start == null || ns == null)
            {
                Discard(record, incoming);
                throw new MigrationException("the restored job vanished at once");
            }
            _records.Save(record with { Phase = MigrationPhase.Prepared, Pid = pid, PidStartTicks = start.Value, PidNamespace = ns.Value });
            _logger.LogInformation("Migration {Id}: job {Job} from {From} restored (stopped) as pid {Pid}", id, record.JobId, record.Peer, pid);
            return new PrepareReply { Pid = pid, RebuildMicros = Micros(rebuild), RestoreMicros = Micros(clock.Elapsed - rebuild) };
        }
        finally
        {
            Gate(id).Release();
        }
    }

    public async Task<CommitReply> CommitAsync(string id, JobMigration entry, CancellationToken cancel)
    {
        await Gate(id).WaitAsync(cancel);
        try
        {
            return DoCommit(id, entry);
        }
        finally
        {
            Gate(id).Release();
        }
    }

    /// <summary>Resumes and adopts a prepared job; answers the same again for one already committed. Call under the migration's gate.</summary>
    private CommitReply DoCommit(string id, JobMigration entry)
    {
        var record = _records.Load(id);
        if (record is { Role: MigrationRole.Destination, Phase: MigrationPhase.Committed, Entry: { } done })
            return new CommitReply { Pid = record.Pid, Entry = ToWire(done) };
        if (record is not { Role: MigrationRole.Destination, Phase: MigrationPhase.Prepared })
            throw new MigrationException($"migration {id} is not prepared here ({record?.Phase.ToString() ?? "unknown"})");
        if (record.IsHybrid)
            return DoHybridCommit(record, entry);
        var clock = Stopwatch.StartNew();
        if (!JobProcesses.IsSame(record.Pid, record.PidStartTicks))
            throw new MigrationException($"the restored copy of job {record.JobId} (pid {record.Pid}) is gone");
        _jobs.Resuming(record.JobId, record.PidNamespace);
        foreach (var pid in JobProcesses.InNamespace(record.PidNamespace))
            JobProcesses.Signal(pid, JobProcesses.SIGCONT);
        var resume = clock.Elapsed;
        var final = entry with { FreezeMicros = entry.FreezeMicros + Micros(resume) };
        var job = ParseJob(record.JobJson!);
        _jobs.Adopt(job with
        {
            Pid = record.Pid,
            PidStartTicks = record.PidStartTicks,
            PidNamespace = record.PidNamespace,
            Migrations = [.. job.Migrations, final],
        });
        _records.Save(record with { Phase = MigrationPhase.Committed, Entry = final });
        AttachEarlyWarmUp(record);
        _logger.LogInformation("Migration {Id}: job {Job} resumed on {Host} (pid {Pid})", id, record.JobId, HostName, record.Pid);
        if (_incoming.TryRemove(id, out var incoming))
        {
            // Off the job's downtime: keep the received pages for a later trip back here, then drop the images.
            FillStoreInBackground(id, incoming.Images?.Pending(), () => incoming.Images?.CopyTo(_store), () =>
            {
                incoming.Dispose();
                _records.DeleteWork(id);
            });
        }
        else
        {
            _records.DeleteWork(id);
        }
        return new CommitReply { Pid = record.Pid, ResumeMicros = Micros(resume), Entry = ToWire(final) };
    }

    public async Task AbortAsync(string id, CancellationToken cancel)
    {
        if (!MigrationStore.IsId(id))
            throw new MigrationException($"bad migration id {id}", StatusCode.InvalidArgument);
        await Gate(id).WaitAsync(cancel);
        try
        {
            DoAbort(id);
            _warmedEarly.TryRemove(id, out _);
        }
        finally
        {
            Gate(id).Release();
        }
    }

    /// <summary>Discards a migration here (kills a restored, stopped copy); leaves a tombstone so that a late offer is refused. Call under the gate.</summary>
    private void DoAbort(string id)
    {
        var record = _records.Load(id);
        if (record is { Role: MigrationRole.Destination, Phase: MigrationPhase.Committed })
            throw new MigrationException($"migration {id} was committed here: the job runs on {HostName}");
        if (record is { Role: MigrationRole.Source })
            throw new MigrationException($"migration {id} is {HostName}'s own");
        if (record is { Phase: MigrationPhase.Prepared })
            KillCopy(record.Pid, record.PidStartTicks, record.PidNamespace);
        DropHybrid(id);
        _incoming.TryRemove(id, out var incoming);
        incoming?.Dispose();
        _records.DeleteWork(id);
        _records.Save((record ?? new MigrationRecord
        {
            Id = id, Role = MigrationRole.Destination, Phase = MigrationPhase.Aborted, JobId = "", Peer = "", Directory = _records.WorkDirectory(id),
        }) with { Phase = MigrationPhase.Aborted });
        if (record != null && record.Phase != MigrationPhase.Aborted)
            _logger.LogInformation("Migration {Id}: discarded (job {Job} stays with {Source})", id, record.JobId, record.Peer);
    }

    /// <summary>A failed receive: nothing was restored, so the destination may drop it on its own.</summary>
    private void Discard(MigrationRecord record, Incoming incoming)
    {
        _incoming.TryRemove(record.Id, out _);
        incoming.Dispose();
        _records.DeleteWork(record.Id);
        _records.Save(record with { Phase = MigrationPhase.Aborted });
    }

    /// <summary>What the source decided, for a destination that asks.</summary>
    public DecisionReply Decide(string id)
    {
        var record = _records.Load(id);
        if (record is not { Role: MigrationRole.Source })
            return new DecisionReply { Decision = Decision.Aborted };
        return record.Phase switch
        {
            MigrationPhase.Committed => new DecisionReply { Decision = Decision.Committed, Entry = ToWire(record.Entry!) },
            MigrationPhase.Aborted => new DecisionReply { Decision = Decision.Aborted },
            _ => new DecisionReply { Decision = Decision.Pending },
        };
    }

    /// <summary>A plain file name of the dump (no directory part), with the given prefix, ending in .img.</summary>
    private static bool IsImageName(string name, string prefix)
        => name.Length is > 4 and < 200 && name.StartsWith(prefix, StringComparison.Ordinal) && name.EndsWith(".img", StringComparison.Ordinal)
            && !name.Contains('/', StringComparison.Ordinal) && !name.StartsWith('.') && !name.Contains('\0', StringComparison.Ordinal);
}
