using Picojump.Fs.Cluster;
using Picojump.Fs.Fuse;
using Picojump.Fs.Native;
using Picojump.Fs.Union.Internal;
using Picojump.Protos.Peer;

namespace Picojump.Fs.Union;

// Entries: new objects are made on this host (creating the parent path in the local export
// when only peers had it); removal and rename go to the owner; a rename or link between
// hosts is EXDEV, which makes mv copy.
public sealed partial class UnionFileSystem
{
    public Errno MkDir(in FuseInHeader header, in FuseMkdirIn input, FuseName name, out FuseEntryOut entry)
    {
        entry = default;
        var error = LocalParent(in header, out var parent);
        if (error == Errno.OK)
            error = _local.MkDir(At(in header, parent!.LocalId), in input, name, out entry);
        return Made(error, parent, name, ref entry);
    }

    public Errno MkNod(in FuseInHeader header, in FuseMknodIn input, FuseName name, out FuseEntryOut entry)
    {
        entry = default;
        var error = LocalParent(in header, out var parent);
        if (error == Errno.OK)
            error = _local.MkNod(At(in header, parent!.LocalId), in input, name, out entry);
        return Made(error, parent, name, ref entry);
    }

    public Errno Symlink(in FuseInHeader header, FuseName name, FuseName target, out FuseEntryOut entry)
    {
        entry = default;
        var error = LocalParent(in header, out var parent);
        if (error == Errno.OK)
            error = _local.Symlink(At(in header, parent!.LocalId), name, target, out entry);
        return Made(error, parent, name, ref entry);
    }

    public Errno Create(in FuseInHeader header, in FuseCreateIn input, FuseName name, out FuseEntryOut entry, out FuseOpenOut output)
    {
        entry = default;
        output = default;
        var error = LocalParent(in header, out var parent);
        if (error == Errno.OK)
            error = _local.Create(At(in header, parent!.LocalId), in input, name, out entry, out output);
        return Made(error, parent, name, ref entry);
    }

    /// <summary>The directory a new object goes in, given a local layer if only peers had it.</summary>
    private Errno LocalParent(in FuseInHeader header, out UnionNode? parent)
    {
        parent = Node(header.NodeId);
        if (parent == null)
            return Errno.ESTALE;
        return parent.IsDirectory ? EnsureLocal(in header, parent) : Errno.ENOTDIR;
    }

    /// <summary>Turns the local file system's entry for a new object into the union's.</summary>
    private Errno Made(Errno error, UnionNode? parent, FuseName name, ref FuseEntryOut entry)
    {
        if (error != Errno.OK)
            return error;
        var local = entry;
        var node = Resolve(parent!, NodeTable.Decode(name.Bytes), [new Candidate(_options.HostName, (local.Attr.Mode & Stat.S_IFMT) == Stat.S_IFDIR, local, null)], NoneUnanswered, out var attr);
        FillEntry(node, in attr, out entry);
        Changed(node, local.Attr.Ino, entry: true);
        return Errno.OK;
    }

    /// <summary>Gives a directory that only peers have a local layer: the same path in the local export.</summary>
    private Errno EnsureLocal(in FuseInHeader header, UnionNode directory)
    {
        if (directory.LocalId != 0)
            return Errno.OK;
        var parent = directory.Parent!;
        var error = EnsureLocal(in header, parent);
        if (error != Errno.OK)
            return error;
        var name = NameBytes(directory.Name);
        var mode = new FuseMkdirIn { Mode = 0x1ED }; // 0755, as mkdir -p would
        if (RemoteStat(directory, out var remote) == Errno.OK)
            mode.Mode = remote!.Mode & 0xFFF;
        var owner = At(in header, parent.LocalId);
        error = _local.MkDir(in owner, in mode, new FuseName(name.AsSpan(0, name.Length - 1)), out var made);
        if (error == Errno.EEXIST)
            error = _local.Lookup(in owner, new FuseName(name.AsSpan(0, name.Length - 1)), out made);
        if (error != Errno.OK)
            return error;
        lock (_nodes.Gate)
        {
            if (directory.LocalId == 0)
            {
                directory.LocalId = made.NodeId;
                return Errno.OK;
            }
        }
        _local.Forget(made.NodeId, 1);
        return Errno.OK;
    }

