using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Picojump.Tests.Infrastructure;
using Picojump.Tests.Migration;

namespace Picojump.Tests.LazyPages;

/// <summary>
/// A real, unmodified python3 job for lazy restores, started as the Migration tests start theirs
/// (its own PID namespace and session, no fd from outside): 64 MiB of deterministic
/// pseudo-random bytes in a private anonymous mapping (the memory CRIU can restore lazily;
/// Python's default mmap is MAP_SHARED, which CRIU dumps as shmem and never restores lazily),
/// and a sha256 of them printed every half second.
/// </summary>
public sealed partial class LazyTestJob : IDisposable
{
    public const int StateMiB = 64;

    private const string Script = """
        import hashlib, mmap, os, random, time
        os.closerange(3, 1024)  # CRIU must see no fd from outside the job
        size = 64 << 20
        data = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        data.write(random.Random(4).randbytes(size))
        print("ready", hashlib.sha256(data).hexdigest(), flush=True)
        tick = 0
        while True:
            time.sleep(0.5)
            tick += 1
            print("tick", tick, hashlib.sha256(data).hexdigest(), flush=True)
        """;

    private readonly List<int> _restored = [];
    private readonly List<Process> _background = [];

    private LazyTestJob(string directory) => WorkDirectory = directory;

    public string WorkDirectory { get; }

    private string OutputPath => Path.Combine(WorkDirectory, "out.txt");

    /// <summary>The sha256 the job printed before its dump.</summary>
    public string Digest { get; private set; } = "";

    /// <summary>The pid of the job (its namespace's init) on this host.</summary>
    public int Pid { get; private set; }

    public int LastTickAtDump { get; private set; }

    public static void RequireCriu()
    {
        Prerequisites.RequireRoot();
        Prerequisites.RequireCommand("criu");
        Prerequisites.RequireCommand("python3");
        Prerequisites.RequireCommand("unshare");
        Prerequisites.Require(File.Exists("/proc/sys/fs/pipe-max-size")
            && long.Parse(File.ReadAllText("/proc/sys/fs/pipe-max-size").Trim(), CultureInfo.InvariantCulture) >= 8 << 20,
            "fs.pipe-max-size >= 8 MiB (CRIU's page server needs it here; ./install.sh sets it)");
    }

    public static LazyTestJob Start()
    {
        var job = new LazyTestJob(Directory.CreateTempSubdirectory("pj-lazyjob-").FullName);
        try
        {
            File.WriteAllText(Path.Combine(job.WorkDirectory, "job.py"), Script);
            var start = new ProcessStartInfo("unshare") { WorkingDirectory = job.WorkDirectory, UseShellExecute = false };
            foreach (var argument in new[] { "--pid", "--fork", "setsid", "sh", "-c", "exec python3 job.py >out.txt 2>err.txt </dev/null" })
            {
                start.ArgumentList.Add(argument);
            }
            using var unshare = Process.Start(start) ?? throw new InvalidOperationException("unshare did not start");
            job.Digest = job.WaitForLine(JobOutput.ReadyLine(), _ => true).Groups[1].Value;
            job.Pid = int.Parse(File.ReadAllText($"/proc/{unshare.Id}/task/{unshare.Id}/children").Trim(), CultureInfo.InvariantCulture);
            return job;
        }
        catch
        {
            job.Dispose();
            throw;
        }
    }

    /// <summary>A full <c>criu dump</c> into <paramref name="images"/>: the job is gone afterwards.</summary>
    public TimeSpan DumpFull(string images)
    {
        Directory.CreateDirectory(images);
        var clock = Stopwatch.StartNew();
        Criu(images, "dump", "-t", Pid.ToString(CultureInfo.InvariantCulture), "-D", images, "-o", "dump.log", "-v4");
        clock.Stop();
        LastTickAtDump = LastTick();
        return clock.Elapsed;
    }

