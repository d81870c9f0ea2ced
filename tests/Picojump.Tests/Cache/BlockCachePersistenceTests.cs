using Picojump.Fs.Cache;
using static Picojump.Tests.Cache.CacheTestData;

namespace Picojump.Tests.Cache;

public sealed class BlockCachePersistenceTests : IDisposable
{
    private const int BlockSize = 64 << 10;
    private readonly CacheDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    private BlockCache Open(RecordingLogger? logger = null) => Open(_directory, logger);

    private static BlockCache Open(CacheDirectory directory, RecordingLogger? logger = null, TimeSpan checkpointInterval = default) => new(new BlockCacheOptions
    {
        Directory = directory.Path,
        BlockSize = BlockSize,
        MemoryBytes = 1L << 20,
        MaxBytes = 16L << 20,
        CheckpointInterval = checkpointInterval,
    }, logger);

    private static BlockKey[] WriteBlocks(BlockCache cache, int count)
    {
        var keys = Enumerable.Range(0, count).Select(i => Key(fileId: 3, blockIndex: (ulong)i)).ToArray();
        foreach (var key in keys)
        {
            cache.Write(key, Content(key, key.BlockIndex == (ulong)(count - 1) ? 777 : BlockSize));
        }
        return keys;
    }

    [Fact]
    public async Task ARestartedCacheHitsWithTheSameBytes()
    {
        BlockKey[] keys;
        using (var cache = Open())
        {
            keys = WriteBlocks(cache, 40);
            await cache.CheckpointAsync();
        }

        using var reopened = Open();
        foreach (var key in keys)
        {
            AssertHit(reopened, key, key == keys[^1] ? 777 : BlockSize);
        }
    }

    [Fact]
    public void DisposeTakesTheCheckpointARestartRecovers()
    {
        BlockKey[] keys;
        using (var cache = Open())
        {
            keys = WriteBlocks(cache, 5);
        }

        using var reopened = Open();
        AssertHit(reopened, keys[0], BlockSize);
        AssertHit(reopened, keys[^1], 777);
    }

    [Fact]
    public void AnInvalidationSurvivesARestart()
    {
        BlockKey[] keys;
        using (var cache = Open())
        {
            keys = WriteBlocks(cache, 3);
            cache.Invalidate(CacheTestData.Owner, fileId: 3);
        }

        using var reopened = Open();
        AssertMiss(reopened, keys[0]);
        AssertMiss(reopened, keys[^1]);
    }

    [Fact]
    public void ACorruptCheckpointOpensAnEmptyCache()
    {
        BlockKey[] keys;
        using (var cache = Open())
        {
            keys = WriteBlocks(cache, 5);
        }
        foreach (var file in Directory.EnumerateFiles(Path.Combine(_directory.Path, "checkpoints"), "*", SearchOption.AllDirectories))
        {
            File.WriteAllBytes(file, new byte[Math.Max(1, new FileInfo(file).Length)].Select((_, i) => (byte)(i * 31 + 7)).ToArray());
        }

        var logger = new RecordingLogger();
        using var reopened = Open(logger);
        Assert.Contains(Microsoft.Extensions.Logging.LogLevel.Warning, logger.Levels);
        AssertMiss(reopened, keys[0]);
        var key = Key(fileId: 99, blockIndex: 0);
        reopened.Write(key, Content(key, 100));
        AssertHit(reopened, key, 100);
    }

    [Fact]
    public void ABlockDamagedOnDiskReadsAsAMiss()
    {
        BlockKey[] keys;
        using (var cache = Open())
        {
            keys = WriteBlocks(cache, 5);
        }
        var damaged = keys[2];
        var needle = Content(damaged, BlockSize).AsSpan(0, 256).ToArray();
        var segment = Directory.EnumerateFiles(_directory.Path, "blocks.log.*").Single(file => File.ReadAllBytes(file).AsSpan().IndexOf(needle) >= 0);
        var bytes = File.ReadAllBytes(segment);
        bytes[bytes.AsSpan().IndexOf(needle) + 100] ^= 0xFF;
        File.WriteAllBytes(segment, bytes);

        var logger = new RecordingLogger();
        using var reopened = Open(logger);
        AssertMiss(reopened, damaged);
        Assert.Contains(Microsoft.Extensions.Logging.LogLevel.Warning, logger.Levels);
        AssertHit(reopened, keys[1], BlockSize);
        AssertHit(reopened, keys[3], BlockSize);
    }

    [Fact]
    public void ALogCutShortBehindItsCheckpointGivesMissesNotErrors()
    {
        BlockKey[] keys;
        using (var cache = Open())
        {
            keys = WriteBlocks(cache, 8);
        }
        foreach (var segment in Directory.EnumerateFiles(_directory.Path, "blocks.log.*"))
        {
            using var file = File.OpenWrite(segment);
            file.SetLength(file.Length / 4);
        }

        using var reopened = Open();
        var buffer = new byte[BlockSize];
        foreach (var key in keys)
        {
            if (reopened.TryRead(key, buffer, out var length))
            {
                Assert.True(Content(key, length).AsSpan().SequenceEqual(buffer.AsSpan(0, length)));
            }
        }
        AssertMiss(reopened, keys[^2]);
    }

    [Fact]
    public async Task AnInvalidationAfterTheLastCheckpointSurvivesACrash()
    {
        using var crashed = new CacheDirectory();
        BlockKey[] keys;
        var otherFile = Key(fileId: 4, blockIndex: 0);
        using (var cache = Open())
        {
            keys = WriteBlocks(cache, 3);
            cache.Write(otherFile, Content(otherFile, 100));
            await cache.CheckpointAsync();
            cache.Invalidate(CacheTestData.Owner, fileId: 3);
            // No checkpoint since the invalidation.
            _directory.CopyTo(crashed);
        }

        using var reopened = Open(crashed);
        AssertMiss(reopened, keys[0]);
        AssertMiss(reopened, keys[^1]);
        AssertHit(reopened, otherFile, 100);
    }

    [Fact]
    public async Task TheTimerTakesCheckpoints()
    {
        using var cache = Open(_directory, checkpointInterval: TimeSpan.FromMilliseconds(100));
        cache.Invalidate(CacheTestData.Owner, fileId: 3);
        var journal = new FileInfo(Path.Combine(_directory.Path, "invalidations.journal"));
        Assert.Equal(16, journal.Length);

        // A completed checkpoint covers the journal's entries and empties it.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline && new FileInfo(journal.FullName).Length != 0)
        {
            await Task.Delay(50);
        }
        Assert.Equal(0, new FileInfo(journal.FullName).Length);
    }
}
