using Grpc.Core;
using Picojump.Fs.Fuse;
using Picojump.Fs.Local.Internal;
using Picojump.Fs.Native;
using Picojump.Fs.Union.Internal;
using Picojump.Protos.Peer;

namespace Picojump.Fs.Union;

// Directories: a listing merges this host's entries with every reachable layer peer's, by
// the same ownership rule as lookup, and is taken afresh whenever the kernel reads from 0.
public sealed partial class UnionFileSystem
{
    private readonly HandleTable<DirectoryListing> _directories = new();

    public Errno OpenDir(in FuseInHeader header, in FuseOpenIn input, out FuseOpenOut output)
    {
        output = default;
        var node = Node(header.NodeId);
        if (node == null)
            return Errno.ESTALE;
        if (!node.IsDirectory)
            return Errno.ENOTDIR;
        var listing = new DirectoryListing(node);
        var error = List(listing);
        if (error != Errno.OK)
            return error;
        output.Fh = _directories.Add(listing);
        return Errno.OK;
    }

    public Errno ReadDir(in FuseInHeader header, in FuseReadIn input, ref DirEntryWriter entries)
    {
        if (_directories.Find(input.Fh) is not { } listing)
            return Errno.EBADF;
        lock (listing)
        {
            if (input.Offset == 0)
            {
                // rewinddir: changes since the open must show.
                var error = List(listing);
                if (error != Errno.OK)
                    return error;
            }
            var names = listing.Names;
            for (var i = (int)Math.Min(input.Offset, (ulong)names.Count); i < names.Count; i++)
            {
                if (!AddEntry(in header, listing, names[i], (ulong)i + 1, ref entries))
                    break;
            }
        }
        return Errno.OK;
    }

    private bool AddEntry(in FuseInHeader header, DirectoryListing listing, ListedName listed, ulong next, ref DirEntryWriter entries)
    {
        var directory = listing.Directory;
        var (ino, type) = Shown(listed);
        if (!entries.Plus)
            return entries.Add(listed.Name, ino, type, next);
        if (!entries.HasRoomFor(listed.Name.Length))
            return false;
        var candidates = new List<Candidate>(1 + listed.Remote.Count);
        if (listed.LocalType != 0 && directory.LocalId != 0
            && _local.Lookup(At(in header, directory.LocalId), new FuseName(listed.Name), out var local) == Errno.OK)
        {
            candidates.Add(new Candidate(_options.HostName, (local.Attr.Mode & Stat.S_IFMT) == Stat.S_IFDIR, local, null));
        }
        foreach (var (host, attr) in listed.Remote)
            candidates.Add(new Candidate(host, (attr.Mode & Stat.S_IFMT) == Stat.S_IFDIR, default, attr));
        FuseEntryOut entry;
        if (candidates.Count == 0)
        {
            // Gone since the listing: out it goes without a lookup, as the local file system does.
            entry = new FuseEntryOut { Attr = new FuseAttr { Ino = ino, Mode = type << 12 } };
        }
        else
        {
            var node = Resolve(directory, listed.Key, candidates, listing.Unanswered, out var attr);
            FillEntry(node, in attr, out entry);
        }
        return entries.AddPlus(listed.Name, type, next, in entry);
    }

    /// <summary>The inode number and d_type a listing shows for a name, by the ownership rule.</summary>
    private (ulong Ino, uint Type) Shown(ListedName listed)
    {
        const uint DirectoryType = 4;
        var anyDirectory = listed.LocalType == DirectoryType || listed.Remote.Any(r => (r.Attr.Mode & Stat.S_IFMT) == Stat.S_IFDIR);
        if (listed.LocalType != 0 && (!anyDirectory || listed.LocalType == DirectoryType)
            && (anyDirectory || listed.Remote.All(r => string.CompareOrdinal(_options.HostName, r.Host) < 0)))
            return (listed.LocalType == DirectoryType ? listed.LocalIno : RemoteIno(_options.HostName, listed.LocalIno), listed.LocalType);
        var (host, attr) = listed.Remote
            .Where(r => !anyDirectory || (r.Attr.Mode & Stat.S_IFMT) == Stat.S_IFDIR)
            .MinBy(r => r.Host, StringComparer.Ordinal);
        return (RemoteIno(host, attr.Ino), (attr.Mode & Stat.S_IFMT) >> 12);
    }

