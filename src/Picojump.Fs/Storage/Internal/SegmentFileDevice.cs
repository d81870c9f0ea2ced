using System.Collections.Concurrent;
using System.Text;
using FASTER.core;
using Microsoft.Win32.SafeHandles;
using Picojump.Fs.Native;

namespace Picojump.Fs.Storage.Internal;

/// <summary>
/// The FASTER log as segment files (name.0, name.1, ...), pages written with O_DIRECT and
/// without O_SYNC. FASTER's own device on Linux opens its files O_SYNC (its write-through flag;
/// its unbuffered flag is ignored there), so every page flush copied the page into the page
/// cache and then waited for the disk: a quarter of the CPU of a host reading a remote file
/// cold went into that copy. Reads stay buffered, so a sequential scan of the log (a warm read)
/// keeps the kernel's read-ahead; the kernel keeps the two coherent. Where the file system
/// refuses O_DIRECT (open or an unaligned write), the buffered descriptor writes instead.
/// A record torn by a power loss fails its checksum, as with buffered writes.
/// </summary>
internal sealed unsafe class SegmentFileDevice : StorageDeviceBase
{
    // FASTER aligns pages, flushes and reads to this; 512 is what its own device reports on Linux.
    private const uint Sector = 512;
    private const uint CreateMode = 0x180; // 0600: the cache holds other hosts' file data

    private readonly ConcurrentDictionary<int, Segment> _segments = new();

    public SegmentFileDevice(string fileName, bool recover)
        : base(fileName, Sector, Devices.CAPACITY_UNSPECIFIED)
    {
        if (recover)
            FindSegments();
    }

    public override void WriteAsync(IntPtr sourceAddress, int segmentId, ulong destinationAddress, uint numBytesToWrite, DeviceIOCompletionCallback callback, object context)
    {
        HandleCapacity(segmentId);
        Run(() =>
        {
            var segment = Open(segmentId);
            uint done = 0;
            var error = segment.Direct is { } direct
                ? Transfer(direct, (byte*)sourceAddress, numBytesToWrite, (long)destinationAddress, write: true, out done)
                : Errno.EINVAL;
            if (error == Errno.EINVAL)
                error = Transfer(segment.Buffered, (byte*)sourceAddress, numBytesToWrite, (long)destinationAddress, write: true, out done);
            return (error, done);
        }, callback, context);
    }

    public override void ReadAsync(int segmentId, ulong sourceAddress, IntPtr destinationAddress, uint readLength, DeviceIOCompletionCallback callback, object context)
        => Run(() =>
        {
            var error = Transfer(Open(segmentId).Buffered, (byte*)destinationAddress, readLength, (long)sourceAddress, write: false, out var done);
            return (error, done);
        }, callback, context);

    public override void RemoveSegment(int segment)
    {
        if (_segments.TryRemove(segment, out var open))
            open.Dispose();
        File.Delete(GetSegmentFilename(FileName, segment));
    }

    public override void RemoveSegmentAsync(int segment, AsyncCallback callback, IAsyncResult result)
    {
        RemoveSegment(segment);
        callback(result);
    }

    public override long GetFileSize(int segment)
        => segmentSize > 0 ? segmentSize : RandomAccess.GetLength(Open(segment).Buffered);

    public override void Reset() => CloseAll();

    public override void Dispose() => CloseAll();

    private void CloseAll()
    {
        foreach (var id in _segments.Keys)
        {
            if (_segments.TryRemove(id, out var segment))
                segment.Dispose();
        }
    }

    /// <summary>The segments already on disk, for a recovering store: from the lowest to the highest.</summary>
    private void FindSegments()
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(FileName))!;
        var prefix = Path.GetFileName(FileName) + ".";
        var ids = Directory.Exists(directory)
            ? Directory.EnumerateFiles(directory, prefix + "*")
                .Select(f => int.TryParse(Path.GetFileName(f).AsSpan(prefix.Length), out var id) ? id : -1)
                .Where(id => id >= 0)
                .ToList()
            : [];
        if (ids.Count > 0)
        {
            startSegment = ids.Min();
            endSegment = ids.Max();
        }
    }

    private Segment Open(int id)
    {
        if (_segments.TryGetValue(id, out var segment))
            return segment;
        // Under a lock: two threads opening the same segment would leak the loser's descriptors.
        lock (_segments)
            return _segments.GetOrAdd(id, static (id, device) => device.OpenSegment(id), this);
    }

    private Segment OpenSegment(int id)
    {
        var path = Encoding.UTF8.GetBytes(GetSegmentFilename(FileName, id) + "\0");
        fixed (byte* p = path)
        {
            var buffered = LibC.openat(LibC.AT_FDCWD, p, OpenFlags.O_RDWR | OpenFlags.O_CREAT | OpenFlags.O_CLOEXEC, CreateMode);
            if (buffered < 0)
                throw new IOException($"Cannot open {Encoding.UTF8.GetString(path.AsSpan(0, path.Length - 1))}: {LibC.LastErrno}");
            var direct = LibC.openat(LibC.AT_FDCWD, p, OpenFlags.O_RDWR | OpenFlags.O_DIRECT | OpenFlags.O_CLOEXEC, 0);
            return new Segment(new SafeFileHandle(buffered, ownsHandle: true), direct < 0 ? null : new SafeFileHandle(direct, ownsHandle: true));
        }
    }

    /// <summary>The whole length, or up to the end of the file for a read. The handle cannot be closed under it.</summary>
    private static Errno Transfer(SafeFileHandle file, byte* buffer, uint length, long offset, bool write, out uint done)
    {
        done = 0;
        var added = false;
        file.DangerousAddRef(ref added);
        try
        {
            var fd = (int)file.DangerousGetHandle();
            while (done < length)
            {
                var n = write
                    ? LibC.pwrite(fd, buffer + done, length - done, offset + done)
                    : LibC.pread(fd, buffer + done, length - done, offset + done);
                if (n < 0)
                {
                    var error = LibC.LastErrno;
                    if (error == Errno.EINTR)
                        continue;
                    return error;
                }
                if (n == 0)
                    break; // end of file: a read of the log's unwritten tail
                done += (uint)n;
            }
            return Errno.OK;
        }
        finally
        {
            if (added)
                file.DangerousRelease();
        }
    }

    /// <summary>FASTER calls in from its epoch-protected paths: the I/O runs on the thread pool, never inline.</summary>
    private static void Run(Func<(Errno Error, uint Done)> io, DeviceIOCompletionCallback callback, object context)
        => ThreadPool.UnsafeQueueUserWorkItem(_ =>
        {
            (Errno Error, uint Done) result;
            try
            {
                result = io();
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException)
            {
                result = (Errno.EIO, 0);
            }
            callback(result.Error == Errno.OK ? 0 : (uint)result.Error, result.Error == Errno.OK ? result.Done : 0, context);
        }, null);

    private sealed class Segment(SafeFileHandle buffered, SafeFileHandle? direct) : IDisposable
    {
        public SafeFileHandle Buffered { get; } = buffered;

        public SafeFileHandle? Direct { get; } = direct;

        public void Dispose()
        {
            Buffered.Dispose();
            Direct?.Dispose();
        }
    }
}
