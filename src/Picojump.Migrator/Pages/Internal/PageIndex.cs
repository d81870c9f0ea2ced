namespace Picojump.Migrator.Pages.Internal;

/// <summary>
/// Where the newest record of each held page lies in the page store's log, kept in memory
/// (about 40 bytes a page): presence answers without reading the disk (FASTER's own index must
/// read a record to compare its key), and addresses to read many pages in log order. Rebuilt
/// by one scan of the log when the store opens; not <see cref="Ready"/> before that. Thread-safe.
/// </summary>
internal sealed class PageIndex
{
    private readonly Dictionary<PageHash, long> _addresses = [];
    private readonly Lock _lock = new();
    private volatile bool _ready;

    /// <summary>Whether every record of the log is in the index (the opening scan is done).</summary>
    public bool Ready => _ready;

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _addresses.Count;
            }
        }
    }

    public void MarkReady() => _ready = true;

    /// <summary>Records that the page has a record at <paramref name="address"/>; an older address never replaces a newer one.</summary>
    public void Set(PageHash hash, long address)
    {
        lock (_lock)
        {
            if (!_addresses.TryGetValue(hash, out var held) || held < address)
            {
                _addresses[hash] = address;
            }
        }
    }

    /// <summary>Whether the page has a record at or above <paramref name="beginAddress"/>.</summary>
    public bool Contains(PageHash hash, long beginAddress)
    {
        lock (_lock)
        {
            return _addresses.TryGetValue(hash, out var address) && address >= beginAddress;
        }
    }

    /// <summary>Each page's address, -1 for a page the index does not know.</summary>
    public void Find(IReadOnlyList<PageHash> hashes, Span<long> addresses)
    {
        lock (_lock)
        {
            for (var i = 0; i < hashes.Count; i++)
            {
                addresses[i] = _addresses.TryGetValue(hashes[i], out var address) ? address : -1;
            }
        }
    }

    /// <summary>Forgets the pages whose record was evicted (below the log's begin address).</summary>
    public void DropBelow(long beginAddress)
    {
        lock (_lock)
        {
            foreach (var (hash, address) in _addresses)
            {
                if (address < beginAddress)
                {
                    _addresses.Remove(hash);
                }
            }
        }
    }
}
