using System.Buffers;
using Microsoft.Win32.SafeHandles;
using Picojump.Migrator.Images;
using Picojump.Migrator.Pages;

namespace Picojump.Migrator.Migration;

/// <summary>
/// The pages images of a migration being received, written in place as pages arrive: the
/// offer tells where every page goes (each pagemap's hashes, in pages-image order), so a
/// received page is checked against its hash and written at once to every place it takes,
/// from any number of concurrent transfers; no spool, nothing to copy again before the
/// restore. <see cref="Complete"/> then fills the places of the pages the host already held
/// (from its page store; zero pages are the file's holes) and names the images as CRIU wants.
/// </summary>
internal sealed class ReceivedImages : IDisposable
{
    private const int Record = PageHash.Size + Pagemap.PageSize;

    /// <summary>Pages per batch of store reads (and at most per write) when filling from the store.</summary>
    private const int PagesPerWrite = 2048;

    private readonly Image[] _images;
    private readonly Dictionary<PageHash, int> _missing;
    private readonly PageHash[] _missingList;
    private readonly (int Image, int Page)[] _first;
    private readonly List<(int Image, int Page)>?[] _more;
    private readonly int[] _received;
    private int _receivedCount;

    private sealed record Image(string Pagemap, IReadOnlyList<PageHash> Hashes, string PartialPath, SafeFileHandle File)
    {
        public string? FinalPath { get; set; }
    }

