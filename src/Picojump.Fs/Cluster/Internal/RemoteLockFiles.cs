using Picojump.Fs.Native;

namespace Picojump.Fs.Cluster.Internal;

/// <summary>
/// One open file description per remote lock owner and file (and kind: POSIX range or
/// flock), holding that owner's locks: OFD locks and flock conflict between descriptions,
/// so owners conflict with each other and with local programs, and closing one drops
/// exactly that owner's locks.
/// </summary>
internal sealed class RemoteLockFiles : IDisposable
{
    private readonly Dictionary<(string Owner, ulong Ino, bool Flock), int> _fds = [];

    /// <summary>The owner's descriptor for the file; <paramref name="opened"/> is kept if none exists yet, else closed.</summary>
    public int Adopt(string owner, ulong ino, bool flock, int opened)
    {
        lock (_fds)
        {
            if (_fds.TryGetValue((owner, ino, flock), out var fd))
            {
                LibC.close(opened);
                return fd;
            }
            _fds[(owner, ino, flock)] = opened;
            return opened;
        }
    }

    public bool TryGet(string owner, ulong ino, bool flock, out int fd)
    {
        lock (_fds)
            return _fds.TryGetValue((owner, ino, flock), out fd);
    }

    /// <summary>Drops every lock the owner holds on the file by closing its descriptors.</summary>
    public void Release(string owner, ulong ino)
    {
        lock (_fds)
        {
            foreach (var flock in new[] { false, true })
                if (_fds.Remove((owner, ino, flock), out var fd))
                    LibC.close(fd);
        }
    }

    /// <summary>Drops every lock of every owner whose name starts with <paramref name="prefix"/>, on any file.</summary>
    public void ReleaseAll(string prefix)
    {
        lock (_fds)
        {
            foreach (var key in _fds.Keys.Where(k => k.Owner.StartsWith(prefix, StringComparison.Ordinal)).ToList())
            {
                LibC.close(_fds[key]);
                _fds.Remove(key);
            }
        }
    }

    public void Dispose()
    {
        lock (_fds)
        {
            foreach (var fd in _fds.Values)
                LibC.close(fd);
            _fds.Clear();
        }
    }
}
