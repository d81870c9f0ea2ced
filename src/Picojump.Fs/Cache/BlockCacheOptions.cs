namespace Picojump.Fs.Cache;

/// <summary>Where the block cache lives and how big it may grow.</summary>
public sealed class BlockCacheOptions
{
    public const int DefaultBlockSize = 1 << 20;

    /// <summary>The directory for the log file and the checkpoints; created if missing.</summary>
    public required string Directory { get; init; }

    /// <summary>The in-memory part of the log; rounded down to a power of two, at least two pages (16 blocks).</summary>
    public long MemoryBytes { get; init; } = 256L << 20;

    /// <summary>The bound on the log on disk; past it the oldest blocks are dropped (FIFO). At least twice the memory used.</summary>
    public long MaxBytes { get; init; } = 4L << 30;

    /// <summary>The largest block stored; a file's last block may be shorter.</summary>
    public int BlockSize { get; init; } = DefaultBlockSize;

    /// <summary>How often a background checkpoint is taken; zero or negative turns it off (Dispose still takes one).</summary>
    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromMinutes(1);

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(Directory))
        {
            throw new ArgumentException("The block cache needs a directory.", nameof(Directory));
        }
        if (BlockSize < 4096 || (BlockSize & (BlockSize - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(BlockSize), BlockSize, "The block size must be a power of two of at least 4096.");
        }
        // MaxBytes against the memory actually used is checked by the store, which rounds it.
    }
}
