using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Picojump.Migrator.Images;
using Picojump.Migrator.Jobs;
using Picojump.Migrator.Pages;
using Picojump.Protos.Migration;
using MigrationGrpc = Picojump.Protos.Migration.Migration;

namespace Picojump.Migrator.Migration;

// The source side: freeze and dump, offer the hashes, send what is missing, have the
// destination prepare, decide, commit. Until the decision is recorded, any failure aborts:
// the job is restored here from its own dump (or kept, if the dump never stopped it).
public sealed partial class MigrationCoordinator
{
    /// <summary>At most 1 MiB of payload per message.</summary>
    internal const int ChunkBytes = 1 << 20;

    private const int PageRecord = PageHash.Size + Pagemap.PageSize;

    private const int PagesPerChunk = ChunkBytes / PageRecord;

    private static readonly TimeSpan CommitPatience = TimeSpan.FromSeconds(30);

    private async Task<MigrateReply> MigrateFromHereAsync(string jobId, string toHost, Mode mode, CancellationToken cancel)
    {
        var total = Stopwatch.StartNew();
        var job = _jobs.Get(jobId) ?? throw new MigrationException($"no job {jobId} on {HostName}", StatusCode.NotFound);
        if (toHost == HostName)
            throw new MigrationException($"job {job.Id} already runs on {HostName}", StatusCode.InvalidArgument);
        var peer = _peers?.Find(toHost) ?? throw new MigrationException(
            $"unknown host {toHost} (the cluster has {string.Join(", ", (_peers?.Peers.Select(p => p.Name) ?? []).Prepend(HostName))})", StatusCode.InvalidArgument);
        var reply = new MigrateReply { JobId = job.Id, FromHost = HostName, ToHost = toHost, JobHost = HostName, Mode = mode == Mode.Hybrid ? HybridMode : "eager" };
        if (!peer.Reachable)
        {
            reply.Error = $"{toHost} is unreachable ({peer.Status.Error}); nothing was done";
            return reply;
        }

        var id = NewId();
        var directory = _records.WorkDirectory(id);
        _active[id] = true;
        try
        {
            Directory.CreateDirectory(directory);
            var record = _records.Save(new MigrationRecord
            {
                Id = id, Role = MigrationRole.Source, Phase = MigrationPhase.Dumping, JobId = job.Id, Peer = toHost,
                Directory = directory, StartedUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
                Mode = mode == Mode.Hybrid ? HybridMode : "eager",
                Pid = mode == Mode.Hybrid ? job.Pid : 0, PidStartTicks = mode == Mode.Hybrid ? job.PidStartTicks : 0, PidNamespace = mode == Mode.Hybrid ? job.PidNamespace : 0,
            });
            try
            {
                job = _jobs.BeginMigration(job.Id, id);
            }
            catch (JobException)
            {
                _records.Delete(id);
                throw;
            }
            _logger.LogInformation("Migration {Id}: job {Job} from {From} to {To}", id, job.Id, HostName, toHost);
            return mode == Mode.Hybrid
                ? await RunHybridSourceAsync(record, job, reply, total, cancel)
                : await RunSourceAsync(record, job, reply, total, cancel);
        }
        finally
        {
            // A committed migration filling the store in the background stays active until it is done.
            if (!_storeFills.ContainsKey(id) && !_finishing.ContainsKey(id))
                _active.TryRemove(id, out _);
        }
    }

