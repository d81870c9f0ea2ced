using Microsoft.Win32.SafeHandles;
using Picojump.Migrator.Images;
using Picojump.Migrator.Pages;

namespace Picojump.Migrator.LazyPages;

/// <summary>
/// The pages of a dump directory's task pagemaps, read by address from its pages images: what
/// the source host holds after a full <c>criu dump</c>. Only PE_PRESENT pages are there.
/// </summary>
public sealed class DumpImagePageSource : ILazyPageSource, IDisposable
{
    private readonly Dictionary<ulong, TaskPages> _tasks = [];

    public DumpImagePageSource(string dumpDirectory)
    {
        foreach (var (pid, path) in LazyPageMap.TaskPagemaps(dumpDirectory))
        {
            var pagemap = Pagemap.Read(path);
            var regions = new List<(PagemapRegion Region, long Offset)>();
            long offset = 0;
            foreach (var region in pagemap.Regions.Where(r => r.IsPresent))
            {
                regions.Add((region, offset));
                offset += (long)region.PageCount * Pagemap.PageSize;
            }
            var pagesPath = Path.Combine(dumpDirectory, pagemap.PagesFileName);
            _tasks.Add(pid, new TaskPages(pagesPath, File.OpenHandle(pagesPath, FileMode.Open, FileAccess.Read, FileShare.Read), [.. regions]));
        }
    }

    public ValueTask<int> ReadAsync(ulong pid, ulong vaddr, int pageCount, Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (!_tasks.TryGetValue(pid, out var task))
        {
            return ValueTask.FromResult(0);
        }
        // The region holding vaddr; a request never spans two pagemap entries.
        var index = Array.FindIndex(task.Regions, r => r.Region.Vaddr <= vaddr && vaddr < r.Region.End);
        if (index < 0)
        {
            return ValueTask.FromResult(0);
        }
        var (region, offset) = task.Regions[index];
        var count = (int)Math.Min((ulong)pageCount, (region.End - vaddr) / Pagemap.PageSize);
        var bytes = destination.Span[..(count * Pagemap.PageSize)];
        PageHashes.ReadExactly(task.File, bytes, offset + (long)(vaddr - region.Vaddr), task.PagesPath);
        return ValueTask.FromResult(count);
    }

    public void Dispose()
    {
        foreach (var task in _tasks.Values)
        {
            task.File.Dispose();
        }
    }

    private sealed record TaskPages(string PagesPath, SafeFileHandle File, (PagemapRegion Region, long Offset)[] Regions);
}
