namespace Picojump.Migrator.Pages;

/// <summary>A pages image could not be rebuilt: these pages were in no source (evicted, or failed verification).</summary>
public sealed class MissingPagesException : Exception
{
    public MissingPagesException(IReadOnlyList<PageHash> missing)
        : base($"{missing.Count} page(s) are in no source, e.g. {string.Join(", ", missing.Take(3))}")
        => Missing = missing;

    public MissingPagesException()
        : this([])
    {
    }

    public MissingPagesException(string message)
        : base(message) => Missing = [];

    public MissingPagesException(string message, Exception innerException)
        : base(message, innerException) => Missing = [];

    public IReadOnlyList<PageHash> Missing { get; }
}
