using Picojump.Fs.Cluster;
using Picojump.Fs.Native;

namespace Picojump.Fs.Union.Internal;

/// <summary>
/// An open remote file. Reads go through the block cache; the block last read stays here,
/// since the kernel asks for it in pieces smaller than a block. Blocks being fetched from
/// the owner are in <see cref="Pending"/>; a sequential reader keeps the fetches up to
/// <see cref="Window"/> blocks ahead of it. Fields change under <see cref="Gate"/>.
/// </summary>
internal sealed class RemoteFileHandle(UnionNode node, RemotePeer owner, ulong ino, long version, ulong size, bool append)
{
    public UnionNode Node { get; } = node;

    public RemotePeer Owner { get; } = owner;

    public ulong Ino { get; } = ino;

    public bool Append { get; } = append;

    public object Gate { get; } = new();

    /// <summary>The file's change time as last seen: the version its blocks are cached under.</summary>
    public long Version { get; set; } = version;

    /// <summary>The file's size as last seen: read-ahead stops there.</summary>
    public ulong Size { get; set; } = size;

    public byte[]? Block { get; set; }

    /// <summary>The block after the current one, read from the cache in the background for a sequential reader.</summary>
    public StagedBlock? Staged { get; set; }

    public long BlockIndex { get; set; } = -1;

    public int BlockLength { get; set; }

    /// <summary>The block a sequential reader asks for next.</summary>
    public long NextBlock { get; set; }

    public int Window { get; set; } = 1;

    /// <summary>Every block below this one has been asked of the owner (for the current version).</summary>
    public long FetchedUntil { get; set; }

    /// <summary>The block (and its version) last put into the reading job's working set: a block is recorded once, not per piece read.</summary>
    public long RecordedBlock { get; set; } = -1;

    public long RecordedVersion { get; set; }

    /// <summary>Blocks on their way: completed with OK once in the cache, EOF past the end of the file, or the error.</summary>
    public Dictionary<long, TaskCompletionSource<Errno>> Pending { get; } = [];

    /// <summary>Forgets what was cached or fetched for the previous version of the file.</summary>
    public void Restart(long version)
    {
        Version = version;
        BlockIndex = -1;
        FetchedUntil = 0;
        if (Staged != null)
            Staged.Index = -1;
    }
}

/// <summary>A block being read from the cache ahead of its reader; <see cref="Read"/> gives its length, or -1 if the cache lacks it.</summary>
internal sealed class StagedBlock(byte[] buffer)
{
    public byte[] Buffer { get; set; } = buffer;

    public long Index { get; set; } = -1;

    public Task<int>? Read { get; set; }
}
