namespace Picojump.Fs.Union;

/// <summary>How the union namespace answers the kernel.</summary>
public sealed class UnionOptions
{
    /// <summary>This host's name: the owner of everything in the local export.</summary>
    public required string HostName { get; init; }

    /// <summary>How long the kernel may trust a name or attributes without asking again.</summary>
    public TimeSpan EntryTimeout { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan AttrTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Blocks of a remote file fetched ahead of a sequential reader, at most.</summary>
    public int MaxReadAheadBlocks { get; init; } = 16;
}
