using Picojump.Fs.Cache;
using static Picojump.Tests.Cache.CacheTestData;

namespace Picojump.Tests.Cache;

public sealed class BlockCacheCapacityTests : IDisposable
{
    private readonly CacheDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [Fact]
    public void BlocksBeyondTheMemoryBudgetAreReadBackFromDisk()
    {
        using var cache = new BlockCache(new BlockCacheOptions
        {
            Directory = _directory.Path,
            MemoryBytes = 32L << 20,
            MaxBytes = 1L << 30,
            CheckpointInterval = TimeSpan.Zero,
        });
        var keys = Enumerable.Range(0, 100).Select(i => Key(fileId: 9, blockIndex: (ulong)i)).ToArray();
        foreach (var key in keys)
        {
            cache.Write(key, Content(key, BlockCacheOptions.DefaultBlockSize));
        }

        foreach (var key in keys)
        {
            AssertHit(cache, key, BlockCacheOptions.DefaultBlockSize);
        }
    }

    [Fact]
    public async Task MaxBytesBoundsTheDiskAndDropsTheOldestBlocks()
    {
        const int blockSize = 64 << 10;
        const long maxBytes = 8L << 20;
        using var cache = new BlockCache(new BlockCacheOptions
        {
            Directory = _directory.Path,
            BlockSize = blockSize,
            MemoryBytes = 1L << 20,
            MaxBytes = maxBytes,
            CheckpointInterval = TimeSpan.Zero,
        });
        var keys = Enumerable.Range(0, (int)(3 * maxBytes / blockSize)).Select(i => Key(fileId: 4, blockIndex: (ulong)i)).ToArray();
        foreach (var key in keys)
        {
            cache.Write(key, Content(key, blockSize));
        }
        await cache.CheckpointAsync();

        // Slack: the segment being evicted next, the partly filled last page, the checkpoint files.
        Assert.InRange(_directory.SizeOnDisk(), maxBytes / 2, maxBytes + (3L << 20));
        AssertMiss(cache, keys[0]);
        AssertMiss(cache, keys[keys.Length / 3]);
        AssertHit(cache, keys[^1], blockSize);
        AssertHit(cache, keys[^(keys.Length / 6)], blockSize);
        Assert.True(cache.Stats.Evictions > 0);
        Assert.InRange(cache.Stats.BytesCached, 1, maxBytes);
    }
}
