using Picojump.Fs.Cache;
using static Picojump.Tests.Cache.CacheTestData;

namespace Picojump.Tests.Cache;

public sealed class BlockCacheConcurrencyTests : IDisposable
{
    private const int BlockSize = 64 << 10;
    private readonly CacheDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task FourThreadsWritingAndReadingSharedAndOwnKeysSeeCorrectBytes()
    {
        using var cache = new BlockCache(new BlockCacheOptions
        {
            Directory = _directory.Path,
            BlockSize = BlockSize,
            MemoryBytes = 2L << 20,
            MaxBytes = 256L << 20,
            CheckpointInterval = TimeSpan.Zero,
        });
        var shared = Enumerable.Range(0, 8).Select(i => Key(fileId: 1000, blockIndex: (ulong)i)).ToArray();

        // Dedicated threads, like the FUSE readers; an assertion failure on one surfaces through its task.
        var workers = Enumerable.Range(0, 4).Select(t => Task.Factory.StartNew(() =>
        {
            var buffer = new byte[BlockSize];
            for (var i = 0; i < 100; i++)
            {
                var own = Key(fileId: (ulong)t, blockIndex: (ulong)i);
                cache.Write(own, Content(own, BlockSize));
                var sharedKey = shared[i % shared.Length];
                cache.Write(sharedKey, Content(sharedKey, BlockSize));
                foreach (var key in new[] { own, sharedKey, Key(fileId: (ulong)t, blockIndex: (ulong)(i / 2)) })
                {
                    Assert.True(cache.TryRead(key, buffer, out var length));
                    Assert.True(Content(key, BlockSize).AsSpan().SequenceEqual(buffer.AsSpan(0, length)));
                }
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();

        // Checkpoints run while the readers and writers do, as the timer's would.
        for (var i = 0; i < 3; i++)
        {
            await cache.CheckpointAsync();
        }
        await Task.WhenAll(workers);

        for (var t = 0; t < 4; t++)
        {
            AssertHit(cache, Key(fileId: (ulong)t, blockIndex: 0), BlockSize);
        }
    }
}
