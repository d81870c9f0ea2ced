using Microsoft.Win32.SafeHandles;
using Picojump.Migrator.Images;
using Picojump.Migrator.Pages;

namespace Picojump.Migrator.Migration;

/// <summary>
/// The pages of a finished migration while they go into the page store in the background (the
/// source's dump, or the images a destination received): they count as held, so a trip back
/// that comes at once neither waits for the store nor carries them again. Reads check every
/// page against its hash. <see cref="Retire"/> (once the store has them) closes the files; a
/// read after it answers false, and the caller then finds the page in the store.
/// </summary>
internal sealed class PendingPages : IPageSource
{
    private readonly Dictionary<PageHash, (int File, long Offset)> _where;
    private readonly SafeFileHandle[] _files;
    private readonly Lock _gate = new();
    private bool _retired;

    /// <param name="pages">Each file's pages in file order (hash per 4 KiB page).</param>
    public PendingPages(IReadOnlyList<(string Path, IReadOnlyList<PageHash> Hashes)> pages)
    {
        _where = [];
        var files = new List<SafeFileHandle>();
        try
        {
            foreach (var (path, hashes) in pages)
            {
                files.Add(File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete));
                for (var p = 0; p < hashes.Count; p++)
                {
                    if (hashes[p] != PageHash.ZeroPage)
                        _where.TryAdd(hashes[p], (files.Count - 1, (long)p * Pagemap.PageSize));
                }
            }
        }
        catch
        {
            foreach (var file in files)
                file.Dispose();
            throw;
        }
        _files = [.. files];
    }

    public bool Contains(PageHash hash) => _where.ContainsKey(hash);

    public bool TryGet(PageHash hash, Span<byte> page)
    {
        if (!_where.TryGetValue(hash, out var at))
            return false;
        lock (_gate)
        {
            if (_retired || RandomAccess.Read(_files[at.File], page[..Pagemap.PageSize], at.Offset) != Pagemap.PageSize)
                return false;
        }
        return PageHash.Of(page[..Pagemap.PageSize]) == hash;
    }

    /// <summary>The store holds the pages now (or gave up): the files close; waits for reads under way.</summary>
    public void Retire()
    {
        lock (_gate)
        {
            _retired = true;
            foreach (var file in _files)
                file.Dispose();
        }
    }
}
