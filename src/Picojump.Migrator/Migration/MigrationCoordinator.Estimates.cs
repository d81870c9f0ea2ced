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
        if (request.Hashes.Length / PageHash.Size > MaxSampledPages)
            throw new InvalidDataException($"hashes must be at most {MaxSampledPages} of {PageHash.Size} bytes each, not {request.Hashes.Length} bytes");
        var hashes = PageHash.Split(request.Hashes.Span);
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
        var bytes = PageHash.Concat(sample.Take(MaxSampledPages).ToList());
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
