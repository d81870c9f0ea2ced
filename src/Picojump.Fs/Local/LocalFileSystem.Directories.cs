using System.Buffers.Binary;
using Picojump.Fs.Fuse;
using Picojump.Fs.Local.Internal;
using Picojump.Fs.Native;

namespace Picojump.Fs.Local;

// Directories: getdents64 records handed out from the kernel's offset on; READDIRPLUS
// looks every entry up, so a listing also primes the kernel's name and attribute caches.
public sealed unsafe partial class LocalFileSystem
{
    private const int SeekSet = 0;

    public Errno OpenDir(in FuseInHeader header, in FuseOpenIn input, out FuseOpenOut output)
    {
        output = default;
        var inode = Node(header.NodeId);
        if (inode == null)
            return Errno.ESTALE;
        var fd = ProcFd.Reopen(inode.Fd, OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY);
        if (fd < 0)
            return LibC.LastErrno;
        output.Fh = _directories.Add(new DirectoryHandle(inode, fd));
        return Errno.OK;
    }

    public Errno ReadDir(in FuseInHeader header, in FuseReadIn input, ref DirEntryWriter entries)
    {
        if (_directories.Find(input.Fh) is not { } dir)
            return Errno.EBADF;
        lock (dir.Gate)
        {
            if ((long)input.Offset != dir.NextOffset)
            {
                // The kernel went back (rewinddir, seekdir): start over from its offset.
                if (LibC.lseek(dir.Fd, (long)input.Offset, SeekSet) < 0)
                    return LibC.LastErrno;
                dir.Position = dir.End = 0;
                dir.NextOffset = (long)input.Offset;
            }
            while (true)
            {
                if (dir.Position >= dir.End)
                {
                    nint n;
                    fixed (byte* records = dir.Records)
                        n = LibC.getdents64(dir.Fd, records, dir.Records.Length);
                    if (n < 0)
                        return entries.Length > 0 ? Errno.OK : LibC.LastErrno;
                    if (n == 0)
                        return Errno.OK;
                    dir.Position = 0;
                    dir.End = (int)n;
                }
                // struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
                var record = dir.Records.AsSpan(dir.Position, dir.End - dir.Position);
                var ino = BinaryPrimitives.ReadUInt64LittleEndian(record);
                var next = BinaryPrimitives.ReadInt64LittleEndian(record[8..]);
                var length = BinaryPrimitives.ReadUInt16LittleEndian(record[16..]);
                var type = record[18];
                var name = record[19..length];
                name = name[..name.IndexOf((byte)0)];
                if (!AddEntry(dir.Inode, ref entries, name, ino, type, (ulong)next))
                    return Errno.OK; // full: this record goes out with the next call
                dir.Position += length;
                dir.NextOffset = next;
            }
        }
    }

    private bool AddEntry(Inode parent, ref DirEntryWriter entries, ReadOnlySpan<byte> name, ulong ino, uint type, ulong next)
    {
        if (!entries.Plus)
            return entries.Add(name, ino, type, next);
        if (!entries.HasRoomFor(name.Length))
            return false;
        FuseEntryOut entry = default;
        var isDot = name.SequenceEqual("."u8) || name.SequenceEqual(".."u8);
        // "." and ".." get no lookup (node id 0): the kernel knows both already. An entry that
        // vanished since getdents goes out plain in the same way.
        if (isDot || LookupChild(parent, name, out entry, out _) != Errno.OK)
            entry = new FuseEntryOut { Attr = new FuseAttr { Ino = ino, Mode = type << 12 } };
        return entries.AddPlus(name, type, next, in entry);
    }

    /// <summary>Every entry of a directory but "." and "..", for the union's merged listings.</summary>
    internal Errno ListDirectory(ulong nodeId, List<(byte[] Name, ulong Ino, byte Type)> into)
    {
        var inode = Node(nodeId);
        if (inode == null)
            return Errno.ESTALE;
        var fd = ProcFd.Reopen(inode.Fd, OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY);
        if (fd < 0)
            return LibC.LastErrno;
        try
        {
            var records = new byte[32 * 1024];
            while (true)
            {
                nint n;
                fixed (byte* p = records)
                    n = LibC.getdents64(fd, p, records.Length);
                if (n < 0)
                    return LibC.LastErrno;
                if (n == 0)
                    return Errno.OK;
                for (var at = 0; at < n;)
                {
                    var record = records.AsSpan(at, (int)n - at);
                    var length = BinaryPrimitives.ReadUInt16LittleEndian(record[16..]);
                    var name = record[19..length];
                    name = name[..name.IndexOf((byte)0)];
                    if (!name.SequenceEqual("."u8) && !name.SequenceEqual(".."u8))
                        into.Add((name.ToArray(), BinaryPrimitives.ReadUInt64LittleEndian(record), record[18]));
                    at += length;
                }
            }
        }
        finally
        {
            LibC.close(fd);
        }
    }

    /// <summary>fsync of a directory by node, for listings the union holds itself.</summary>
    internal Errno SyncDirectory(ulong nodeId)
    {
        var inode = Node(nodeId);
        if (inode == null)
            return Errno.ESTALE;
        var fd = ProcFd.Reopen(inode.Fd, OpenFlags.O_RDONLY | OpenFlags.O_DIRECTORY);
        if (fd < 0)
            return LibC.LastErrno;
        var error = LibC.fsync(fd) == 0 ? Errno.OK : LibC.LastErrno;
        LibC.close(fd);
        return error;
    }

    public Errno ReleaseDir(in FuseInHeader header, in FuseReleaseIn input)
    {
        if (_directories.Remove(input.Fh) is not { } dir)
            return Errno.EBADF;
        LibC.close(dir.Fd);
        return Errno.OK;
    }

    public Errno FsyncDir(in FuseInHeader header, in FuseFsyncIn input)
    {
        if (_directories.Find(input.Fh) is not { } dir)
            return Errno.EBADF;
        return LibC.fsync(dir.Fd) == 0 ? Errno.OK : LibC.LastErrno;
    }
}
