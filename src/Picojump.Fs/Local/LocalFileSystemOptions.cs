namespace Picojump.Fs.Local;

/// <summary>How long the kernel may trust what the local file system tells it.</summary>
public sealed class LocalFileSystemOptions
{
    /// <summary>Cache time for names (lookups).</summary>
    public TimeSpan EntryTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Cache time for attributes.</summary>
    public TimeSpan AttrTimeout { get; init; } = TimeSpan.FromSeconds(1);
}
