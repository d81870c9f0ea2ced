using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Picojump.Fs.Storage;
using Picojump.Migrator.Images;
using Picojump.Migrator.Pages.Internal;

namespace Picojump.Migrator.Pages;

/// <summary>
/// A host's content-addressed store of 4 KiB memory pages, keyed by <see cref="PageHash"/>: the
/// pages of jobs that ran or passed here, so a job arriving again brings only what changed. A
/// <see cref="FasterBlobStore"/> (FASTER hybrid log, bounded on disk by dropping the oldest
/// records, checkpointed so a restarted picojumpd keeps its pages). Thread-safe.
/// </summary>
/// <remarks>
/// What this adds to the store: content-hash keys, verification of every page read against its
/// key (so the store's own checksums are off: a page's key already checks it, and a key's content
/// can never be stale, so no invalidation either), and a second chance before eviction.
/// </remarks>
public sealed partial class PageStore : IDisposable
{
    private const string LogFileName = "pages.log";

    // 1 MiB log pages: a record may not span two, so about 250 records fit with little waste.
    private const int LogPageSizeBits = 20;

    private readonly PageStoreOptions _options;
    private readonly ILogger _logger;
    private readonly FasterBlobStore _store;
    private readonly PageIndex _index = new();
    private readonly CancellationTokenSource _closing = new();
    private readonly Task _indexBuild;

    public PageStore(PageStoreOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        _store = new FasterBlobStore(new FasterBlobStoreOptions
        {
            Name = "Page store",
            Directory = options.Directory,
            LogFileName = LogFileName,
            MemoryBytes = options.MemoryBytes,
            MaxBytes = options.MaxBytes,
            PageSizeBits = LogPageSizeBits,
            RecordBytes = Pagemap.PageSize + PageHash.Size + FasterBlobStore.RecordOverheadBytes,
        }, _logger);
        _indexBuild = Task.Run(BuildIndex);
        _store.StartPeriodicCheckpoints(options.CheckpointInterval);
    }

    /// <summary>Persists the log and the index: a process that opens the same directory afterwards finds every page put before the call (unless evicted since).</summary>
    public async Task CheckpointAsync()
    {
        ObjectDisposedException.ThrowIf(_store.IsDisposed, this);
        await _store.CheckpointAsync().ConfigureAwait(false);
    }

    public void Dispose()
    {
        if (_store.IsDisposed)
        {
            return;
        }
        _closing.Cancel();
        _indexBuild.Wait();
        _store.Dispose();
        _closing.Dispose();
    }
}
