namespace Picojump.Migrator.Images;

/// <summary>One pagemap entry: PageCount pages from Vaddr on.</summary>
public readonly record struct PagemapRegion(ulong Vaddr, ulong PageCount, PagemapFlags Flags)
{
    /// <summary>Whether the region's pages are stored in the pages image.</summary>
    public bool IsPresent => (Flags & PagemapFlags.Present) != 0;

    public ulong End => Vaddr + (PageCount * Pagemap.PageSize);
}
