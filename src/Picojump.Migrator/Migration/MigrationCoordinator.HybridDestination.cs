using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Picojump.Migrator.Images;
using Picojump.Migrator.Jobs;
using Picojump.Migrator.LazyPages;
using Picojump.Migrator.Pages;
using Picojump.Protos.Migration;

namespace Picojump.Migrator.Migration;

// The destination side of a hybrid migration: take the images and the lazy-page hashes, start
// the page server (LazyPageServer: from this host's page store by hash, else from the source's
// frozen copy through its proxy), start criu lazy-pages, restore the job stopped with its memory
// lazy, record "prepared". On the commit: resume, then wait until every page is resident and
// release the source. If the source stays out of reach for LazySourcePatience after the commit,
// the job cannot go on: it is killed (before CRIU's lazy-pages daemon would give up and leave the
// kernel to fill its missing pages with zeros) and reported lost.
public sealed partial class MigrationCoordinator
{
    private const double SlowestHashingBytesPerSecond = 256 << 20;

    /// <summary>The share of the job's sampled memory this store must hold for the background fill to wait for the hashes.</summary>
    private const double WaitForHashesShare = 0.25;

    private sealed class HybridIncoming : IAsyncDisposable
    {
        public required string Id { get; init; }

        public required string Directory { get; init; }

        public required string JobId { get; init; }

        public required string Source { get; init; }

        public required HybridSourcePages Upstream { get; init; }

        public required HybridLazyPages Pages { get; init; }

        public required LazyPageServer Server { get; init; }

        public required HybridPageWriter Writer { get; init; }

        public Process? LazyPages { get; set; }

        public int Pid { get; set; }

        public long PidStartTicks { get; set; }

        public ulong PidNamespace { get; set; }

        public Stopwatch? Resumed { get; set; }

