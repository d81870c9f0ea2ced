namespace Picojump.Migrator.Pages;

/// <summary>Where a host's page store lives and how big it may grow.</summary>
public sealed class PageStoreOptions
{
    /// <summary>The directory for the log and the checkpoints; created if missing.</summary>
    public required string Directory { get; init; }

    /// <summary>The in-memory part of the log; rounded down to a power of two, at least two log pages (2 MiB).</summary>
    public long MemoryBytes { get; init; } = 256L << 20;

    /// <summary>The bound on the log on disk; past it the oldest pages are dropped. At least twice the memory used.</summary>
    public long MaxBytes { get; init; } = 8L << 30;

    /// <summary>How often a background checkpoint is taken; zero or negative turns it off (Dispose still takes one).</summary>
    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Test hook: false leaves the in-memory index unbuilt, so every call takes FASTER's own path.</summary>
    internal bool IndexOnOpen { get; init; } = true;

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(Directory))
        {
            throw new ArgumentException("The page store needs a directory.", nameof(Directory));
        }
        // MaxBytes against the memory actually used is checked by the store, which rounds it.
    }
}
