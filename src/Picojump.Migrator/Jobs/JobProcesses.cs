using System.Globalization;
using System.Runtime.InteropServices;

namespace Picojump.Migrator.Jobs;

/// <summary>What /proc tells of a job's processes: its init's identity, its PID namespace's members, their memory; and signals.</summary>
internal static partial class JobProcesses
{
    public const int SIGKILL = 9;

    public const int SIGCONT = 18;

    /// <summary>The start time (clock ticks since boot) of a live, non-zombie process; null when it is gone.</summary>
    public static long? StartTicks(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        // pid (comm) state ppid ...: comm may hold anything; the fields follow the last ')'.
        var close = stat.LastIndexOf(')');
        if (close < 0)
            return null;
        var fields = stat[(close + 2)..].Split(' ');
        // fields[0] is field 3 (state), so field 22 (starttime) is fields[19].
        if (fields.Length < 20 || fields[0] is "Z" or "X")
            return null;
        return long.Parse(fields[19], CultureInfo.InvariantCulture);
    }

    /// <summary>The process is alive and is the one that had this start time (not a reused pid).</summary>
    public static bool IsSame(int pid, long startTicks) => pid > 0 && StartTicks(pid) == startTicks;

    /// <summary>The inode of the process's PID namespace; null when it is gone.</summary>
    public static ulong? PidNamespace(int pid)
    {
        try
        {
            // "pid:[4026531836]"
            var link = new FileInfo($"/proc/{pid}/ns/pid").LinkTarget;
            if (link == null || !link.StartsWith("pid:[", StringComparison.Ordinal))
                return null;
            return ulong.Parse(link.AsSpan(5, link.Length - 6), CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }
    }

    /// <summary>The children of a process (of its main thread), oldest first.</summary>
    public static List<int> Children(int pid)
    {
        try
        {
            return [.. File.ReadAllText($"/proc/{pid}/task/{pid}/children")
                .Split(' ', StringSplitOptions.RemoveEmptyEntries)
                .Select(p => int.Parse(p, CultureInfo.InvariantCulture))];
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <summary>Every live process whose PID namespace is <paramref name="pidNamespace"/>.</summary>
    public static List<int> InNamespace(ulong pidNamespace)
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                && PidNamespace(pid) == pidNamespace)
                found.Add(pid);
        }
        return found;
    }

    /// <summary>The resident memory of the processes, in bytes (VmRSS of each).</summary>
    public static long ResidentBytes(IEnumerable<int> pids)
    {
        long total = 0;
        foreach (var pid in pids)
        {
            try
            {
                foreach (var line in File.ReadLines($"/proc/{pid}/status"))
                {
                    if (!line.StartsWith("VmRSS:", StringComparison.Ordinal))
                        continue;
                    var kib = line["VmRSS:".Length..].Trim().Split(' ')[0];
                    total += long.Parse(kib, CultureInfo.InvariantCulture) * 1024;
                    break;
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Gone meanwhile.
            }
        }
        return total;
    }

    public static bool Signal(int pid, int signal) => kill(pid, signal) == 0;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);
}
