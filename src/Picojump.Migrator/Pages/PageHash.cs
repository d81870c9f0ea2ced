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

    public override string ToString() => Value.ToString("x32", null);
}
