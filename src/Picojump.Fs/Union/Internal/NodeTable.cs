using System.Text;

namespace Picojump.Fs.Union.Internal;

/// <summary>
/// The union's nodes by id and by (parent, name), so that both kernel requests and peer
/// invalidations (which name paths) find them. One lock: every operation on it is short.
/// </summary>
internal sealed class NodeTable
{
    public const ulong RootId = 1;

    private readonly Dictionary<ulong, UnionNode> _nodes = [];

    // Files by what they are, not by name: hard links must be one node to the kernel.
    private readonly Dictionary<(string Host, ulong Id), UnionNode> _files = [];
    private ulong _nextId = RootId + 1;

    public NodeTable(ulong rootLocalId, string localHost, string[] peers)
    {
        Root = new UnionNode(RootId, null, "") { IsDirectory = true, LocalId = rootLocalId, Owner = localHost, RemoteLayers = peers, Lookups = 1 };
        _nodes[RootId] = Root;
    }

    public object Gate { get; } = new();

    public UnionNode Root { get; }

    public int Count
    {
        get
        {
            lock (Gate)
                return _nodes.Count;
        }
    }

    public UnionNode? Find(ulong id)
    {
        lock (Gate)
            return _nodes.GetValueOrDefault(id);
    }

    /// <summary>
    /// The node now called <paramref name="name"/>, made if new, with one more kernel lookup.
    /// A directory is known by its name (it has one); anything else by its host and inode
    /// (<paramref name="file"/>), so that every hard link of a file is the same node.
    /// </summary>
    public UnionNode Remember(UnionNode parent, string name, (string Host, ulong Id)? file, Action<UnionNode> update)
    {
        lock (Gate)
        {
            UnionNode? node;
            if (file is { } identity)
                _files.TryGetValue(identity, out node);
            else if (parent.Children.TryGetValue(name, out node) && !node.IsDirectory)
                node = null;
            if (node == null)
            {
                node = new UnionNode(_nextId++, parent, name);
                _nodes[node.Id] = node;
            }
            if (file is { } known)
            {
                node.File = known;
                _files[known] = node;
            }
            node.Parent = parent;
            node.Name = name;
            parent.Children[name] = node;
            update(node);
            node.Lookups++;
            return node;
        }
    }

    /// <summary>Drops kernel lookups; returns the node once the kernel holds none, for its owner to release.</summary>
    public UnionNode? Forget(ulong id, ulong count)
    {
        lock (Gate)
        {
            if (id == RootId || !_nodes.TryGetValue(id, out var node))
                return null;
            node.Lookups = count >= node.Lookups ? 0 : node.Lookups - count;
            if (node.Lookups > 0)
                return null;
            _nodes.Remove(id);
            if (node.File is { } file && _files.TryGetValue(file, out var byFile) && byFile == node)
                _files.Remove(file);
            if (node.Parent != null && node.Parent.Children.TryGetValue(node.Name, out var current) && current == node)
                node.Parent.Children.Remove(node.Name);
            return node;
        }
    }

    /// <summary>Moves a node to its new name after a rename; whatever held the new name is detached.</summary>
    public void Move(UnionNode parent, string name, UnionNode newParent, string newName)
    {
        lock (Gate)
        {
            if (!parent.Children.Remove(name, out var node))
                return;
            newParent.Children.Remove(newName);
            node.Parent = newParent;
            node.Name = newName;
            newParent.Children[newName] = node;
        }
    }

    /// <summary>Detaches the node at a name (unlinked, replaced): later lookups make a new one.</summary>
    public UnionNode? Detach(UnionNode parent, string name)
    {
        lock (Gate)
            return parent.Children.Remove(name, out var node) ? node : null;
    }

    /// <summary>The path of a node relative to the exports' roots ("" for the root).</summary>
    public string PathOf(UnionNode node)
    {
        lock (Gate)
        {
            if (node.Parent == null)
                return "";
            var parts = new List<string>();
            for (var n = node; n.Parent != null; n = n.Parent)
                parts.Add(n.Name);
            parts.Reverse();
            return string.Join('/', parts);
        }
    }

    public static string Join(string directory, string name) => directory.Length == 0 ? name : directory + "/" + name;

    /// <summary>The node a path names, if the kernel knows it, and its parent.</summary>
    public UnionNode? Walk(string path, out UnionNode? parent)
    {
        lock (Gate)
        {
            parent = null;
            var node = Root;
            foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
            {
                parent = node;
                if (!node.Children.TryGetValue(part, out var child))
                    return null;
                node = child;
            }
            return node;
        }
    }

    /// <summary>Every node owned by a peer or with it as a layer, for when its state is unknown.</summary>
    public List<UnionNode> OfPeer(string peer)
    {
        lock (Gate)
            return [.. _nodes.Values.Where(n => n.Owner == peer || n.RemoteLayers.Contains(peer))];
    }

    /// <summary>The nodes served by one node of the local file system (several, for hard links).</summary>
    public List<UnionNode> WithLocalId(ulong localId)
    {
        lock (Gate)
            return [.. _nodes.Values.Where(n => n.LocalId == localId)];
    }

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// A name as a key. Names that are not UTF-8 (possible in an export, never on the wire)
    /// get a form no real name has, so two of them never share a node.
    /// </summary>
    public static string Decode(ReadOnlySpan<byte> name)
    {
        try
        {
            return StrictUtf8.GetString(name);
        }
        catch (DecoderFallbackException)
        {
            return "\0" + Convert.ToHexString(name);
        }
    }

    /// <summary>Whether a key stands for a name that peers can be asked about.</summary>
    public static bool IsPortable(string key) => key.Length == 0 || key[0] != '\0';
}
