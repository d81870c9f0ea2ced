using System.Diagnostics;
using System.Globalization;
using Picojump.Migrator.Images;

namespace Picojump.Migrator.Migration;

/// <summary>CRIU's dump and restore, run as the daemon (in its host's namespaces), with their logs read for the reason of a failure.</summary>
internal sealed class Criu(string? path, string sharedRoot)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(10);

    private readonly Lazy<string> _binary = new(() => path ?? Find());

    public string Binary => _binary.Value;

    /// <summary>Dumps (and so kills) the job whose namespace init is <paramref name="pid"/> into <paramref name="directory"/>.</summary>
    public void Dump(int pid, string directory)
        => Run(["dump", "-t", pid.ToString(CultureInfo.InvariantCulture), "-D", directory, "-v4", "-o", "dump.log"], directory, "dump.log", "dump");

    /// <summary>Takes the sizes of shared files (under /pj) out of a dump before it is restored: see <see cref="FilesImage"/>.</summary>
    public void ForgetSharedFileSizes(string directory) => FilesImage.ForgetSizesUnder(directory, sharedRoot);

    /// <summary>Restores detached; returns the init's pid (host view). <paramref name="stopped"/>: every task is left stopped.</summary>
    public int Restore(string directory, bool stopped, string pidFileName)
    {
        ForgetSharedFileSizes(directory);
        var pidFile = Path.Combine(directory, pidFileName);
        File.Delete(pidFile);
        var log = stopped ? "restore.log" : "restore-local.log";
        List<string> arguments = ["restore", "-D", directory, "-d", "--pidfile", pidFile, "-v4", "-o", log];
        if (stopped)
            arguments.Add("--leave-stopped");
        Run(arguments, directory, log, "restore");
        return int.Parse(File.ReadAllText(pidFile).Trim(), NumberStyles.None, CultureInfo.InvariantCulture);
    }

    /// <summary>Whether the dump in <paramref name="directory"/> completed (its log says so).</summary>
    public static bool DumpCompleted(string directory)
    {
        var log = Path.Combine(directory, "dump.log");
        try
        {
            return File.Exists(log) && File.ReadLines(log).Any(l => l.Contains("Dumping finished successfully", StringComparison.Ordinal));
        }
        catch (IOException)
        {
            return false;
        }
    }

    private void Run(IReadOnlyList<string> arguments, string directory, string logName, string what)
    {
        var info = new ProcessStartInfo(Binary)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = directory,
        };
        foreach (var argument in arguments)
            info.ArgumentList.Add(argument);
        using var process = Process.Start(info) ?? throw new CriuException($"criu {what}: cannot start {Binary}");
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Timeout))
        {
            process.Kill();
            throw new CriuException($"criu {what} did not finish within {Timeout.TotalMinutes:0} minutes");
        }
        process.WaitForExit();
        if (process.ExitCode == 0)
            return;
        var reason = FirstError(directory, logName) ?? error.Result.Trim().Split('\n').LastOrDefault() ?? "";
        throw new CriuException($"criu {what} failed (exit {process.ExitCode}): {reason}");
    }

    /// <summary>The first "Error" line of a CRIU log, without its timestamp prefix.</summary>
    public static string? FirstError(string directory, string logName)
    {
        try
        {
            var log = Path.Combine(directory, logName);
            if (!File.Exists(log))
                return null;
            var line = File.ReadLines(log).FirstOrDefault(l => l.Contains("Error", StringComparison.Ordinal) && !l.Contains("rlimit", StringComparison.Ordinal));
            if (line == null)
                return null;
            var close = line.IndexOf(')', StringComparison.Ordinal);
            return (close > 0 && line.StartsWith('(') ? line[(close + 1)..] : line).Trim();
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static string Find()
    {
        foreach (var directory in ("/usr/local/sbin:/usr/sbin:/sbin:" + Environment.GetEnvironmentVariable("PATH")).Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, "criu");
            if (Path.IsPathFullyQualified(candidate) && File.Exists(candidate))
                return candidate;
        }
        throw new CriuException("criu is not installed (./install.sh installs CRIU 4.1)");
    }
}

public sealed class CriuException : Exception
{
    public CriuException(string message) : base(message) { }

    public CriuException() { }

    public CriuException(string message, Exception inner) : base(message, inner) { }
}
