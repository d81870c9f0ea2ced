using System.Diagnostics;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Picojump.Fs.Cache;
using Picojump.Protos.Peer;

namespace Picojump.Fs.WorkingSet;

// The calls of a warm-up: the owner's word on a file's version, blocks from the offering host's
// cache, and blocks from the owner (ordinary reads) for whatever the cache could not give.
public sealed partial class CacheWarmer
{
    private sealed partial class WarmRun
    {
        public async Task FetchAsync(WarmItem item, CancellationToken cancel)
        {
            try
            {
                var blocks = item.Blocks;
                if (item.Role == CacheRole)
                {
                    var current = Current.GetOrAdd((item.Owner, item.Ino, item.Version), _ => new Lazy<Task<bool>>(() => StillCurrentAsync(item, cancel)));
                    if (!await current.Value)
                    {
                        AddStale(blocks.Count);
                        return;
                    }
                    blocks = await FromCacheAsync(item, cancel);
                }
                if (blocks.Count > 0)
                    await FromOwnerAsync(item, blocks, cancel);
            }
            catch (RpcException) when (cancel.IsCancellationRequested)
            {
                throw new OperationCanceledException(cancel);
            }
        }

        /// <summary>
        /// Whether the owner still has the file at the offered version. A zero-length read answers
        /// with the file's version and makes the owner count this host among the file's readers, so
        /// its later changes invalidate what this host caches. An owner that cannot say: true (the
        /// blocks are keyed by version, a newer one never finds them).
        /// </summary>
        private async Task<bool> StillCurrentAsync(WarmItem item, CancellationToken cancel)
        {
            if (Warmer._peers.Find(item.Owner) is not { Reachable: true } owner)
                return true;
            try
            {
                using var call = owner.Client.Read(new ReadRequest { Path = item.Path, Ino = item.Ino, Offset = 0, Length = 0 }, owner.Options(cancel));
                await foreach (var chunk in call.ResponseStream.ReadAllAsync(cancel))
                    return chunk.Errno == 0 && chunk.CtimeNs == item.Version;
                return false;
            }
            catch (RpcException ex) when (!cancel.IsCancellationRequested)
            {
                owner.Failed(ex);
                return true;
            }
        }

        /// <summary>Takes the item's blocks from the offering host's cache; gives back those it did not get.</summary>
        private async Task<List<ulong>> FromCacheAsync(WarmItem item, CancellationToken cancel)
        {
            var left = new List<ulong>(item.Blocks);
            if (Warmer._peers.Find(CacheHolder) is not { } holder)
                return left;
            var request = new CachedBlocksRequest();
            request.Files.Add(new CachedFile { Owner = item.Owner, Path = item.Path, Ino = item.Ino, Version = item.Version, Blocks = { item.Blocks } });
            var started = Stopwatch.GetTimestamp();
            long bytes = 0;
            using var bound = holder.BoundStream(cancel);
            try
            {
                using var call = holder.BulkClient().ReadCachedBlocks(request, bound.Options);
                await foreach (var chunk in call.ResponseStream.ReadAllAsync(cancel))
                {
                    bound.Progress();
                    if (!chunk.Found || chunk.Data.Length > Warmer._cache.BlockSize || !left.Remove(chunk.Block))
                        continue;
                    Warmer._cache.Write(new BlockKey(BlockKey.HashHost(item.Owner), item.Ino, item.Version, chunk.Block), chunk.Data.Span);
                    bytes += chunk.Data.Length;
                    AddFetched(holder.Name, CacheRole, chunk.Data.Length);
                }
                holder.ObserveTransfer(bytes, Stopwatch.GetElapsedTime(started));
            }
            catch (RpcException ex) when (!cancel.IsCancellationRequested)
            {
                holder.Failed(ex, bound);
                Warmer._logger.LogInformation("Working set: {Holder}'s cache did not serve {Count} blocks of {Path} ({Status}); asking {Owner}",
                    holder.Name, left.Count, item.Path, ex.StatusCode, item.Owner);
            }
            return left;
        }

        /// <summary>Reads the blocks from the file's owner, run by contiguous run, into the cache under the version the owner reports.</summary>
        private async Task FromOwnerAsync(WarmItem item, List<ulong> blocks, CancellationToken cancel)
        {
            if (Warmer._peers.Find(item.Owner) is not { } owner)
                return;
            var blockSize = Warmer._cache.BlockSize;
            var buffer = new byte[blockSize];
            for (var at = 0; at < blocks.Count;)
            {
                var first = blocks[at];
                var count = 1;
                while (at + count < blocks.Count && blocks[at + count] == first + (ulong)count)
                    count++;
                at += count;
                var request = new ReadRequest { Path = item.Path, Ino = item.Ino, Offset = first * (ulong)blockSize, Length = (ulong)count * (ulong)blockSize };
                var started = Stopwatch.GetTimestamp();
                long bytes = 0;
                var index = first;
                var filled = 0;
                var version = item.Version;
                using var bound = owner.BoundStream(cancel);
                try
                {
                    using var call = owner.BulkClient().Read(request, bound.Options);
                    await foreach (var chunk in call.ResponseStream.ReadAllAsync(cancel))
                    {
                        bound.Progress();
                        if (chunk.Errno != 0)
                            break;
                        version = chunk.CtimeNs;
                        var data = chunk.Data.Span;
                        while (data.Length > 0)
                        {
                            var n = Math.Min(blockSize - filled, data.Length);
                            data[..n].CopyTo(buffer.AsSpan(filled));
                            filled += n;
                            data = data[n..];
                            if (filled == blockSize)
                            {
                                Store(owner.Name, item, index++, version, buffer.AsSpan(0, filled));
                                bytes += filled;
                                filled = 0;
                            }
                        }
                        if (chunk.Data.Length == 0)
                            break;
                    }
                    if (filled > 0)
                    {
                        Store(owner.Name, item, index++, version, buffer.AsSpan(0, filled));
                        bytes += filled;
                    }
                    // Blocks past the end: the file shrank since the job read it.
                    AddStale((long)(first + (ulong)count - index));
                    owner.ObserveTransfer(bytes, Stopwatch.GetElapsedTime(started));
                }
                catch (RpcException ex) when (!cancel.IsCancellationRequested)
                {
                    owner.Failed(ex, bound);
                    Warmer._logger.LogInformation("Working set: {Owner} did not serve blocks of {Path} ({Status})", owner.Name, item.Path, ex.StatusCode);
                }
            }
        }

        private void Store(string host, WarmItem item, ulong index, long version, ReadOnlySpan<byte> data)
        {
            // The owner's version of now: the job, opening the file again here, reads that one.
            Warmer._cache.Write(new BlockKey(BlockKey.HashHost(item.Owner), item.Ino, version, index), data);
            AddFetched(host, OwnerRole, data.Length);
        }
    }
}
