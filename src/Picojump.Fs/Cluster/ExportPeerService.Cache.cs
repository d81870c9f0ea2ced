using System.Buffers;
using Google.Protobuf;
using Grpc.Core;
using Picojump.Fs.Cache;
using Picojump.Fs.WorkingSet;
using Picojump.Protos.Peer;

namespace Picojump.Fs.Cluster;

// The block cache, by key: which blocks this host lacks, and the ones it holds, for a peer
// warming its own cache (a job moving there). Keys carry the version, so a block of a file
// that changed since is simply another key: never served for the new one.
public sealed partial class ExportPeerService
{
    /// <summary>Blocks one request may name: a working set is bounded, and so is one call's work.</summary>
    public const int MaxRequestedBlocks = 16384;

    /// <summary>This host's block cache; null: it runs none, and lacks every block of other hosts' files.</summary>
    public BlockCache? Cache { get; init; }

    public override Task<MissingBlocksReply> MissingBlocks(CachedBlocksRequest request, ServerCallContext context)
    {
        var blocks = Requested(request);
        var missing = CacheWarmer.Missing(Cache, _hostName, blocks);
        var bitmap = new byte[(blocks.Count + 7) / 8];
        var count = 0;
        for (var i = 0; i < blocks.Count; i++)
        {
            if (missing[i])
            {
                bitmap[i >> 3] |= (byte)(1 << (i & 7));
                count++;
            }
        }
        return Task.FromResult(new MissingBlocksReply { Missing = ByteString.CopyFrom(bitmap), MissingCount = count });
    }

    public override async Task ReadCachedBlocks(CachedBlocksRequest request, IServerStreamWriter<CachedBlockChunk> responseStream, ServerCallContext context)
    {
        Requested(request);
        var blockSize = Cache?.BlockSize ?? BlockCacheOptions.DefaultBlockSize;
        for (var f = 0; f < request.Files.Count; f++)
        {
            var file = request.Files[f];
            foreach (var index in file.Blocks)
            {
                // Returned only once WriteAsync has serialized the message (see Read).
                var buffer = ArrayPool<byte>.Shared.Rent(blockSize);
                try
                {
                    var key = new BlockKey(BlockKey.HashHost(file.Owner), file.Ino, file.Version, index);
                    var chunk = new CachedBlockChunk { File = (uint)f, Block = index };
                    if (Cache != null && Cache.TryRead(key, buffer, out var length))
                    {
                        chunk.Found = true;
                        chunk.Data = UnsafeByteOperations.UnsafeWrap(buffer.AsMemory(0, length));
                    }
                    await responseStream.WriteAsync(chunk, context.CancellationToken);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
    }

    private static List<WorkingSetBlock> Requested(CachedBlocksRequest request)
    {
        if (request.Files.Sum(f => (long)f.Blocks.Count) > MaxRequestedBlocks)
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"at most {MaxRequestedBlocks} blocks per request"));
        return CachedFiles.FromWire(request.Files);
    }
}
