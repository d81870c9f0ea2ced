using System.Runtime.InteropServices;

namespace Picojump.Fs.Fuse;

/// <summary>
/// Packs directory entries into a READDIR or READDIRPLUS reply: fuse_dirent or
/// fuse_direntplus records, each padded to 8 bytes, until the kernel's buffer is full.
/// </summary>
public ref struct DirEntryWriter
{
    private readonly Span<byte> _buffer;

    public DirEntryWriter(Span<byte> buffer, bool plus)
    {
        _buffer = buffer;
        Plus = plus;
    }

    /// <summary>READDIRPLUS: every entry carries its lookup result (and counts as a lookup).</summary>
    public bool Plus { get; }

    public int Length { get; private set; }

    /// <summary>
    /// Whether an entry with a name this long still fits. In plus mode, check before the
    /// lookup, so a lookup is never counted for an entry that is then not sent.
    /// </summary>
    public readonly bool HasRoomFor(int nameLength) => Length + RecordSize(nameLength) <= _buffer.Length;

    /// <summary>Adds a plain entry; false when it does not fit.</summary>
    public bool Add(ReadOnlySpan<byte> name, ulong ino, uint type, ulong nextOffset)
    {
        if (Plus)
            throw new InvalidOperationException("READDIRPLUS entries need their lookup result: use AddPlus.");
        return Append(name, new FuseDirent { Ino = ino, Off = nextOffset, NameLen = (uint)name.Length, Type = type }, default, withEntry: false);
    }

    /// <summary>Adds an entry with its lookup result; false when it does not fit.</summary>
    public bool AddPlus(ReadOnlySpan<byte> name, uint type, ulong nextOffset, in FuseEntryOut entry)
    {
        if (!Plus)
            throw new InvalidOperationException("READDIR entries carry no lookup result: use Add.");
        var dirent = new FuseDirent { Ino = entry.Attr.Ino, Off = nextOffset, NameLen = (uint)name.Length, Type = type };
        return Append(name, dirent, entry, withEntry: true);
    }

    private readonly int RecordSize(int nameLength)
    {
        var size = Marshal.SizeOf<FuseDirent>() + nameLength;
        if (Plus)
            size += Marshal.SizeOf<FuseEntryOut>();
        return (size + 7) & ~7;
    }

    private bool Append(ReadOnlySpan<byte> name, FuseDirent dirent, in FuseEntryOut entry, bool withEntry)
    {
        var size = RecordSize(name.Length);
        if (Length + size > _buffer.Length)
            return false;
        var record = _buffer.Slice(Length, size);
        record.Clear();
        var at = 0;
        if (withEntry)
        {
            MemoryMarshal.Write(record, in entry);
            at = Marshal.SizeOf<FuseEntryOut>();
        }
        MemoryMarshal.Write(record[at..], in dirent);
        name.CopyTo(record[(at + Marshal.SizeOf<FuseDirent>())..]);
        Length += size;
        return true;
    }
}
