using System.Buffers;
using System.Diagnostics;
using Google.Protobuf;
using Grpc.Core;
using Picojump.Fs.Cache;
using Picojump.Fs.Fuse;
using Picojump.Fs.Native;
using Picojump.Fs.Union.Internal;
using Picojump.Protos.Peer;

namespace Picojump.Fs.Union;

// Remote data. Reads are served by block from the block cache; a miss fetches a window of
// blocks from the owner in one stream, and the window doubles while the reader goes on
// sequentially. Writes reach the owner before they are acknowledged.
public sealed partial class UnionFileSystem
{
    private int BlockSize => _cache?.BlockSize ?? Cache.BlockCacheOptions.DefaultBlockSize;

    private Errno ReadRemote(in FuseInHeader header, RemoteFileHandle handle, long offset, Span<byte> buffer, out int length)
    {
        length = 0;
        var waited = TimeSpan.Zero;
        lock (handle.FetchGate)
        {
            while (length < buffer.Length)
            {
                var at = offset + length;
                var index = at / BlockSize;
                var error = LoadBlock(handle, index, ref waited);
                if (error != Errno.OK)
                    return length > 0 ? Errno.OK : error;
                var within = (int)(at - index * BlockSize);
                if (within >= handle.BlockLength)
                    break; // end of file
                var n = Math.Min(handle.BlockLength - within, buffer.Length - length);
                handle.Block.AsSpan(within, n).CopyTo(buffer[length..]);
                length += n;
                if (handle.BlockLength < BlockSize)
                    break;
            }
        }
        Account(in header, handle.Node.Owner, length, 0, waited);
        return Errno.OK;
    }

    /// <summary>Makes block <paramref name="index"/> the handle's current block: from the handle, the cache, or the owner.</summary>
    private Errno LoadBlock(RemoteFileHandle handle, long index, ref TimeSpan waited)
    {
        if (handle.BlockIndex == index)
            return Errno.OK;
        handle.Block ??= new byte[BlockSize];
        var sequential = index == handle.NextBlock;
        handle.NextBlock = index + 1;
        if (_cache != null && _cache.TryRead(Key(handle, index), handle.Block, out var cached))
        {
            handle.BlockIndex = index;
            handle.BlockLength = cached;
            return Errno.OK;
        }
        handle.Window = sequential ? Math.Min(handle.Window * 2, _options.MaxReadAheadBlocks) : 1;
        var started = Stopwatch.GetTimestamp();
        var error = Fetch(handle, index, _cache == null ? 1 : handle.Window);
        waited += Stopwatch.GetElapsedTime(started);
        return error;
    }

    private BlockKey Key(RemoteFileHandle handle, long index)
        => new(BlockKey.HashHost(handle.Node.Owner), handle.Ino, handle.Version, (ulong)index);

    /// <summary>
    /// Streams <paramref name="count"/> blocks from <paramref name="first"/> on into the cache,
    /// keeping the first one in the handle. Blocks already cached are fetched again: one
    /// stream is cheaper than asking block by block.
    /// </summary>
    private Errno Fetch(RemoteFileHandle handle, long first, int count)
    {
        var request = new ReadRequest
        {
            Path = _nodes.PathOf(handle.Node),
            Ino = handle.Ino,
            Offset = (ulong)(first * BlockSize),
            Length = (ulong)count * (ulong)BlockSize,
        };
        var block = ArrayPool<byte>.Shared.Rent(BlockSize);
        try
        {
            using var call = handle.Owner.Client.Read(request, handle.Owner.Options());
            var index = first;
            var filled = 0;
            var gotFirst = false;
            var stream = call.ResponseStream;
            while (stream.MoveNext().GetAwaiter().GetResult())
            {
                var chunk = stream.Current;
                if (chunk.Errno != 0)
                    return gotFirst ? Errno.OK : FromWire(chunk.Errno);
                if (chunk.CtimeNs != handle.Version)
                {
                    // Changed since the open: newer data wins, under its own version.
                    handle.Version = chunk.CtimeNs;
                    handle.Node.RemoteVersion = chunk.CtimeNs;
                }
                var data = chunk.Data.Span;
                while (data.Length > 0)
                {
                    var n = Math.Min(BlockSize - filled, data.Length);
                    data[..n].CopyTo(block.AsSpan(filled));
                    filled += n;
                    data = data[n..];
                    if (filled == BlockSize)
                    {
                        Keep(handle, index, block, filled, ref gotFirst, first);
                        index++;
                        filled = 0;
                    }
                }
                if (chunk.Data.Length == 0)
                    break; // end of file
            }
            if (filled > 0 || index == first)
                Keep(handle, index, block, filled, ref gotFirst, first);
            return Errno.OK;
        }
        catch (RpcException ex)
        {
            return handle.Owner.Failed(ex);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(block);
        }
    }

    private void Keep(RemoteFileHandle handle, long index, byte[] block, int length, ref bool gotFirst, long first)
    {
        _cache?.Write(Key(handle, index), block.AsSpan(0, length));
        if (index != first)
            return;
        block.AsSpan(0, length).CopyTo(handle.Block);
        handle.BlockIndex = index;
        handle.BlockLength = length;
        gotFirst = true;
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
            lock (handle.FetchGate)
            {
                handle.Version = reply.Attr.CtimeNs;
                handle.BlockIndex = -1;
            }
            handle.Node.RemoteVersion = reply.Attr.CtimeNs;
            Account(in header, handle.Node.Owner, 0, written, latency);
            return Errno.OK;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(copy);
        }
    }
}
