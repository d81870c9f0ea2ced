namespace Picojump.Migrator.LazyPages;

/// <summary>Somewhere the pages of a restored job's lazy memory can be read by address.</summary>
public interface ILazyPageSource
{
    /// <summary>
    /// Copies up to <paramref name="pageCount"/> pages of task <paramref name="pid"/> from
    /// <paramref name="vaddr"/> on into <paramref name="destination"/> and returns how many it
    /// copied: a prefix of the range, as CRIU's own page server may answer fewer pages than asked.
    /// 0 means it has none of them. Bytes it cannot vouch for are an exception, never a reply.
    /// </summary>
    ValueTask<int> ReadAsync(ulong pid, ulong vaddr, int pageCount, Memory<byte> destination, CancellationToken cancellationToken);
}
