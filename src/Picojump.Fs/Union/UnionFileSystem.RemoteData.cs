using System.Buffers;
using System.Diagnostics;
using Google.Protobuf;
using Grpc.Core;
using Picojump.Fs.Cache;
using Picojump.Fs.Fuse;
using Microsoft.Extensions.Logging;
using Picojump.Fs.Native;
using Picojump.Fs.Union.Internal;
using Picojump.Fs.WorkingSet;
using Picojump.Protos.Peer;

namespace Picojump.Fs.Union;

// Remote data. Reads are served by block from the block cache; a miss fetches a window of
// blocks from the owner in one stream, and the window doubles while the reader goes on
// sequentially. Writes reach the owner before they are acknowledged.
public sealed partial class UnionFileSystem
{
    /// <summary>A block past the end of the file: not an error, an empty block.</summary>
    private const Errno PastEnd = Errno.ENODATA;

    /// <summary>
    /// Rounds of loading one block before a read gives up with EIO: a block can be evicted, or
    /// the file change, between its fetch and its copy, but not every time.
    /// </summary>
    private const int MaxBlockRounds = 8;

    /// <summary>Blocks one fetch stream carries at most.</summary>
    private const int StreamBlocks = 4;

    private int BlockSize => _cache!.BlockSize;

    /// <summary>
    /// Fills <paramref name="buffer"/> from the file at <paramref name="offset"/>. It is short
    /// only at the end of the file: the kernel takes a short read of a cached file for its end,
    /// zeroes the rest of the pages and shrinks its size. An error after part of the range
    /// fails the whole read (the kernel asks again for what its reader still needs).
    /// </summary>
    private Errno ReadRemote(in FuseInHeader header, RemoteFileHandle handle, long offset, Span<byte> buffer, out int length)
    {
        length = 0;
        var waited = TimeSpan.Zero;
        // The blocks this read took that the handle has not recorded yet (a block is read in
        // many pieces): they go into the job's working set.
        long recordFrom = -1, recordTo = -1, recordVersion = 0;
        byte[]? own = null;
        try
        {
            while (length < buffer.Length)
            {
                var at = offset + length;
                var index = at / BlockSize;
                var within = (int)(at - index * BlockSize);
                var error = CopyBlock(handle, index, within, buffer[length..], ref own, ref waited, out var copied, out var blockLength, out var version);
                if (error != Errno.OK)
                    return error;
                length += copied;
                if (recordFrom < 0 || recordVersion != version)
                    (recordFrom, recordVersion) = (index, version);
                recordTo = index;
                if (blockLength < BlockSize)
                    break; // the last block: the end of the file
            }
        }
        finally
        {
            if (own != null)
                ArrayPool<byte>.Shared.Return(own);
        }
        Account(in header, handle.Node.Owner, length, 0, waited);
        if (recordFrom >= 0 && Accounting is { } accounting && Unrecorded(handle, ref recordFrom, recordTo, recordVersion))
        {
            var path = _nodes.PathOf(handle.Node);
            for (var index = recordFrom; index <= recordTo; index++)
                accounting.RecordBlock((int)header.Pid, new WorkingSetBlock(handle.Node.Owner, path, handle.Ino, recordVersion, (ulong)index));
        }
        return Errno.OK;
    }

