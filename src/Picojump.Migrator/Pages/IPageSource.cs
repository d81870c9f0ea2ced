namespace Picojump.Migrator.Pages;

/// <summary>Somewhere a page's bytes can be found by their hash.</summary>
public interface IPageSource
{
    /// <summary>
    /// Copies the page into <paramref name="page"/> (4 KiB) and returns true only if the bytes
    /// hash to <paramref name="hash"/>; anything else (absent, evicted, corrupt) is false.
    /// </summary>
    bool TryGet(PageHash hash, Span<byte> page);

    /// <summary>
    /// <see cref="TryGet"/> of many pages: page i goes to <paramref name="pages"/> at i x 4 KiB and
    /// <paramref name="found"/>[i] says whether it came. Sources that read faster in batches override it.
    /// </summary>
    void TryGetMany(IReadOnlyList<PageHash> hashes, Span<byte> pages, Span<bool> found)
    {
        for (var i = 0; i < hashes.Count; i++)
        {
            found[i] = TryGet(hashes[i], pages.Slice(i * Images.Pagemap.PageSize, Images.Pagemap.PageSize));
        }
    }
}
