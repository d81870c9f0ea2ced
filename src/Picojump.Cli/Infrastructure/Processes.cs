using System.Runtime.InteropServices;

namespace Picojump.Cli.Infrastructure;

/// <summary>Processes seen through /proc: which are alive, which run a given command line, and killing them.</summary>
public static partial class Processes
{
    private const int SIGKILL = 9;
    private const int SIGTERM = 15;

    /// <summary>Alive and not a zombie (a zombie holds no namespace, mount or file any more).</summary>
    public static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // pid (comm) state ...: comm may hold spaces and parentheses, the state follows the last ')'.
            var afterComm = stat.LastIndexOf(')');
            return afterComm > 0 && afterComm + 2 < stat.Length && stat[afterComm + 2] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>The argument vector of a process, or null if it is gone (or a kernel thread).</summary>
    public static string[]? CommandLine(int pid)
    {
        try
        {
            var raw = File.ReadAllText($"/proc/{pid}/cmdline");
            return raw.Length == 0 ? null : raw.TrimEnd('\0').Split('\0');
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Every live process whose argument vector holds <paramref name="first"/> directly followed by <paramref name="second"/>.</summary>
    public static List<int> WithArguments(string first, string second)
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
                continue;
            var argv = CommandLine(pid);
            if (argv == null)
                continue;
            for (var i = 0; i + 1 < argv.Length; i++)
            {
                if (argv[i] == first && argv[i + 1] == second && IsAlive(pid))
                {
                    found.Add(pid);
                    break;
                }
            }
        }
        return found;
    }

    /// <summary>SIGKILLs the processes and waits until every one is gone; false if some outlived the wait.</summary>
    public static bool KillAndWait(IEnumerable<int> pids, TimeSpan timeout) => SignalAndWait(pids, SIGKILL, timeout);

    /// <summary>SIGTERMs the processes (a clean stop) and waits until every one is gone; false if some outlived the wait.</summary>
    public static bool TerminateAndWait(IEnumerable<int> pids, TimeSpan timeout) => SignalAndWait(pids, SIGTERM, timeout);

    private static bool SignalAndWait(IEnumerable<int> pids, int signal, TimeSpan timeout)
    {
        var victims = pids.Distinct().ToList();
        foreach (var pid in victims)
            kill(pid, signal);
        var deadline = DateTime.UtcNow + timeout;
        while (victims.Any(IsAlive))
        {
            if (DateTime.UtcNow > deadline)
                return false;
            Thread.Sleep(50);
        }
        return true;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);
}
