namespace Picojump.Fs.Union.Internal;

/// <summary>
/// One name the kernel knows in the union. A directory may exist on several hosts (its
/// layers: this host when <see cref="LocalId"/> is set, plus <see cref="RemoteLayers"/>);
/// anything else has exactly one owner. Fields change under <see cref="NodeTable"/>'s lock.
/// </summary>
internal sealed class UnionNode(ulong id, UnionNode? parent, string name)
{
    public ulong Id { get; } = id;

    public UnionNode? Parent { get; set; } = parent;

    public string Name { get; set; } = name;

    /// <summary>Lookups the kernel holds on this node.</summary>
    public ulong Lookups { get; set; }

    public bool IsDirectory { get; set; }

    /// <summary>The local file system's node for this name (one lookup of it held by us), or 0.</summary>
    public ulong LocalId { get; set; }

    /// <summary>Not a directory: the host that owns it (this host's name when local).</summary>
    public string Owner { get; set; } = "";

    /// <summary>A remote object: its inode number on the owner (the owner refuses a path that names another).</summary>
    public ulong RemoteIno { get; set; }

    /// <summary>A remote file: the change time last seen, the version of its cached blocks.</summary>
    public long RemoteVersion { get; set; }

    /// <summary>A remote file some process here locked: closes must release locks at its owner.</summary>
    public bool RemoteLocksTaken { get; set; }

    /// <summary>Directories: the peers that have it too, ordered by name.</summary>
    public string[] RemoteLayers { get; set; } = [];

    /// <summary>Not a directory: its host and inode (the local node id for this host's), shared by its hard links.</summary>
    public (string Host, ulong Id)? File { get; set; }

    public Dictionary<string, UnionNode> Children { get; } = new(StringComparer.Ordinal);

    public bool IsRemote => LocalId == 0;
}
