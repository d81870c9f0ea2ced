using System.Diagnostics;
using System.Text.RegularExpressions;
using Picojump.Tests.Infrastructure;

namespace Picojump.Tests.Migration;

/// <summary>
/// A real, unmodified python3 job in its own PID namespace and session, dumped once with CRIU
/// (which kills it) and restorable from that dump or a rebuilt copy of it, in this host's
/// namespaces. Its memory: 32 MiB of random bytes in an anonymous mapping (page-aligned, also
/// written to buffer.bin so their page hashes are known) and 4 MiB of touched zero pages. Every
/// tick it prints the sha256 of the 32 MiB, so a restored copy shows its memory is intact.
/// </summary>
public sealed partial class CriuTestJob : IDisposable
{
    private const string Script = """
        import hashlib, mmap, os, time
        os.closerange(3, 1024)  # CRIU must see no fd from outside the job
        size = 32 << 20
        data = mmap.mmap(-1, size)
        data.write(os.urandom(size))
        zeros = mmap.mmap(-1, 4 << 20)
        for offset in range(0, 4 << 20, 4096):
            zeros[offset] = 0  # a real, dirty page of zeros
        with open("buffer.bin", "wb") as f:
            f.write(data)
        digest = hashlib.sha256(data).hexdigest()
        print("ready", digest, flush=True)
        tick = 0
        while True:
            time.sleep(0.2)
            tick += 1
            print("tick", tick, hashlib.sha256(data).hexdigest(), flush=True)
        """;

    private readonly List<int> _restored = [];
    private long _outputLengthAtDump;
    private int _lastTickAtDump;

    private CriuTestJob(string directory) => WorkDirectory = directory;

    public string WorkDirectory { get; }

    public string ImagesDirectory => Path.Combine(WorkDirectory, "images");

    public string BufferPath => Path.Combine(WorkDirectory, "buffer.bin");

    private string OutputPath => Path.Combine(WorkDirectory, "out.txt");

    /// <summary>The sha256 of the 32 MiB buffer, as the job printed it.</summary>
    public string Digest { get; private set; } = "";

    public static void RequireCriu()
    {
        Prerequisites.RequireRoot();
        Prerequisites.RequireCommand("criu");
        Prerequisites.RequireCommand("python3");
        Prerequisites.RequireCommand("unshare");
    }

    /// <summary>Starts the job, waits until its memory is built, then dumps it (CRIU kills it).</summary>
    public static CriuTestJob StartAndDump()
    {
        var job = new CriuTestJob(Directory.CreateTempSubdirectory("pj-criujob-").FullName);
        try
        {
            File.WriteAllText(Path.Combine(job.WorkDirectory, "job.py"), Script);
            var init = job.Start();
            job.Dump(init);
            return job;
        }
        catch
        {
            job.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Restores the job from <paramref name="imagesDirectory"/>, checks it goes on ticking with the
    /// same memory, then kills it. <paramref name="outputGrowth"/>: bytes another writer added to
    /// out.txt (open in the job) while it was frozen.
    /// </summary>
    public void RestoreAndCheck(string imagesDirectory, int outputGrowth = 0)
    {
        SetOutputLength(outputGrowth);
        var pidFile = Path.Combine(WorkDirectory, "restored.pid");
        File.Delete(pidFile);
        Criu("restore", "-D", imagesDirectory, "-d", "--pidfile", pidFile, "-o", "restore.log", "-v4");
        var pid = int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        _restored.Add(pid);
        try
        {
            var tick = WaitForLine(JobOutput.TickLine(), m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) > _lastTickAtDump + 2);
            Assert.Equal(Digest, tick.Groups[2].Value);
        }
        finally
        {
            Kill(pid);
        }
    }

    /// <summary>A restore that must fail: out.txt grew by <paramref name="outputGrowth"/> bytes; gives the errors CRIU logged.</summary>
    public string RestoreFailure(string imagesDirectory, int outputGrowth)
    {
        SetOutputLength(outputGrowth);
        var result = ExternalProgram.Run("criu", ["restore", "-D", imagesDirectory, "-d", "-o", "restore.log", "-v4"], WorkDirectory, TimeSpan.FromSeconds(120));
        Assert.True(result.ExitCode != 0, "criu restore succeeded");
        return string.Join('\n', File.ReadLines(Path.Combine(imagesDirectory, "restore.log")).Where(l => l.Contains("Error", StringComparison.Ordinal)));
    }

    /// <summary>CRIU checks that out.txt has the length it had at the dump: undo an earlier restore's ticks, then add the growth.</summary>
    private void SetOutputLength(int growth)
    {
        using var output = new FileStream(OutputPath, FileMode.Open, FileAccess.Write);
        output.SetLength(_outputLengthAtDump + growth);
    }

    public void Dispose()
    {
        foreach (var pid in _restored)
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

    private int Start()
    {
        // The session leader must be inside the PID namespace (FINDINGS): unshare forks, setsid, then the job.
        var start = new ProcessStartInfo("unshare") { WorkingDirectory = WorkDirectory, UseShellExecute = false };
        foreach (var argument in new[] { "--pid", "--fork", "setsid", "sh", "-c", "exec python3 job.py >out.txt 2>err.txt </dev/null" })
        {
            start.ArgumentList.Add(argument);
        }
        using var unshare = Process.Start(start) ?? throw new InvalidOperationException("unshare did not start");
        var ready = WaitForLine(JobOutput.ReadyLine(), _ => true);
        Digest = ready.Groups[1].Value;
        // The namespace's init is unshare's only child.
        var children = File.ReadAllText($"/proc/{unshare.Id}/task/{unshare.Id}/children").Trim();
        return int.Parse(children, System.Globalization.CultureInfo.InvariantCulture);
    }

    private void Dump(int init)
    {
        Directory.CreateDirectory(ImagesDirectory);
        _lastTickAtDump = LastTick();
        Criu("dump", "-t", init.ToString(System.Globalization.CultureInfo.InvariantCulture), "-D", ImagesDirectory, "-o", "dump.log", "-v4");
        _outputLengthAtDump = new FileInfo(OutputPath).Length;
        _lastTickAtDump = LastTick();
    }

    private int LastTick() => JobOutput.LastTick(OutputPath);

    private Match WaitForLine(Regex pattern, Func<Match, bool> accept) => JobOutput.WaitForLine(WorkDirectory, OutputPath, pattern, accept);

    private void Criu(params string[] arguments)
    {
        var result = ExternalProgram.Run("criu", arguments, WorkDirectory, TimeSpan.FromSeconds(120));
        if (result.ExitCode != 0)
        {
            var log = Path.Combine(arguments[Array.IndexOf(arguments, "-D") + 1], arguments[Array.IndexOf(arguments, "-o") + 1]);
            var errors = File.Exists(log) ? string.Join('\n', File.ReadLines(log).Where(l => l.Contains("Error", StringComparison.Ordinal))) : "(no log)";
            Assert.Fail($"criu {arguments[0]} failed\n{result.Describe()}\n--- errors in {log} ---\n{errors}");
        }
    }

    private static void Kill(int pid)
    {
        // The job is its namespace's init: only SIGKILL ends it.
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
