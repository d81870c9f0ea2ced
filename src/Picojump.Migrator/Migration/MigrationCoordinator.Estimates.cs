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
    public PagesHeldReply PagesHeld(PagesHeldRequest request) => new() { Held = PagesHeld(ParseSample(request.Hashes)) };

    /// <summary>A sample's hashes off the wire; InvalidDataException (InvalidArgument to the caller) past <see cref="MaxSampledPages"/> or on a partial hash.</summary>
    private static PageHash[] ParseSample(ByteString hashes)
    {
        if (hashes.Length / PageHash.Size > MaxSampledPages)
            throw new InvalidDataException($"a sample is at most {MaxSampledPages} hashes of {PageHash.Size} bytes, not {hashes.Length} bytes");
        return PageHash.Split(hashes.Span);
    }

    private int PagesHeld(PageHash[] sample) => sample.Length - _store.Missing(sample).Count;

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
