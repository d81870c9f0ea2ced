using Picojump.Migrator.Images;
using Picojump.Migrator.Pages;

namespace Picojump.Migrator.Migration;

/// <summary>
/// Pages received for one migration, appended to a file as they arrive (so a large job's
/// pages do not sit in the managed heap) and served by hash; checked on arrival and on read.
/// </summary>
internal sealed class SpooledPages : IPageSource, IDisposable
{
    private readonly FileStream _file;
    private readonly Dictionary<PageHash, long> _offsets = [];
    private readonly Lock _gate = new();

    public SpooledPages(string path)
    {
        Path = path;
        _file = new FileStream(path, FileMode.Create, FileAccess.ReadWrite, FileShare.Read, bufferSize: 0);
    }

    public string Path { get; }

    public int Count
    {
        get
        {
            lock (_gate)
                return _offsets.Count;
        }
    }

    /// <summary>Appends pages given as (16-byte hash, 4 KiB page) records; throws if a page does not hash to its name.</summary>
    public void Append(ReadOnlySpan<byte> records)
    {
        const int record = PageHash.Size + Pagemap.PageSize;
        if (records.Length % record != 0)
            throw new InvalidDataException($"a pages message of {records.Length} bytes is not whole pages");
        lock (_gate)
        {
            var offset = _file.Length;
            for (var at = 0; at < records.Length; at += record)
            {
                var hash = PageHash.ReadFrom(records.Slice(at, PageHash.Size));
                if (PageHash.Of(records.Slice(at + PageHash.Size, Pagemap.PageSize)) != hash)
                    throw new InvalidDataException($"received page {hash} does not hash to its name");
                _offsets.TryAdd(hash, offset + at + PageHash.Size);
            }
            _file.Seek(0, SeekOrigin.End);
            _file.Write(records);
        }
    }

    public bool TryGet(PageHash hash, Span<byte> page)
    {
        lock (_gate)
        {
            if (!_offsets.TryGetValue(hash, out var offset))
                return false;
            RandomAccess.Read(_file.SafeFileHandle, page[..Pagemap.PageSize], offset);
        }
        return PageHash.Of(page[..Pagemap.PageSize]) == hash;
    }

    /// <summary>Every received page into <paramref name="store"/> (for a later trip back here).</summary>
    public void CopyTo(PageStore store)
    {
        List<KeyValuePair<PageHash, long>> pages;
        lock (_gate)
            pages = [.. _offsets];
        var page = new byte[Pagemap.PageSize];
        foreach (var (hash, _) in pages)
        {
            if (TryGet(hash, page))
                store.Put(hash, page);
        }
    }

    public void Dispose() => _file.Dispose();
}
