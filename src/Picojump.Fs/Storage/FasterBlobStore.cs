using FASTER.core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Picojump.Fs.Storage.Internal;

namespace Picojump.Fs.Storage;

/// <summary>
/// A persistent store of byte-string keys and values: a FASTER hybrid log (the newest part in
/// memory, the rest in one file on disk), bounded on disk by dropping the oldest records (FIFO),
/// and checkpointed so that a restarted process finds its records again. Thread-safe.
/// </summary>
/// <remarks>
/// The plumbing shared by Picojump's block cache and page store; they add what their records
/// mean (key encodings, invalidation, verification, second chance). Keys and values are SpanByte
/// (FASTER's variable-length, blittable path, with no object log), so values cost their real length.
/// What it holds only saves work: a checkpoint it cannot read makes it start empty, never fail.
/// </remarks>
public sealed partial class FasterBlobStore : IDisposable
{
    /// <summary>A record's header and the key and value length prefixes, for sizing <see cref="FasterBlobStoreOptions.RecordBytes"/>.</summary>
    public const int RecordOverheadBytes = 64;

    /// <summary>What <see cref="FasterBlobStoreOptions.ChecksumValues"/> adds to every value.</summary>
    public const int ChecksumBytes = ValueChecksum.Length;

    private const string CheckpointDirectoryName = "checkpoints";

    private readonly FasterBlobStoreOptions _options;
    private readonly StoreLayout _layout;
    private readonly ILogger _logger;
    private readonly IDevice _device;
    private readonly FasterKV<SpanByte, SpanByte> _store;
    private readonly SessionPool _sessions;
    private readonly SemaphoreSlim _checkpointGate = new(1, 1);
    private Timer? _checkpointTimer;
    private int _disposed;

    public FasterBlobStore(FasterBlobStoreOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _layout = StoreLayout.For(options);
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        Directory.CreateDirectory(options.Directory);
        (_device, _store) = OpenRecovered();
        _sessions = new SessionPool(_store, new RecordFunctions(options.ChecksumValues));
    }

    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>Where the next record goes: every record written so far lies below it.</summary>
    public long TailAddress => _store.Log.TailAddress;

    /// <summary>Log bytes between the begin and tail addresses: records, their overhead, and superseded records.</summary>
    public long BytesStored => _store.Log.TailAddress - _store.Log.BeginAddress;

    /// <summary>How many times the log's oldest part was dropped to stay under MaxBytes.</summary>
    public long Evictions => Interlocked.Read(ref _evictions);

    /// <summary>Log bytes dropped by those evictions.</summary>
    public long EvictedBytes => Interlocked.Read(ref _evictedBytes);

