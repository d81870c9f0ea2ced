using Picojump.Fs.Cache;

namespace Picojump.Tests.Cache;

/// <summary>A fresh directory for one cache, removed afterwards, and block contents derived from their key.</summary>
internal sealed class CacheDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("pj-blockcache-").FullName;

    /// <summary>Copies the files as they are now, as a killed process would leave them.</summary>
    public void CopyTo(CacheDirectory target)
    {
        foreach (var file in Directory.EnumerateFiles(Path, "*", SearchOption.AllDirectories))
        {
            var copy = System.IO.Path.Combine(target.Path, System.IO.Path.GetRelativePath(Path, file));
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(copy)!);
            File.Copy(file, copy);
        }
    }

    public long SizeOnDisk() => new DirectoryInfo(Path).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

internal static class CacheTestData
{
    public static readonly ulong Owner = BlockKey.HashHost("host-a");

    public static BlockKey Key(ulong fileId, ulong blockIndex, long version = 1_700_000_000_000_000_000) => new(Owner, fileId, version, blockIndex);

    /// <summary>Bytes that differ per key, so a block read under the wrong key shows.</summary>
    public static byte[] Content(in BlockKey key, int length)
    {
        var bytes = new byte[length];
        new Random(HashCode.Combine(key.OwnerHost, key.FileId, key.Version, key.BlockIndex)).NextBytes(bytes);
        return bytes;
    }

    public static void AssertHit(BlockCache cache, in BlockKey key, int expectedLength)
    {
        var buffer = new byte[cache.BlockSize];
        Assert.True(cache.TryRead(key, buffer, out var length), $"expected a hit for {key}");
        Assert.Equal(expectedLength, length);
        Assert.True(Content(key, expectedLength).AsSpan().SequenceEqual(buffer.AsSpan(0, length)), $"wrong bytes for {key}");
    }

    public static void AssertMiss(BlockCache cache, in BlockKey key)
    {
        var buffer = new byte[cache.BlockSize];
        Assert.False(cache.TryRead(key, buffer, out var length), $"expected a miss for {key}");
        Assert.Equal(0, length);
    }
}

/// <summary>Keeps the level of every message, so a test can tell a fallback path was taken.</summary>
internal sealed class RecordingLogger : Microsoft.Extensions.Logging.ILogger
{
    public List<Microsoft.Extensions.Logging.LogLevel> Levels { get; } = [];

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

    public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (Levels)
        {
            Levels.Add(logLevel);
        }
    }
}
