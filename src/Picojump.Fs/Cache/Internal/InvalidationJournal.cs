using System.Buffers.Binary;

namespace Picojump.Fs.Cache.Internal;

/// <summary>
/// The invalidations issued since the last checkpoint, appended to a small file. Markers live in
/// the FASTER log and reach disk only with a checkpoint; if the process dies before the next one,
/// the journal still names the files whose blocks must stay hidden, and opening replays it.
/// </summary>
internal sealed class InvalidationJournal : IDisposable
{
    private const int EntryLength = 16;

    private readonly string _path;
    private readonly Lock _lock = new();
    private FileStream _file;

    public InvalidationJournal(string path)
    {
        _path = path;
        _file = OpenForAppend();
    }

    /// <summary>The files named in the journal; a torn last entry (a crash mid-write) is ignored.</summary>
    public IReadOnlyList<(ulong OwnerHost, ulong FileId)> ReadEntries()
    {
        lock (_lock)
        {
            var bytes = File.ReadAllBytes(_path);
            var entries = new List<(ulong, ulong)>(bytes.Length / EntryLength);
            for (var offset = 0; offset + EntryLength <= bytes.Length; offset += EntryLength)
            {
                entries.Add((BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(offset)), BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(offset + 8))));
            }
            return entries;
        }
    }

    /// <summary>Appends one entry; it reaches the kernel before this returns, so a process crash keeps it.</summary>
    public void Append(ulong ownerHost, ulong fileId)
    {
        Span<byte> entry = stackalloc byte[EntryLength];
        BinaryPrimitives.WriteUInt64LittleEndian(entry, ownerHost);
        BinaryPrimitives.WriteUInt64LittleEndian(entry[8..], fileId);
        lock (_lock)
        {
            _file.Write(entry);
            _file.Flush();
        }
    }

    /// <summary>Where the journal ends now: a checkpoint taken after this point covers every entry before it.</summary>
    public long Length
    {
        get
        {
            lock (_lock)
            {
                return _file.Length;
            }
        }
    }

    /// <summary>Drops the entries a completed checkpoint covers, keeping any appended since it began.</summary>
    public void DropBefore(long length)
    {
        lock (_lock)
        {
            _file.Dispose();
            var bytes = File.ReadAllBytes(_path);
            var remaining = bytes.AsSpan((int)Math.Min(length, bytes.Length)).ToArray();
            var temporary = _path + ".tmp";
            File.WriteAllBytes(temporary, remaining);
            File.Move(temporary, _path, overwrite: true);
            _file = OpenForAppend();
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _file.Dispose();
        }
    }

    private FileStream OpenForAppend() => new(_path, FileMode.Append, FileAccess.Write, FileShare.Read);
}
