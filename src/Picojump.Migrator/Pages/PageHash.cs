using System.Buffers.Binary;
using System.IO.Hashing;
using Picojump.Migrator.Images;

namespace Picojump.Migrator.Pages;

/// <summary>
/// The identity of a 4 KiB page's content: its XxHash128. Equal pages hash equal wherever and
/// whenever they were read, so a page full of zeros is one entry however often it occurs.
/// </summary>
/// <remarks>
/// XxHash128 is fast, not cryptographic: it guards against accidents, not against a program
/// that crafts colliding pages to read or spoil another job's memory through a shared store.
/// </remarks>
public readonly record struct PageHash(UInt128 Value)
{
    public const int Size = 16;

    /// <summary>The hash of a page of zeros.</summary>
    public static readonly PageHash ZeroPage = Of(new byte[Pagemap.PageSize]);

    public static PageHash Of(ReadOnlySpan<byte> page) => new(XxHash128.HashToUInt128(page));

    public static PageHash ReadFrom(ReadOnlySpan<byte> source) => new(BinaryPrimitives.ReadUInt128LittleEndian(source));

    public void WriteTo(Span<byte> destination) => BinaryPrimitives.WriteUInt128LittleEndian(destination, Value);

    /// <summary>Hashes end to end, 16 bytes each: the wire form of a hash list.</summary>
    public static byte[] Concat(IReadOnlyList<PageHash> hashes)
    {
        var bytes = new byte[hashes.Count * Size];
        for (var i = 0; i < hashes.Count; i++)
            hashes[i].WriteTo(bytes.AsSpan(i * Size));
        return bytes;
    }

    /// <summary>The hashes of a list in wire form; throws on a length that is not whole hashes.</summary>
    public static PageHash[] Split(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length % Size != 0)
            throw new InvalidDataException($"a hash list is whole hashes of {Size} bytes, not {bytes.Length} bytes");
        var hashes = new PageHash[bytes.Length / Size];
        for (var i = 0; i < hashes.Length; i++)
            hashes[i] = ReadFrom(bytes.Slice(i * Size, Size));
        return hashes;
    }

    public override string ToString() => Value.ToString("x32", null);
}
