using Picojump.Fs.Cluster;

namespace Picojump.Fs.Union.Internal;

/// <summary>
/// An open remote file. Reads go through the block cache; the block last read stays here,
/// since the kernel asks for it in pieces smaller than a block. Sequential readers grow
/// <see cref="Window"/>, the blocks fetched from the owner in one stream.
/// </summary>
internal sealed class RemoteFileHandle(UnionNode node, RemotePeer owner, ulong ino, long version, bool append)
{
    public UnionNode Node { get; } = node;

    public RemotePeer Owner { get; } = owner;

    public ulong Ino { get; } = ino;

    public bool Append { get; } = append;

    /// <summary>Serializes fetches from the owner, so that parallel kernel reads do not fetch a block twice.</summary>
    public object FetchGate { get; } = new();

    /// <summary>The file's change time as last seen: the version its blocks are cached under.</summary>
    public long Version { get; set; } = version;

    public byte[]? Block { get; set; }

    public long BlockIndex { get; set; } = -1;

    public int BlockLength { get; set; }

    /// <summary>The block a sequential reader asks for next.</summary>
    public long NextBlock { get; set; }

    public int Window { get; set; } = 1;
}
