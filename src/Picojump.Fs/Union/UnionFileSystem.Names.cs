using Picojump.Fs.Cluster;
using Picojump.Fs.Fuse;
using Picojump.Fs.Native;
using Picojump.Fs.Union.Internal;
using Picojump.Protos.Peer;

namespace Picojump.Fs.Union;

// Names: lookup asks every host that has the parent directory, then applies the ownership
// rule; getattr and forget follow the node's owner.
public sealed partial class UnionFileSystem
{
    private const int NameMax = 255;

    /// <summary>For entries this host just made (or a peer just made for it): nobody else was asked.</summary>
    private static readonly IReadOnlySet<string> NoneUnanswered = new HashSet<string>();

    /// <summary>What one host holds under a name: the local lookup (a reference we hold) or a peer's attributes.</summary>
    private readonly record struct Candidate(string Host, bool IsDirectory, FuseEntryOut Local, Attr? Remote)
    {
        public bool IsLocal => Remote == null;
    }

    public Errno Lookup(in FuseInHeader header, FuseName name, out FuseEntryOut entry)
    {
        entry = default;
        var parent = Node(header.NodeId);
        if (parent == null)
            return Errno.ESTALE;
        if (name.Length == 0 || name.IsDotOrDotDot || name.Bytes.Contains((byte)'/'))
            return Errno.EINVAL;
        if (name.Length > NameMax)
            return Errno.ENAMETOOLONG;
        return LookupChild(in header, parent, name, out entry, out _);
    }

    private Errno LookupChild(in FuseInHeader header, UnionNode parent, FuseName name, out FuseEntryOut entry, out UnionNode? node)
    {
        entry = default;
        node = null;
        var key = NodeTable.Decode(name.Bytes);
        var candidates = new List<Candidate>(1 + parent.RemoteLayers.Length);
        var localError = Errno.ENOENT;
        if (parent.LocalId != 0)
        {
            localError = _local.Lookup(At(in header, parent.LocalId), name, out var local);
            if (localError == Errno.OK)
                candidates.Add(new Candidate(_options.HostName, (local.Attr.Mode & Stat.S_IFMT) == Stat.S_IFDIR, local, null));
        }
        var unanswered = new HashSet<string>(StringComparer.Ordinal);
        var remoteError = AskPeers(parent, key, candidates, unanswered);
        if (candidates.Count == 0)
            return localError is Errno.OK or Errno.ENOENT ? remoteError : localError;
        node = Resolve(parent, key, candidates, unanswered, out var attr);
        FillEntry(node, in attr, out entry);
        return Errno.OK;
    }

    /// <summary>
    /// Looks the name up on every peer that has the parent. When no host has it, the answer
    /// is ENOENT only if every such peer answered: a name on a peer that is down must not
    /// look absent, or a program would create it here and the copy would hide the real one.
    /// The peers that gave no answer go to <paramref name="unanswered"/>.
    /// </summary>
    private Errno AskPeers(UnionNode parent, string key, List<Candidate> candidates, HashSet<string> unanswered)
    {
        var layers = parent.RemoteLayers;
        if (layers.Length == 0 || _peers == null || !NodeTable.IsPortable(key))
            return Errno.ENOENT;
        var path = NodeTable.Join(_nodes.PathOf(parent), key);
        var calls = new List<(RemotePeer Peer, Task<EntryReply> Reply)>(layers.Length);
        var error = Errno.ENOENT;
        foreach (var host in layers)
        {
            if (PeerOf(host) is { Reachable: true } peer)
                calls.Add((peer, peer.Client.LookupAsync(new PathRequest { Path = path }, peer.Options()).ResponseAsync));
            else
            {
                error = Errno.EIO; // known to be down: fail at once rather than wait out the bound
                unanswered.Add(host);
            }
        }
        foreach (var (peer, reply) in calls)
        {
            try
            {
                var result = reply.GetAwaiter().GetResult();
                if (result.Errno == 0)
                    candidates.Add(new Candidate(peer.Name, (result.Attr.Mode & Stat.S_IFMT) == Stat.S_IFDIR, default, result.Attr));
            }
            catch (Grpc.Core.RpcException ex)
            {
                // The name may live on that peer: say so rather than claim it does not exist.
                error = peer.Failed(ex);
                unanswered.Add(peer.Name);
            }
        }
        return candidates.Count > 0 ? Errno.OK : error;
    }