    /// <summary>
    /// Starts the background checkpoints; zero or negative turns them off (Dispose still takes
    /// one). Separate from the constructor so that a user finishes its own recovery first.
    /// </summary>
    public void StartPeriodicCheckpoints(TimeSpan interval)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if (_checkpointTimer is not null)
        {
            throw new InvalidOperationException("Periodic checkpoints are already running.");
        }
        if (interval > TimeSpan.Zero)
        {
            _checkpointTimer = new Timer(_ => _ = CheckpointInBackgroundAsync(), null, interval, interval);
        }
    }

    /// <summary>
    /// Persists the log and the index: after it returns, a process that opens the same directory
    /// finds every record written before the call (unless evicted since).
    /// </summary>
    public async Task CheckpointAsync()
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        await _checkpointGate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!IsDisposed)
            {
                await TakeCheckpointAsync().ConfigureAwait(false);
            }
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
            _logger.LogWarning(ex, "Final {Store} checkpoint in {Directory} failed; the next start may find it empty", _options.Name, _options.Directory);
        }
        _sessions.Dispose();
        _store.Dispose();
        _device.Dispose();
        _checkpointGate.Release();
    }

    /// <summary>One checkpoint; the caller holds the checkpoint gate.</summary>
    private async Task TakeCheckpointAsync()
    {
        var completed = _options.PrepareCheckpoint?.Invoke();
        // Fold-over: flush the log up to its tail and snapshot the index; no second copy of the data.
        var (success, _) = await _store.TakeFullCheckpointAsync(CheckpointType.FoldOver).ConfigureAwait(false);
        if (success)
        {
            completed?.Invoke();
        }
        else
        {
            _logger.LogWarning("{Store} checkpoint in {Directory} did not complete", _options.Name, _options.Directory);
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
            // Closed between the timer firing and the checkpoint starting; Dispose took the last one.
        }
        catch (Exception ex) when (ex is IOException or FasterException or InvalidOperationException)
        {
            _logger.LogWarning(ex, "{Store} checkpoint in {Directory} failed", _options.Name, _options.Directory);
        }
    }

    /// <summary>Opens the store and recovers the latest checkpoint; an unreadable one means an empty store, never a failed start.</summary>
    private (IDevice Device, FasterKV<SpanByte, SpanByte> Store) OpenRecovered()
    {
        var checkpointDirectory = Path.Combine(_options.Directory, CheckpointDirectoryName);
        if (!Directory.Exists(checkpointDirectory) || !Directory.EnumerateFileSystemEntries(checkpointDirectory).Any())
        {
            DeleteStoreFiles();
            return Open();
        }
        var (device, store) = Open();
        try
        {
            store.Recover();
            _logger.LogInformation("{Store} in {Directory} recovered {Bytes} bytes", _options.Name, _options.Directory, store.Log.TailAddress - store.Log.BeginAddress);
            return (device, store);
        }
        catch (Exception ex)
        {
            // Whatever the checkpoint's damage, the store only saves work: start over rather than fail the daemon.
            _logger.LogWarning(ex, "{Store} checkpoint in {Directory} is unreadable; starting empty", _options.Name, _options.Directory);
            store.Dispose();
            device.Dispose();
            DeleteStoreFiles();
            return Open();
        }
    }

    private (IDevice Device, FasterKV<SpanByte, SpanByte> Store) Open()
    {
        // Buffered writes: FASTER's default (O_DIRECT and write-through) made every page flush
        // wait on the disk and cut write throughput several-fold on the test VM. A process crash
        // loses nothing the page cache holds; a record lost or torn by a power loss fails its
        // checksum (or its user's own verification) and reads as absent.
        var device = Devices.CreateLogDevice(Path.Combine(_options.Directory, _options.LogFileName), preallocateFile: false, deleteOnClose: false, recoverDevice: true, disableFileBuffering: false);
        var logSettings = new LogSettings
        {
            LogDevice = device,
            PageSizeBits = _layout.PageSizeBits,
            MemorySizeBits = _layout.MemorySizeBits,
            SegmentSizeBits = _layout.SegmentSizeBits,
            // Records are appended, never updated in place: a small mutable region lets pages
            // go to disk early, so checkpoints have little left to flush.
            MutableFraction = 0.1,
        };
        var checkpointSettings = new CheckpointSettings
        {
            CheckpointDir = Path.Combine(_options.Directory, CheckpointDirectoryName),
            RemoveOutdated = true,
        };
        return (device, new FasterKV<SpanByte, SpanByte>(_layout.IndexBuckets, logSettings, checkpointSettings));
    }

    private void DeleteStoreFiles()
    {
        var checkpointDirectory = Path.Combine(_options.Directory, CheckpointDirectoryName);
        if (Directory.Exists(checkpointDirectory))
        {
            Directory.Delete(checkpointDirectory, recursive: true);
        }
        foreach (var sideFile in _options.SideFiles)
        {
            File.Delete(Path.Combine(_options.Directory, sideFile));
        }
        foreach (var segment in Directory.EnumerateFiles(_options.Directory, _options.LogFileName + ".*"))
        {
            File.Delete(segment);
        }
    }
}