    /// <summary>
    /// Copies block <paramref name="index"/> from <paramref name="within"/> into
    /// <paramref name="destination"/>: from the handle's current block when it is that one
    /// (the kernel reads a block in pieces), else from the cache into a buffer of this read's
    /// own. The kernel reads ahead in parallel, so another read of the handle may make a
    /// different block current at any moment; this read then never waits for it to come back.
    /// </summary>
    private Errno CopyBlock(RemoteFileHandle handle, long index, int within, Span<byte> destination, ref byte[]? own, ref TimeSpan waited,
        out int copied, out int blockLength, out long version)
    {
        copied = blockLength = 0;
        version = 0;
        for (var round = 0; round < MaxBlockRounds; round++)
        {
            var error = LoadBlock(handle, index, ref waited);
            if (error == PastEnd)
                return Errno.OK; // nothing to copy: the file ends before this block
            if (error != Errno.OK)
                return error;
            BlockKey key;
            lock (handle.Gate)
            {
                version = handle.Version;
                if (handle.BlockIndex == index)
                {
                    blockLength = handle.BlockLength;
                    copied = Math.Clamp(blockLength - within, 0, destination.Length);
                    handle.Block.AsSpan(within, copied).CopyTo(destination);
                    return Errno.OK;
                }
                key = Key(handle, index);
            }
            own ??= ArrayPool<byte>.Shared.Rent(BlockSize);
            if (_cache!.TryRead(key, own.AsSpan(0, BlockSize), out blockLength))
            {
                copied = Math.Clamp(blockLength - within, 0, destination.Length);
                own.AsSpan(within, copied).CopyTo(destination);
                return Errno.OK;
            }
        }
        _logger.LogWarning("Block {Index} of {Path} left the cache {Rounds} times before it could be read", index, _nodes.PathOf(handle.Node), MaxBlockRounds);
        return Errno.EIO;
    }

    /// <summary>Drops the first of blocks [from, to] if the handle put it into the working set last; marks the rest put.</summary>
    private static bool Unrecorded(RemoteFileHandle handle, ref long from, long to, long version)
    {
        lock (handle.Gate)
        {
            if (handle.RecordedVersion == version && handle.RecordedBlock == from)
                from++;
            if (from > to)
                return false;
            (handle.RecordedBlock, handle.RecordedVersion) = (to, version);
            return true;
        }
    }

    /// <summary>
    /// Makes block <paramref name="index"/> the handle's current block: from the cache, else
    /// by waiting for its fetch (started here if none is under way).
    /// </summary>
    private Errno LoadBlock(RemoteFileHandle handle, long index, ref TimeSpan waited)
    {
        // A few rounds at most: a block can be evicted, or the file change, between fetch and read.
        for (var attempt = 0; attempt < 4; attempt++)
        {
            Task<Errno> fetch;
            lock (handle.Gate)
            {
                if (handle.BlockIndex == index)
                    return Errno.OK;
                handle.Block ??= new byte[BlockSize];
                var sequential = Math.Abs(index - handle.NextBlock) <= 1;
                handle.NextBlock = Math.Max(handle.NextBlock, index + 1);
                if (sequential)
                    handle.Window = Math.Min(handle.Window * 2, _options.MaxReadAheadBlocks);
                else
                    handle.Window = 1;
                var hit = TakeStaged(handle, index);
                if (!hit && _cache!.TryRead(Key(handle, index), handle.Block, out var cached))
                {
                    handle.BlockLength = cached;
                    hit = true;
                }
                else if (!hit)
                {
                    handle.BlockIndex = -1; // a miss may have written part of the buffer
                }
                if (hit)
                {
                    handle.BlockIndex = index;
                    if (sequential)
                        Stage(handle, index + 1);
                    // Inside a stretch this handle is streaming from the owner: stay ahead.
                    // A file read from the cache alone never asks the owner.
                    if (sequential && index < handle.FetchedUntil)
                        ReadAhead(handle, index);
                    return Errno.OK;
                }
                if (!handle.Pending.TryGetValue(index, out var pending))
                {
                    StartFetch(handle, index, handle.Window);
                    pending = handle.Pending[index];
                }
                if (sequential)
                    ReadAhead(handle, index);
                fetch = pending.Task;
            }
            var started = Stopwatch.GetTimestamp();
            var error = fetch.GetAwaiter().GetResult();
            waited += Stopwatch.GetElapsedTime(started);
            if (error != Errno.OK)
                return error; // PastEnd included
        }
        return Errno.EIO;
    }

    /// <summary>Makes the staged block the current one if it is block <paramref name="index"/> and the cache had it. Under the handle's gate.</summary>
    private static bool TakeStaged(RemoteFileHandle handle, long index)
    {
        var staged = handle.Staged;
        if (staged?.Read == null || staged.Index != index)
            return false;
        var length = staged.Read.GetAwaiter().GetResult();
        staged.Index = -1;
        if (length < 0)
            return false;
        (handle.Block, staged.Buffer) = (staged.Buffer, handle.Block!);
        handle.BlockLength = length;
        return true;
    }

