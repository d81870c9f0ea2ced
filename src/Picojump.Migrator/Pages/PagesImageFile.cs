using Microsoft.Win32.SafeHandles;
using Picojump.Migrator.Images;

namespace Picojump.Migrator.Pages;

/// <summary>
/// A dump's pages image as a page source on the sending host: serves a page by its hash from
/// the first place the image holds it. The bytes are checked against the hash as they are read.
/// </summary>
public sealed class PagesImageFile : IPageSource, IDisposable
{
    private readonly SafeFileHandle _file;
    private readonly string _path;
    private readonly Dictionary<PageHash, long> _offsets = [];

    /// <param name="path">The pages image.</param>
    /// <param name="pages">Its hashes, in file order, as <see cref="PageHashes.Compute"/> gave them.</param>
    public PagesImageFile(string path, IReadOnlyList<PageRef> pages)
    {
        ArgumentNullException.ThrowIfNull(pages);
        _path = path;
        _file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        for (var i = 0; i < pages.Count; i++)
        {
            _offsets.TryAdd(pages[i].Hash, (long)i * Pagemap.PageSize);
        }
    }

    public bool TryGet(PageHash hash, Span<byte> page)
    {
        if (!_offsets.TryGetValue(hash, out var offset))
        {
            return false;
        }
        PageHashes.ReadExactly(_file, page[..Pagemap.PageSize], offset, _path);
        return PageHash.Of(page[..Pagemap.PageSize]) == hash;
    }

    public void Dispose() => _file.Dispose();
}
