using Picojump.Fs.Fuse;
using Picojump.Fs.Local.Internal;
using Picojump.Fs.Native;
using Picojump.Fs.Union.Internal;
using Picojump.Protos.Peer;

namespace Picojump.Fs.Union;

// Files: local ones are the local file system's (with passthrough); a remote handle carries
// RemoteHandleBit and is served here (UnionFileSystem.RemoteData.cs for its data).
public sealed partial class UnionFileSystem
{
    private readonly HandleTable<RemoteFileHandle> _remoteFiles = new();

    private static bool IsRemote(ulong fh) => (fh & RemoteHandleBit) != 0;

    private RemoteFileHandle? RemoteFile(ulong fh) => _remoteFiles.Find(fh & ~RemoteHandleBit);

    public Errno Open(in FuseInHeader header, in FuseOpenIn input, out FuseOpenOut output)
    {
        output = default;
        var node = Node(header.NodeId);
        if (node == null)
            return Errno.ESTALE;
        if (node.LocalId != 0)
        {
            var error = _local.Open(At(in header, node.LocalId), in input, out output);
            // Passthrough reads never reach us: a reader is counted at open as reading the whole file.
            var reads = (input.Flags & OpenFlags.O_ACCMODE) != OpenFlags.O_WRONLY;
            if (error == Errno.OK)
                Account(in header, _options.HostName, reads ? _local.PassthroughSize(output.Fh) : 0, 0, TimeSpan.Zero);
            return error;
        }
        return OpenRemote(in header, node, input.Flags, out output);
    }

    private Errno OpenRemote(in FuseInHeader header, UnionNode node, int flags, out FuseOpenOut output)
    {
        output = default;
        if (PeerOf(node.Owner) is not { } peer)
            return Errno.ESTALE;
        Attr? attr;
        Errno error;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        if ((flags & (int)OpenFlags.O_TRUNC) != 0 && (flags & 3) != 0)
        {
            var request = new SetAttrRequest { Path = _nodes.PathOf(node), Caller = Caller(in header), Size = 0 };
            error = peer.Call((c, o) => c.SetAttr(request, o), out var reply, out _);
            if (error == Errno.OK && reply!.Errno != 0)
                error = FromWire(reply.Errno);
            attr = reply?.Attr;
            if (error == Errno.OK)
                Changed(node, attr!.Ino, entry: false);
        }
        else
        {
            // Close-to-open: the attributes (and so the cache version) are the owner's of now.
            error = RemoteStat(node, out attr);
        }
        if (error != Errno.OK)
            return error;
        Account(in header, node.Owner, 0, 0, System.Diagnostics.Stopwatch.GetElapsedTime(started));
        var append = (flags & (int)OpenFlags.O_APPEND) != 0;
        var handle = new RemoteFileHandle(node, peer, attr!.Ino, attr.CtimeNs, attr.Size, append);
        output.Fh = _remoteFiles.Add(handle) | RemoteHandleBit;
        // Through the page cache the kernel cuts a write at a page it does not hold, and the
        // owner would append the halves apart, with another host's line between them. Direct
        // I/O sends each write(2) whole: one append at the owner.
        if (append)
            output.OpenFlags |= FuseOpenOutFlags.DirectIo;
        return Errno.OK;
    }

    private static Caller Caller(in FuseInHeader header) => new() { Uid = header.Uid, Gid = header.Gid };

    public Errno Read(in FuseInHeader header, in FuseReadIn input, Span<byte> buffer, out int length)
    {
        if (!IsRemote(input.Fh))
        {
            var error = _local.Read(in header, in input, buffer, out length);
            if (error == Errno.OK)
                Account(in header, _options.HostName, length, 0, TimeSpan.Zero);
            return error;
        }
        length = 0;
        return RemoteFile(input.Fh) is { } handle ? ReadRemote(in header, handle, (long)input.Offset, buffer[..(int)input.Size], out length) : Errno.EBADF;
    }

    public Errno Write(in FuseInHeader header, in FuseWriteIn input, ReadOnlySpan<byte> data, out uint written)
    {
        if (!IsRemote(input.Fh))
        {
            var error = _local.Write(in header, in input, data, out written);
            if (error == Errno.OK)
                Account(in header, _options.HostName, 0, written, TimeSpan.Zero);
            return error;
        }
        written = 0;
        return RemoteFile(input.Fh) is { } handle ? WriteRemote(in header, handle, (long)input.Offset, data, out written) : Errno.EBADF;
    }

    public Errno Flush(in FuseInHeader header, in FuseFlushIn input)
    {
        // Remote writes reach the owner before they are acknowledged: nothing is left to flush.
        var error = IsRemote(input.Fh) ? Errno.OK : _local.Flush(in header, in input);
        return error == Errno.OK ? ReleaseLocksOnClose(in header, in input) : error;
    }

    public Errno Release(in FuseInHeader header, in FuseReleaseIn input)
    {
        if (!IsRemote(input.Fh))
        {
            // Passthrough writes never reach us: a writer's close is when peers hear of them.
            if ((input.Flags & 3) != 0 && Node(header.NodeId) is { } node)
                Changed(node, 0, entry: false);
            return _local.Release(in header, in input);
        }
        return _remoteFiles.Remove(input.Fh & ~RemoteHandleBit) == null ? Errno.EBADF : Errno.OK;
    }

    public Errno Fsync(in FuseInHeader header, in FuseFsyncIn input)
    {
        if (!IsRemote(input.Fh))
            return _local.Fsync(in header, in input);
        if (RemoteFile(input.Fh) is not { } handle)
            return Errno.EBADF;
        var request = new FsyncRequest { Path = _nodes.PathOf(handle.Node), Ino = handle.Ino, DataOnly = (input.FsyncFlags & 1) != 0 };
        var error = handle.Owner.Call((c, o) => c.Fsync(request, o), out var reply, out _);
        return error != Errno.OK ? error : FromWire(reply!.Errno);
    }

    public Errno Fallocate(in FuseInHeader header, in FuseFallocateIn input)
        => IsRemote(input.Fh) ? Errno.EOPNOTSUPP : _local.Fallocate(in header, in input);

    public Errno Lseek(in FuseInHeader header, in FuseLseekIn input, out long offset)
    {
        offset = 0;
        if (!IsRemote(input.Fh))
            return _local.Lseek(in header, in input, out offset);
        if (RemoteFile(input.Fh) is not { } handle)
            return Errno.EBADF;
        // The peer API knows no holes: a remote file is data from 0 to its size.
        var error = RemoteStat(handle.Node, out var attr);
        if (error != Errno.OK)
            return error;
        const int SeekData = 3;
        if (input.Offset < 0 || (ulong)input.Offset >= attr!.Size)
            return Errno.ENXIO;
        offset = input.Whence == SeekData ? input.Offset : (long)attr.Size;
        return Errno.OK;
    }

    public Errno CopyFileRange(in FuseInHeader header, in FuseCopyFileRangeIn input, out ulong copied)
    {
        copied = 0;
        var target = Node(input.NodeIdOut);
        if (IsRemote(input.FhIn) || IsRemote(input.FhOut) || target == null || target.LocalId == 0)
            return Errno.EOPNOTSUPP; // the kernel then copies through read and write
        var local = input;
        local.NodeIdOut = target.LocalId;
        return _local.CopyFileRange(in header, in local, out copied);
    }

    public Errno StatFs(in FuseInHeader header, out FuseKstatfs stat) => _local.StatFs(At(in header, _nodes.Root.LocalId), out stat);
}