    /// <summary>
    /// <c>criu dump --lazy-pages</c> serving the frozen job's lazy pages on <paramref name="port"/>;
    /// returns once the images are written and its page server listens. The process ends after
    /// its page-server session closes (then the job is gone).
    /// </summary>
    public Process DumpLazy(string images, int port)
    {
        Directory.CreateDirectory(images);
        var dump = StartCriu(images, "dump", "-t", Pid.ToString(CultureInfo.InvariantCulture), "-D", images, "-o", "dump.log", "-v4",
            "--lazy-pages", "--address", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture));
        WaitUntil(() => IsListening(port) || dump.HasExited, $"criu dump --lazy-pages listening on {port}");
        if (dump.HasExited)
        {
            Assert.Fail($"criu dump --lazy-pages exited {dump.ExitCode}: {Errors(images, "dump.log")}");
        }
        LastTickAtDump = LastTick();
        return dump;
    }

    /// <summary><c>criu lazy-pages --page-server</c> on <paramref name="images"/>, asking 127.0.0.1:<paramref name="port"/>; returns once it waits for the restore.</summary>
    public Process StartLazyPagesDaemon(string images, int port)
    {
        var daemon = StartCriu(images, "lazy-pages", "--page-server", "--address", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture),
            "-D", images, "-o", "lazy-pages.log", "-v4");
        WaitUntil(() => File.Exists(Path.Combine(images, "lazy-pages.socket")) || daemon.HasExited, "the lazy-pages socket");
        if (daemon.HasExited)
        {
            Assert.Fail($"criu lazy-pages exited {daemon.ExitCode}: {Errors(images, "lazy-pages.log")}");
        }
        return daemon;
    }

    /// <summary><c>criu restore --lazy-pages -d</c>: returns when the job runs again (its lazy memory still away).</summary>
    public TimeSpan RestoreLazy(string images)
    {
        var pidFile = Path.Combine(WorkDirectory, "restored.pid");
        File.Delete(pidFile);
        // No redirected output and a plain wait: nothing here waits for the thread pool, so the
        // time measured is criu's, not the test host's.
        var start = new ProcessStartInfo("criu") { WorkingDirectory = WorkDirectory, UseShellExecute = false };
        foreach (var argument in new[] { "restore", "--lazy-pages", "-D", images, "-d", "--pidfile", pidFile, "-o", "restore.log", "-v4" })
        {
            start.ArgumentList.Add(argument);
        }
        var clock = Stopwatch.StartNew();
        using (var restore = Process.Start(start) ?? throw new InvalidOperationException("criu did not start"))
        {
            if (!restore.WaitForExit(TimeSpan.FromSeconds(120)))
            {
                restore.Kill();
                Assert.Fail($"criu restore --lazy-pages did not end in 120 s: {Errors(images, "restore.log")}");
            }
            clock.Stop();
            if (restore.ExitCode != 0)
            {
                Assert.Fail($"criu restore --lazy-pages exited {restore.ExitCode}: {Errors(images, "restore.log")}");
            }
        }
        _restored.Add(int.Parse(File.ReadAllText(pidFile).Trim(), CultureInfo.InvariantCulture));
        return clock.Elapsed;
    }

    /// <summary>Waits for ticks after the dump's, each with the digest the job printed before it.</summary>
    public void AssertContinuesWithTheSameMemory(int ticks = 2)
    {
        var tick = WaitForLine(JobOutput.TickLine(), m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) >= LastTickAtDump + ticks);
        Assert.Equal(Digest, tick.Groups[2].Value);
        Assert.All(File.ReadAllLines(OutputPath).Select(l => JobOutput.TickLine().Match(l)).Where(m => m.Success), m => Assert.Equal(Digest, m.Groups[2].Value));
    }

    public static int WaitForExit(Process process, string images, string log)
    {
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            Assert.Fail($"criu did not end in 60 s: {Errors(images, log)}");
        }
        return process.ExitCode;
    }

    public static string Errors(string images, string log)
    {
        var path = Path.Combine(images, log);
        return File.Exists(path) ? string.Join('\n', File.ReadLines(path).Where(l => l.Contains("Error", StringComparison.Ordinal)).TakeLast(20)) : "(no log)";
    }

    public void Dispose()
    {
        foreach (var process in _background)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill();
                    process.WaitForExit(5000);
                }
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
            process.Dispose();
        }
        foreach (var pid in _restored.Append(Pid))
        {
            Kill(pid);
        }
        try
        {
            Directory.Delete(WorkDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A process being killed may still hold a file; the temp directory is cleaned later.
        }
    }

    private Process StartCriu(string images, params string[] arguments)
    {
        Directory.CreateDirectory(images);
        var start = new ProcessStartInfo("criu") { WorkingDirectory = WorkDirectory, UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        var process = Process.Start(start) ?? throw new InvalidOperationException("criu did not start");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _background.Add(process);
        return process;
    }

    private void Criu(string images, params string[] arguments)
    {
        var result = ExternalProgram.Run("criu", arguments, WorkDirectory, TimeSpan.FromSeconds(120));
        if (result.ExitCode != 0)
        {
            Assert.Fail($"criu {arguments[0]} failed\n{result.Describe()}\n--- errors ---\n{Errors(images, arguments[Array.IndexOf(arguments, "-o") + 1])}");
        }
    }

    /// <summary>Whether a socket listens on the port, read from /proc/net/tcp: a probe connection would take a CRIU server's only session.</summary>
    private static bool IsListening(int port)
        => File.ReadLines("/proc/net/tcp").Skip(1).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Any(f => f[3] == "0A" && int.Parse(f[1].Split(':')[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture) == port);

    private static void WaitUntil(Func<bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(60))
            {
                Assert.Fail($"waited 60 s for {what}");
            }
            Thread.Sleep(10);
        }
    }

    private int LastTick() => JobOutput.LastTick(OutputPath);

    private Match WaitForLine(Regex pattern, Func<Match, bool> accept) => JobOutput.WaitForLine(WorkDirectory, OutputPath, pattern, accept);

    /// <summary>Kills the job's process, after checking the pid still is the job and not a process that reused it.</summary>
    private static void Kill(int pid)
    {
        try
        {
            if (pid <= 0 || !File.ReadAllText($"/proc/{pid}/cmdline").Contains("job.py", StringComparison.Ordinal))
            {
                return;
            }
        }
        catch (IOException)
        {
            return;
        }
        catch (UnauthorizedAccessException)
        {
            return;
        }
        try
        {
            using var process = Process.GetProcessById(pid);
            process.Kill();
            process.WaitForExit(5000);
        }
        catch (ArgumentException)
        {
            // Already gone.
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }
}
