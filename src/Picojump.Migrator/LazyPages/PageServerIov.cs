using System.Buffers.Binary;

namespace Picojump.Migrator.LazyPages;

/// <summary>
/// The commands of CRIU's page-server protocol as CRIU 4.1 speaks it (criu/page-xfer.c). The
/// low 16 bits of the header's cmd field carry the command, the high 16 bits its flags (pagemap
/// PE_* flags, for <see cref="AddWithFlags"/>). CRIU 4.2 renumbered them with its wider header.
/// </summary>
public enum PageServerCommand : ushort
{
    /// <summary>PS_IOV_ADD: pages follow (PE_PRESENT).</summary>
    Add = 1,

    /// <summary>PS_IOV_HOLE: a hole in the parent snapshot.</summary>
    Hole = 2,

    /// <summary>PS_IOV_OPEN: open the images of dst_id for writing.</summary>
    Open = 3,

    /// <summary>PS_IOV_OPEN2: the same, and the server answers whether a parent exists.</summary>
    Open2 = 4,

    /// <summary>PS_IOV_PARENT: does the server have a parent snapshot of dst_id.</summary>
    Parent = 5,

    /// <summary>PS_IOV_ADD_F: pages with flags; also the reply header of a <see cref="Get"/>.</summary>
    AddWithFlags = 6,

    /// <summary>PS_IOV_GET: lazy-pages asks for nr_pages at vaddr of task dst_id.</summary>
    Get = 7,

    /// <summary>PS_IOV_CLOSE: the client is done; the server answers an int32 status (0).</summary>
    Close = 0x1023,

    /// <summary>PS_IOV_FORCE_CLOSE: as Close, when the socket is shared with a parent process.</summary>
    ForceClose = 0x1024,
}

/// <summary>
/// One header of CRIU 4.1's page-server protocol: <c>struct page_server_iov { u32 cmd; u32
/// nr_pages; u64 vaddr; u64 dst_id; }</c>, 24 bytes in the host's (little-endian) byte order.
/// For a GET, dst_id is the task's virtual pid (the N of pagemap-N.img), not the
/// type-encoded id that the dump-side commands (OPEN2, ADD_F) carry.
/// </summary>
public readonly record struct PageServerIov(uint Cmd, uint PageCount, ulong Vaddr, ulong DstId)
{
    public const int Size = 24;

    /// <summary>PE_PRESENT, the flag CRIU's dump-side server puts on the reply to a GET.</summary>
    public const ushort PresentFlag = 1 << 2;

    public PageServerCommand Command => (PageServerCommand)(Cmd & 0xffff);

    public ushort Flags => (ushort)(Cmd >> 16);

    public static uint Encode(PageServerCommand command, ushort flags = 0) => ((uint)flags << 16) | (ushort)command;

    public static PageServerIov Get(ulong pid, ulong vaddr, uint pageCount) => new(Encode(PageServerCommand.Get), pageCount, vaddr, pid);

    /// <summary>The reply to a GET, as criu dump --lazy-pages sends it: ADD_F with PE_PRESENT, the request's vaddr and dst_id, the pages that follow.</summary>
    public static PageServerIov Reply(ulong pid, ulong vaddr, uint pageCount)
        => new(Encode(PageServerCommand.AddWithFlags, PresentFlag), pageCount, vaddr, pid);

    public void WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, Cmd);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], PageCount);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], Vaddr);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[16..], DstId);
    }

    public static PageServerIov ReadFrom(ReadOnlySpan<byte> source)
        => new(
            BinaryPrimitives.ReadUInt32LittleEndian(source),
            BinaryPrimitives.ReadUInt32LittleEndian(source[4..]),
            BinaryPrimitives.ReadUInt64LittleEndian(source[8..]),
            BinaryPrimitives.ReadUInt64LittleEndian(source[16..]));

    public override string ToString() => $"{Command}(flags {Flags:x}) {PageCount} pages at {Vaddr:x} of {DstId}";
}
