using Picojump.Fs.Storage;
using Picojump.Tests.Cache;

namespace Picojump.Tests.Storage;

// The shared plumbing on its own; the block cache and page store tests cover what each adds.
public sealed class FasterBlobStoreTests : IDisposable
{
    private const int ValueLength = 4096;
    private readonly CacheDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [Fact]
    public void AValueReadsBackAndEveryWriteAppends()
    {
        using var store = Open();
        var key = Key(1);
        store.Upsert(key, Value(1));
        var buffer = new byte[ValueLength];
        var first = store.Read(key, buffer, out var length);
        Assert.True(first >= 0);
        Assert.Equal(Value(1), buffer.AsSpan(0, length).ToArray());

        // Appended, not updated in place, even while the record is still in the mutable region.
        store.Upsert(key, Value(2));
        var second = store.Read(key, buffer, out length);
        Assert.True(second > first);
        Assert.Equal(Value(2), buffer.AsSpan(0, length).ToArray());
        Assert.True(store.Read(Key(99), buffer, out _) < 0);
    }

    [Fact]
    public void ALongerValueThanTheDestinationIsFoundButNotCopied()
    {
        using var store = Open();
        store.Upsert(Key(1), Value(1));
        var small = new byte[100];
        Assert.True(store.Read(Key(1), small, out var length) >= 0);
        Assert.Equal(ValueLength, length);
        Assert.All(small, b => Assert.Equal(0, b));
    }

    [Fact]
    public void LookUpGivesAddressesAndLengthsInKeyOrderAlsoFromDisk()
    {
        // About twice the memory budget: the early records are read from disk (pending reads).
        using var store = Open(memoryBytes: 1L << 20, maxBytes: 64L << 20);
        const int count = 2000;
        for (var i = 0; i < count; i += 2)
        {
            store.Upsert(Key(i), Value(i).AsSpan(0, 1000 + i));
        }
        var keys = Enumerable.Range(0, count).SelectMany(i => Key(i)).ToArray();
        var addresses = new long[count];
        var lengths = new int[count];

        store.LookUp(keys, 16, addresses, lengths);

        for (var i = 0; i < count; i++)
        {
            Assert.Equal(i % 2 == 0, addresses[i] >= 0);
            Assert.Equal(i % 2 == 0 ? 1000 + i : 0, lengths[i]);
        }
        Assert.True(addresses[0] < store.TailAddress - (1L << 20), "the first record should lie below the memory budget");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AScanVisitsEveryRecordOfItsRangeInLogOrderAlsoFromDisk(bool checksum)
    {
        // About twice the memory budget: the scan reads the early records from disk.
        using var store = Open(memoryBytes: 1L << 20, maxBytes: 64L << 20, checksum: checksum);
        var addresses = Enumerable.Range(0, 600).Select(i => store.Upsert(Key(i), Value(i))).ToArray();
        // Superseded records are visited too.
        var rewritten = store.Upsert(Key(5), Value(1005));

        var seen = new List<(long Address, int Key, byte[] Value)>();
        store.Scan(addresses[0], store.TailAddress, (address, key, value) =>
        {
            seen.Add((address, BitConverter.ToInt32(key), value.ToArray()));
            return true;
        });
        Assert.Equal([.. addresses, rewritten], seen.Select(r => r.Address));
        Assert.Equal([.. Enumerable.Range(0, 600), 5], seen.Select(r => r.Key));
        Assert.Equal(Value(599), seen[599].Value);
        Assert.Equal(Value(1005), seen[^1].Value);

        // From the middle, to a bound, and stopped by the visitor.
        var some = new List<int>();
        store.Scan(addresses[100], addresses[110], (_, key, _) =>
        {
            some.Add(BitConverter.ToInt32(key));
            return some.Count < 5;
        });
        Assert.Equal([100, 101, 102, 103, 104], some);
    }

    [Fact]
    public void AValueFailingItsChecksumReadsAsAbsentWithAWarning()
    {
        using (var plain = Open(checksum: false))
        {
            plain.Upsert(Key(1), Value(1));
        }

        var logger = new RecordingLogger();
        using var checksummed = Open(checksum: true, logger: logger);
        Assert.True(checksummed.Read(Key(1), new byte[ValueLength], out var length) < 0);
        Assert.Equal(0, length);
        var scanned = 0;
        checksummed.Scan(0, checksummed.TailAddress, (_, _, _) => ++scanned > 0);
        Assert.Equal(0, scanned);
        Assert.Contains(Microsoft.Extensions.Logging.LogLevel.Warning, logger.Levels);
    }

    [Fact]
    public async Task ACheckpointRunsThePreparedActionOnlyOnceItCompletes()
    {
        var events = new List<string>();
        using var store = Open(prepare: () =>
        {
            events.Add("prepare");
            return () => events.Add("completed");
        });

        await store.CheckpointAsync();

        Assert.Equal(["prepare", "completed"], events);
    }

    [Fact]
    public void StartingEmptyDeletesTheSideFiles()
    {
        var sideFile = Path.Combine(_directory.Path, "side");
        File.WriteAllBytes(sideFile, [1, 2, 3]);

        // No checkpoint yet: the side file belongs to a log that is gone.
        using var store = Open(sideFiles: ["side"]);

        Assert.False(File.Exists(sideFile));
    }

    [Fact]
    public void ValuesSurviveAReopenAndTheLogStaysWithinItsBound()
    {
        const long maxBytes = 8L << 20;
        using (var store = Open(memoryBytes: 1L << 20, maxBytes: maxBytes))
        {
            for (var i = 0; i < 8000; i++)
            {
                store.Upsert(Key(i), Value(i));
            }
            Assert.True(store.BytesStored <= maxBytes, $"{store.BytesStored} bytes stored, bound {maxBytes}");
            Assert.True(store.Evictions > 0);
            Assert.True(store.EvictedBytes > 0);
        }

        using var reopened = Open(memoryBytes: 1L << 20, maxBytes: maxBytes);
        var buffer = new byte[ValueLength];
        Assert.True(reopened.Read(Key(0), buffer, out _) < 0);
        Assert.True(reopened.Read(Key(7999), buffer, out var length) >= 0);
        Assert.Equal(Value(7999), buffer.AsSpan(0, length).ToArray());
    }

    [Fact]
    public void AMaxBytesBelowTwiceTheMemoryIsRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Open(memoryBytes: 4L << 20, maxBytes: 6L << 20));
    }

    private FasterBlobStore Open(
        long memoryBytes = 4L << 20, long maxBytes = 64L << 20, bool checksum = true,
        IReadOnlyList<string>? sideFiles = null, Func<Action>? prepare = null, RecordingLogger? logger = null) => new(new FasterBlobStoreOptions
        {
            Name = "Test store",
            Directory = _directory.Path,
            LogFileName = "test.log",
            MemoryBytes = memoryBytes,
            MaxBytes = maxBytes,
            PageSizeBits = 16,
            RecordBytes = ValueLength + FasterBlobStore.RecordOverheadBytes,
            ChecksumValues = checksum,
            SideFiles = sideFiles ?? [],
            PrepareCheckpoint = prepare,
        }, logger);

    private static byte[] Key(int i)
    {
        var key = new byte[16];
        BitConverter.TryWriteBytes(key, (long)i);
        return key;
    }

    private static byte[] Value(int seed)
    {
        var value = new byte[ValueLength];
        new Random(seed).NextBytes(value);
        return value;
    }
}
