using Picojump.Fs.Cache;
using static Picojump.Tests.Cache.CacheTestData;

namespace Picojump.Tests.Cache;

public sealed class BlockCacheTests : IDisposable
{
    private const int BlockSize = 64 << 10;
    private readonly CacheDirectory _directory = new();
    private readonly BlockCache _cache;

    public BlockCacheTests()
    {
        _cache = new BlockCache(new BlockCacheOptions
        {
            Directory = _directory.Path,
            BlockSize = BlockSize,
            MemoryBytes = 4 << 20,
            MaxBytes = 16 << 20,
            CheckpointInterval = TimeSpan.Zero,
        });
    }

    public void Dispose()
    {
        _cache.Dispose();
        _directory.Dispose();
    }

    [Fact]
    public void AFullBlockReadsBackByteForByte()
    {
        var key = Key(fileId: 7, blockIndex: 0);
        _cache.Write(key, Content(key, BlockSize));

        AssertHit(_cache, key, BlockSize);
    }

    [Fact]
    public void AShortLastBlockKeepsItsLength()
    {
        var key = Key(fileId: 7, blockIndex: 3);
        _cache.Write(key, Content(key, 1234));

        AssertHit(_cache, key, 1234);
    }

    [Fact]
    public void UnknownKeysOtherVersionsAndOtherBlocksMiss()
    {
        var key = Key(fileId: 7, blockIndex: 2, version: 100);
        _cache.Write(key, Content(key, BlockSize));

        AssertMiss(_cache, Key(fileId: 8, blockIndex: 2, version: 100));
        AssertMiss(_cache, Key(fileId: 7, blockIndex: 2, version: 101));
        AssertMiss(_cache, Key(fileId: 7, blockIndex: 1, version: 100));
        AssertMiss(_cache, key with { OwnerHost = BlockKey.HashHost("host-b") });
        AssertHit(_cache, key, BlockSize);
    }

    [Fact]
    public void StatsCountHitsAndMisses()
    {
        var key = Key(fileId: 1, blockIndex: 0);
        _cache.Write(key, Content(key, 100));
        AssertHit(_cache, key, 100);
        AssertHit(_cache, key, 100);
        AssertMiss(_cache, Key(fileId: 2, blockIndex: 0));

        var stats = _cache.Stats;
        Assert.Equal(2, stats.Hits);
        Assert.Equal(1, stats.Misses);
        Assert.True(stats.BytesCached >= 100);
    }

    [Fact]
    public void InvalidateHidesEveryVersionAndBlockOfThatFileOnly()
    {
        var oldVersion = Key(fileId: 5, blockIndex: 0, version: 1);
        var newVersion = Key(fileId: 5, blockIndex: 1, version: 2);
        var otherFile = Key(fileId: 6, blockIndex: 0, version: 1);
        foreach (var key in new[] { oldVersion, newVersion, otherFile })
        {
            _cache.Write(key, Content(key, 4096));
        }

        _cache.Invalidate(CacheTestData.Owner, fileId: 5);

        AssertMiss(_cache, oldVersion);
        AssertMiss(_cache, newVersion);
        AssertHit(_cache, otherFile, 4096);
    }

    [Fact]
    public void ABlockWrittenAgainAfterInvalidateHits()
    {
        var key = Key(fileId: 5, blockIndex: 0);
        _cache.Write(key, Content(key, 4096));
        _cache.Invalidate(CacheTestData.Owner, fileId: 5);
        AssertMiss(_cache, key);

        _cache.Write(key, Content(key, 4096));

        AssertHit(_cache, key, 4096);
    }

    [Fact]
    public void ABlockLongerThanBlockSizeIsRefused()
    {
        Assert.Throws<ArgumentException>(() => _cache.Write(Key(1, 0), new byte[BlockSize + 1]));
    }

    [Fact]
    public void AMaxBytesBelowTwiceTheMemoryIsRefused()
    {
        using var directory = new CacheDirectory();
        Assert.Throws<ArgumentOutOfRangeException>(() => new BlockCache(new BlockCacheOptions
        {
            Directory = directory.Path,
            MemoryBytes = 1L << 20,
            MaxBytes = 24L << 20,
        }));
    }
}
