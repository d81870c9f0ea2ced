using Picojump.Migrator.Images;
using Picojump.Migrator.Pages;

namespace Picojump.Migrator.LazyPages;

/// <summary>
/// Turns a full dump into what the destination of a hybrid migration needs before the job can
/// resume: every image as it is, except that the tasks' lazy pages (pagemap entries flagged
/// PE_LAZY) are taken out of the pages images and their entries lose PE_PRESENT, which is the
/// shape <c>criu dump --lazy-pages</c> writes. <c>criu restore --lazy-pages</c> then restores
/// the rest from the images and leaves those pages to the lazy-pages daemon, which asks a page
/// server for them.
/// </summary>
public static class LazyImages
{
    /// <summary>Copies the dump at <paramref name="from"/> to <paramref name="to"/> without its lazy pages; returns how many pages it left out.</summary>
    public static long WithoutLazyPages(string from, string to)
    {
        Directory.CreateDirectory(to);
        var rewritten = new HashSet<string>(StringComparer.Ordinal);
        long removed = 0;
        foreach (var (_, path) in LazyPageMap.TaskPagemaps(from))
        {
            var pagemap = Pagemap.Read(path);
            if (!pagemap.Regions.Any(IsLazyPresent))
            {
                continue;
            }
            var pagesPath = Path.Combine(from, pagemap.PagesFileName);
            var keptPath = Path.Combine(to, pagemap.PagesFileName);
            using (var source = File.OpenHandle(pagesPath, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan))
            using (var kept = new FileStream(keptPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                var page = new byte[Pagemap.PageSize];
                long offset = 0;
                foreach (var region in pagemap.Regions.Where(r => r.IsPresent))
                {
                    if (IsLazyPresent(region))
                    {
                        removed += (long)region.PageCount;
                        offset += (long)region.PageCount * Pagemap.PageSize;
                        continue;
                    }
                    for (ulong i = 0; i < region.PageCount; i++, offset += Pagemap.PageSize)
                    {
                        PageHashes.ReadExactly(source, page, offset, pagesPath);
                        kept.Write(page);
                    }
                }
            }
            var regions = pagemap.Regions
                .Select(r => IsLazyPresent(r) ? r with { Flags = r.Flags & ~PagemapFlags.Present } : r)
                .ToList();
            (pagemap with { Regions = regions }).Write(Path.Combine(to, Path.GetFileName(path)));
            rewritten.Add(Path.GetFileName(path));
            rewritten.Add(pagemap.PagesFileName);
        }
        foreach (var file in Directory.EnumerateFiles(from, "*.img"))
        {
            var name = Path.GetFileName(file);
            if (!rewritten.Contains(name))
            {
                File.Copy(file, Path.Combine(to, name), overwrite: true);
            }
        }
        return removed;
    }

    private static bool IsLazyPresent(PagemapRegion region)
        => region.IsPresent && (region.Flags & PagemapFlags.Lazy) != 0;
}
