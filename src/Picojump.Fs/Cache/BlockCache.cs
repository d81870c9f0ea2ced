using System.Numerics;
using Microsoft.Extensions.Logging;
using Picojump.Fs.Cache.Internal;
using Picojump.Fs.Storage;

namespace Picojump.Fs.Cache;

/// <summary>
/// The host's cache of blocks fetched from other hosts: a <see cref="FasterBlobStore"/> (FASTER
/// hybrid log, bounded on disk by dropping the oldest records, checkpointed so that a restarted
/// picojumpd still finds its blocks) under BlockKey-encoded keys. Thread-safe.
/// </summary>
/// <remarks>
/// What the cache adds to the store: its key encoding (a block key is 32 bytes, a file's
/// invalidation marker a 16-byte key, so the two kinds of record share one store without
/// reserving any key value), lazy invalidation by marker records, and the journal that keeps
/// invalidations made since the last checkpoint. Values are checksummed by the store and kept
/// at their real length, so a file's short last block costs only its length.
/// </remarks>
public sealed partial class BlockCache : IDisposable
{
    private const string LogFileName = "blocks.log";
    private const string JournalFileName = "invalidations.journal";

    private readonly BlockCacheOptions _options;
    private readonly FasterBlobStore _store;
    private readonly InvalidationJournal _journal;

    public BlockCache(BlockCacheOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _store = new FasterBlobStore(new FasterBlobStoreOptions
        {
            Name = "Block cache",
            Directory = options.Directory,
            LogFileName = LogFileName,
            MemoryBytes = options.MemoryBytes,
            MaxBytes = options.MaxBytes,
            // Eight blocks per log page: a record may not span pages, so the unused page tail stays under 1/8.
            PageSizeBits = BitOperations.Log2((uint)options.BlockSize) + 3,
            RecordBytes = options.BlockSize + FasterBlobStore.RecordOverheadBytes + FasterBlobStore.ChecksumBytes,
            ChecksumValues = true,
            // A journal left from a log that is gone would hide blocks for nothing.
            SideFiles = [JournalFileName],
            PrepareCheckpoint = PrepareJournalDrop,
        }, logger);
        _journal = new InvalidationJournal(Path.Combine(options.Directory, JournalFileName));
        // Invalidations after the checkpoint just recovered, had the last run died before taking another.
        foreach (var (ownerHost, fileId) in _journal.ReadEntries())
        {
            UpsertMarker(ownerHost, fileId);
        }
        // Only now: a checkpoint must not drop journal entries whose markers are not yet replayed.
        _store.StartPeriodicCheckpoints(options.CheckpointInterval);
    }

    public int BlockSize => _options.BlockSize;

    /// <summary>
    /// Persists the log and the index: after it returns, a process that opens the same directory
    /// finds every block written before the call (unless evicted or invalidated since).
    /// </summary>
    public async Task CheckpointAsync()
    {
        ObjectDisposedException.ThrowIf(_store.IsDisposed, this);
        await _store.CheckpointAsync().ConfigureAwait(false);
    }

    public void Dispose()
    {
        // The store's final checkpoint still drops the journal entries it covers.
        _store.Dispose();
        _journal.Dispose();
    }

    /// <summary>Before a checkpoint: the journal entries it will cover, dropped once it completes.</summary>
    private Action PrepareJournalDrop()
    {
        var journalCovered = JournalLengthCoveredByNextCheckpoint();
        return () => _journal.DropBefore(journalCovered);
    }
}