    /// <summary>Takes the merged entries of a directory afresh: ".", "..", then every name once.</summary>
    private Errno List(DirectoryListing listing)
    {
        var directory = listing.Directory;
        var names = new List<ListedName>();
        var unanswered = new HashSet<string>(StringComparer.Ordinal);
        var byKey = new Dictionary<string, ListedName>(StringComparer.Ordinal);
        const byte DirectoryType = 4;
        names.Add(new ListedName(".", "."u8.ToArray().Append((byte)0).ToArray()) { LocalIno = 1, LocalType = DirectoryType });
        names.Add(new ListedName("..", ".."u8.ToArray().Append((byte)0).ToArray()) { LocalIno = 1, LocalType = DirectoryType });
        var error = Errno.OK;
        if (directory.LocalId != 0)
        {
            var local = new List<(byte[] Name, ulong Ino, byte Type)>();
            error = _local.ListDirectory(directory.LocalId, local);
            if (error != Errno.OK)
                return error;
            foreach (var (name, ino, type) in local)
            {
                var listed = new ListedName(NodeTable.Decode(name), [.. name, 0]) { LocalIno = ino, LocalType = type == 0 ? (byte)8 : type };
                byKey[listed.Key] = listed;
                names.Add(listed);
            }
        }
        var remoteError = ListRemote(directory, byKey, names, unanswered);
        // A directory only peers have, and none of them answered: the listing is not empty, it is unknown.
        if (directory.LocalId == 0 && remoteError != Errno.OK)
            return remoteError;
        listing.Names = names;
        listing.Unanswered = unanswered;
        return Errno.OK;
    }

    /// <summary>Adds the layer peers' entries; the error is the last failure's, or OK once any peer answered.</summary>
    private Errno ListRemote(UnionNode directory, Dictionary<string, ListedName> byKey, List<ListedName> names, HashSet<string> unanswered)
    {
        if (directory.RemoteLayers.Length == 0 || _peers == null)
            return Errno.OK;
        var path = _nodes.PathOf(directory);
        var listings = new List<(Cluster.RemotePeer Peer, Task<List<DirEntry>> Entries)>();
        foreach (var host in directory.RemoteLayers)
        {
            if (PeerOf(host) is { Reachable: true } peer)
                listings.Add((peer, ReadRemoteDirectory(peer, path)));
            else
                unanswered.Add(host);
        }
        var error = Errno.EIO;
        var answered = false;
        foreach (var (peer, entries) in listings)
        {
            List<DirEntry> list;
            try
            {
                list = entries.GetAwaiter().GetResult();
            }
            catch (RpcException ex)
            {
                error = peer.Failed(ex);
                unanswered.Add(peer.Name);
                continue;
            }
            catch (RemoteErrnoException ex)
            {
                error = ex.Errno;
                continue;
            }
            answered = true;
            foreach (var e in list)
            {
                if (!byKey.TryGetValue(e.Name, out var listed))
                {
                    listed = new ListedName(e.Name, NameBytes(e.Name));
                    byKey[e.Name] = listed;
                    names.Add(listed);
                }
                listed.Remote.Add((peer.Name, e.Attr));
            }
        }
        return answered ? Errno.OK : error;
    }

    private static async Task<List<DirEntry>> ReadRemoteDirectory(Cluster.RemotePeer peer, string path)
    {
        var entries = new List<DirEntry>();
        using var call = peer.Client.ReadDir(new PathRequest { Path = path }, peer.Options());
        await foreach (var chunk in call.ResponseStream.ReadAllAsync())
        {
            if (chunk.Errno != 0)
                throw new RemoteErrnoException((Errno)chunk.Errno);
            entries.AddRange(chunk.Entries);
        }
        return entries;
    }

    public Errno ReleaseDir(in FuseInHeader header, in FuseReleaseIn input)
        => _directories.Remove(input.Fh) == null ? Errno.EBADF : Errno.OK;

    public Errno FsyncDir(in FuseInHeader header, in FuseFsyncIn input)
    {
        if (_directories.Find(input.Fh) is not { } listing)
            return Errno.EBADF;
        // Peers make their directory changes durable as they apply them; only ours can lag.
        return listing.Directory.LocalId == 0 ? Errno.OK : _local.SyncDirectory(listing.Directory.LocalId);
    }

    /// <summary>An errno a peer answered inside a stream.</summary>
    private sealed class RemoteErrnoException(Errno errno) : Exception(errno.ToString())
    {
        public Errno Errno { get; } = errno;
    }
}