    private async Task<MigrateReply> RunSourceAsync(MigrationRecord record, JobRecord job, MigrateReply reply, Stopwatch total, CancellationToken cancel)
    {
        var client = Client(record.Peer)!;
        var directory = record.Directory;
        var freeze = Stopwatch.StartNew();
        long bytes = 0, pagesSent = 0, pagesFound = 0;
        IReadOnlyList<ImageHashes> images = [];
        Task<Fs.WorkingSet.WorkingSetReport?> workingSet;
        try
        {
            try
            {
                _criu.Dump(job.Pid, directory);
            }
            catch (CriuException ex)
            {
                return await AbortAsync(record, job, reply, total, ex.Message);
            }
            var dumped = freeze.Elapsed;
            workingSet = OfferWorkingSetAsync(record, job);
            images = PageHashes.ComputeDump(directory);
            var hashed = freeze.Elapsed;
            reply.PagesTotal = images.Sum(i => (long)i.Pages.Count);
            reply.ImageBytes = reply.PagesTotal * Pagemap.PageSize;
            record = _records.Save(record with { Phase = MigrationPhase.Transferring });

            // Offer: every pagemap's hashes; the answer: which distinct pages the destination lacks.
            var distinct = DistinctPages(images.Select(i => (i.PagemapFileName, (IReadOnlyList<PageHash>)[.. i.Pages.Select(p => p.Hash)])));
            var offer = await OfferAsync(client, record, job, images, cancel);
            bytes += offer.Bytes;
            var missing = new List<PageHash>();
            for (var i = 0; i < distinct.Count; i++)
            {
                if ((offer.Reply.Missing[i >> 3] & (1 << (i & 7))) != 0)
                    missing.Add(distinct[i]);
            }
            pagesSent = missing.Count;
            pagesFound = distinct.Count - missing.Count;
            var offered = freeze.Elapsed;

            bytes += await TransferAsync(client, record, images, missing, cancel);
            var transferred = freeze.Elapsed;

            var prepare = await client.PrepareAsync(new PrepareRequest { MigrationId = record.Id },
                deadline: BulkDeadline(reply.ImageBytes) + _options.PeerTimeout, cancellationToken: cancel);
            _logger.LogInformation(
                "Migration {Id}: dumped in {Dump} ms, hashed in {Hash} ms, offered in {Offer} ms, sent {Pages} pages in {Transfer} ms, {To} rebuilt in {Rebuild} ms and restored in {Restore} ms",
                record.Id, (long)dumped.TotalMilliseconds, (long)(hashed - dumped).TotalMilliseconds, (long)(offered - hashed).TotalMilliseconds, pagesSent, (long)(transferred - offered).TotalMilliseconds,
                record.Peer, prepare.RebuildMicros / 1000, prepare.RestoreMicros / 1000);
        }
        catch (Exception ex) when (ex is RpcException or IOException or InvalidDataException or OperationCanceledException)
        {
            var reason = ex is RpcException rpc
                ? rpc.StatusCode is StatusCode.FailedPrecondition or StatusCode.NotFound or StatusCode.InvalidArgument
                    ? $"{record.Peer}: {rpc.Status.Detail}"
                    : $"{record.Peer} did not answer ({rpc.StatusCode}: {rpc.Status.Detail})"
                : ex.Message;
            return await AbortAsync(record, job, reply, total, reason);
        }

        // The decision: from here on the job belongs to the destination.
        var entry = new JobMigration(HostName, record.Peer, record.StartedUnixMs, Micros(freeze.Elapsed), bytes, pagesSent, pagesFound);
        record = _records.Save(record with { Phase = MigrationPhase.Committed, Entry = entry });
        _jobs.Forget(job.Id);
        reply.Moved = true;
        reply.JobHost = record.Peer;
        reply.Bytes = bytes;
        reply.PagesSent = pagesSent;
        reply.PagesFound = pagesFound;
        reply.FreezeMicros = entry.FreezeMicros;

        var commit = await CommitUntilAnsweredAsync(client, record, CommitPatience, cancel);
        if (commit.Reply is { } committed)
        {
            reply.FreezeMicros = committed.Entry.FreezeMicros;
            // Off the total: the job runs at the destination; the dump's pages go into the store meanwhile.
            var finished = record;
            _finishing[record.Id] = true;
            FillStoreInBackground(record.Id, DumpPages(record.Directory, images), () => FinishSource(finished), () =>
            {
                _finishing.TryRemove(finished.Id, out _);
                _active.TryRemove(finished.Id, out _);
            });
        }
        else
        {
            reply.Error = commit.Error!;
        }
        reply.TotalMicros = Micros(total.Elapsed);
        // After the total: the job runs at the destination while its cache warms (usually done by now).
        await AddWorkingSetAsync(reply, workingSet);
        _logger.LogInformation("Migration {Id}: job {Job} moved to {To}; freeze {Freeze} ms, total {Total} ms, {Bytes} bytes",
            record.Id, job.Id, record.Peer, reply.FreezeMicros / 1000, reply.TotalMicros / 1000, bytes);
        return reply;
    }

