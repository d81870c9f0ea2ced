using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using Picojump.Migrator.Jobs;
using Picojump.Migrator.Migration;
using Picojump.Migrator.Pages;
using Picojump.Protos.Migration;

namespace Picojump.Tests.Migration;

/// <summary>The candidate's side of the policy's estimate: how many sampled hashes its page store holds, and what it refuses.</summary>
public sealed class PagesHeldTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("pj-pagesheld-").FullName;
    private readonly PageStore _store;
    private readonly MigrationCoordinator _coordinator;

    public PagesHeldTests()
    {
        _store = new PageStore(new PageStoreOptions { Directory = Path.Combine(_directory, "pages"), MemoryBytes = 16 << 20, MaxBytes = 64 << 20, CheckpointInterval = TimeSpan.Zero });
        var jobs = new JobManager(new JobManagerOptions { HostName = "h2", Mountpoint = "/pj", StateDirectory = _directory }, NullLogger<JobManager>.Instance);
        _coordinator = new MigrationCoordinator(jobs, _store, null, new MigrationOptions { HostName = "h2", StateDirectory = _directory }, NullLogger<MigrationCoordinator>.Instance);
    }

    public void Dispose()
    {
        _store.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private static PageHash RandomPage(out byte[] page)
    {
        page = new byte[4096];
        Random.Shared.NextBytes(page);
        return PageHash.Of(page);
    }

    private static PagesHeldRequest Request(IEnumerable<PageHash> hashes)
    {
        var list = hashes.ToList();
        var bytes = new byte[list.Count * PageHash.Size];
        for (var i = 0; i < list.Count; i++)
            list[i].WriteTo(bytes.AsSpan(i * PageHash.Size));
        return new PagesHeldRequest { Hashes = ByteString.CopyFrom(bytes) };
    }

    [Fact]
    public void Counts_the_sampled_pages_the_store_holds()
    {
        var held = Enumerable.Range(0, 3).Select(_ =>
        {
            var hash = RandomPage(out var page);
            _store.Put(hash, page);
            return hash;
        }).ToList();
        var absent = Enumerable.Range(0, 2).Select(_ => RandomPage(out byte[] _));
        Assert.Equal(3, _coordinator.PagesHeld(Request(held.Concat(absent))).Held);
        Assert.Equal(0, _coordinator.PagesHeld(new PagesHeldRequest()).Held);
    }

    [Theory]
    [InlineData(17)]
    [InlineData((MigrationCoordinator.MaxSampledPages + 1) * PageHash.Size)]
    public async Task A_malformed_or_oversized_sample_is_refused_as_an_invalid_argument(int bytes)
    {
        var request = new PagesHeldRequest { Hashes = ByteString.CopyFrom(new byte[bytes]) };
        var refused = await Assert.ThrowsAsync<RpcException>(() => MigrationPeerService.Guard(() => Task.FromResult(_coordinator.PagesHeld(request))));
        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
    }
}
