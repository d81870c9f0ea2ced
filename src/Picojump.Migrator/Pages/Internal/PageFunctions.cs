using FASTER.core;

namespace Picojump.Migrator.Pages.Internal;

/// <summary>Reads copy the page straight into the caller's pinned buffer, if it gave one. The context is the caller's index of the key in a batch.</summary>
internal sealed unsafe class PageFunctions : SpanByteFunctions<SpanByte, PageReadOutput, long>
{
    public override bool SingleReader(ref SpanByte key, ref SpanByte input, ref SpanByte value, ref PageReadOutput dst, ref ReadInfo readInfo)
        => CopyOut(ref value, ref dst, readInfo.Address);

    public override bool ConcurrentReader(ref SpanByte key, ref SpanByte input, ref SpanByte value, ref PageReadOutput dst, ref ReadInfo readInfo)
        => CopyOut(ref value, ref dst, readInfo.Address);

    private static bool CopyOut(ref SpanByte value, ref PageReadOutput dst, long address)
    {
        dst.Address = address;
        var stored = value.AsReadOnlySpan();
        dst.Length = stored.Length;
        if (dst.Capacity > 0 && stored.Length <= dst.Capacity)
        {
            stored.CopyTo(new Span<byte>(dst.Destination, dst.Capacity));
        }
        return true;
    }
}
