using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Picojump.Cli.Infrastructure;

namespace Picojump.Cli.Demo;

// The data: three datasets written straight into the owners' exports before any job runs, the
// job's program in h1's export, and the copy-first run's copies made through h1's /pj.
public sealed partial class DemoRun
{
    /// <summary>A then B then C: the job should go to h2, then h3, then back to h2.</summary>
    public static readonly IReadOnlyList<Dataset> Datasets = [new("A", "h2"), new("B", "h3"), new("C", "h2")];

    private const string DemoDirectory = "/pj/demo";
    private const string ProgramPath = DemoDirectory + "/phases.py";
    private const string CopyDirectory = DemoDirectory + "/copy";

    /// <summary>Files of at most 64 MiB: a pass shows progress file by file.</summary>
    private const int MaxFileMiB = 64;

    private static readonly TimeSpan CopyTimeout = TimeSpan.FromMinutes(30);

    private static string DataDirectory(Dataset dataset) => $"{DemoDirectory}/data/{dataset.Name}";

    /// <summary>A path under /pj in the export of <paramref name="host"/>, as this process (outside the hosts) sees it.</summary>
    private string InExport(string host, string pjPath) => Path.Combine(_cluster.ResolveHost(host).Export, pjPath["/pj/".Length..]);

    /// <summary>
    /// Sample files on h2 read from h1 with dd (cold: no host cached them), the first to open
    /// the connections and warm the daemons up; the rate of the others, as dd times it (not
    /// the start of the commands, which a busy machine slows), sizes the datasets. They are
    /// larger: a 64 MiB sample was read mostly while the read-ahead window and the daemons'
    /// code were still warming up, and said a third of the rate the runs then saw. The faster
    /// of two counts: on a shared machine noise only ever slows a read, and one slow sample
    /// made datasets so small that the moves' fixed costs dominated.
    /// </summary>
    private int Calibrate()
    {
        var rate = 0.0;
        foreach (var (sample, sampleMiB) in new[] { ("warm-up", 64), ("measure-1", 256), ("measure-2", 256) })
        {
            var path = $"{DemoDirectory}/calibration-{sample}";
            Directory.CreateDirectory(InExport("h2", DemoDirectory));
            WriteRandom(InExport("h2", path), (long)sampleMiB << 20);
            var said = OnH1(["dd", $"if={path}", "of=/dev/null", "bs=1M"], TimeSpan.FromMinutes(5));
            // "67108864 bytes (67 MB, 64 MiB) copied, 1.05 s, 64.0 MB/s"
            var seconds = DdSeconds().Match(said);
            if (!seconds.Success || !double.TryParse(seconds.Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var taken) || taken <= 0)
                throw new CliException($"cannot read the time from dd's report: {said.Trim()}");
            if (sample != "warm-up")
                rate = Math.Max(rate, sampleMiB / taken);
            OnH1(["rm", path], TimeSpan.FromMinutes(1));
        }
        var size = (int)Math.Clamp(rate * DemoOptions.RemotePassTarget.TotalSeconds, DemoOptions.MinAutoSizeMiB, DemoOptions.MaxAutoSizeMiB);
        size = size / MaxFileMiB * MaxFileMiB;
        _out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"h1 reads h2's files at {rate:0} MiB/s here: datasets of {Mib(size)}, about {DemoOptions.RemotePassTarget.TotalSeconds:0} s per remote pass."));
        CheckFreeSpace(size);
        return size;
    }

    [GeneratedRegex(@"copied, ([0-9.]+) s")]
    private static partial Regex DdSeconds();

    private static void WriteRandom(string path, long bytes)
    {
        // Random bytes: nothing on the way can compress them.
        var buffer = new byte[1 << 20];
        using var file = File.Create(path);
        for (var left = bytes; left > 0; left -= buffer.Length)
        {
            Random.Shared.NextBytes(buffer);
            file.Write(buffer, 0, (int)Math.Min(left, buffer.Length));
        }
    }

    private void PlaceData()
    {
        var files = Math.Max(1, _sizeMiB / MaxFileMiB);
        var fileBytes = ((long)_sizeMiB << 20) / files;
        foreach (var dataset in Datasets)
        {
            var directory = InExport(dataset.Host, DataDirectory(dataset));
            Directory.CreateDirectory(directory);
            for (var i = 0; i < files; i++)
            {
                Stopping.ThrowIfCancellationRequested();
                WriteRandom(Path.Combine(directory, $"part{i:D3}"), fileBytes);
            }
        }
        using var program = typeof(DemoRun).Assembly.GetManifestResourceStream("Picojump.Cli.Demo.phases.py")
            ?? throw new CliException("pjctl was built without its demo program (Picojump.Cli.Demo.phases.py)");
        Directory.CreateDirectory(InExport("h1", DemoDirectory));
        using var target = File.Create(InExport("h1", ProgramPath));
        program.CopyTo(target);
    }

    /// <summary>
    /// What the job must print for each dataset, from the owners' export files themselves: the
    /// CRC-32 of its files in the job's order, read <see cref="DemoOptions.Passes"/> times (the
    /// job chains one CRC through every pass). The runs are checked against this, not against
    /// each other, so that a mismatch names the run that read wrong bytes.
    /// </summary>
    private Dictionary<string, string> ExpectedChecksums()
    {
        var expected = new Dictionary<string, string>(StringComparer.Ordinal);
        var buffer = new byte[1 << 20];
        foreach (var dataset in Datasets)
        {
            var crc = new System.IO.Hashing.Crc32();
            var files = Directory.GetFiles(InExport(dataset.Host, DataDirectory(dataset))).Order(StringComparer.Ordinal).ToList();
            for (var pass = 0; pass < options.Passes; pass++)
            {
                foreach (var path in files)
                {
                    Stopping.ThrowIfCancellationRequested();
                    using var file = File.OpenRead(path);
                    int read;
                    while ((read = file.Read(buffer)) > 0)
                        crc.Append(buffer.AsSpan(0, read));
                }
            }
            expected[dataset.Name] = crc.GetCurrentHashAsUInt32().ToString("x8", CultureInfo.InvariantCulture);
        }
        return expected;
    }

    /// <summary>The job's command line, reading each dataset at <paramref name="directoryOf"/>.</summary>
    private string[] JobCommand(Func<Dataset, string> directoryOf)
        => [Python, ProgramPath, options.Passes.ToString(System.Globalization.CultureInfo.InvariantCulture),
            .. Datasets.Select(d => $"{d.Name}={directoryOf(d)}")];

    /// <summary>The system's python3: a version manager's shim on PATH would be one more process to move.</summary>
    private static string Python => File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

    /// <summary>cp on h1, through its /pj: every byte comes over the network once, and lands in h1's export.</summary>
    private void CopyToH1()
        => OnH1(["sh", "-c", $"mkdir -p {CopyDirectory} && cp -r {string.Join(' ', Datasets.Select(DataDirectory))} {CopyDirectory}/"], CopyTimeout);

    /// <summary>
    /// Every copy against its source, byte for byte, in the exports: a wrong checksum of the
    /// copy-first run then says whether cp made a wrong copy or the job read a right one wrong.
    /// </summary>
    private void CheckCopies()
    {
        foreach (var dataset in Datasets)
        {
            var source = InExport(dataset.Host, DataDirectory(dataset));
            foreach (var path in Directory.GetFiles(source).Order(StringComparer.Ordinal))
            {
                Stopping.ThrowIfCancellationRequested();
                var relative = $"{dataset.Name}/{Path.GetFileName(path)}";
                if (FirstDifference(path, InExport("h1", $"{CopyDirectory}/{relative}")) is { } difference)
                    throw new CliException($"cp through h1's /pj copied {relative} wrong: {difference}");
            }
        }
    }

    /// <summary>Where <paramref name="copy"/> first differs from <paramref name="original"/>, in words; null if nowhere.</summary>
    private static string? FirstDifference(string original, string copy)
    {
        if (!File.Exists(copy))
            return "the copy is missing";
        using var left = File.OpenRead(original);
        using var right = File.OpenRead(copy);
        var a = new byte[1 << 20];
        var b = new byte[1 << 20];
        for (long offset = 0; ; offset += a.Length)
        {
            var n = left.ReadAtLeast(a, a.Length, throwOnEndOfStream: false);
            var m = right.ReadAtLeast(b, b.Length, throwOnEndOfStream: false);
            var same = a.AsSpan(0, n).CommonPrefixLength(b.AsSpan(0, m));
            if (same < Math.Max(n, m))
                return $"{right.Length} bytes where the source has {left.Length}, the first difference at byte {offset + same}";
            if (n < a.Length)
                return null;
        }
    }

    private static string CopyOf(Dataset dataset) => $"{CopyDirectory}/{dataset.Name}";

    private void RemoveCopies() => OnH1(["rm", "-rf", CopyDirectory], TimeSpan.FromMinutes(2));

    /// <summary>Runs a command on h1 and returns what it wrote on stderr; Ctrl-C kills it rather than waiting for it.</summary>
    private string OnH1(IReadOnlyList<string> command, TimeSpan timeout)
    {
        var info = new ProcessStartInfo { RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = true };
        foreach (var argument in DevCluster.DevCluster.Enter(_cluster.ResolveHost("h1"), command))
            info.ArgumentList.Add(argument);
        info.FileName = info.ArgumentList[0];
        info.ArgumentList.RemoveAt(0);
        using var process = Process.Start(info) ?? throw new CliException($"cannot start {info.FileName}");
        process.StandardInput.Close();
        var error = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(Stopping);
        timer.CancelAfter(timeout);
        try
        {
            process.WaitForExitAsync(timer.Token).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Stopping.ThrowIfCancellationRequested();
            throw new CliException($"on h1, {string.Join(' ', command)} did not finish within {timeout.TotalMinutes:0} min");
        }
        if (process.ExitCode != 0)
            throw new CliException($"on h1, {string.Join(' ', command)} failed (exit {process.ExitCode}): {error.Result.Trim()}");
        return error.Result;
    }
}