    /// <summary>A name as the NUL-terminated bytes that <see cref="FuseName"/> needs.</summary>
    private static byte[] NameBytes(string name)
    {
        var bytes = new byte[System.Text.Encoding.UTF8.GetByteCount(name) + 1];
        System.Text.Encoding.UTF8.GetBytes(name, bytes);
        return bytes;
    }

    public Errno Link(in FuseInHeader header, ulong oldNodeId, FuseName newName, out FuseEntryOut entry)
    {
        entry = default;
        var parent = Node(header.NodeId);
        var existing = Node(oldNodeId);
        if (parent == null || existing == null)
            return Errno.ESTALE;
        var key = NodeTable.Decode(newName.Bytes);
        if (existing.LocalId != 0)
        {
            if (parent.LocalId == 0)
                return Errno.EXDEV;
            var error = _local.Link(At(in header, parent.LocalId), existing.LocalId, newName, out var local);
            if (error != Errno.OK)
                return error;
            var node = Resolve(parent, key, [new Candidate(_options.HostName, false, local, null)], NoneUnanswered, out var attr);
            FillEntry(node, in attr, out entry);
            Changed(node, local.Attr.Ino, entry: true);
            return Errno.OK;
        }
        if (!parent.RemoteLayers.Contains(existing.Owner) || PeerOf(existing.Owner) is not { } peer)
            return Errno.EXDEV;
        var path = NodeTable.Join(_nodes.PathOf(parent), key);
        var request = new LinkRequest { ExistingPath = _nodes.PathOf(existing), NewPath = path };
        return RemoteEntry(peer, parent, key, (c, o) => c.Link(request, o), out entry);
    }

    /// <summary>Runs a peer call that makes an entry, and remembers its node.</summary>
    private Errno RemoteEntry(RemotePeer peer, UnionNode parent, string key, Func<Peer.PeerClient, Grpc.Core.CallOptions, EntryReply> call, out FuseEntryOut entry)
    {
        entry = default;
        var error = peer.Call(call, out var reply, out _);
        if (error != Errno.OK)
            return error;
        if (reply!.Errno != 0)
            return FromWire(reply.Errno);
        var isDirectory = (reply.Attr.Mode & Stat.S_IFMT) == Stat.S_IFDIR;
        var node = Resolve(parent, key, [new Candidate(peer.Name, isDirectory, default, reply.Attr)], NoneUnanswered, out var attr);
        FillEntry(node, in attr, out entry);
        return Errno.OK;
    }

    public Errno Unlink(in FuseInHeader header, FuseName name) => Remove(in header, name, directory: false);

    public Errno RmDir(in FuseInHeader header, FuseName name) => Remove(in header, name, directory: true);

    /// <summary>Unlink at the owner; rmdir on every host that has the directory (peers first, this host last).</summary>
    private Errno Remove(in FuseInHeader header, FuseName name, bool directory)
    {
        var parent = Node(header.NodeId);
        if (parent == null)
            return Errno.ESTALE;
        var error = LookupChild(in header, parent, name, out _, out var node);
        if (error != Errno.OK)
            return error;
        Forget(node!.Id, 1); // the lookup above was ours, not the kernel's
        var path = _nodes.PathOf(node);
        var hosts = directory ? node.RemoteLayers : node.LocalId == 0 ? [node.Owner] : [];
        foreach (var host in hosts)
        {
            if (PeerOf(host) is not { } peer)
                return Errno.EIO;
            error = peer.Call((c, o) => directory ? c.RmDir(new PathRequest { Path = path }, o) : c.Unlink(new PathRequest { Path = path }, o), out var reply, out _);
            if (error == Errno.OK && reply!.Errno != 0)
                error = FromWire(reply.Errno);
            if (error != Errno.OK)
                return error;
        }
        if (node.LocalId != 0)
        {
            var local = At(in header, parent.LocalId);
            error = directory ? _local.RmDir(in local, name) : _local.Unlink(in local, name);
            if (error != Errno.OK)
                return error;
            Changed(node, 0, entry: true);
        }
        _nodes.Detach(parent, node.Name);
        return Errno.OK;
    }