        public int Disposed;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref Disposed, 1) != 0)
                return;
            if (LazyPages != null)
            {
                HybridCriu.Kill(LazyPages);
                LazyPages.Dispose();
            }
            await Upstream.DisposeAsync();
            await Server.DisposeAsync();
            Writer.Complete();
            _ = Writer.Completion.ContinueWith(_ => Writer.Dispose(), TaskScheduler.Default);
        }
    }

    /// <summary>Stores fetched pages in the page store off the reply path.</summary>
    private sealed class StoringPageSource(ILazyPageSource inner, HybridPageWriter writer) : ILazyPageSource
    {
        public async ValueTask<int> ReadAsync(ulong pid, ulong vaddr, int pageCount, Memory<byte> destination, CancellationToken cancellationToken)
        {
            var read = await inner.ReadAsync(pid, vaddr, pageCount, destination, cancellationToken);
            if (read > 0)
                writer.Offer(destination.Span[..(read * Pagemap.PageSize)]);
            return read;
        }
    }

    private readonly ConcurrentDictionary<string, HybridIncoming> _hybridIncoming = new(StringComparer.Ordinal);

    public async Task<PrepareReply> HybridPrepareAsync(IAsyncStreamReader<HybridChunk> stream, CancellationToken cancel)
    {
        if (!await stream.MoveNext(cancel) || stream.Current.Header is not { } header)
            throw new MigrationException("a hybrid prepare must begin with its header", StatusCode.InvalidArgument);
        if (!MigrationStore.IsId(header.MigrationId))
            throw new MigrationException($"bad migration id {header.MigrationId}", StatusCode.InvalidArgument);
        if (header.Token.Length != HybridPageProxy.TokenSize || !IPEndPoint.TryParse(header.PageServer, out var announced))
            throw new MigrationException("a hybrid prepare needs the source's page server and its token", StatusCode.InvalidArgument);
        var sample = ParseSample(header.MemorySample);
        var job = ParseJob(header.JobJson);
        var id = header.MigrationId;
        await Gate(id).WaitAsync(cancel);
        _active[id] = true;
        try
        {
            if (_records.Load(id) is { } existing)
                throw new MigrationException($"migration {id} is already {existing.Phase.ToString().ToLowerInvariant()} here");
            if (_jobs.Get(job.Id) is { State: JobState.Running })
                throw new MigrationException($"job {job.Id} already runs on {HostName}");
            var directory = _records.WorkDirectory(id);
            Directory.CreateDirectory(directory);
            var record = _records.Save(new MigrationRecord
            {
                Id = id, Mode = HybridMode, Role = MigrationRole.Destination, Phase = MigrationPhase.Receiving, JobId = job.Id, Peer = header.SourceHost,
                Directory = directory, JobJson = header.JobJson, StartedUnixMs = header.StartedUnixMs,
            });
            HybridIncoming? session = null;
            var clock = Stopwatch.StartNew();
            try
            {
                var hashes = await ReceiveHybridAsync(stream, directory, cancel);
                var lazyPages = LazyPageMap.TaskPagemaps(directory).Sum(t => Pagemap.Read(t.Path).Regions.Where(r => (r.Flags & PagemapFlags.Lazy) != 0).Sum(r => (long)r.PageCount));
                var received = clock.Elapsed;

                // The source's page proxy, at the address this host knows the source by.
                var sourceAddress = _peers?.Find(header.SourceHost) is { } peer && IPEndPoint.TryParse(peer.Address, out var known) ? known.Address : announced.Address;
                var writer = new HybridPageWriter(_store);
                var upstream = new HybridSourcePages(new IPEndPoint(sourceAddress, announced.Port), header.Token.ToByteArray(), _options.LazySourcePatience,
                    _options.PeerTimeout, _options.MinimumBytesPerSecond, reason => HybridLost(id, reason), _logger);
                var pages = new HybridLazyPages(_store, new StoringPageSource(upstream, writer), HashWait(id, lazyPages, sample));
                var server = new LazyPageServer(pages, new IPEndPoint(IPAddress.Loopback, 0), _logger);
                session = new HybridIncoming
                {
                    Id = id, Directory = directory, JobId = job.Id, Source = header.SourceHost, Upstream = upstream, Pages = pages, Server = server, Writer = writer,
                };
                _hybridIncoming[id] = session;
                try
                {
                    await upstream.ConnectAsync(cancel);
                }
                catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException)
                {
                    throw new MigrationException($"{HostName} cannot reach {header.SourceHost}'s page server at {sourceAddress}:{announced.Port}: {ex.Message}");
                }
                server.Start();
                if (Faults.Has(FaultInjection.RestoreFails))
                    throw new CriuException($"criu restore failed: fault injected ({FaultInjection.RestoreFails} in {Faults.FilePath} or PICOJUMP_FAULT)");
                session.LazyPages = HybridCriu.StartLazyPages(_criu.Binary, directory, server.EndPoint.Port);
                var restoring = clock.Elapsed;
                _criu.ForgetSharedFileSizes(directory);
                var pid = HybridCriu.RestoreLazy(_criu.Binary, directory);
                var restored = clock.Elapsed;
                var start = JobProcesses.StartTicks(pid);
                var ns = JobProcesses.PidNamespace(pid);
                if (start == null || ns == null)
                    throw new CriuException("the restored job vanished at once");
                (session.Pid, session.PidStartTicks, session.PidNamespace) = (pid, start.Value, ns.Value);
                _records.Save(record with { Phase = MigrationPhase.Prepared, Pid = pid, PidStartTicks = start.Value, PidNamespace = ns.Value });
                _logger.LogInformation("Migration {Id} (hybrid): job {Job} from {From} restored (stopped, {Pages} lazy pages away) as pid {Pid}; received in {Receive} ms, restored in {Restore} ms",
                    id, job.Id, header.SourceHost, lazyPages, pid, (long)received.TotalMilliseconds, (long)(restored - restoring).TotalMilliseconds);
                return new PrepareReply { Pid = pid, RebuildMicros = Micros(received), RestoreMicros = Micros(restored - restoring) };
            }
            catch (Exception ex) when (ex is MigrationException or CriuException or IOException or InvalidDataException or FormatException)
            {
                if (session != null)
                {
                    _hybridIncoming.TryRemove(id, out _);
                    if (session.Pid > 0)
                        KillCopy(session.Pid, session.PidStartTicks, session.PidNamespace);
                    await session.DisposeAsync();
                }
                HybridCriu.KillLeftovers(directory);
                _records.DeleteWork(id);
                _records.Save(record with { Phase = MigrationPhase.Aborted });
                throw ex as MigrationException ?? new MigrationException(ex.Message);
            }
        }
        finally
        {
            _active.TryRemove(id, out _);
            Gate(id).Release();
        }
    }

    /// <summary>
    /// How long CRIU's background fill waits for the source's hashes before it fetches pages
    /// unchecked: the time to hash the lazy pages at a slow rate (a loaded source), plus a
    /// second (a fixed second was too short for a 2 GiB job: its return trip fetched every page
    /// although this host's store held 90% of them). Not at all when this store holds less than
    /// <see cref="WaitForHashesShare"/> of the source's sample of the job's memory: one
    /// page-server session answers in order, so every fault of the job queues behind a waiting
    /// request, and on a first trip the wait saved nothing (a 2 GiB job stalled 1.5 s after its
    /// resume). Without a sample (an older source) it waits.
    /// </summary>
    private TimeSpan HashWait(string id, long lazyPages, PageHash[] sample)
    {
        var wait = TimeSpan.FromSeconds(1 + lazyPages * (double)Pagemap.PageSize / SlowestHashingBytesPerSecond);
        if (sample.Length == 0)
            return wait;
        var held = (double)PagesHeld(sample) / sample.Length;
        var waits = held >= WaitForHashesShare;
        _logger.LogInformation("Migration {Id} (hybrid): this host's store holds {Held:P0} of a sample of the job's memory: the background fill {Waits}",
            id, held, waits ? $"waits up to {wait.TotalSeconds:0.0} s for the hashes" : "does not wait for the hashes");
        return waits ? wait : TimeSpan.Zero;
    }

    /// <summary>S -> D: the hashes of the frozen job's lazy pages, once S has read them.</summary>
    public async Task<HybridHashesReply> HybridHashesAsync(IAsyncStreamReader<HybridChunk> stream, CancellationToken cancel)
    {
        if (!await stream.MoveNext(cancel) || stream.Current.Header is not { } header)
            throw new MigrationException("the hashes must begin with their header", StatusCode.InvalidArgument);
        if (!_hybridIncoming.TryGetValue(header.MigrationId, out var session))
            throw new MigrationException($"no hybrid migration {header.MigrationId} streams its pages here");
        var hashes = await ReceiveHybridAsync(stream, session.Directory, cancel);
        var clock = Stopwatch.StartNew();
        var map = BuildLazyMap(session.Directory, hashes);
        session.Pages.SetMap(map);
        _logger.LogInformation("Migration {Id} (hybrid): the hashes of {Pages} lazy pages are in ({Ms} ms to map them)", session.Id, map.PageCount, (long)clock.Elapsed.TotalMilliseconds);
        return new HybridHashesReply { Pages = map.PageCount };
    }

    private static async Task<Dictionary<string, List<PageHash>>> ReceiveHybridAsync(IAsyncStreamReader<HybridChunk> stream, string directory, CancellationToken cancel)
    {
        var hashes = new Dictionary<string, List<PageHash>>(StringComparer.Ordinal);
        FileStream? file = null;
        string? fileName = null;
        try
        {
            while (await stream.MoveNext(cancel))
            {
                var chunk = stream.Current;
                if (chunk.File.Length > 0)
                {
                    if (!IsImageName(chunk.File, ""))
                        throw new MigrationException($"bad image file name {chunk.File}", StatusCode.InvalidArgument);
                    if (chunk.File != fileName)
                    {
                        file?.Dispose();
                        file = new FileStream(Path.Combine(directory, chunk.File), FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0);
                        fileName = chunk.File;
                    }
                    if (chunk.Offset != file!.Position)
                        throw new MigrationException($"{chunk.File}: data at {chunk.Offset}, expected {file.Position}", StatusCode.InvalidArgument);
                    file.Write(chunk.Data.Span);
                }
                if (chunk.Pagemap.Length > 0)
                {
                    if (!IsImageName(chunk.Pagemap, "pagemap-") || chunk.Hashes.Length % PageHash.Size != 0)
                        throw new MigrationException($"bad pagemap chunk ({chunk.Pagemap}, {chunk.Hashes.Length} bytes)", StatusCode.InvalidArgument);
                    if (!hashes.TryGetValue(chunk.Pagemap, out var list))
                        hashes[chunk.Pagemap] = list = [];
                    var span = chunk.Hashes.Span;
                    for (var at = 0; at < span.Length; at += PageHash.Size)
                        list.Add(PageHash.ReadFrom(span.Slice(at, PageHash.Size)));
                }
            }
        }
        finally
        {
            file?.Dispose();
        }
        return hashes;
    }

    /// <summary>(task, address) -> hash for every lazy page: each task pagemap's PE_LAZY entries in order, with the hashes the source sent for them.</summary>
    private static LazyPageMap BuildLazyMap(string directory, Dictionary<string, List<PageHash>> hashes)
    {
        var map = new LazyPageMap();
        foreach (var (pid, path) in LazyPageMap.TaskPagemaps(directory))
        {
            var name = Path.GetFileName(path);
            var list = hashes.GetValueOrDefault(name) ?? [];
            var index = 0;
            foreach (var region in Pagemap.Read(path).Regions.Where(r => (r.Flags & PagemapFlags.Lazy) != 0))
            {
                for (ulong i = 0; i < region.PageCount; i++, index++)
                {
                    if (index >= list.Count)
                        throw new InvalidDataException($"{name}: more lazy pages than the {list.Count} hashes sent");
                    map.Add(pid, region.Vaddr + (i * Pagemap.PageSize), list[index]);
                }
            }
            if (index != list.Count)
                throw new InvalidDataException($"{name}: {index} lazy pages, {list.Count} hashes sent");
        }
        return map;
    }

    /// <summary>The source's decision was "commit": resume the stopped job, adopt it, and see its pages in. Call under the migration's gate.</summary>
    private CommitReply DoHybridCommit(MigrationRecord record, JobMigration entry)
    {
        if (!_hybridIncoming.TryGetValue(record.Id, out var session) || session.Disposed != 0 || session.Upstream.Lost != null)
        {
            // Its page server died with a previous daemon (or the source was lost before the commit):
            // the job's missing pages cannot come any more.
            KillCopy(record.Pid, record.PidStartTicks, record.PidNamespace);
            _records.DeleteWork(record.Id);
            _records.Save(record with { Phase = MigrationPhase.Aborted });
            _logger.LogError("Migration {Id}: job {Job} cannot resume on {Host}: its page stream is gone; the job is lost", record.Id, record.JobId, HostName);
            throw new MigrationException($"the lazily restored copy of job {record.JobId} on {HostName} lost its page stream; the job is lost");
        }
        var clock = Stopwatch.StartNew();
        if (!JobProcesses.IsSame(record.Pid, record.PidStartTicks))
            throw new MigrationException($"the restored copy of job {record.JobId} (pid {record.Pid}) is gone");
        _jobs.Resuming(record.JobId, record.PidNamespace);
        foreach (var pid in JobProcesses.InNamespace(record.PidNamespace))
            JobProcesses.Signal(pid, JobProcesses.SIGCONT);
        session.Resumed = Stopwatch.StartNew();
        var resume = clock.Elapsed;
        var final = entry with { FreezeMicros = entry.FreezeMicros + Micros(resume), Mode = HybridMode };
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
        _logger.LogInformation("Migration {Id} (hybrid): job {Job} resumed on {Host} (pid {Pid}); its pages stream in", record.Id, record.JobId, HostName, record.Pid);
        _ = Task.Run(() => FinishHybridAsync(session, record with { Entry = final }));
        return new CommitReply { Pid = record.Pid, ResumeMicros = Micros(resume), Entry = ToWire(final) };
    }

    /// <summary>After the resume: wait until every page is resident (or the stream failed for good), record it, release the source.</summary>
    private async Task FinishHybridAsync(HybridIncoming session, MigrationRecord record)
    {
        ReleaseRequest release;
        try
        {
            await session.Server.Completion;
            var resident = session.Resumed!.Elapsed;
            var exit = session.LazyPages == null ? 0 : await HybridCriu.WaitAsync(session.LazyPages, TimeSpan.FromSeconds(30));
            if (exit != 0)
                _logger.LogWarning("Migration {Id}: criu lazy-pages ended with {Exit} after every page was in", session.Id, exit);
            var counts = session.Pages.Counts;
            release = new ReleaseRequest
            {
                MigrationId = session.Id, Resident = true, ResidentMicros = Micros(resident),
                PagesFromStore = counts.FromStore, PagesFetched = counts.Fetched, PagesUnhashed = counts.FetchedUnhashed,
            };
            _jobs.UpdateLastMigration(session.JobId, m => m with { ResidentMicros = Micros(resident) });
            _logger.LogInformation(
                "Migration {Id} (hybrid): every page of job {Job} resident {Resident} ms after the resume: {Store} from the store, {Fetched} fetched from {Source} ({Retries} asked again); {Stats}",
                session.Id, session.JobId, (long)resident.TotalMilliseconds, counts.FromStore, counts.Fetched + counts.FetchedUnhashed, session.Source, session.Upstream.Retries, session.Server.Stats);
        }
        catch (Exception ex)
        {
            // The page stream broke for good: whatever of the job runs is missing memory. Kill it.
            KillCopy(session.Pid, session.PidStartTicks, session.PidNamespace);
            var reason = session.Upstream.Lost ?? ex.Message;
            _logger.LogError("Migration {Id}: job {Job} is lost: its pages stopped coming from {Source} ({Reason})", session.Id, session.JobId, session.Source, reason);
            var counts = session.Pages.Counts;
            release = new ReleaseRequest
            {
                MigrationId = session.Id, Resident = false, Error = reason,
                PagesFromStore = counts.FromStore, PagesFetched = counts.Fetched, PagesUnhashed = counts.FetchedUnhashed,
            };
        }
        _hybridIncoming.TryRemove(session.Id, out _);
        await session.DisposeAsync();
        _records.DeleteWork(session.Id);
        _records.Save(record with { Phase = MigrationPhase.Committed, Acknowledged = true });
        await TellReleaseAsync(release, record.Peer);
    }

    /// <summary>Asks the source to end its frozen copy, within the patience; past it the source ends it on its own.</summary>
    private async Task TellReleaseAsync(ReleaseRequest release, string source)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                if (Client(source) is { } client)
                {
                    await client.ReleaseAsync(release, Small());
                    return;
                }
            }
            catch (RpcException ex)
            {
                if (clock.Elapsed > _options.LazySourcePatience)
                {
                    _logger.LogWarning("Migration {Id}: {Source} not told to release its frozen copy: {Error}", release.MigrationId, source, ex.Status.Detail);
                    return;
                }
            }
            await Task.Delay(TimeSpan.FromMilliseconds(500));
        }
    }

    /// <summary>The source is gone for good while pages are missing: kill the job first (its memory would silently become zeros).</summary>
    private void HybridLost(string id, string reason)
    {
        if (_hybridIncoming.TryGetValue(id, out var session) && session.Pid > 0)
        {
            KillCopy(session.Pid, session.PidStartTicks, session.PidNamespace);
            _logger.LogError("Migration {Id}: {Reason}: job {Job} killed, it cannot go on without its missing pages", id, reason, session.JobId);
        }
    }

    /// <summary>An aborted hybrid migration here: its page server, lazy-pages daemon and source connection go (the copy is killed by the caller).</summary>
    private void DropHybrid(string id)
    {
        if (_hybridIncoming.TryRemove(id, out var session))
            _ = session.DisposeAsync().AsTask();
    }
}