    /// <summary>
    /// Reads block <paramref name="index"/> from the cache in the background, so that the disk
    /// read of the next block overlaps the serving of this one. Under the handle's gate.
    /// </summary>
    private void Stage(RemoteFileHandle handle, long index)
    {
        if ((ulong)index * (ulong)BlockSize >= handle.Size)
            return;
        var staged = handle.Staged ??= new StagedBlock(new byte[BlockSize]);
        if (staged.Read is { IsCompleted: false })
            return; // its buffer is still being filled
        staged.Index = index;
        var key = Key(handle, index);
        var buffer = staged.Buffer;
        staged.Read = Task.Run(() => _cache!.TryRead(key, buffer, out var length) ? length : -1);
    }

    /// <summary>Keeps the fetches of a sequential reader one to two windows ahead of it. Under the handle's gate.</summary>
    private void ReadAhead(RemoteFileHandle handle, long index)
    {
        if (handle.FetchedUntil >= index + handle.Window)
            return;
        var first = Math.Max(handle.FetchedUntil, index + 1);
        StartFetch(handle, first, (int)(index + 2 * handle.Window - first));
    }

    private BlockKey Key(RemoteFileHandle handle, long index) => Key(handle, handle.Version, index);

    private static BlockKey Key(RemoteFileHandle handle, long version, long index)
        => new(BlockKey.HashHost(handle.Node.Owner), handle.Ino, version, (ulong)index);

    /// <summary>Registers blocks [first, first + count) as pending and streams them from the owner in the background. Under the handle's gate.</summary>
    private void StartFetch(RemoteFileHandle handle, long first, int count)
    {
        var blocks = new TaskCompletionSource<Errno>[count];
        for (var i = 0; i < count; i++)
        {
            if (!handle.Pending.TryGetValue(first + i, out var pending))
            {
                pending = new TaskCompletionSource<Errno>(TaskCreationOptions.RunContinuationsAsynchronously);
                handle.Pending[first + i] = pending;
            }
            blocks[i] = pending;
        }
        handle.FetchedUntil = Math.Max(handle.FetchedUntil, first + count);
        // A window goes as several streams, spread over the bulk connections.
        for (var at = 0; at < count; at += StreamBlocks)
            _ = FetchAsync(handle, handle.Version, first + at, blocks[at..Math.Min(count, at + StreamBlocks)]);
    }

