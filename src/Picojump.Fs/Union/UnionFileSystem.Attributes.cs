using System.Text;
using Picojump.Fs.Fuse;
using Picojump.Fs.Native;
using Picojump.Fs.Union.Internal;
using Picojump.Protos.Peer;

namespace Picojump.Fs.Union;

// Attributes and extended attributes. user.picojump.owner names the host that owns a node
// (for a merged directory, every host that has it, comma-separated); it is read-only and
// not listed.
public sealed partial class UnionFileSystem
{
    public const string OwnerAttribute = "user.picojump.owner";
    private static readonly byte[] OwnerAttributeName = Encoding.UTF8.GetBytes(OwnerAttribute);

    public Errno SetAttr(in FuseInHeader header, in FuseSetAttrIn input, out FuseAttrOut attr)
    {
        attr = default;
        var node = Node(header.NodeId);
        if (node == null)
            return Errno.ESTALE;
        if (node.LocalId != 0)
        {
            var local = input;
            if ((local.Valid & FuseSetAttrValid.Fh) != 0 && IsRemote(local.Fh))
                local.Valid &= ~FuseSetAttrValid.Fh;
            var error = _local.SetAttr(At(in header, node.LocalId), in local, out attr);
            if (error == Errno.OK)
                Changed(node, attr.Attr.Ino, entry: false);
            attr.Attr = LocalShown(attr.Attr);
            return error;
        }
        var host = node.IsDirectory ? node.RemoteLayers.FirstOrDefault() : node.Owner;
        if (host == null || PeerOf(host) is not { } peer)
            return Errno.ESTALE;
        var request = new SetAttrRequest { Path = _nodes.PathOf(node), Caller = Caller(in header) };
        var valid = input.Valid;
        if ((valid & FuseSetAttrValid.Mode) != 0)
            request.Mode = input.Mode & 0xFFF;
        if ((valid & FuseSetAttrValid.Uid) != 0)
            request.Uid = input.Uid;
        if ((valid & FuseSetAttrValid.Gid) != 0)
            request.Gid = input.Gid;
        if ((valid & FuseSetAttrValid.Size) != 0)
            request.Size = input.Size;
        if ((valid & FuseSetAttrValid.AtimeNow) != 0)
            request.AtimeNow = true;
        else if ((valid & FuseSetAttrValid.Atime) != 0)
            request.AtimeNs = (long)input.Atime * 1_000_000_000 + input.AtimeNsec;
        if ((valid & FuseSetAttrValid.MtimeNow) != 0)
            request.MtimeNow = true;
        else if ((valid & FuseSetAttrValid.Mtime) != 0)
            request.MtimeNs = (long)input.Mtime * 1_000_000_000 + input.MtimeNsec;
        var failure = peer.Call((c, o) => c.SetAttr(request, o), out var reply, out _);
        if (failure != Errno.OK)
            return failure;
        if (reply!.Errno != 0)
            return FromWire(reply.Errno);
        node.RemoteVersion = reply.Attr.CtimeNs;
        FillAttr(ToFuseAttr(host, reply.Attr), out attr);
        return Errno.OK;
    }

    public Errno GetXattr(in FuseInHeader header, FuseName name, Span<byte> value, out int length)
    {
        length = 0;
        var node = Node(header.NodeId);
        if (node == null)
            return Errno.ESTALE;
        if (name.Bytes.SequenceEqual(OwnerAttributeName))
        {
            var owner = Encoding.UTF8.GetBytes(OwnerOf(node));
            length = owner.Length;
            if (value.Length == 0)
                return Errno.OK;
            if (value.Length < owner.Length)
                return Errno.ERANGE;
            owner.CopyTo(value);
            return Errno.OK;
        }
        return node.LocalId != 0 ? _local.GetXattr(At(in header, node.LocalId), name, value, out length) : Errno.ENODATA;
    }

    /// <summary>The owner attribute's value: the owning host, or every host of a directory.</summary>
    private string OwnerOf(UnionNode node)
    {
        if (!node.IsDirectory)
            return node.Owner;
        var hosts = node.LocalId != 0 ? node.RemoteLayers.Append(_options.HostName) : node.RemoteLayers;
        return string.Join(',', hosts.Order(StringComparer.Ordinal));
    }

    /// <summary>
    /// The owner attribute is not listed: it is virtual, and tools that copy every listed
    /// attribute (cp -a, tar --xattrs) would try to set it on the copy.
    /// </summary>
    public Errno ListXattr(in FuseInHeader header, Span<byte> list, out int length)
    {
        length = 0;
        var node = Node(header.NodeId);
        if (node == null)
            return Errno.ESTALE;
        return node.LocalId != 0 ? _local.ListXattr(At(in header, node.LocalId), list, out length) : Errno.OK;
    }

    public Errno SetXattr(in FuseInHeader header, in FuseSetXattrIn input, FuseName name, ReadOnlySpan<byte> value)
    {
        var node = Node(header.NodeId);
        if (node == null)
            return Errno.ESTALE;
        if (name.Bytes.SequenceEqual(OwnerAttributeName))
            return Errno.EPERM;
        return node.LocalId != 0 ? _local.SetXattr(At(in header, node.LocalId), in input, name, value) : Errno.EOPNOTSUPP;
    }

    public Errno RemoveXattr(in FuseInHeader header, FuseName name)
    {
        var node = Node(header.NodeId);
        if (node == null)
            return Errno.ESTALE;
        if (name.Bytes.SequenceEqual(OwnerAttributeName))
            return Errno.EPERM;
        return node.LocalId != 0 ? _local.RemoveXattr(At(in header, node.LocalId), name) : Errno.EOPNOTSUPP;
    }
}
