using System.Collections.Concurrent;
using Picojump.Fs.Native;

namespace Picojump.Fs.Local.Internal;

/// <summary>
/// Node ids the kernel holds, with their lookup counts. One node per (device, inode), so
/// hard links share a node; ids are never reused, so the generation can stay 0.
/// </summary>
internal sealed class InodeTable
{
    private readonly ConcurrentDictionary<ulong, Inode> _byId = new();
    private readonly Dictionary<(ulong Dev, ulong Ino), Inode> _byKey = [];
    private readonly Lock _gate = new();
    private ulong _nextId = 2;

    public InodeTable(int rootFd, in Stat root)
    {
        Root = new Inode(Fuse.FuseConstants.RootNodeId, rootFd, root.Dev, root.Ino, root.Mode) { Lookups = 1 };
        _byId[Root.NodeId] = Root;
        _byKey[(root.Dev, root.Ino)] = Root;
    }

    public Inode Root { get; }

    public int Count => _byId.Count;

    public Inode? Find(ulong nodeId) => _byId.GetValueOrDefault(nodeId);

    /// <summary>
    /// Counts one kernel reference to the object behind <paramref name="fd"/> (an O_PATH
    /// descriptor the caller gives away). Returns the existing node for a known object.
    /// </summary>
    public Inode Remember(int fd, in Stat st)
    {
        lock (_gate)
        {
            if (_byKey.TryGetValue((st.Dev, st.Ino), out var known))
            {
                known.Lookups++;
                LibC.close(fd);
                return known;
            }
            var inode = new Inode(_nextId++, fd, st.Dev, st.Ino, st.Mode & Stat.S_IFMT) { Lookups = 1 };
            _byKey[(st.Dev, st.Ino)] = inode;
            _byId[inode.NodeId] = inode;
            return inode;
        }
    }

    /// <summary>Closes every node, the root included (on dispose); the table is empty afterwards.</summary>
    public void CloseAll()
    {
        List<Inode> all;
        lock (_gate)
        {
            all = [.. _byId.Values];
            _byId.Clear();
            _byKey.Clear();
        }
        foreach (var inode in all)
            inode.Close();
    }

    public void Forget(ulong nodeId, ulong count)
    {
        Inode? gone = null;
        lock (_gate)
        {
            if (!_byId.TryGetValue(nodeId, out var inode) || inode == Root)
                return;
            inode.Lookups = count >= inode.Lookups ? 0 : inode.Lookups - count;
            if (inode.Lookups == 0)
            {
                _byId.TryRemove(nodeId, out _);
                _byKey.Remove((inode.Dev, inode.Ino));
                gone = inode;
            }
        }
        gone?.Close();
    }
}
