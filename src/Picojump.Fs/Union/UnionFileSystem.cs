using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Picojump.Fs.Accounting;
using Picojump.Fs.Cache;
using Picojump.Fs.Cluster;
using Picojump.Fs.Fuse;
using Picojump.Fs.Local;
using Picojump.Fs.Native;
using Picojump.Fs.Union.Internal;
using Picojump.Protos.Peer;

namespace Picojump.Fs.Union;

/// <summary>
/// /pj: the union of this host's export (served by <see cref="LocalFileSystem"/>, passthrough
/// and all) and every peer's (over the peer API). A directory present on several hosts shows
/// their merged contents; anything else has one owner, the host whose export holds it. When
/// the same non-directory path exists on several hosts, the host whose name sorts first
/// (ordinal) owns it and the others' copies are hidden; a directory hides files of its name.
/// New objects are made on this host. Split by concern: names, entries, directories, local
/// and remote data, locks, attributes and coherence.
/// </summary>
public sealed partial class UnionFileSystem : IFuseFileSystem, IDisposable
{
    /// <summary>Handles of remote files carry this bit; the local file system's never do.</summary>
    private const ulong RemoteHandleBit = 1UL << 63;

    private readonly LocalFileSystem _local;
    private readonly PeerSet? _peers;
    private readonly BlockCache? _cache;
    private readonly UnionOptions _options;
    private readonly ILogger _logger;
    private readonly NodeTable _nodes;
    private readonly Channel<KernelNotice> _notices = Channel.CreateUnbounded<KernelNotice>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Thread _noticeWorker;
    private FuseConnection? _connection;

    public UnionFileSystem(LocalFileSystem local, PeerSet? peers, BlockCache? cache, UnionOptions options, ILogger logger)
    {
        if (peers != null && cache == null)
            throw new ArgumentException("remote files are read through the block cache: a union with peers needs one", nameof(cache));
        _local = local;
        _peers = peers;
        _cache = cache;
        _options = options;
        _logger = logger;
        _nodes = new NodeTable(NodeTable.RootId, options.HostName, [.. (peers?.Peers ?? []).Select(p => p.Name)]);
        _noticeWorker = new Thread(NoticeLoop) { IsBackground = true, Name = "union-notices" };
        _local.AttributesChanged = OnLocalAttributesChanged;
        if (peers != null)
        {
            peers.InvalidationReceived += OnInvalidation;
            peers.PeerReset += OnPeerReset;
        }
    }

    /// <summary>A change made through this host to a file of its own export, for the peers that cache it.</summary>
    public event Action<string, ulong, bool>? LocalChanged;

    /// <summary>Where every access is counted, per job and owner host (none: not counted).</summary>
    public IAccessRecorder? Accounting { get; init; }

    /// <summary>Nodes the kernel currently holds (for status and tests).</summary>
    public int KnownNodes => _nodes.Count;

    public string HostName => _options.HostName;

    public void Init(FuseConnection connection)
    {
        _connection = connection;
        _local.Init(connection);
        _noticeWorker.Start();
    }

    public void Dispose()
    {
        _notices.Writer.TryComplete();
        if (_noticeWorker.IsAlive)
            _noticeWorker.Join(TimeSpan.FromSeconds(5));
        if (_peers != null)
        {
            _peers.InvalidationReceived -= OnInvalidation;
            _peers.PeerReset -= OnPeerReset;
        }
        _local.Dispose();
    }

    private void Account(in FuseInHeader header, string owner, long bytesRead, long bytesWritten, TimeSpan remoteLatency)
        => Accounting?.Record((int)header.Pid, owner, bytesRead, bytesWritten, remoteLatency);

    private static FuseInHeader At(in FuseInHeader header, ulong nodeId)
    {
        var copy = header;
        copy.NodeId = nodeId;
        return copy;
    }

    private UnionNode? Node(ulong nodeId) => _nodes.Find(nodeId);

    private RemotePeer? PeerOf(string host) => _peers?.Find(host);

    private bool IsLocalHost(string host) => host == _options.HostName;

    private void FillEntry(UnionNode node, in FuseAttr attr, out FuseEntryOut entry)
        => entry = FuseReplies.Entry(node.Id, in attr, _options.EntryTimeout, _options.AttrTimeout);

    private void FillAttr(in FuseAttr source, out FuseAttrOut attr) => attr = FuseReplies.Attr(in source, _options.AttrTimeout);

    /// <summary>
    /// A peer's attributes as the kernel sees them. Inode numbers of different hosts would
    /// collide, so a remote one is mixed with its owner's name and given the top bit, which
    /// local inode numbers do not use; it stays the same across lookups and restarts.
    /// </summary>
    private static FuseAttr ToFuseAttr(string owner, Attr attr) => new()
    {
        Ino = RemoteIno(owner, attr.Ino),
        Size = attr.Size,
        Blocks = attr.Blocks,
        Atime = (ulong)(attr.AtimeNs / 1_000_000_000),
        AtimeNsec = (uint)(attr.AtimeNs % 1_000_000_000),
        Mtime = (ulong)(attr.MtimeNs / 1_000_000_000),
        MtimeNsec = (uint)(attr.MtimeNs % 1_000_000_000),
        Ctime = (ulong)(attr.CtimeNs / 1_000_000_000),
        CtimeNsec = (uint)(attr.CtimeNs % 1_000_000_000),
        Mode = attr.Mode,
        Nlink = attr.Nlink,
        Uid = attr.Uid,
        Gid = attr.Gid,
        Rdev = attr.Rdev,
        BlkSize = attr.Blksize,
    };

    /// <summary>
    /// A local object's attributes as the kernel sees them: a file shows the number its peers
    /// show for it (<see cref="RemoteIno"/> of this host), so its inode number is the same on
    /// every host. A migrated job that compares a file's number with the one it saw before the
    /// move (sqlite does, and calls a database whose number changed "moved": read-only) finds
    /// the same file. A directory keeps its local number: it is merged from every host's layer.
    /// </summary>
    private FuseAttr LocalShown(in FuseAttr attr)
    {
        var shown = attr;
        if ((attr.Mode & Stat.S_IFMT) != Stat.S_IFDIR)
            shown.Ino = RemoteIno(_options.HostName, attr.Ino);
        return shown;
    }

    private static ulong RemoteIno(string owner, ulong ino) => ((BlockKey.HashHost(owner) * 0x9E3779B97F4A7C15UL) ^ ino) | (1UL << 63);

    /// <summary>Maps a remote errno reply: 0 is success.</summary>
    private static Errno FromWire(int errno) => (Errno)errno;
}
