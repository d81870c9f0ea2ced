using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Unicode;
using Google.Protobuf;
using Grpc.Core;
using Picojump.Fs.Cluster.Internal;
using Picojump.Fs.Native;
using Picojump.Protos.Peer;

namespace Picojump.Fs.Cluster;

/// <summary>
/// The owner side of the peer API: serves one export directory to other hosts. Every path is
/// confined by <see cref="ExportRoot"/>; file system errors go back as errno in the reply.
/// Split by concern: names and directories here, entries, attributes, data, locks.
/// </summary>
public sealed partial class ExportPeerService : Peer.PeerBase, IDisposable
{
    public const uint ProtocolVersion = 1;
    private const int DirEntriesPerChunk = 256;

    /// <summary>A heartbeat probe's padding: zeros, never written, so replies may wrap it.</summary>
    private static readonly byte[] ProbePadding = new byte[MaxChunk];

    private readonly ExportRoot _root;
    private readonly string _hostName;
    private readonly InvalidationHub _invalidations = new();
    private readonly RemoteLockFiles _locks = new();
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>Random per start: a peer that sees it change drops its handles and caches.</summary>
    public ulong Incarnation { get; } = BinaryPrimitives.ReadUInt64LittleEndian(RandomNumberGenerator.GetBytes(8));

    /// <summary>What this host keeps for others, for the heartbeat: its block cache's and page store's bytes.</summary>
    public Func<(long CacheBytes, long PageStoreBytes)>? Usage { get; set; }

