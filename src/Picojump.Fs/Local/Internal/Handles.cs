using System.Collections.Concurrent;

namespace Picojump.Fs.Local.Internal;

/// <summary>An open file: our descriptor of it and, with passthrough, the kernel's backing id.</summary>
internal sealed class FileHandle(Inode inode, int fd, bool passthrough)
{
    public Inode Inode { get; } = inode;

    public int Fd { get; } = fd;

    public bool Passthrough { get; } = passthrough;
}

/// <summary>An open directory with the getdents64 records read ahead of the kernel's offset.</summary>
internal sealed class DirectoryHandle(Inode inode, int fd)
{
    public Inode Inode { get; } = inode;

    public int Fd { get; } = fd;

    public Lock Gate { get; } = new();

    public byte[] Records { get; } = new byte[32 * 1024];

    public int Position { get; set; }

    public int End { get; set; }

    /// <summary>The directory offset that follows the last entry handed out.</summary>
    public long NextOffset { get; set; }
}

/// <summary>The fh numbers handed to the kernel for open files and directories.</summary>
internal sealed class HandleTable<T> where T : class
{
    private readonly ConcurrentDictionary<ulong, T> _open = new();
    private long _next;

    public int Count => _open.Count;

    public ulong Add(T handle)
    {
        var fh = (ulong)Interlocked.Increment(ref _next);
        _open[fh] = handle;
        return fh;
    }

    public T? Find(ulong fh) => _open.GetValueOrDefault(fh);

    public T? Remove(ulong fh) => _open.TryRemove(fh, out var handle) ? handle : null;

    /// <summary>Takes every handle out of the table (on dispose).</summary>
    public List<T> RemoveAll()
    {
        var all = new List<T>();
        foreach (var fh in _open.Keys)
        {
            if (_open.TryRemove(fh, out var handle))
                all.Add(handle);
        }
        return all;
    }
}