    /// <summary>
    /// One stream of blocks from the owner into the cache, each completed as it lands. The
    /// owner sends chunks of at most a block in order, so blocks are cut from the chunks.
    /// </summary>
    private async Task FetchAsync(RemoteFileHandle handle, long version, long first, TaskCompletionSource<Errno>[] blocks)
    {
        var request = new ReadRequest
        {
            Path = _nodes.PathOf(handle.Node),
            Ino = handle.Ino,
            Offset = (ulong)(first * BlockSize),
            Length = (ulong)blocks.Length * (ulong)BlockSize,
        };
        var block = ArrayPool<byte>.Shared.Rent(BlockSize);
        var done = 0;
        var filled = 0;
        var started = Stopwatch.GetTimestamp();
        using var bound = handle.Owner.BoundStream();
        try
        {
            using var call = handle.Owner.BulkClient().Read(request, bound.Options);
            await foreach (var chunk in call.ResponseStream.ReadAllAsync())
            {
                bound.Progress();
                if (chunk.Errno != 0)
                {
                    Finish(handle, first, blocks, done, FromWire(chunk.Errno));
                    return;
                }
                if (chunk.CtimeNs != version)
                {
                    // Changed since the open: newer data wins, cached under its own version.
                    lock (handle.Gate)
                    {
                        if (handle.Version == version)
                            handle.Restart(chunk.CtimeNs);
                    }
                    handle.Node.RemoteVersion = chunk.CtimeNs;
                    version = chunk.CtimeNs;
                }
                var data = chunk.Data.Memory;
                RemoteMetrics.Read(handle.Owner.Name, data.Length);
                if (filled == 0 && data.Length == BlockSize && done < blocks.Length)
                {
                    // The usual case, a chunk that is a whole block: no copy on the way to the cache.
                    _cache!.Write(Key(handle, version, first + done), data.Span);
                    Finish(handle, first, blocks, done, done + 1, Errno.OK);
                    done++;
                    continue;
                }
                while (data.Length > 0 && done < blocks.Length)
                {
                    var n = Math.Min(BlockSize - filled, data.Length);
                    data.Span[..n].CopyTo(block.AsSpan(filled));
                    filled += n;
                    data = data[n..];
                    if (filled == BlockSize)
                    {
                        _cache!.Write(Key(handle, version, first + done), block.AsSpan(0, filled));
                        Finish(handle, first, blocks, done, done + 1, Errno.OK);
                        done++;
                        filled = 0;
                    }
                }
                if (chunk.Data.Length == 0)
                    break; // end of file
            }
            if (filled > 0 && done < blocks.Length)
            {
                _cache!.Write(Key(handle, version, first + done), block.AsSpan(0, filled));
                Finish(handle, first, blocks, done, done + 1, Errno.OK);
                done++;
            }
            Finish(handle, first, blocks, done, PastEnd);
            handle.Owner.ObserveTransfer((long)done * BlockSize, Stopwatch.GetElapsedTime(started));
        }
        catch (RpcException ex)
        {
            Finish(handle, first, blocks, done, handle.Owner.Failed(ex, bound));
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "Fetching blocks of {Path} from {Peer} failed", request.Path, handle.Owner.Name);
            Finish(handle, first, blocks, done, Errno.EIO);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(block);
        }
    }

    private static void Finish(RemoteFileHandle handle, long first, TaskCompletionSource<Errno>[] blocks, int from, Errno result)
        => Finish(handle, first, blocks, from, blocks.Length, result);

    /// <summary>Completes blocks [from, to) of a fetch and takes them out of the pending set.</summary>
    private static void Finish(RemoteFileHandle handle, long first, TaskCompletionSource<Errno>[] blocks, int from, int to, Errno result)
    {
        lock (handle.Gate)
        {
            for (var i = from; i < to; i++)
            {
                if (handle.Pending.TryGetValue(first + i, out var pending) && pending == blocks[i])
                    handle.Pending.Remove(first + i);
                if (result != Errno.OK && first + i < handle.FetchedUntil)
                    handle.FetchedUntil = first + i; // not fetched after all: a later read asks again
            }
        }
        for (var i = from; i < to; i++)
            blocks[i].TrySetResult(result);
    }

    private Errno WriteRemote(in FuseInHeader header, RemoteFileHandle handle, long offset, ReadOnlySpan<byte> data, out uint written)
    {
        written = 0;
        // gRPC wants managed memory: the kernel's buffer is copied once, into a pooled array.
        var copy = ArrayPool<byte>.Shared.Rent(data.Length);
        try
        {
            data.CopyTo(copy);
            var request = new WriteRequest
            {
                Path = _nodes.PathOf(handle.Node),
                Ino = handle.Ino,
                Offset = (ulong)offset,
                Data = UnsafeByteOperations.UnsafeWrap(copy.AsMemory(0, data.Length)),
                Append = handle.Append,
            };
            var error = handle.Owner.Call((c, o) => c.Write(request, o), out var reply, out var latency);
            if (error != Errno.OK)
                return error;
            if (reply!.Errno != 0)
                return FromWire(reply.Errno);
            written = reply.Written;
            lock (handle.Gate)
            {
                handle.Restart(reply.Attr.CtimeNs);
                handle.Size = reply.Attr.Size;
            }
            handle.Node.RemoteVersion = reply.Attr.CtimeNs;
            RemoteMetrics.Written(handle.Owner.Name, written);
            Account(in header, handle.Node.Owner, 0, written, latency);
            return Errno.OK;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(copy);
        }
    }
}
