using Picojump.Migrator.Images;

namespace Picojump.Migrator.Pages;

/// <summary>
/// Rebuilds a pages image on the destination from the page list the source sent and whatever
/// sources hold the pages (received ones, the page store). Every page comes from a source that
/// verified it against its hash, so the result is byte-identical to the source's image or is
/// not written at all.
/// </summary>
public static class PagesImageBuilder
{
    private const int PagesPerWrite = 256;

    /// <summary>
    /// Writes the image at <paramref name="path"/> (through a temporary file, so a failure leaves
    /// no partial image). Throws <see cref="MissingPagesException"/> naming every page no source
    /// had, after trying them all, so one more round trip can fetch them.
    /// </summary>
    public static void Write(string path, IReadOnlyList<PageRef> pages, IPageSource source)
    {
        ArgumentNullException.ThrowIfNull(pages);
        ArgumentNullException.ThrowIfNull(source);
        var temporary = path + ".partial";
        var missing = new List<PageHash>();
        var seenMissing = new HashSet<PageHash>();
        var buffer = new byte[PagesPerWrite * Pagemap.PageSize];
        using (var output = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0))
        {
            var filled = 0;
            foreach (var page in pages)
            {
                var slot = buffer.AsSpan(filled * Pagemap.PageSize, Pagemap.PageSize);
                if (!source.TryGet(page.Hash, slot) && seenMissing.Add(page.Hash))
                {
                    missing.Add(page.Hash);
                }
                if (++filled == PagesPerWrite)
                {
                    output.Write(buffer);
                    filled = 0;
                }
            }
            output.Write(buffer.AsSpan(0, filled * Pagemap.PageSize));
        }
        if (missing.Count > 0)
        {
            File.Delete(temporary);
            throw new MissingPagesException(missing);
        }
        File.Move(temporary, path, overwrite: true);
    }
}