    /// <summary>This host's 1-minute load average, from /proc/loadavg ("0.52 0.58 0.59 1/467 12345").</summary>
    public static double LoadAverage()
        => double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);

    public ExportPeerService(string exportDirectory, string hostName)
    {
        _root = ExportRoot.Open(exportDirectory);
        _hostName = hostName;
    }

    public void Dispose()
    {
        _stopping.Dispose();
        _locks.Dispose();
        _root.Dispose();
    }

    /// <summary>Announces a change that a local program made through /pj, for the peers that cache it.</summary>
    public void PublishLocalChange(string path, ulong ino, bool entry) => _invalidations.Publish(path, ino, entry);

    public override Task<HelloReply> Hello(HelloRequest request, ServerCallContext context)
        => Task.FromResult(new HelloReply { Host = _hostName, ProtocolVersion = ProtocolVersion, Incarnation = Incarnation });

    public override Task<HeartbeatReply> Heartbeat(HeartbeatRequest request, ServerCallContext context)
    {
        var (cache, pages) = Usage?.Invoke() ?? (0, 0);
        var reply = new HeartbeatReply
        {
            Incarnation = Incarnation,
            LoadAverage = LoadAverage(),
            CacheBytes = cache,
            PageStoreBytes = pages,
        };
        if (request.ProbeBytes > 0)
            reply.Probe = UnsafeByteOperations.UnsafeWrap(ProbePadding.AsMemory(0, (int)Math.Min(request.ProbeBytes, MaxChunk)));
        return Task.FromResult(reply);
    }

    public override Task<EntryReply> Lookup(PathRequest request, ServerCallContext context) => Task.FromResult(Lookup(request.Path));

    private EntryReply Lookup(string path)
    {
        Stat st = default;
        if (path.Length == 0)
        {
            var problem = ExportRoot.Check(path);
            return Attrs.Entry(problem == Errno.OK ? Attrs.StatFd(_root.Fd, out st) : problem, st);
        }
        var errno = _root.OpenParent(path, out var parent);
        using (parent)
            return Attrs.Entry(errno == Errno.OK ? Attrs.StatAt(parent.Fd, parent.Name, out st) : errno, st);
    }

    public override unsafe Task<ReadLinkReply> ReadLink(PathRequest request, ServerCallContext context)
    {
        var errno = _root.OpenParent(request.Path, out var parent);
        using (parent)
        {
            if (errno != Errno.OK)
                return Task.FromResult(new ReadLinkReply { Errno = (int)errno });
            var buffer = new byte[4096];
            nint n;
            fixed (byte* name = parent.Name)
            fixed (byte* b = buffer)
                n = LibC.readlinkat(parent.Fd, name, b, (nuint)buffer.Length);
            return Task.FromResult(n < 0
                ? new ReadLinkReply { Errno = (int)LibC.LastErrno }
                : new ReadLinkReply { Target = ByteString.CopyFrom(buffer, 0, (int)n) });
        }
    }

    public override unsafe Task<StatFsReply> StatFs(PathRequest request, ServerCallContext context)
    {
        var errno = _root.Open(request.Path, OpenFlags.O_PATH, out var fd);
        if (errno != Errno.OK)
            return Task.FromResult(new StatFsReply { Errno = (int)errno });
        StatVfs vfs;
        var result = LibC.fstatvfs(fd, &vfs);
        errno = LibC.LastErrno;
        LibC.close(fd);
        return Task.FromResult(result != 0 ? new StatFsReply { Errno = (int)errno } : new StatFsReply
        {
            Blocks = vfs.Blocks, Bfree = vfs.BlocksFree, Bavail = vfs.BlocksAvailable,
            Files = vfs.Files, Ffree = vfs.FilesFree, Bsize = (uint)vfs.BlockSize, Namelen = (uint)vfs.NameMax,
        });
    }

    public override async Task ReadDir(PathRequest request, IServerStreamWriter<DirChunk> responseStream, ServerCallContext context)
    {
        var errno = _root.Open(request.Path, OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY, out var fd);
        if (errno != Errno.OK)
        {
            await responseStream.WriteAsync(new DirChunk { Errno = (int)errno }, context.CancellationToken);
            return;
        }
        try
        {
            var records = new byte[64 * 1024];
            while (true)
            {
                var chunk = ReadDirChunk(fd, records);
                if (chunk.Entries.Count > 0 || chunk.Errno != 0)
                    await responseStream.WriteAsync(chunk, context.CancellationToken);
                if (chunk.Entries.Count == 0 || chunk.Errno != 0)
                    return;
            }
        }
        finally
        {
            LibC.close(fd);
        }
    }

    /// <summary>The next getdents64 batch with attributes, without "." and ".."; empty at the end.</summary>
    private static unsafe DirChunk ReadDirChunk(int fd, byte[] records)
    {
        var chunk = new DirChunk();
        while (chunk.Entries.Count < DirEntriesPerChunk)
        {
            nint n;
            fixed (byte* r = records)
                n = LibC.getdents64(fd, r, records.Length);
            if (n < 0)
                return new DirChunk { Errno = (int)LibC.LastErrno };
            if (n == 0)
                return chunk;
            // struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
            for (var position = 0; position < n;)
            {
                var record = records.AsSpan(position, (int)n - position);
                var length = BinaryPrimitives.ReadUInt16LittleEndian(record[16..]);
                var name = record[19..length];
                name = name[..(name.IndexOf((byte)0) + 1)];
                position += length;
                if (name.SequenceEqual(".\0"u8) || name.SequenceEqual("..\0"u8))
                    continue;
                // Left out: an entry removed since getdents64, and a name that is not UTF-8,
                // which a peer could not name in a request (paths are proto strings).
                if (Utf8.IsValid(name[..^1]) && Attrs.StatAt(fd, name, out var st) == Errno.OK)
                    chunk.Entries.Add(new DirEntry { Name = Encoding.UTF8.GetString(name[..^1]), Attr = Attrs.From(st) });
            }
        }
        return chunk;
    }

    /// <summary>The calling host: the common name of its client certificate, which the cluster CA issued to it.</summary>
    private static string CallerHost(ServerCallContext context) => context.AuthContext.PeerIdentity.FirstOrDefault()?.Value ?? "";

    /// <summary>Ends every invalidation stream: the daemon stops.</summary>
    public void EndSubscriptions() => _stopping.Cancel();

    public override async Task Invalidations(InvalidationsRequest request, IServerStreamWriter<Invalidation> responseStream, ServerCallContext context)
    {
        var channel = _invalidations.Subscribe(CallerHost(context));
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, _stopping.Token);
        try
        {
            await foreach (var invalidation in channel.Reader.ReadAllAsync(ended.Token))
                await responseStream.WriteAsync(invalidation, ended.Token);
        }
        catch (OperationCanceledException) when (ended.IsCancellationRequested)
        {
            // The peer went away or the daemon stops: the subscription ends with the call.
        }
        finally
        {
            _invalidations.Unsubscribe(channel);
        }
    }
}
