using System.IO.Hashing;

namespace Picojump.Fs.Storage.Internal;

/// <summary>
/// With FasterBlobStoreOptions.ChecksumValues, every stored value starts with an XxHash3 of its
/// payload, seeded by its key. A record the disk lost or tore (buffered writes and a power loss),
/// or one found under the wrong key, then reads as absent instead of as wrong bytes.
/// </summary>
internal static class ValueChecksum
{
    public const int Length = sizeof(ulong);

    public static ulong Compute(ReadOnlySpan<byte> key, ReadOnlySpan<byte> payload)
        => XxHash3.HashToUInt64(payload, unchecked((long)XxHash3.HashToUInt64(key)));
}
