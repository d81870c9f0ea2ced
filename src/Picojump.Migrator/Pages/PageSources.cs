namespace Picojump.Migrator.Pages;

/// <summary>Asks several sources in turn: e.g. the pages just received, then the host's store.</summary>
public sealed class PageSources(params IPageSource[] sources) : IPageSource
{
    public bool TryGet(PageHash hash, Span<byte> page)
    {
        foreach (var source in sources)
        {
            if (source.TryGet(hash, page))
            {
                return true;
            }
        }
        return false;
    }
}
