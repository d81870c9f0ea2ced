using Picojump.Migrator.Images;

namespace Picojump.Migrator.Pages;

/// <summary>Pages that arrived from another host for one migration, held in memory and checked on arrival.</summary>
public sealed class ReceivedPages : IPageSource
{
    private readonly Dictionary<PageHash, byte[]> _pages = [];

    public int Count => _pages.Count;

    public IEnumerable<KeyValuePair<PageHash, byte[]>> Pages => _pages;

    /// <summary>Keeps a received page; throws if its bytes do not hash to the hash it came with.</summary>
    public void Add(PageHash hash, ReadOnlySpan<byte> page)
    {
        if (page.Length != Pagemap.PageSize)
        {
            throw new ArgumentException($"A page is {Pagemap.PageSize} bytes, not {page.Length}.", nameof(page));
        }
        if (PageHash.Of(page) != hash)
        {
            throw new InvalidDataException($"Received page {hash} does not hash to its name.");
        }
        _pages.TryAdd(hash, page.ToArray());
    }

    public bool TryGet(PageHash hash, Span<byte> page)
    {
        if (!_pages.TryGetValue(hash, out var bytes))
        {
            return false;
        }
        bytes.CopyTo(page);
        return true;
    }
}
