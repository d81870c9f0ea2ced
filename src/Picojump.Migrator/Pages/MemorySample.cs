using System.Globalization;
using Microsoft.Win32.SafeHandles;

namespace Picojump.Migrator.Pages;

/// <summary>
/// Hashes of pages drawn at random from a running job's private writable memory (what a dump
/// carries), read through /proc/PID/mem without stopping the job. A page may change while it is
/// read: a sample estimates what a move would send, it never decides what is restored.
/// </summary>
public static class MemorySample
{
    /// <summary>Pages a sample usually takes: 1 MiB read, a share within a few percent.</summary>
    public const int Pages = 256;

    private readonly record struct Region(int Pid, long Start, long Pages);

    /// <summary>
    /// Up to <paramref name="count"/> hashes of non-zero pages (zero pages cost a move nothing:
    /// they travel as holes), drawn uniformly over the writable memory of <paramref name="pids"/>.
    /// </summary>
    public static List<PageHash> NonZeroPages(IEnumerable<int> pids, int count, Random random)
    {
        var regions = new List<Region>();
        foreach (var pid in pids)
            regions.AddRange(PrivateWritable(pid));
        var total = regions.Sum(r => r.Pages);
        var hashes = new List<PageHash>(count);
        if (total == 0)
            return hashes;
        var files = new Dictionary<int, SafeFileHandle?>();
        var page = new byte[Images.Pagemap.PageSize];
        try
        {
            for (var i = 0; i < count; i++)
            {
                var (pid, address) = Pick(regions, random.NextInt64(total));
                if (!files.TryGetValue(pid, out var mem))
                    files[pid] = mem = OpenMemory(pid);
                if (mem == null || !TryRead(mem, page, address))
                    continue;
                var hash = PageHash.Of(page);
                if (hash != PageHash.ZeroPage)
                    hashes.Add(hash);
            }
        }
        finally
        {
            foreach (var mem in files.Values)
                mem?.Dispose();
        }
        return hashes;
    }

    private static (int Pid, long Address) Pick(List<Region> regions, long index)
    {
        foreach (var region in regions)
        {
            if (index < region.Pages)
                return (region.Pid, region.Start + index * Images.Pagemap.PageSize);
            index -= region.Pages;
        }
        throw new ArgumentOutOfRangeException(nameof(index));
    }

    /// <summary>
    /// The writable mappings of a process that a dump carries: private ones ("rw-p"), but the
    /// kernel's own ([vvar], [vsyscall], ...), and shared anonymous memory ("/dev/zero (deleted)").
    /// </summary>
    private static List<Region> PrivateWritable(int pid)
    {
        var regions = new List<Region>();
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/maps"))
            {
                // "7f0c2a400000-7f0c2a600000 rw-p 00000000 00:00 0    [heap]"
                var fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length < 5 || fields[1].Length < 4 || fields[1][1] != 'w')
                    continue;
                var name = fields.Length == 6 ? fields[5].Trim() : "";
                if (fields[1][3] == 'p' ? name.StartsWith("[v", StringComparison.Ordinal) : !name.StartsWith("/dev/zero", StringComparison.Ordinal))
                    continue;
                var range = fields[0].Split('-');
                var start = long.Parse(range[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                var end = long.Parse(range[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                if (end > start)
                    regions.Add(new Region(pid, start, (end - start) / Images.Pagemap.PageSize));
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or OverflowException)
        {
            // Gone meanwhile, or not ours to read: no pages from it.
        }
        return regions;
    }

    private static SafeFileHandle? OpenMemory(int pid)
    {
        try
        {
            return File.OpenHandle($"/proc/{pid}/mem", FileMode.Open, FileAccess.Read);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static bool TryRead(SafeFileHandle mem, byte[] page, long address)
    {
        try
        {
            return RandomAccess.Read(mem, page, address) == page.Length;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false; // unmapped meanwhile
        }
    }
}
