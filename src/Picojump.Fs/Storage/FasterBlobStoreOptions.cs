namespace Picojump.Fs.Storage;

/// <summary>
/// How a <see cref="FasterBlobStore"/> names its files and sizes its log. Each user fills it from
/// its own public options; the hooks at the end are for state the user keeps beside the log.
/// </summary>
public sealed class FasterBlobStoreOptions
{
    /// <summary>Names the store in log messages, e.g. "Block cache".</summary>
    public required string Name { get; init; }

    /// <summary>The directory for the log, the checkpoints and any side files; created if missing.</summary>
    public required string Directory { get; init; }

    /// <summary>The log's file name in Directory; FASTER appends a segment number.</summary>
    public required string LogFileName { get; init; }

    /// <summary>The in-memory part of the log; rounded down to a power of two, at least two log pages.</summary>
    public required long MemoryBytes { get; init; }

    /// <summary>The bound on the log on disk; past it the oldest records are dropped (FIFO). At least twice the memory used.</summary>
    public required long MaxBytes { get; init; }

    /// <summary>log2 of FASTER's log page: a record may not span two, so a page should hold several records.</summary>
    public required int PageSizeBits { get; init; }

    /// <summary>A typical record's size in the log, header and key included: sizes the hash index.</summary>
    public required long RecordBytes { get; init; }

    /// <summary>
    /// Stores each value behind a checksum seeded by its key and reads a record that fails it as
    /// absent. Users whose keys already verify their values (content hashes) leave it off.
    /// </summary>
    public bool ChecksumValues { get; init; }

    /// <summary>Files in Directory whose content is tied to the log: deleted with it when the store starts empty.</summary>
    public IReadOnlyList<string> SideFiles { get; init; } = [];

    /// <summary>
    /// Called as each checkpoint begins; the action it returns runs once that checkpoint has
    /// completed. Lets a user retire side state that the checkpoint now covers.
    /// </summary>
    public Func<Action>? PrepareCheckpoint { get; init; }

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(RecordBytes);
        // The memory actually used: rounded down, at least two log pages.
        var memoryBytes = 1L << Internal.StoreLayout.For(this).MemorySizeBits;
        if (MaxBytes < 2 * memoryBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxBytes), MaxBytes, $"MaxBytes must be at least twice the memory used ({memoryBytes} bytes).");
        }
    }
}
