using Picojump.Migrator.Images.Proto;

namespace Picojump.Migrator.Images;

/// <summary>
/// A CRIU pagemap image (pagemap-&lt;id&gt;.img or pagemap-shmem-&lt;ino&gt;.img): which pages of an
/// address space the dump holds, and in which pages-&lt;PagesId&gt;.img. The pages of the
/// present regions follow each other in that file in region order, 4 KiB each, with nothing
/// between them.
/// </summary>
public sealed record Pagemap(uint PagesId, IReadOnlyList<PagemapRegion> Regions)
{
    public const int PageSize = 4096;

    /// <summary>The pages image that holds this pagemap's present pages, relative to the dump directory.</summary>
    public string PagesFileName => PagesFileNameFor(PagesId);

    public static string PagesFileNameFor(uint pagesId) => $"pages-{pagesId}.img";

    /// <summary>How many pages the pages image holds; its length is this times PageSize.</summary>
    public long PresentPageCount => Regions.Where(r => r.IsPresent).Sum(r => (long)r.PageCount);

    /// <summary>The address of every page stored in the pages image, in file order.</summary>
    public IEnumerable<ulong> PresentPageAddresses()
    {
        foreach (var region in Regions.Where(r => r.IsPresent))
        {
            for (ulong i = 0; i < region.PageCount; i++)
            {
                yield return region.Vaddr + (i * PageSize);
            }
        }
    }

    public static Pagemap Read(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 64 << 10);
        return Read(stream, path);
    }

    public static Pagemap Read(Stream stream, string what = "pagemap image")
    {
        CriuImage.ReadHeader(stream, CriuImage.PagemapMagic, what);
        var head = CriuImage.ReadMessage(stream, PagemapHead.Parser, what)
            ?? throw new InvalidDataException($"{what}: no pagemap head");
        var regions = new List<PagemapRegion>();
        while (CriuImage.ReadMessage(stream, PagemapEntry.Parser, what) is { } entry)
        {
            regions.Add(ToRegion(entry));
        }
        return new Pagemap(head.PagesId, regions);
    }

    /// <summary>Writes the image as CRIU 4.1 does: a 4.1 image read and written again is byte-identical.</summary>
    public void Write(string path)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 64 << 10);
        Write(stream);
    }

    public void Write(Stream stream)
    {
        CriuImage.WriteHeader(stream, CriuImage.PagemapMagic);
        CriuImage.WriteMessage(stream, new PagemapHead { PagesId = PagesId });
        foreach (var region in Regions)
        {
            CriuImage.WriteMessage(stream, ToEntry(region));
        }
    }

    private static PagemapRegion ToRegion(PagemapEntry entry)
    {
        // As CRIU's pagemap.c reads it: the 4.2 u64 count wins; in_parent means PE_PARENT;
        // an entry from before the flags field had its pages in the image.
        var count = entry.HasNrPages64 ? entry.NrPages64 : entry.NrPages;
        var flags = (PagemapFlags)entry.Flags;
        if (entry.HasInParent && entry.InParent)
        {
            flags |= PagemapFlags.Parent;
        }
        else if (!entry.HasFlags)
        {
            flags = PagemapFlags.Present;
        }
        return new PagemapRegion(entry.Vaddr, count, flags);
    }

    private static PagemapEntry ToEntry(PagemapRegion region)
    {
        var entry = new PagemapEntry { Vaddr = region.Vaddr, Flags = (uint)region.Flags };
        if (region.PageCount <= uint.MaxValue)
        {
            // The field CRIU 4.1 reads; 4.2 still falls back to it when field 5 is absent.
            entry.NrPages = (uint)region.PageCount;
        }
        else
        {
            // Only 4.2+ can restore a region this large (16 TiB); 4.1 could not have dumped it.
            entry.NrPages = 0;
            entry.NrPages64 = region.PageCount;
        }
        return entry;
    }
}