    /// <summary>Sends Commit until the destination answers (or refuses for good); null reply: not answered within <paramref name="patience"/>.</summary>
    private async Task<(CommitReply? Reply, string? Error)> CommitUntilAnsweredAsync(
        MigrationGrpc.MigrationClient client, MigrationRecord record, TimeSpan patience, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        var request = new CommitRequest { MigrationId = record.Id, Entry = ToWire(record.Entry!) };
        while (true)
        {
            try
            {
                return (await client.CommitAsync(request, Small(cancel)), null);
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.FailedPrecondition)
            {
                // The destination cannot resume it (its copy vanished): the job is lost; say it loudly.
                _logger.LogError("Migration {Id}: {To} refused the commit: {Error}; job {Job} is lost", record.Id, record.Peer, ex.Status.Detail, record.JobId);
                _records.Save(record with { Acknowledged = true });
                return (null, $"{record.Peer} could not resume the job: {ex.Status.Detail}; the job is lost");
            }
            catch (RpcException ex)
            {
                if (clock.Elapsed > patience || cancel.IsCancellationRequested)
                {
                    return (null, $"the job now belongs to {record.Peer}, which has not resumed it yet ({ex.StatusCode}: {ex.Status.Detail}); "
                        + $"{HostName} keeps sending it the commit");
                }
                await Task.Delay(TimeSpan.FromMilliseconds(300), CancellationToken.None);
            }
        }
    }

    /// <summary>
    /// Store fills that run after a migration's decision, off its total time (the source's dump,
    /// the destination's received pages), with the pages they are putting: until a fill is done
    /// its pages count as held and are read from its files (<see cref="PendingPages"/>).
    /// </summary>
    /// <summary>Source migrations whose store fill runs in the background: they stay active (the recovery loop leaves them alone) until it is done.</summary>
    private readonly ConcurrentDictionary<string, bool> _finishing = new(StringComparer.Ordinal);

    private readonly ConcurrentDictionary<string, PendingPages> _storeFills = new(StringComparer.Ordinal);

    private void FillStoreInBackground(string id, PendingPages? pending, Action fill, Action done)
    {
        if (pending != null)
            _storeFills[id] = pending;
        _ = Task.Run(() =>
        {
            try
            {
                fill();
            }
            catch (Exception ex)
            {
                _logger.LogWarning(ex, "Migration {Id}: filling the page store failed", id);
            }
            finally
            {
                _storeFills.TryRemove(id, out _);
                pending?.Retire();
                done();
            }
        });
    }

    /// <summary>Of the pages the store lacks, those that no fill under way is putting either.</summary>
    private IReadOnlyList<PageHash> NotPending(IReadOnlyList<PageHash> missing)
    {
        var fills = _storeFills.Values.ToArray();
        return fills.Length == 0 ? missing : [.. missing.Where(h => !fills.Any(f => f.Contains(h)))];
    }

    /// <summary>Where a page the store did not give may still be: a fill under way, or the store again (the fill may have finished meanwhile).</summary>
    private sealed class PendingOrStore(MigrationCoordinator owner) : IPageSource
    {
        public bool TryGet(PageHash hash, Span<byte> page)
        {
            foreach (var fill in owner._storeFills.Values)
            {
                if (fill.TryGet(hash, page))
                    return true;
            }
            return owner._store.TryGet(hash, page);
        }
    }

    /// <summary>The dump's pages files, for <see cref="PendingPages"/>; null if they cannot be opened (the fill then simply runs).</summary>
    private PendingPages? DumpPages(string directory, IReadOnlyList<ImageHashes> images)
    {
        try
        {
            return new PendingPages([.. images.Select(i => (Path.Combine(directory, i.Pagemap.PagesFileName), (IReadOnlyList<PageHash>)[.. i.Pages.Select(p => p.Hash)]))]);
        }
        catch (IOException ex)
        {
            _logger.LogWarning("Dump {Directory}: its pages are not offered while they go into the store: {Error}", directory, ex.Message);
            return null;
        }
    }

    /// <summary>After an acknowledged commit: the dump's pages go into the store (for a return trip), then the dump and the record go.</summary>
    private void FinishSource(MigrationRecord record)
    {
        try
        {
            if (Directory.Exists(record.Directory))
                FillStore(record.Directory);
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException)
        {
            _logger.LogWarning("Migration {Id}: the dump's pages did not all reach the page store: {Error}", record.Id, ex.Message);
        }
        _records.Delete(record.Id);
    }

