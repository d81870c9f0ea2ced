using System.Buffers.Binary;
using FASTER.core;

namespace Picojump.Fs.Storage.Internal;

/// <summary>
/// Reads copy the stored payload straight into the caller's pinned buffer (no pooled memory, no
/// second copy). Writes always append a new record, never overwrite one in place, so a record's
/// log address tells when it was written (the block cache's invalidation markers rely on it).
/// The context is the caller's index of the key in a batch.
/// </summary>
internal sealed unsafe class RecordFunctions(bool checksummed) : SpanByteFunctions<SpanByte, ReadOutput, long>
{
    public override bool SingleReader(ref SpanByte key, ref SpanByte input, ref SpanByte value, ref ReadOutput dst, ref ReadInfo readInfo)
        => CopyOut(ref value, ref dst, readInfo.Address);

    public override bool ConcurrentReader(ref SpanByte key, ref SpanByte input, ref SpanByte value, ref ReadOutput dst, ref ReadInfo readInfo)
        => CopyOut(ref value, ref dst, readInfo.Address);

    // False sends FASTER to append a fresh record at the tail instead of updating in place.
    public override bool ConcurrentWriter(ref SpanByte key, ref SpanByte input, ref SpanByte src, ref SpanByte dst, ref ReadOutput output, ref UpsertInfo upsertInfo)
        => false;

    private bool CopyOut(ref SpanByte value, ref ReadOutput dst, long address)
    {
        dst.Address = address;
        var payload = value.AsReadOnlySpan();
        if (checksummed)
        {
            if (payload.Length < ValueChecksum.Length)
            {
                dst.Length = -1;
                return true;
            }
            dst.Checksum = BinaryPrimitives.ReadUInt64LittleEndian(payload);
            payload = payload[ValueChecksum.Length..];
        }
        dst.Length = payload.Length;
        if (payload.Length <= dst.Capacity)
        {
            payload.CopyTo(new Span<byte>(dst.Destination, dst.Capacity));
        }
        return true;
    }
}
