using System.Buffers.Binary;
using Google.Protobuf;

namespace Picojump.Migrator.Images;

/// <summary>
/// The framing every CRIU 4.x protobuf image shares (criu/image.c, criu/protobuf.c): two
/// little-endian u32 magics (IMG_COMMON_MAGIC, then the image type's own), then messages, each
/// preceded by its length as a u32. Raw images such as pages-N.img have no header at all.
/// </summary>
public static class CriuImage
{
    /// <summary>IMG_COMMON_MAGIC: heads every image except inventory.img and service files.</summary>
    public const uint CommonMagic = 0x54564319;

    /// <summary>PAGEMAP_MAGIC, also used by pagemap-shmem-*.img.</summary>
    public const uint PagemapMagic = 0x56084025;

    public static void WriteHeader(Stream stream, uint magic)
    {
        ArgumentNullException.ThrowIfNull(stream);
        Span<byte> header = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(header, CommonMagic);
        BinaryPrimitives.WriteUInt32LittleEndian(header[4..], magic);
        stream.Write(header);
    }

    /// <summary>Reads and checks the two magics; a wrong one means this is not the image we expect.</summary>
    public static void ReadHeader(Stream stream, uint magic, string what)
    {
        ArgumentNullException.ThrowIfNull(stream);
        Span<byte> header = stackalloc byte[8];
        if (!TryReadExactly(stream, header))
        {
            throw new InvalidDataException($"{what}: shorter than the image header");
        }
        var common = BinaryPrimitives.ReadUInt32LittleEndian(header);
        var own = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
        if (common != CommonMagic || own != magic)
        {
            throw new InvalidDataException($"{what}: magic {common:x8}/{own:x8}, expected {CommonMagic:x8}/{magic:x8}");
        }
    }

    public static void WriteMessage(Stream stream, IMessage message)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(message);
        var size = message.CalculateSize();
        Span<byte> prefix = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(prefix, (uint)size);
        stream.Write(prefix);
        message.WriteTo(stream);
    }

    /// <summary>The next message, or null at a clean end of the image; a truncated message throws.</summary>
    public static T? ReadMessage<T>(Stream stream, MessageParser<T> parser, string what)
        where T : class, IMessage<T>
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(parser);
        Span<byte> prefix = stackalloc byte[4];
        var first = stream.Read(prefix[..1]);
        if (first == 0)
        {
            return null;
        }
        if (!TryReadExactly(stream, prefix[1..]))
        {
            throw new InvalidDataException($"{what}: truncated message length");
        }
        var size = BinaryPrimitives.ReadUInt32LittleEndian(prefix);
        if (size > 1 << 20)
        {
            // CRIU's pagemap messages are a few bytes; a huge size means a corrupt or foreign file.
            throw new InvalidDataException($"{what}: message of {size} bytes");
        }
        var body = new byte[size];
        if (!TryReadExactly(stream, body))
        {
            throw new InvalidDataException($"{what}: truncated message");
        }
        try
        {
            return parser.ParseFrom(body);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new InvalidDataException($"{what}: {ex.Message}", ex);
        }
    }

    private static bool TryReadExactly(Stream stream, Span<byte> buffer)
        => stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false) == buffer.Length;
}
