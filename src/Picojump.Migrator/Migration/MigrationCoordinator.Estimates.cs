using Google.Protobuf;
using Grpc.Core;
using Picojump.Migrator.Pages;
using Picojump.Protos.Migration;

namespace Picojump.Migrator.Migration;

// What a move would not have to send, for the policy's cost estimate: pages of a running job
// that another host's page store holds, judged from a sample of the job's memory.
public sealed partial class MigrationCoordinator
{
    /// <summary>Hashes one PagesHeld request may carry: a sample, not a dump.</summary>
    public const int MaxSampledPages = 4096;

    /// <summary>Server: how many of the sampled hashes this host's page store holds.</summary>
    public PagesHeldReply PagesHeld(PagesHeldRequest request)
    {
        var bytes = request.Hashes.Span;
        if (bytes.Length % PageHash.Size != 0 || bytes.Length / PageHash.Size > MaxSampledPages)
            throw new InvalidDataException($"hashes must be at most {MaxSampledPages} of {PageHash.Size} bytes each, not {bytes.Length} bytes");
        var hashes = new PageHash[bytes.Length / PageHash.Size];
        for (var i = 0; i < hashes.Length; i++)
            hashes[i] = PageHash.ReadFrom(bytes.Slice(i * PageHash.Size, PageHash.Size));
        return new PagesHeldReply { Held = hashes.Length - _store.Missing(hashes).Count };
    }

    /// <summary>
    /// Client: the share of <paramref name="sample"/> (hashes of the job's non-zero pages) that
    /// <paramref name="host"/>'s page store holds; null if the host did not answer.
    /// </summary>
    public async Task<double?> ShareOfPagesHeldAsync(string host, IReadOnlyList<PageHash> sample, CancellationToken cancel)
    {
        if (sample.Count == 0)
            return 0;
        if (Client(host) is not { } client)
            return null;
        var bytes = new byte[Math.Min(sample.Count, MaxSampledPages) * PageHash.Size];
        for (var i = 0; i < bytes.Length / PageHash.Size; i++)
            sample[i].WriteTo(bytes.AsSpan(i * PageHash.Size));
        try
        {
            var reply = await client.PagesHeldAsync(new PagesHeldRequest { Hashes = UnsafeByteOperations.UnsafeWrap(bytes) }, Small(cancel));
            return (double)reply.Held / (bytes.Length / PageHash.Size);
        }
        catch (RpcException)
        {
            return null;
        }
    }
}
