using System.Buffers;
using Google.Protobuf;
using Grpc.Core;
using Picojump.Fs.Cluster.Internal;
using Picojump.Fs.Native;
using Picojump.Protos.Peer;

namespace Picojump.Fs.Cluster;

// Data: reads stream the file in chunks of at most 1 MiB; writes are in the file before the reply.
public sealed partial class ExportPeerService
{
    public const int MaxChunk = 1 << 20;

    public override async Task Read(ReadRequest request, IServerStreamWriter<ReadChunk> responseStream, ServerCallContext context)
    {
        if (request.Offset > long.MaxValue)
        {
            await responseStream.WriteAsync(new ReadChunk { Errno = (int)Errno.EINVAL }, context.CancellationToken);
            return;
        }
        var errno = OpenFile(request.Path, request.Ino, OpenFlags.O_RDONLY, out var fd, out var st);
        if (errno != Errno.OK)
        {
            await responseStream.WriteAsync(new ReadChunk { Errno = (int)errno }, context.CancellationToken);
            return;
        }
        _invalidations.Read(st.Ino, CallerHost(context));
        // The whole range is wanted: let the disk read it ahead of the chunks, not one chunk at a time.
        LibC.posix_fadvise(fd, (long)request.Offset, (long)Math.Min(request.Length, long.MaxValue), LibC.POSIX_FADV_WILLNEED);
        try
        {
            var version = Attrs.From(st).CtimeNs;
            var offset = (long)request.Offset;
            var remaining = request.Length;
            while (true)
            {
                // Never past the largest file offset: pread would fail there instead of reading short.
                var want = (int)Math.Min(Math.Min(remaining, MaxChunk), (ulong)(long.MaxValue - offset));
                // Rented per chunk and returned only once WriteAsync has serialized the message,
                // so the wrapped bytes are never overwritten while gRPC still holds them.
                var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(want, 1));
                try
                {
                    var n = want == 0 ? 0 : PRead(fd, buffer.AsSpan(0, want), offset);
                    var chunk = n < 0
                        ? new ReadChunk { Errno = (int)LibC.LastErrno }
                        : new ReadChunk { Offset = (ulong)offset, Data = UnsafeByteOperations.UnsafeWrap(buffer.AsMemory(0, (int)n)), CtimeNs = version };
                    await responseStream.WriteAsync(chunk, context.CancellationToken);
                    // A short read is the end of the file; an empty chunk already said so.
                    if (n < want || n <= 0)
                        return;
                    offset += n;
                    remaining -= (ulong)n;
                    if (remaining == 0)
                        return;
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        finally
        {
            LibC.close(fd);
        }
    }

    public override unsafe Task<WriteReply> Write(WriteRequest request, ServerCallContext context)
    {
        var data = request.Data.Span;
        if (request.Offset > long.MaxValue || (ulong)data.Length > long.MaxValue - request.Offset)
            return Task.FromResult(new WriteReply { Errno = (int)Errno.EFBIG });
        var errno = OpenFile(request.Path, request.Ino, OpenFlags.O_WRONLY | (request.Append ? OpenFlags.O_APPEND : 0), out var fd, out var st);
        if (errno != Errno.OK)
            return Task.FromResult(new WriteReply { Errno = (int)errno });
        try
        {
            var written = 0;
            while (written < data.Length)
            {
                nint n;
                fixed (byte* p = data[written..])
                    n = LibC.pwrite(fd, p, (nuint)(data.Length - written), (long)request.Offset + written);
                if (n < 0)
                {
                    if (written > 0)
                        break;
                    return Task.FromResult(new WriteReply { Errno = (int)LibC.LastErrno });
                }
                written += (int)n;
            }
            if (request.Sync && LibC.fsync(fd) != 0)
                return Task.FromResult(new WriteReply { Errno = (int)LibC.LastErrno });
            errno = Attrs.StatFd(fd, out st);
            _invalidations.Publish(request.Path, st.Ino, entry: false);
            return Task.FromResult(new WriteReply { Errno = (int)errno, Written = (uint)written, Attr = errno == Errno.OK ? Attrs.From(st) : null });
        }
        finally
        {
            LibC.close(fd);
        }
    }

    public override Task<ErrnoReply> Fsync(FsyncRequest request, ServerCallContext context)
    {
        var errno = OpenFile(request.Path, request.Ino, OpenFlags.O_RDONLY, out var fd, out _);
        if (errno == Errno.OK)
        {
            var result = request.DataOnly ? LibC.fdatasync(fd) : LibC.fsync(fd);
            errno = result == 0 ? Errno.OK : LibC.LastErrno;
            LibC.close(fd);
        }
        return Task.FromResult(Attrs.Reply(errno));
    }

    /// <summary>Opens the regular file at <paramref name="path"/>, which must still be inode <paramref name="ino"/> (0: any).</summary>
    private unsafe Errno OpenFile(string path, ulong ino, int flags, out int fd, out Stat st)
    {
        st = default;
        fd = -1;
        var errno = _root.OpenParent(path, out var parent);
        using (parent)
        {
            if (errno != Errno.OK)
                return errno;
            fixed (byte* name = parent.Name)
                fd = LibC.openat(parent.Fd, name, flags | OpenExisting, 0);
            if (fd < 0)
                return LibC.LastErrno;
        }
        errno = Attrs.StatFd(fd, out st);
        if (errno == Errno.OK && ino != 0 && st.Ino != ino)
            errno = Errno.ESTALE;
        else if (errno == Errno.OK && !st.IsRegular)
            errno = st.IsDirectory ? Errno.EISDIR : Errno.EINVAL;
        if (errno != Errno.OK)
        {
            LibC.close(fd);
            fd = -1;
        }
        return errno;
    }

    private static unsafe nint PRead(int fd, Span<byte> buffer, long offset)
    {
        fixed (byte* p = buffer)
            return LibC.pread(fd, p, (nuint)buffer.Length, offset);
    }
}
