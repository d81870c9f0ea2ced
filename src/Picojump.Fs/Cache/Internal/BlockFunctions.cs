using System.Buffers.Binary;
using FASTER.core;

namespace Picojump.Fs.Cache.Internal;

/// <summary>
/// Reads copy the stored value straight into the caller's pinned buffer (no pooled memory,
/// no second copy). Writes always append a new record, never overwrite one in place, so a
/// record's log address orders it against the invalidation markers (see BlockCache.Blocks.cs).
/// </summary>
internal sealed unsafe class BlockFunctions : SpanByteFunctions<SpanByte, BlockReadOutput, Empty>
{
    public override bool SingleReader(ref SpanByte key, ref SpanByte input, ref SpanByte value, ref BlockReadOutput dst, ref ReadInfo readInfo)
        => CopyOut(ref value, ref dst, readInfo.Address);

    public override bool ConcurrentReader(ref SpanByte key, ref SpanByte input, ref SpanByte value, ref BlockReadOutput dst, ref ReadInfo readInfo)
        => CopyOut(ref value, ref dst, readInfo.Address);

    // False sends FASTER to append a fresh record at the tail instead of updating in place.
    public override bool ConcurrentWriter(ref SpanByte key, ref SpanByte input, ref SpanByte src, ref SpanByte dst, ref BlockReadOutput output, ref UpsertInfo upsertInfo)
        => false;

    private static bool CopyOut(ref SpanByte value, ref BlockReadOutput dst, long address)
    {
        dst.Address = address;
        var stored = value.AsReadOnlySpan();
        if (stored.Length < BlockChecksum.Length)
        {
            dst.Length = -1;
            return true;
        }
        dst.Checksum = BinaryPrimitives.ReadUInt64LittleEndian(stored);
        var payload = stored[BlockChecksum.Length..];
        dst.Length = payload.Length;
        if (payload.Length <= dst.Capacity)
        {
            payload.CopyTo(new Span<byte>(dst.Destination, dst.Capacity));
        }
        return true;
    }
}
