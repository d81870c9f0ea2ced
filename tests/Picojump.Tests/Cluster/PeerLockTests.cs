using Grpc.Core;
using Picojump.Fs.Native;
using Picojump.Protos.Peer;

namespace Picojump.Tests.Cluster;

/// <summary>Locks held on the owner for lock owners of other hosts: they conflict and never wait.</summary>
public sealed class PeerLockTests : IClassFixture<PeerServerFixture>
{
    private const ulong ToEnd = long.MaxValue;
    private readonly Peer.PeerClient _client;
    private readonly string _path;
    private readonly PeerServerFixture _server;

    public PeerLockTests(PeerServerFixture server)
    {
        _server = server;
        _client = server.ClusterClient();
        _path = $"locked-{Guid.NewGuid():N}";
        File.WriteAllText(Path.Combine(server.Export, _path), "data");
    }

    private static CallOptions Deadline => new(deadline: DateTime.UtcNow + PeerServerFixture.Deadline);

    private async Task<Errno> Set(string owner, short type, ulong start, ulong end, bool flock = false)
        => (Errno)(await _client.SetLockAsync(new LockRequest { Path = _path, Owner = owner, Type = (uint)type, Start = start, End = end, Flock = flock }, Deadline)).Errno;

    [Fact]
    public async Task Range_locks_of_two_owners_conflict_until_released()
    {
        Assert.Equal(Errno.OK, await Set("h2:1", LibC.F_WRLCK, 0, 99));
        Assert.Equal(Errno.OK, await Set("h2:1", LibC.F_WRLCK, 10, 20)); // its own lock never conflicts
        Assert.Equal(Errno.EAGAIN, await Set("h3:7", LibC.F_RDLCK, 50, 60));
        Assert.Equal(Errno.OK, await Set("h3:7", LibC.F_WRLCK, 100, ToEnd));

        var conflict = await _client.GetLockAsync(new LockRequest { Path = _path, Owner = "h3:7", Type = (uint)LibC.F_WRLCK, Start = 0, End = ToEnd }, Deadline);
        Assert.Equal((0, (uint)LibC.F_WRLCK, 0ul, 99ul), (conflict.Errno, conflict.Type, conflict.Start, conflict.End));

        Assert.Equal(0, (await _client.ReleaseLocksAsync(new ReleaseLocksRequest { Path = _path, Owner = "h2:1" }, Deadline)).Errno);
        Assert.Equal(Errno.OK, await Set("h3:7", LibC.F_WRLCK, 0, 99));
        var free = await _client.GetLockAsync(new LockRequest { Path = _path, Owner = "h2:1", Type = (uint)LibC.F_RDLCK, Start = 200, End = 300 }, Deadline);
        Assert.Equal((uint)LibC.F_WRLCK, free.Type); // h3:7 holds 100..end
        Assert.Equal(Errno.OK, await Set("h3:7", LibC.F_UNLCK, 0, ToEnd));
        free = await _client.GetLockAsync(new LockRequest { Path = _path, Owner = "h2:1", Type = (uint)LibC.F_WRLCK, Start = 0, End = ToEnd }, Deadline);
        Assert.Equal((uint)LibC.F_UNLCK, free.Type);
    }

    [Fact]
    public async Task Flock_locks_of_two_owners_conflict()
    {
        Assert.Equal(Errno.OK, await Set("h2:1", LibC.F_WRLCK, 0, 0, flock: true));
        Assert.Equal(Errno.EAGAIN, await Set("h3:7", LibC.F_RDLCK, 0, 0, flock: true));
        Assert.Equal(Errno.OK, await Set("h2:1", LibC.F_UNLCK, 0, 0, flock: true));
        Assert.Equal(Errno.OK, await Set("h3:7", LibC.F_RDLCK, 0, 0, flock: true));
    }

    [Fact]
    public async Task A_job_that_ended_loses_every_lock_of_its_processes_and_no_other_jobs()
    {
        var other = $"locked-{Guid.NewGuid():N}";
        File.WriteAllText(Path.Combine(_server.Export, other), "data");
        Assert.Equal(Errno.OK, await Set("job:aaaaaaaaaaaa:7", LibC.F_WRLCK, 0, 9));
        Assert.Equal(Errno.OK, await Set("job:aaaaaaaaaaaa:12", LibC.F_RDLCK, 20, 29));
        Assert.Equal(Errno.OK, await Set("job:aaaaaaaaaaaa1:7", LibC.F_WRLCK, 40, 49)); // another job, whose id extends this one
        Assert.Equal(Errno.OK, (Errno)(await _client.SetLockAsync(new LockRequest { Path = other, Owner = "job:aaaaaaaaaaaa:7", Type = (uint)LibC.F_WRLCK, Start = 0, End = ToEnd }, Deadline)).Errno);
        Assert.Equal(Errno.EAGAIN, await Set("h2:1", LibC.F_WRLCK, 0, 9));

        Assert.Equal(0, (await _client.ReleaseJobLocksAsync(new JobLocksRequest { Job = "aaaaaaaaaaaa" }, Deadline)).Errno);
        Assert.Equal(Errno.OK, await Set("h2:1", LibC.F_WRLCK, 0, 29));
        Assert.Equal(Errno.OK, (Errno)(await _client.SetLockAsync(new LockRequest { Path = other, Owner = "h2:1", Type = (uint)LibC.F_WRLCK, Start = 0, End = ToEnd }, Deadline)).Errno);
        Assert.Equal(Errno.EAGAIN, await Set("h2:1", LibC.F_WRLCK, 40, 49));
        Assert.Equal((int)Errno.EINVAL, (await _client.ReleaseJobLocksAsync(new JobLocksRequest { Job = "" }, Deadline)).Errno);
    }

    [Theory]
    [InlineData("", 1, 0ul, 1ul)]
    [InlineData("o", 3, 0ul, 1ul)]
    [InlineData("o", 1, 5ul, 4ul)]
    [InlineData("o", 1, 0ul, ulong.MaxValue)]
    public async Task Malformed_lock_requests_are_EINVAL(string owner, short type, ulong start, ulong end)
        => Assert.Equal(Errno.EINVAL, await Set(owner, type, start, end));
}