    /// <summary>
    /// The ownership rule: if any host has a directory here, it is a directory merged from
    /// those hosts; otherwise the host whose name sorts first owns it. Every local reference
    /// not kept by the node is given back. A directory keeps the layers of the peers in
    /// <paramref name="unanswered"/> (down, cut off, slow): unknown is not absent, and a layer
    /// dropped here would make every name on that peer ENOENT until the next lookup.
    /// </summary>
    private UnionNode Resolve(UnionNode parent, string key, List<Candidate> candidates, IReadOnlySet<string> unanswered, out FuseAttr attr)
    {
        var directories = candidates.Where(c => c.IsDirectory).ToList();
        var winners = directories.Count > 0 ? directories : [candidates.MinBy(c => c.Host, StringComparer.Ordinal)];
        var local = winners.FirstOrDefault(c => c.IsLocal);
        var shown = local.Host != null ? local : winners.MinBy(c => c.Host, StringComparer.Ordinal);
        attr = shown.IsLocal ? LocalShown(shown.Local.Attr) : ToFuseAttr(shown.Host, shown.Remote!);
        var released = new List<ulong>(2);
        foreach (var c in candidates)
        {
            if (c.IsLocal && c.Host != local.Host)
                released.Add(c.Local.NodeId);
        }
        (string, ulong)? file = directories.Count > 0 ? null
            : shown.IsLocal ? ("", shown.Local.NodeId) : (shown.Host, shown.Remote!.Ino);
        var node = _nodes.Remember(parent, key, file, n =>
        {
            var localId = local.Host != null ? local.Local.NodeId : 0;
            if (n.LocalId != localId)
            {
                if (n.LocalId != 0)
                    released.Add(n.LocalId);
            }
            else if (localId != 0)
            {
                released.Add(localId); // already held once by the node
            }
            n.LocalId = localId;
            n.IsDirectory = directories.Count > 0;
            n.Owner = shown.Host;
            n.RemoteIno = shown.Remote?.Ino ?? 0;
            if (shown.Remote != null && n.RemoteVersion != shown.Remote.CtimeNs)
                n.RemoteVersion = shown.Remote.CtimeNs;
            n.RemoteLayers = n.IsDirectory
                ? [.. winners.Where(c => !c.IsLocal).Select(c => c.Host)
                    .Union(n.RemoteLayers.Where(unanswered.Contains), StringComparer.Ordinal)
                    .Order(StringComparer.Ordinal)]
                : [];
        });
        foreach (var id in released)
            _local.Forget(id, 1);
        return node;
    }

    public void Forget(ulong nodeId, ulong nlookup)
    {
        var node = _nodes.Forget(nodeId, nlookup);
        if (node is { LocalId: not 0 })
            _local.Forget(node.LocalId, 1);
    }

    public Errno GetAttr(in FuseInHeader header, in FuseGetAttrIn input, out FuseAttrOut attr)
    {
        attr = default;
        var node = Node(header.NodeId);
        if (node == null)
            return Errno.ESTALE;
        if (node.LocalId != 0)
        {
            var local = input;
            if ((local.GetAttrFlags & FuseConstants.GetAttrFh) != 0 && (local.Fh & RemoteHandleBit) != 0)
                local.GetAttrFlags &= ~FuseConstants.GetAttrFh;
            var localError = _local.GetAttr(At(in header, node.LocalId), in local, out attr);
            attr.Attr = LocalShown(attr.Attr);
            return localError;
        }
        var error = RemoteStat(node, out var remote);
        if (error == Errno.OK)
            FillAttr(ToFuseAttr(node.Owner, remote!), out attr);
        return error;
    }

    /// <summary>The owner's attributes of a remote node (the first layer's, for a directory).</summary>
    private Errno RemoteStat(UnionNode node, out Attr? attr)
    {
        attr = null;
        var host = node.IsDirectory ? node.RemoteLayers.FirstOrDefault() ?? node.Owner : node.Owner;
        if (PeerOf(host) is not { } peer)
            return Errno.ESTALE;
        var error = peer.Call((c, o) => c.Lookup(new PathRequest { Path = _nodes.PathOf(node) }, o), out var reply, out _);
        if (error != Errno.OK)
            return error;
        if (reply!.Errno != 0)
            return FromWire(reply.Errno);
        if (!node.IsDirectory && node.RemoteIno != 0 && reply.Attr.Ino != node.RemoteIno)
            return Errno.ESTALE; // the path names another file now: the kernel looks it up again
        attr = reply.Attr;
        node.RemoteVersion = reply.Attr.CtimeNs;
        return Errno.OK;
    }
}
