using FASTER.core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Picojump.Fs.Cache.Internal;

namespace Picojump.Fs.Cache;

/// <summary>
/// The host's cache of blocks fetched from other hosts: a FASTER hybrid log (the newest part in
/// memory, the rest in one file on disk), bounded on disk by dropping the oldest records, and
/// checkpointed so that a restarted picojumpd still finds its blocks. Thread-safe.
/// </summary>
/// <remarks>
/// Keys and values are both SpanByte (FASTER's variable-length, blittable path, with no object
/// log): a block key is 32 bytes, a file's invalidation marker a 16-byte key, so the two kinds of
/// record share one store without reserving any key value; values are the block bytes at their
/// real length, so a file's short last block costs only its length.
/// </remarks>
public sealed partial class BlockCache : IDisposable
{
    private const string LogFileName = "blocks.log";
    private const string CheckpointDirectoryName = "checkpoints";
    private const string JournalFileName = "invalidations.journal";

    private readonly BlockCacheOptions _options;
    private readonly FasterLayout _layout;
    private readonly ILogger _logger;
    private readonly IDevice _device;
    private readonly FasterKV<SpanByte, SpanByte> _store;
    private readonly SessionPool _sessions;
    private readonly InvalidationJournal _journal;
    private readonly SemaphoreSlim _checkpointGate = new(1, 1);
    private readonly Timer? _checkpointTimer;
    private int _disposed;

    public BlockCache(BlockCacheOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _layout = FasterLayout.For(options);
        _logger = logger ?? NullLogger.Instance;
        Directory.CreateDirectory(options.Directory);

        (_device, _store) = OpenRecovered();
        _sessions = new SessionPool(_store);
        _journal = new InvalidationJournal(Path.Combine(options.Directory, JournalFileName));
        // Invalidations after the checkpoint just recovered, had the last run died before taking another.
        foreach (var (ownerHost, fileId) in _journal.ReadEntries())
        {
            UpsertMarker(ownerHost, fileId);
        }
        if (options.CheckpointInterval > TimeSpan.Zero)
        {
            _checkpointTimer = new Timer(_ => _ = CheckpointInBackgroundAsync(), null, options.CheckpointInterval, options.CheckpointInterval);
        }
    }

    public int BlockSize => _options.BlockSize;

    /// <summary>
    /// Persists the log and the index: after it returns, a process that opens the same directory
    /// finds every block written before the call (unless evicted or invalidated since).
    /// </summary>
    public async Task CheckpointAsync()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        await _checkpointGate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (Volatile.Read(ref _disposed) != 0)
            {
                return;
            }
            await TakeCheckpointAsync().ConfigureAwait(false);
        }
        finally
        {
            _checkpointGate.Release();
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _checkpointTimer?.Dispose();
        // Waits for a running checkpoint; a timer checkpoint queued behind this one sees _disposed and returns.
        _checkpointGate.Wait();
        try
        {
            TakeCheckpointAsync().GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is IOException or FasterException or InvalidOperationException)
        {
            _logger.LogWarning(ex, "Final block cache checkpoint in {Directory} failed; the next start may find it empty", _options.Directory);
        }
        _journal.Dispose();
        _sessions.Dispose();
        _store.Dispose();
        _device.Dispose();
        _checkpointGate.Release();
    }

    /// <summary>One checkpoint; the caller holds the checkpoint gate.</summary>
    private async Task TakeCheckpointAsync()
    {
        var journalCovered = JournalLengthCoveredByNextCheckpoint();
        // Fold-over: flush the log up to its tail and snapshot the index; no second copy of the data.
        var (success, _) = await _store.TakeFullCheckpointAsync(CheckpointType.FoldOver).ConfigureAwait(false);
        if (success)
        {
            _journal.DropBefore(journalCovered);
        }
        else
        {
            _logger.LogWarning("Block cache checkpoint in {Directory} did not complete", _options.Directory);
        }
    }

    private async Task CheckpointInBackgroundAsync()
    {
        try
        {
            await CheckpointAsync().ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            // The cache closed between the timer firing and the checkpoint starting; Dispose took the last one.
        }
        catch (Exception ex) when (ex is IOException or FasterException or InvalidOperationException)
        {
            _logger.LogWarning(ex, "Block cache checkpoint in {Directory} failed", _options.Directory);
        }
    }

    /// <summary>Opens the store and recovers the latest checkpoint; an unreadable one means an empty cache, never a failed start.</summary>
    private (IDevice Device, FasterKV<SpanByte, SpanByte> Store) OpenRecovered()
    {
        var checkpointDirectory = Path.Combine(_options.Directory, CheckpointDirectoryName);
        var hasCheckpoint = Directory.Exists(checkpointDirectory) && Directory.EnumerateFileSystemEntries(checkpointDirectory).Any();
        if (!hasCheckpoint)
        {
            DeleteCacheFiles();
            return Open();
        }

        var (device, store) = Open();
        try
        {
            store.Recover();
            _logger.LogInformation("Block cache in {Directory} recovered {Bytes} bytes", _options.Directory, store.Log.TailAddress - store.Log.BeginAddress);
            return (device, store);
        }
        catch (Exception ex)
        {
            // Whatever the checkpoint's damage, the cache is only a cache: start over rather than fail the daemon.
            _logger.LogWarning(ex, "Block cache checkpoint in {Directory} is unreadable; starting with an empty cache", _options.Directory);
            store.Dispose();
            device.Dispose();
            DeleteCacheFiles();
            return Open();
        }
    }

    private (IDevice Device, FasterKV<SpanByte, SpanByte> Store) Open()
    {
        // Buffered writes: FASTER's default (O_DIRECT and write-through) made every page flush
        // wait on the disk and cut write throughput several-fold on the test VM. A process crash
        // loses nothing the page cache holds; after a power loss that leaves the log behind its
        // checkpoint, the records' checksums turn lost blocks into misses.
        var device = Devices.CreateLogDevice(Path.Combine(_options.Directory, LogFileName), preallocateFile: false, deleteOnClose: false, recoverDevice: true, disableFileBuffering: false);
        var logSettings = new LogSettings
        {
            LogDevice = device,
            PageSizeBits = _layout.PageSizeBits,
            MemorySizeBits = _layout.MemorySizeBits,
            SegmentSizeBits = _layout.SegmentSizeBits,
            // Blocks are written once and never updated in place: a small mutable region lets
            // pages go to disk early, so checkpoints have little left to flush.
            MutableFraction = 0.1,
        };
        var checkpointSettings = new CheckpointSettings
        {
            CheckpointDir = Path.Combine(_options.Directory, CheckpointDirectoryName),
            RemoveOutdated = true,
        };
        var store = new FasterKV<SpanByte, SpanByte>(_layout.IndexBuckets, logSettings, checkpointSettings);
        return (device, store);
    }

    private void DeleteCacheFiles()
    {
        var checkpointDirectory = Path.Combine(_options.Directory, CheckpointDirectoryName);
        if (Directory.Exists(checkpointDirectory))
        {
            Directory.Delete(checkpointDirectory, recursive: true);
        }
        File.Delete(Path.Combine(_options.Directory, JournalFileName));
        foreach (var segment in Directory.EnumerateFiles(_options.Directory, LogFileName + ".*"))
        {
            File.Delete(segment);
        }
    }
}
