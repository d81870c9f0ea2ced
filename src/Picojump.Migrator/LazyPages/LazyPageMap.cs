using System.Globalization;
using System.Text.RegularExpressions;
using Picojump.Migrator.Images;
using Picojump.Migrator.Pages;

namespace Picojump.Migrator.LazyPages;

/// <summary>
/// What the destination knows about a job's lazy memory before any page of it arrives: for each
/// task (its virtual pid, the N of pagemap-N.img and the dst_id of CRIU's GET requests), the
/// content hash of every page that <c>criu restore --lazy-pages</c> leaves to the lazy-pages
/// daemon, i.e. every page of a pagemap entry flagged PE_LAZY. 16 bytes a page.
/// </summary>
public sealed partial class LazyPageMap
{
    private readonly Dictionary<ulong, Dictionary<ulong, PageHash>> _tasks = [];

    public IEnumerable<ulong> Tasks => _tasks.Keys;

    /// <summary>How many lazy pages all tasks have: the pages the lazy-pages daemon will ask for.</summary>
    public long PageCount { get; private set; }

    public void Add(ulong pid, ulong vaddr, PageHash hash)
    {
        if (!_tasks.TryGetValue(pid, out var pages))
        {
            pages = [];
            _tasks.Add(pid, pages);
        }
        if (pages.TryAdd(vaddr, hash))
        {
            PageCount++;
        }
        else
        {
            pages[vaddr] = hash;
        }
    }

    public bool TryGetHash(ulong pid, ulong vaddr, out PageHash hash)
    {
        hash = default;
        return _tasks.TryGetValue(pid, out var pages) && pages.TryGetValue(vaddr, out hash);
    }

    /// <summary>The (vaddr, hash) of one task's lazy pages, in address order.</summary>
    public IEnumerable<PageRef> PagesOf(ulong pid)
        => _tasks.TryGetValue(pid, out var pages) ? pages.OrderBy(p => p.Key).Select(p => new PageRef(p.Key, p.Value)) : [];

    /// <summary>
    /// The lazy pages of a full dump (<c>criu dump</c> without --lazy-pages), hashed from its pages
    /// images. CRIU 4.1 flags every page of a private anonymous mapping (other than the page
    /// under the stack pointer) PE_PRESENT | PE_LAZY even in a full dump, so a full dump already
    /// says which pages a lazy restore will fault in.
    /// </summary>
    public static LazyPageMap FromDump(string dumpDirectory)
    {
        var map = new LazyPageMap();
        foreach (var (pid, path) in TaskPagemaps(dumpDirectory))
        {
            var pagemap = Pagemap.Read(path);
            var pages = PageHashes.Compute(pagemap, Path.Combine(dumpDirectory, pagemap.PagesFileName));
            var index = 0;
            foreach (var region in pagemap.Regions.Where(r => r.IsPresent))
            {
                var lazy = (region.Flags & PagemapFlags.Lazy) != 0;
                for (ulong i = 0; i < region.PageCount; i++, index++)
                {
                    if (lazy)
                    {
                        map.Add(pid, pages[index].Vaddr, pages[index].Hash);
                    }
                }
            }
        }
        return map;
    }

    /// <summary>
    /// The lazy pages of a task that <c>criu dump --lazy-pages</c> has frozen, hashed from its
    /// memory (<c>/proc/&lt;hostPid&gt;/mem</c>) at the addresses of the PE_LAZY entries of its
    /// pagemap. The task stays frozen until the dump's page-server session ends, so these
    /// hashes cannot go stale while its pages are served (no soft-dirty tracking is needed);
    /// a page fetched from the source is still checked against them.
    /// </summary>
    /// <param name="pid">The task's pid in the dump (pagemap-&lt;pid&gt;.img, the GET's dst_id).</param>
    /// <param name="hostPid">The same task's pid where this code runs.</param>
    /// <param name="pagemapPath">Its pagemap image, as the lazy dump wrote it.</param>
    public void AddFrozenTask(ulong pid, int hostPid, string pagemapPath)
    {
        var pagemap = Pagemap.Read(pagemapPath);
        using var memory = File.OpenHandle($"/proc/{hostPid}/mem", FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var chunk = new byte[256 * Pagemap.PageSize];
        foreach (var region in pagemap.Regions.Where(r => (r.Flags & PagemapFlags.Lazy) != 0))
        {
            for (ulong page = 0; page < region.PageCount; page += (ulong)(chunk.Length / Pagemap.PageSize))
            {
                var count = (int)Math.Min(region.PageCount - page, (ulong)(chunk.Length / Pagemap.PageSize));
                var vaddr = region.Vaddr + (page * Pagemap.PageSize);
                var bytes = chunk.AsSpan(0, count * Pagemap.PageSize);
                PageHashes.ReadExactly(memory, bytes, checked((long)vaddr), $"/proc/{hostPid}/mem");
                for (var i = 0; i < count; i++)
                {
                    Add(pid, vaddr + ((ulong)i * Pagemap.PageSize), PageHash.Of(bytes.Slice(i * Pagemap.PageSize, Pagemap.PageSize)));
                }
            }
        }
    }

    /// <summary>The pagemap images of the dump's tasks (pagemap-&lt;pid&gt;.img, not pagemap-shmem-*), with their pids.</summary>
    public static IEnumerable<(ulong Pid, string Path)> TaskPagemaps(string dumpDirectory)
    {
        foreach (var path in Directory.EnumerateFiles(dumpDirectory, "pagemap-*.img").Order(StringComparer.Ordinal))
        {
            var match = TaskPagemapName().Match(Path.GetFileName(path));
            if (match.Success)
            {
                yield return (ulong.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture), path);
            }
        }
    }

    [GeneratedRegex("^pagemap-([0-9]+)\\.img$")]
    private static partial Regex TaskPagemapName();
}