    private void FillStore(string directory)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            foreach (var pagemapPath in Directory.EnumerateFiles(directory, "pagemap-*.img"))
            {
                var pagesPath = Path.Combine(directory, Pagemap.Read(pagemapPath).PagesFileName);
                if (!File.Exists(pagesPath))
                    continue;
                using var file = File.OpenHandle(pagesPath, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
                var length = RandomAccess.GetLength(file);
                for (long offset = 0; offset < length; offset += ChunkBytes)
                {
                    var chunk = buffer.AsSpan(0, (int)Math.Min(ChunkBytes, length - offset));
                    PageHashes.ReadExactly(file, chunk, offset, pagesPath);
                    for (var at = 0; at + Pagemap.PageSize <= chunk.Length; at += Pagemap.PageSize)
                    {
                        var page = chunk.Slice(at, Pagemap.PageSize);
                        _store.Put(PageHash.Of(page), page);
                    }
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task<(OfferReply Reply, long Bytes)> OfferAsync(
        MigrationGrpc.MigrationClient client, MigrationRecord record, JobRecord job, IReadOnlyList<ImageHashes> images, CancellationToken cancel)
    {
        long bytes = 0;
        // The destination looks up every page in its store, from disk for a large one: its
        // answer may take as long as reading the pages would (a 2 GiB return trip took longer
        // than the hash list's own deadline), as long as heartbeats still reach it.
        var pages = images.Sum(i => (long)i.Pages.Count);
        using var watch = new PeerWatch(_peers?.Find(record.Peer), cancel);
        using var call = client.Offer(deadline: BulkDeadline(pages * (PageHash.Size + Pagemap.PageSize)), cancellationToken: watch.Token);
        var header = new OfferHeader { MigrationId = record.Id, SourceHost = HostName, JobJson = JobJson(job), StartedUnixMs = record.StartedUnixMs };
        bytes += header.CalculateSize();
        await call.RequestStream.WriteAsync(new OfferChunk { Header = header }, cancel);
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            foreach (var image in images)
            {
                var at = 0;
                do
                {
                    var count = Math.Min(image.Pages.Count - at, ChunkBytes / PageHash.Size);
                    for (var i = 0; i < count; i++)
                        image.Pages[at + i].Hash.WriteTo(buffer.AsSpan(i * PageHash.Size, PageHash.Size));
                    await call.RequestStream.WriteAsync(new OfferChunk
                    {
                        Pagemap = image.PagemapFileName,
                        Hashes = UnsafeByteOperations.UnsafeWrap(buffer.AsMemory(0, count * PageHash.Size)),
                    }, cancel);
                    bytes += count * PageHash.Size;
                    at += count;
                }
                while (at < image.Pages.Count);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        await call.RequestStream.CompleteAsync();
        try
        {
            return (await call.ResponseAsync, bytes);
        }
        catch (RpcException) when (watch.PeerLost)
        {
            throw new IOException($"{record.Peer} became unreachable while it looked up the offered pages");
        }
    }

    /// <summary>
    /// The image files but the pages images (one call), and the missing pages, cut into as many
    /// contiguous runs as the peer has bulk connections and sent on all of them at once (one
    /// HTTP/2 + TLS connection runs on one core at a time; the main one is left to names and
    /// attributes, which must not queue behind pages); returns the payload bytes sent.
    /// The first call to fail cancels the others, and its error is the one reported.
    /// </summary>
    private async Task<long> TransferAsync(
        MigrationGrpc.MigrationClient client, MigrationRecord record, IReadOnlyList<ImageHashes> images, List<PageHash> missing, CancellationToken cancel)
    {
        var files = Directory.EnumerateFiles(record.Directory)
            .Select(Path.GetFileName)
            .OfType<string>()
            .Where(n => n.EndsWith(".img", StringComparison.Ordinal) && !n.StartsWith("pages-", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .ToList();

        // Where each missing page lies in the dump (its first copy).
        var wanted = missing.ToHashSet();
        var where = new Dictionary<PageHash, (int Image, long Offset)>(missing.Count);
        for (var i = 0; i < images.Count; i++)
        {
            for (var p = 0; p < images[i].Pages.Count; p++)
            {
                var hash = images[i].Pages[p].Hash;
                if (wanted.Contains(hash))
                    where.TryAdd(hash, (i, (long)p * Pagemap.PageSize));
            }
        }

        var bulk = _peers?.Find(record.Peer)?.BulkCallInvokers ?? [];
        var clients = bulk.Count > 0 ? bulk.Select(i => new MigrationGrpc.MigrationClient(i)).ToList() : [client];
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        Exception? first = null;
        async Task<long> Guarded(Func<CancellationToken, Task<long>> send)
        {
            try
            {
                return await send(failed.Token);
            }
            catch (Exception ex)
            {
                Interlocked.CompareExchange(ref first, ex, null);
                await failed.CancelAsync();
                throw;
            }
        }

        var handles = images.Select(i => File.OpenHandle(Path.Combine(record.Directory, i.Pagemap.PagesFileName), FileMode.Open, FileAccess.Read, FileShare.Read)).ToList();
        try
        {
            var calls = new List<Task<long>> { Guarded(token => SendFilesAsync(client, record, files, token)) };
            for (var s = 0; s < clients.Count; s++)
            {
                var from = (int)((long)missing.Count * s / clients.Count);
                var to = (int)((long)missing.Count * (s + 1) / clients.Count);
                if (to > from)
                {
                    var stream = clients[s];
                    calls.Add(Guarded(token => SendPagesAsync(stream, record, images, handles, where, missing, from, to, token)));
                }
            }
            try
            {
                return (await Task.WhenAll(calls)).Sum();
            }
            catch when (first != null)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
                throw;
            }
        }
        finally
        {
            foreach (var handle in handles)
                handle.Dispose();
        }
    }

    /// <summary>One Transfer call; a write that does not go out within one small-call bound (a cut link) gives the call up.</summary>
    private sealed class TransferCall(MigrationGrpc.MigrationClient client, long bytes, MigrationCoordinator owner, CancellationToken cancel) : IDisposable
    {
        private readonly CancellationTokenSource _stall = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        private readonly bool _slow = owner.Faults.Has(FaultInjection.SlowTransfer);
        private AsyncClientStreamingCall<TransferChunk, TransferReply>? _call;

        public long Sent { get; private set; }

        private AsyncClientStreamingCall<TransferChunk, TransferReply> Call
            => _call ??= client.Transfer(deadline: owner.BulkDeadline(bytes), cancellationToken: _stall.Token);

        public async Task SendAsync(TransferChunk chunk, long payload)
        {
            _stall.CancelAfter(owner._options.PeerTimeout);
            await Call.RequestStream.WriteAsync(chunk, _stall.Token);
            Sent += payload;
            if (_slow)
                await Task.Delay(50, _stall.Token);
        }

        public async Task<long> FinishAsync()
        {
            _stall.CancelAfter(Timeout.InfiniteTimeSpan);
            await Call.RequestStream.CompleteAsync();
            await Call.ResponseAsync;
            return Sent;
        }

        public void Dispose()
        {
            _call?.Dispose();
            _stall.Dispose();
        }
    }

    private async Task<long> SendFilesAsync(MigrationGrpc.MigrationClient client, MigrationRecord record, List<string> files, CancellationToken cancel)
    {
        var fileBytes = files.Sum(f => new FileInfo(Path.Combine(record.Directory, f)).Length);
        using var call = new TransferCall(client, fileBytes, this, cancel);
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            foreach (var name in files)
            {
                using var file = File.OpenHandle(Path.Combine(record.Directory, name), FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
                var length = RandomAccess.GetLength(file);
                long offset = 0;
                do
                {
                    var count = (int)Math.Min(ChunkBytes, length - offset);
                    PageHashes.ReadExactly(file, buffer.AsSpan(0, count), offset, name);
                    await call.SendAsync(new TransferChunk
                    {
                        MigrationId = record.Id,
                        File = name,
                        Offset = offset,
                        Data = UnsafeByteOperations.UnsafeWrap(buffer.AsMemory(0, count)),
                    }, count);
                    offset += count;
                }
                while (offset < length);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return await call.FinishAsync();
    }

    /// <summary>Sends missing[from..to) as (hash, page) records; fills one message while the previous one goes out.</summary>
    private async Task<long> SendPagesAsync(
        MigrationGrpc.MigrationClient client, MigrationRecord record, IReadOnlyList<ImageHashes> images, List<Microsoft.Win32.SafeHandles.SafeFileHandle> handles,
        Dictionary<PageHash, (int Image, long Offset)> where, List<PageHash> missing, int from, int to, CancellationToken cancel)
    {
        using var call = new TransferCall(client, (long)(to - from) * PageRecord, this, cancel);
        byte[][] buffers = [ArrayPool<byte>.Shared.Rent(ChunkBytes), ArrayPool<byte>.Shared.Rent(ChunkBytes)];
        var run = ArrayPool<byte>.Shared.Rent(PagesPerChunk * Pagemap.PageSize);
        Task? pending = null;
        try
        {
            var which = 0;
            for (var at = from; at < to;)
            {
                var buffer = buffers[which];
                var filled = 0;
                while (filled < PagesPerChunk && at < to)
                {
                    // Pages that lie one after another in the dump (most of a first trip's) are read with one read.
                    var (image, offset) = where[missing[at]];
                    var length = 1;
                    while (filled + length < PagesPerChunk && at + length < to
                        && where[missing[at + length]] == (image, offset + ((long)length * Pagemap.PageSize)))
                    {
                        length++;
                    }
                    PageHashes.ReadExactly(handles[image], run.AsSpan(0, length * Pagemap.PageSize), offset, images[image].Pagemap.PagesFileName);
                    for (var k = 0; k < length; k++, filled++, at++)
                    {
                        var slot = buffer.AsSpan(filled * PageRecord, PageRecord);
                        missing[at].WriteTo(slot[..PageHash.Size]);
                        run.AsSpan(k * Pagemap.PageSize, Pagemap.PageSize).CopyTo(slot[PageHash.Size..]);
                    }
                }
                if (pending != null)
                    await pending;
                pending = call.SendAsync(new TransferChunk { MigrationId = record.Id, Pages = UnsafeByteOperations.UnsafeWrap(buffer.AsMemory(0, filled * PageRecord)) }, filled * PageRecord);
                which ^= 1;
            }
            if (pending != null)
                await pending;
            pending = null;
            return await call.FinishAsync();
        }
        finally
        {
            if (pending != null)
            {
                // A failed call: its write must be over before the buffer goes back to the pool.
                try
                {
                    await pending;
                }
                catch (Exception)
                {
                    // Reported by the caller.
                }
            }
            foreach (var buffer in buffers)
                ArrayPool<byte>.Shared.Return(buffer);
            ArrayPool<byte>.Shared.Return(run);
        }
    }

    /// <summary>
    /// No decision was made: record "aborted" first (a destination that asks is told so), then
    /// bring the job back here: it still runs if the dump never stopped it, else it is restored
    /// from the dump. The destination is told to discard, now or by the recovery loop.
    /// </summary>
    private Task<MigrateReply> AbortAsync(MigrationRecord record, JobRecord job, MigrateReply reply, Stopwatch total, string reason)
    {
        record = _records.Save(record with { Phase = MigrationPhase.Aborted });
        var outcome = RestoreLocally(record, job);
        reply.Moved = false;
        reply.JobHost = outcome.Running ? HostName : "";
        reply.Error = $"{reason}; {outcome.Text}";
        _logger.LogWarning("Migration {Id}: aborted: {Reason}; {Outcome}", record.Id, reason, outcome.Text);
        // Not waited for: an unreachable destination would hold the reply for a whole timeout; the recovery loop retries.
        _ = TellAbortAsync(record);
        reply.TotalMicros = Micros(total.Elapsed);
        return Task.FromResult(reply);
    }

    private (bool Running, string Text) RestoreLocally(MigrationRecord record, JobRecord job)
    {
        if (JobProcesses.IsSame(job.Pid, job.PidStartTicks))
        {
            _jobs.EndMigration(job.Id, record.Id, null);
            return (true, $"the job kept running on {HostName}");
        }
        if (!Criu.DumpCompleted(record.Directory))
        {
            _jobs.EndMigration(job.Id, record.Id, null, lost: true);
            return (false, "the job is gone and its dump is incomplete: it is lost");
        }
        try
        {
            // Stopped until the job's processes lock as the job again (EndMigration), so none of its lock calls is lost.
            var pid = _criu.Restore(record.Directory, stopped: true, "local.pid");
            var restored = _jobs.EndMigration(job.Id, record.Id, pid);
            foreach (var member in JobProcesses.InNamespace(restored.PidNamespace))
                JobProcesses.Signal(member, JobProcesses.SIGCONT);
            return (true, $"the job was restored on {HostName} and runs there");
        }
        catch (Exception ex) when (ex is CriuException or IOException or FormatException)
        {
            _jobs.EndMigration(job.Id, record.Id, null, lost: true);
            return (false, $"restoring it on {HostName} failed too ({ex.Message}): the job is lost");
        }
    }

    /// <summary>Tells the destination to discard; once it has, the record and the dump go. Else the recovery loop tries again.</summary>
    private async Task<bool> TellAbortAsync(MigrationRecord record)
    {
        try
        {
            if (Client(record.Peer) is { } client)
            {
                await client.AbortAsync(new AbortRequest { MigrationId = record.Id }, Small());
                _records.Delete(record.Id);
                return true;
            }
        }
        catch (RpcException ex)
        {
            _logger.LogInformation("Migration {Id}: {To} not told of the abort yet: {Error}", record.Id, record.Peer, ex.Status.Detail);
        }
        _records.DeleteWork(record.Id);
        return false;
    }
}
