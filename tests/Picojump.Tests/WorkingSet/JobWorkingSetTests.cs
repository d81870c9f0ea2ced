using Picojump.Fs.Accounting;
using Picojump.Fs.WorkingSet;
using Picojump.Tests.Accounting;

namespace Picojump.Tests.WorkingSet;

/// <summary>Each job's working set: the remote blocks it read last, bounded, one entry per block whatever its version.</summary>
public sealed class JobWorkingSetTests
{
    private static readonly JobId Job = new("pidns:4026532201", "python3 (pid 42, pidns 4026532201)");
    private static readonly JobId Other = new("pidns:4026532999", "sort (pid 7, pidns 4026532999)");

    private readonly ManualClock _clock = new();

    private AccessAccounting NewAccounting(int blocks) => new(new JobResolver(_clock), _clock) { WorkingSetBlocks = blocks };

    private static WorkingSetBlock Block(ulong index, long version = 1, string owner = "h3", ulong ino = 77)
        => new(owner, "data/input", ino, version, index);

    [Fact]
    public void The_set_keeps_the_most_recently_read_blocks_up_to_its_bound_and_per_job()
    {
        var accounting = NewAccounting(blocks: 3);
        foreach (var index in new ulong[] { 0, 1, 2, 0, 3 })
            accounting.RecordBlock(Job, Block(index));
        accounting.RecordBlock(Other, Block(9, owner: "h2"));

        // 1 was read least recently: it went when 3 came; 0 was read again, so it stayed.
        Assert.Equal([3UL, 0UL, 2UL], accounting.WorkingSet(Job.Key, DateTimeOffset.MinValue).Select(b => b.BlockIndex));
        Assert.Equal([Block(9, owner: "h2")], accounting.WorkingSet(Other.Key, DateTimeOffset.MinValue));
        Assert.Empty(accounting.WorkingSet("pidns:1", DateTimeOffset.MinValue));
    }

    [Fact]
    public void A_block_read_again_at_a_newer_version_replaces_the_older_entry()
    {
        var accounting = NewAccounting(blocks: 8);
        accounting.RecordBlock(Job, Block(0, version: 100));
        accounting.RecordBlock(Job, Block(1, version: 100));
        accounting.RecordBlock(Job, Block(0, version: 200));

        Assert.Equal([Block(0, version: 200), Block(1, version: 100)], accounting.WorkingSet(Job.Key, DateTimeOffset.MinValue));
    }

    [Fact]
    public void Only_blocks_read_since_the_job_started_or_arrived_count_a_reused_namespace_key_does_not_inherit_them()
    {
        var accounting = NewAccounting(blocks: 8);
        accounting.RecordBlock(Job, Block(0)); // an earlier job under the same PID namespace inode
        _clock.Advance(TimeSpan.FromSeconds(5));
        var arrived = _clock.GetUtcNow();
        accounting.RecordBlock(Job, Block(1));

        Assert.Equal([Block(1)], accounting.WorkingSet(Job.Key, arrived));
    }

    [Fact]
    public void A_working_set_outlives_the_job_counters_idle_timeout_and_goes_after_its_own()
    {
        var accounting = NewAccounting(blocks: 8);
        accounting.RecordBlock(Job, Block(0));
        _clock.Advance(AccessAccounting.IdleTimeout + TimeSpan.FromMinutes(1));
        accounting.Snapshot(TimeSpan.FromSeconds(60)); // sweeps idle jobs
        Assert.Single(accounting.WorkingSet(Job.Key, DateTimeOffset.MinValue));

        _clock.Advance(AccessAccounting.WorkingSetIdleTimeout);
        accounting.Snapshot(TimeSpan.FromSeconds(60));
        Assert.Empty(accounting.WorkingSet(Job.Key, DateTimeOffset.MinValue));
    }

    [Fact]
    public void On_the_wire_blocks_group_by_file_and_version_and_come_back_in_the_same_order()
    {
        List<WorkingSetBlock> blocks = [Block(0), Block(1), Block(5, version: 2), Block(2), Block(0, owner: "h1", ino: 5)];
        var files = CachedFiles.ToWire(blocks);

        Assert.Equal(3, files.Count);
        Assert.Equal([0UL, 1UL, 2UL], files[0].Blocks);
        Assert.Equal([Block(0), Block(1), Block(2), Block(5, version: 2), Block(0, owner: "h1", ino: 5)], CachedFiles.FromWire(files));
    }
}
