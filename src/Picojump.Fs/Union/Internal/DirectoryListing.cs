using Picojump.Protos.Peer;

namespace Picojump.Fs.Union.Internal;

/// <summary>One name of a merged listing: what this host has there (a d_type) and what each peer has.</summary>
internal sealed class ListedName(string key, byte[] name)
{
    public string Key { get; } = key;

    /// <summary>The name's bytes followed by a NUL, as lookups want them.</summary>
    public byte[] NameZ { get; } = name;

    public ReadOnlySpan<byte> Name => NameZ.AsSpan(0, NameZ.Length - 1);

    public ulong LocalIno { get; set; }

    /// <summary>The local entry's d_type, or 0 when this host has no such name.</summary>
    public byte LocalType { get; set; }

    public List<(string Host, Attr Attr)> Remote { get; } = [];
}

/// <summary>An open directory of the union: its merged entries, taken at open and at every rewind, served by index.</summary>
internal sealed class DirectoryListing(UnionNode directory)
{
    public UnionNode Directory { get; } = directory;

    public List<ListedName> Names { get; set; } = [];

    /// <summary>The layer peers that gave no listing (down, cut off, slow): what they hold is unknown, not absent.</summary>
    public IReadOnlySet<string> Unanswered { get; set; } = new HashSet<string>();
}
