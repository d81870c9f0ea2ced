namespace Picojump.Migrator.Pages;

/// <summary>What must travel for a dump to be rebuilt at a destination: the pages its store lacks.</summary>
public static class ImageDelta
{
    /// <summary>
    /// The distinct hashes among <paramref name="sourcePages"/> that <paramref name="destination"/>
    /// does not hold, in first-use order. A page repeated in the dump (zeros, shared libraries'
    /// copies) travels at most once; a page of zeros never does.
    /// </summary>
    public static IReadOnlyList<PageHash> PagesToSend(IEnumerable<PageRef> sourcePages, PageStore destination)
    {
        ArgumentNullException.ThrowIfNull(sourcePages);
        ArgumentNullException.ThrowIfNull(destination);
        var distinct = new HashSet<PageHash>();
        var ordered = new List<PageHash>();
        foreach (var page in sourcePages)
        {
            if (distinct.Add(page.Hash))
            {
                ordered.Add(page.Hash);
            }
        }
        return destination.Missing(ordered);
    }
}