    public Errno Rename(in FuseInHeader header, FuseName oldName, ulong newDir, FuseName newName, uint flags)
    {
        var parent = Node(header.NodeId);
        var newParent = Node(newDir);
        if (parent == null || newParent == null)
            return Errno.ESTALE;
        var error = LookupChild(in header, parent, oldName, out _, out var node);
        if (error != Errno.OK)
            return error;
        Forget(node!.Id, 1);
        var newKey = NodeTable.Decode(newName.Bytes);
        UnionNode? target = null;
        error = LookupChild(At(in header, newDir), newParent, newName, out _, out target);
        if (target != null)
            Forget(target.Id, 1);
        else if (error != Errno.ENOENT)
            return error;

        // One host must hold the object, the new parent and whatever the new name replaces.
        var host = HostOf(node);
        if (host == null || !HasLayer(newParent, host) || (target != null && HostOf(target) != host))
            return Errno.EXDEV;
        if (IsLocalHost(host))
        {
            error = _local.Rename(At(in header, parent.LocalId), oldName, newParent.LocalId, newName, flags);
            if (error != Errno.OK)
                return error;
            Changed(node, 0, entry: true);
        }
        else
        {
            var request = new RenameRequest { OldPath = _nodes.PathOf(node), NewPath = NodeTable.Join(_nodes.PathOf(newParent), newKey), Flags = flags };
            error = PeerOf(host)!.Call((c, o) => c.Rename(request, o), out var reply, out _);
            if (error == Errno.OK && reply!.Errno != 0)
                error = FromWire(reply.Errno);
            if (error != Errno.OK)
                return error;
        }
        if ((flags & RenameExchange) != 0 && target != null)
        {
            _nodes.Detach(parent, node.Name);
            _nodes.Detach(newParent, newKey);
        }
        else
        {
            _nodes.Move(parent, node.Name, newParent, newKey);
        }
        return Errno.OK;
    }

    private const uint RenameExchange = 2;

    /// <summary>The one host that holds a node, or null for a directory merged from several.</summary>
    private string? HostOf(UnionNode node)
    {
        if (!node.IsDirectory)
            return node.Owner;
        var layers = node.RemoteLayers.Length + (node.LocalId != 0 ? 1 : 0);
        return layers != 1 ? null : node.LocalId != 0 ? _options.HostName : node.RemoteLayers[0];
    }

    private bool HasLayer(UnionNode directory, string host)
        => IsLocalHost(host) ? directory.LocalId != 0 : directory.RemoteLayers.Contains(host);

    public Errno ReadLink(in FuseInHeader header, Span<byte> target, out int length)
    {
        length = 0;
        var node = Node(header.NodeId);
        if (node == null)
            return Errno.ESTALE;
        if (node.LocalId != 0)
            return _local.ReadLink(At(in header, node.LocalId), target, out length);
        if (PeerOf(node.Owner) is not { } peer)
            return Errno.ESTALE;
        var error = peer.Call((c, o) => c.ReadLink(new PathRequest { Path = _nodes.PathOf(node) }, o), out var reply, out _);
        if (error != Errno.OK)
            return error;
        if (reply!.Errno != 0)
            return FromWire(reply.Errno);
        if (reply.Target.Length > target.Length)
            return Errno.ENAMETOOLONG;
        reply.Target.Span.CopyTo(target);
        length = reply.Target.Length;
        return Errno.OK;
    }
}
