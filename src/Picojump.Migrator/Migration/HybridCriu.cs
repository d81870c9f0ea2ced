using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Picojump.Migrator.LazyPages;

namespace Picojump.Migrator.Migration;

/// <summary>
/// The CRIU processes of a hybrid migration (CRIU 4.1), run as the daemon in its host's namespaces:
/// the source's <c>criu dump --lazy-pages</c> (it freezes the job, writes every image but the lazy
/// memory, then serves that memory on a loopback port until its one session ends), the
/// destination's <c>criu lazy-pages --page-server</c> daemon and <c>criu restore --lazy-pages</c>.
/// </summary>
internal static class HybridCriu
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Starts <c>criu dump --lazy-pages</c> of the job whose init is <paramref name="pid"/> and connects
    /// to its page server once the images are written (CRIU listens only then). A failed dump leaves
    /// the job running; its first error line is the exception's message.
    /// </summary>
    public static async Task<(Process Dump, CriuPageServerClient Client)> DumpLazyAsync(string criu, int pid, string directory, CancellationToken cancel)
    {
        var port = FreeLoopbackPort();
        var dump = Start(criu, directory, "dump", "-t", pid.ToString(CultureInfo.InvariantCulture), "-D", directory, "-o", "dump.log", "-v4",
            "--lazy-pages", "--address", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture));
        var clock = Stopwatch.StartNew();
        try
        {
            while (true)
            {
                if (dump.HasExited)
                    throw new CriuException($"criu dump failed (exit {dump.ExitCode}): {Criu.FirstError(directory, "dump.log") ?? "no reason logged"}");
                // Connecting is the probe: CRIU serves one session, and this is the one.
                if (IsListening(port))
                {
                    try
                    {
                        return (dump, await CriuPageServerClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cancel));
                    }
                    catch (SocketException) when (!dump.HasExited && clock.Elapsed < StartTimeout)
                    {
                        // Not accepting yet.
                    }
                }
                if (clock.Elapsed > StartTimeout)
                    throw new CriuException($"criu dump --lazy-pages did not serve within {StartTimeout.TotalMinutes:0} minutes");
                await Task.Delay(2, cancel);
            }
        }
        catch
        {
            Kill(dump);
            throw;
        }
    }

    /// <summary>Starts <c>criu lazy-pages --page-server</c> asking 127.0.0.1:<paramref name="port"/>; returns once it waits for the restore.</summary>
    public static Process StartLazyPages(string criu, string directory, int port)
    {
        var daemon = Start(criu, directory, "lazy-pages", "--page-server", "--address", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture),
            "-D", directory, "-o", "lazy-pages.log", "-v4");
        var clock = Stopwatch.StartNew();
        while (!File.Exists(Path.Combine(directory, "lazy-pages.socket")))
        {
            if (daemon.HasExited)
                throw new CriuException($"criu lazy-pages failed (exit {daemon.ExitCode}): {Criu.FirstError(directory, "lazy-pages.log") ?? "no reason logged"}");
            if (clock.Elapsed > TimeSpan.FromSeconds(30))
            {
                Kill(daemon);
                throw new CriuException("criu lazy-pages did not open its socket within 30 s");
            }
            Thread.Sleep(2);
        }
        return daemon;
    }

    /// <summary><c>criu restore --lazy-pages -d --leave-stopped</c>: the job's init (host pid), every task stopped, its lazy memory still away.</summary>
    public static int RestoreLazy(string criu, string directory)
    {
        var pidFile = Path.Combine(directory, "restored.pid");
        File.Delete(pidFile);
        using var restore = Start(criu, directory, "restore", "--lazy-pages", "-D", directory, "-d", "--leave-stopped", "--pidfile", pidFile, "-o", "restore.log", "-v4");
        if (!restore.WaitForExit(StartTimeout))
        {
            Kill(restore);
            throw new CriuException($"criu restore --lazy-pages did not finish within {StartTimeout.TotalMinutes:0} minutes");
        }
        restore.WaitForExit();
        if (restore.ExitCode != 0)
            throw new CriuException($"criu restore failed (exit {restore.ExitCode}): {Criu.FirstError(directory, "restore.log") ?? "no reason logged"}");
        return int.Parse(File.ReadAllText(pidFile).Trim(), NumberStyles.None, CultureInfo.InvariantCulture);
    }

    /// <summary>Waits for a CRIU process to end; kills it if it does not within <paramref name="timeout"/>. Its exit code, or null if killed.</summary>
    public static async Task<int?> WaitAsync(Process process, TimeSpan timeout)
    {
        using var bound = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(bound.Token);
            return process.ExitCode;
        }
        catch (OperationCanceledException)
        {
            Kill(process);
            return null;
        }
    }

    public static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited)
                process.Kill();
        }
        catch (InvalidOperationException)
        {
            // Gone.
        }
    }

    /// <summary>SIGKILLs every criu process working on <paramref name="directory"/> (left by a daemon that died); returns how many.</summary>
    public static int KillLeftovers(string directory)
    {
        var killed = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                continue;
            try
            {
                var arguments = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0');
                if (arguments.Length > 0 && Path.GetFileName(arguments[0]) == "criu" && arguments.Contains(directory, StringComparer.Ordinal))
                {
                    Jobs.JobProcesses.Signal(pid, Jobs.JobProcesses.SIGKILL);
                    killed++;
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Gone meanwhile.
            }
        }
        return killed;
    }

    private static Process Start(string criu, string directory, params string[] arguments)
    {
        var info = new ProcessStartInfo(criu)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = directory,
        };
        foreach (var argument in arguments)
            info.ArgumentList.Add(argument);
        var process = Process.Start(info) ?? throw new CriuException($"cannot start {criu}");
        process.StandardInput.Close();
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static int FreeLoopbackPort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    /// <summary>Whether a socket listens on the loopback port (this network namespace), from /proc/net/tcp: no probe connection, which would take CRIU's only session.</summary>
    private static bool IsListening(int port)
    {
        foreach (var line in File.ReadLines("/proc/net/tcp").Skip(1))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length > 3 && fields[3] == "0A"
                && int.Parse(fields[1].Split(':')[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture) == port)
                return true;
        }
        return false;
    }
}
