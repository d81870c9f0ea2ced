namespace Picojump.Migrator.Pages;

/// <summary>Somewhere a page's bytes can be found by their hash.</summary>
public interface IPageSource
{
    /// <summary>
    /// Copies the page into <paramref name="page"/> (4 KiB) and returns true only if the bytes
    /// hash to <paramref name="hash"/>; anything else (absent, evicted, corrupt) is false.
    /// </summary>
    bool TryGet(PageHash hash, Span<byte> page);
}
