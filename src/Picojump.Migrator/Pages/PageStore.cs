using FASTER.core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Picojump.Migrator.Pages.Internal;

namespace Picojump.Migrator.Pages;

/// <summary>
/// A host's content-addressed store of 4 KiB memory pages, keyed by <see cref="PageHash"/>: the
/// pages of jobs that ran or passed here, so a job arriving again brings only what changed. A
/// FASTER hybrid log (newest part in memory, the rest in one file on disk), bounded on disk by
/// dropping the oldest records, and checkpointed so a restarted picojumpd keeps its pages.
/// Thread-safe.
/// </summary>
/// <remarks>
/// The FASTER plumbing follows Picojump.Fs's BlockCache (SpanByte keys and values, fold-over
/// checkpoints, FIFO truncation) but is kept apart: the block cache orders records against
/// invalidation markers, this store needs none (a page's key is its content, so it can never be
/// stale), and it verifies every read against its key instead of a stored checksum.
/// </remarks>
public sealed partial class PageStore : IDisposable
{
    private const string LogFileName = "pages.log";
    private const string CheckpointDirectoryName = "checkpoints";

    private readonly PageStoreOptions _options;
    private readonly PageStoreLayout _layout;
    private readonly ILogger _logger;
    private readonly IDevice _device;
    private readonly FasterKV<SpanByte, SpanByte> _store;
    private readonly PageSessionPool _sessions;
    private readonly SemaphoreSlim _checkpointGate = new(1, 1);
    private readonly Timer? _checkpointTimer;
    private int _disposed;

    public PageStore(PageStoreOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _layout = PageStoreLayout.For(options);
        _logger = logger ?? NullLogger.Instance;
        Directory.CreateDirectory(options.Directory);
        (_device, _store) = OpenRecovered();
        _sessions = new PageSessionPool(_store);
        if (options.CheckpointInterval > TimeSpan.Zero)
        {
            _checkpointTimer = new Timer(_ => _ = CheckpointInBackgroundAsync(), null, options.CheckpointInterval, options.CheckpointInterval);
        }
    }

    /// <summary>Persists the log and the index: a process that opens the same directory afterwards finds every page put before the call (unless evicted since).</summary>
    public async Task CheckpointAsync()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        await _checkpointGate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (Volatile.Read(ref _disposed) == 0)
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
        // Waits for a running checkpoint; a timer checkpoint queued behind it sees _disposed and returns.
        _checkpointGate.Wait();
        try
        {
            TakeCheckpointAsync().GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is IOException or FasterException or InvalidOperationException)
        {
            _logger.LogWarning(ex, "Final page store checkpoint in {Directory} failed; the next start may find it empty", _options.Directory);
        }
        _sessions.Dispose();
        _store.Dispose();
        _device.Dispose();
        _checkpointGate.Release();
    }

    private async Task TakeCheckpointAsync()
    {
        // Fold-over: flush the log up to its tail and snapshot the index; no second copy of the pages.
        var (success, _) = await _store.TakeFullCheckpointAsync(CheckpointType.FoldOver).ConfigureAwait(false);
        if (!success)
        {
            _logger.LogWarning("Page store checkpoint in {Directory} did not complete", _options.Directory);
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
            _logger.LogWarning(ex, "Page store checkpoint in {Directory} failed", _options.Directory);
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
            _logger.LogInformation("Page store in {Directory} recovered {Bytes} bytes", _options.Directory, store.Log.TailAddress - store.Log.BeginAddress);
            return (device, store);
        }
        catch (Exception ex)
        {
            // The store only saves transfers: losing it costs bandwidth, never correctness.
            _logger.LogWarning(ex, "Page store checkpoint in {Directory} is unreadable; starting empty", _options.Directory);
            store.Dispose();
            device.Dispose();
            DeleteStoreFiles();
            return Open();
        }
    }

    private (IDevice Device, FasterKV<SpanByte, SpanByte> Store) Open()
    {
        // Buffered writes, as in the block cache: O_DIRECT made every flush wait on the disk. A
        // page the disk lost or tore after a power loss fails its hash on read and is a miss.
        var device = Devices.CreateLogDevice(Path.Combine(_options.Directory, LogFileName), preallocateFile: false, deleteOnClose: false, recoverDevice: true, disableFileBuffering: false);
        var logSettings = new LogSettings
        {
            LogDevice = device,
            PageSizeBits = _layout.PageSizeBits,
            MemorySizeBits = _layout.MemorySizeBits,
            SegmentSizeBits = _layout.SegmentSizeBits,
            // Pages are written once and never change: a small mutable region lets them reach disk early.
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
        foreach (var segment in Directory.EnumerateFiles(_options.Directory, LogFileName + ".*"))
        {
            File.Delete(segment);
        }
    }
}