    /// <param name="directory">The migration's work directory.</param>
    /// <param name="pagemaps">Each pagemap image's page hashes, in pages-image order.</param>
    /// <param name="missing">The distinct pages the source will send (the host lacks them).</param>
    public ReceivedImages(string directory, IReadOnlyDictionary<string, List<PageHash>> pagemaps, IReadOnlyList<PageHash> missing)
    {
        _missingList = [.. missing];
        _missing = new Dictionary<PageHash, int>(missing.Count);
        for (var i = 0; i < missing.Count; i++)
        {
            if (!_missing.TryAdd(missing[i], i))
                throw new InvalidDataException($"page {missing[i]} is listed twice among the missing");
        }
        _first = new (int, int)[missing.Count];
        Array.Fill(_first, (-1, -1));
        _more = new List<(int, int)>?[missing.Count];
        _received = new int[missing.Count];
        var images = new List<Image>();
        try
        {
            foreach (var (name, hashes) in pagemaps.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                var path = Path.Combine(directory, name + ".pages.partial");
                var file = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite, FileShare.Read);
                images.Add(new Image(name, hashes, path, file));
                // Holes read as zeros: zero pages need no write.
                RandomAccess.SetLength(file, (long)hashes.Count * Pagemap.PageSize);
                var index = images.Count - 1;
                for (var p = 0; p < hashes.Count; p++)
                {
                    if (!_missing.TryGetValue(hashes[p], out var m))
                        continue;
                    if (_first[m].Image < 0)
                        _first[m] = (index, p);
                    else
                        (_more[m] ??= []).Add((index, p));
                }
            }
        }
        catch
        {
            foreach (var image in images)
                image.File.Dispose();
            throw;
        }
        _images = [.. images];
    }

    /// <summary>How many of the missing pages have arrived.</summary>
    public int ReceivedCount => Volatile.Read(ref _receivedCount);

    /// <summary>Bytes written so far (received pages, each once).</summary>
    public long ReceivedBytes => (long)ReceivedCount * Pagemap.PageSize;

    /// <summary>
    /// Writes received pages, given as (16-byte hash, 4 KiB page) records, to their places;
    /// pages that come in image order go out in one write per run. Thread-safe. Throws if a
    /// page does not hash to its name or was not asked for.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public void Append(ReadOnlySpan<byte> records)
    {
        if (records.Length % Record != 0)
            throw new InvalidDataException($"a pages message of {records.Length} bytes is not whole pages");
        var count = records.Length / Record;
        var run = ArrayPool<byte>.Shared.Rent(Math.Max(count, 1) * Pagemap.PageSize);
        try
        {
            int runImage = -1, runStart = 0, runLength = 0;
            for (var at = 0; at < records.Length; at += Record)
            {
                var hash = PageHash.ReadFrom(records.Slice(at, PageHash.Size));
                var page = records.Slice(at + PageHash.Size, Pagemap.PageSize);
                if (PageHash.Of(page) != hash)
                    throw new InvalidDataException($"received page {hash} does not hash to its name");
                if (!_missing.TryGetValue(hash, out var m))
                    throw new InvalidDataException($"received page {hash} was not asked for");
                if (Interlocked.Exchange(ref _received[m], 1) != 0)
                    continue;
                var (image, index) = _first[m];
                if (runLength > 0 && (image != runImage || index != runStart + runLength))
                {
                    WriteRun(runImage, runStart, run.AsSpan(0, runLength * Pagemap.PageSize));
                    runLength = 0;
                }
                if (runLength == 0)
                    (runImage, runStart) = (image, index);
                page.CopyTo(run.AsSpan(runLength * Pagemap.PageSize));
                runLength++;
                if (_more[m] is { } more)
                {
                    foreach (var (other, otherIndex) in more)
                        RandomAccess.Write(_images[other].File, page, (long)otherIndex * Pagemap.PageSize);
                }
                Interlocked.Increment(ref _receivedCount);
            }
            if (runLength > 0)
                WriteRun(runImage, runStart, run.AsSpan(0, runLength * Pagemap.PageSize));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(run);
        }
    }

    private void WriteRun(int image, int start, ReadOnlySpan<byte> pages)
        => RandomAccess.Write(_images[image].File, pages, (long)start * Pagemap.PageSize);

    /// <summary>
    /// Fills every place of a page that was not sent from <paramref name="store"/> (in batches
    /// whose disk reads overlap; what it lacks, from <paramref name="fallback"/>), checks that every sent page came, and renames each image to
    /// <paramref name="pagesFileName"/> of its pagemap. Throws <see cref="MissingPagesException"/>
    /// naming the pages no one had.
    /// </summary>
    public void Complete(PageStore store, IPageSource fallback, Func<string, string> pagesFileName)
    {
        var absent = new List<PageHash>();
        var seen = new HashSet<PageHash>();
        for (var m = 0; m < _received.Length; m++)
        {
            if (Volatile.Read(ref _received[m]) == 0 && seen.Add(_missingList[m]))
                absent.Add(_missingList[m]);
        }
        var buffer = ArrayPool<byte>.Shared.Rent(PagesPerWrite * Pagemap.PageSize);
        var found = new bool[PagesPerWrite];
        var hashes = new List<PageHash>(PagesPerWrite);
        var places = new List<int>(PagesPerWrite);
        try
        {
            foreach (var image in _images)
            {
                void Flush()
                {
                    store.TryGetMany(hashes, buffer, found);
                    for (var k = 0; k < hashes.Count;)
                    {
                        if (!found[k] && !fallback.TryGet(hashes[k], buffer.AsSpan(k * Pagemap.PageSize, Pagemap.PageSize)) && seen.Add(hashes[k]))
                            absent.Add(hashes[k]);
                        var end = k + 1;
                        while (end < hashes.Count && places[end] == places[end - 1] + 1)
                            end++;
                        RandomAccess.Write(image.File, buffer.AsSpan(k * Pagemap.PageSize, (end - k) * Pagemap.PageSize), (long)places[k] * Pagemap.PageSize);
                        k = end;
                    }
                    hashes.Clear();
                    places.Clear();
                }

                for (var p = 0; p < image.Hashes.Count; p++)
                {
                    var hash = image.Hashes[p];
                    if (hash == PageHash.ZeroPage || _missing.ContainsKey(hash))
                        continue;
                    hashes.Add(hash);
                    places.Add(p);
                    if (hashes.Count == PagesPerWrite)
                        Flush();
                }
                if (hashes.Count > 0)
                    Flush();
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        if (absent.Count > 0)
            throw new MissingPagesException(absent);
        foreach (var image in _images)
        {
            image.FinalPath = Path.Combine(Path.GetDirectoryName(image.PartialPath)!, pagesFileName(image.Pagemap));
            File.Move(image.PartialPath, image.FinalPath, overwrite: true);
        }
    }

    /// <summary>The received pages, read from the completed images while they go into the store; null before <see cref="Complete"/>.</summary>
    public PendingPages? Pending()
    {
        if (_images.Any(i => i.FinalPath == null))
            return null;
        var received = _images.Select(i => new PageHash[i.Hashes.Count]).ToArray();
        foreach (var image in received)
            Array.Fill(image, PageHash.ZeroPage);
        foreach (var (hash, m) in _missing)
        {
            if (Volatile.Read(ref _received[m]) != 0)
                received[_first[m].Image][_first[m].Page] = hash;
        }
        try
        {
            return new PendingPages([.. _images.Select((image, i) => (image.FinalPath!, (IReadOnlyList<PageHash>)received[i]))]);
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Every received page into <paramref name="store"/> (for a later trip back here); read from the images, which stay open after the rename.</summary>
    public void CopyTo(PageStore store)
    {
        var page = new byte[Pagemap.PageSize];
        foreach (var (hash, m) in _missing)
        {
            if (Volatile.Read(ref _received[m]) == 0)
                continue;
            var (image, index) = _first[m];
            if (RandomAccess.Read(_images[image].File, page, (long)index * Pagemap.PageSize) == Pagemap.PageSize && PageHash.Of(page) == hash)
                store.Put(hash, page);
        }
    }

    public void Dispose()
    {
        foreach (var image in _images)
            image.File.Dispose();
    }
}
