using System.IO.Hashing;

namespace Picojump.Fs.Cache.Internal;

/// <summary>
/// Every stored value starts with an XxHash3 of its payload, seeded by its key. A record the
/// disk lost or tore (buffered writes and a power loss), or one found under the wrong key, then
/// reads as a miss instead of handing wrong bytes to a program.
/// </summary>
internal static class BlockChecksum
{
    public const int Length = sizeof(ulong);

    public static ulong Compute(ReadOnlySpan<byte> key, ReadOnlySpan<byte> payload)
        => XxHash3.HashToUInt64(payload, unchecked((long)XxHash3.HashToUInt64(key)));
}
