using System.Diagnostics;
using Picojump.Migrator.Images;
using Picojump.Migrator.Pages;
using Picojump.Tests.Infrastructure;

namespace Picojump.Tests.Migration;

/// <summary>
/// The policy's sample of a running job's memory: hashes of pages read through /proc/PID/mem
/// from a live python3 process whose writable memory is mostly a known 64 MiB random buffer,
/// then checked against a page store holding half of that buffer, as a candidate host's would.
/// </summary>
public sealed class MemorySampleTests : IDisposable
{
    private const int BufferBytes = 64 << 20;

    private const string Script = """
        import mmap, os, sys, time
        data = mmap.mmap(-1, 64 << 20)
        data.write(os.urandom(64 << 20))
        with open(sys.argv[1], "wb") as f:
            f.write(data)
        print("ready", flush=True)
        time.sleep(600)
        """;

    private readonly string _directory = Directory.CreateTempSubdirectory("pj-sample-").FullName;
    private Process? _job;

    public void Dispose()
    {
        if (_job is { HasExited: false })
            _job.Kill();
        _job?.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [SkippableFact]
    public void A_sample_of_a_live_job_finds_its_pages_and_a_store_holding_half_of_them_holds_about_half()
    {
        Prerequisites.RequireRoot();
        Prerequisites.RequireCommand("python3");
        var bufferPath = Path.Combine(_directory, "buffer.bin");
        _job = Process.Start(new ProcessStartInfo("python3", ["-c", Script, bufferPath]) { RedirectStandardOutput = true })!;
        Assert.Equal("ready", _job.StandardOutput.ReadLine());

        var buffer = File.ReadAllBytes(bufferPath);
        var pages = Enumerable.Range(0, BufferBytes / Pagemap.PageSize)
            .Select(i => PageHash.Of(buffer.AsSpan(i * Pagemap.PageSize, Pagemap.PageSize)))
            .ToList();
        var sample = MemorySample.NonZeroPages([_job.Id], 1024, new Random(7));
        Assert.DoesNotContain(PageHash.ZeroPage, sample);
        var inBuffer = pages.ToHashSet();
        var share = (double)sample.Count(inBuffer.Contains) / sample.Count;
        // The buffer is most, not all, of the interpreter's private writable memory.
        Assert.True(share > 0.6, $"{share:P0} of {sample.Count} sampled pages are the job's buffer");

        using var store = new PageStore(new PageStoreOptions { Directory = Path.Combine(_directory, "store"), MemoryBytes = 16 << 20, MaxBytes = 256 << 20, CheckpointInterval = TimeSpan.Zero });
        for (var i = 0; i < pages.Count; i += 2)
            store.Put(pages[i], buffer.AsSpan(i * Pagemap.PageSize, Pagemap.PageSize));
        var held = (double)(sample.Count - store.Missing(sample).Count) / sample.Count;
        Assert.InRange(held, share / 2 - 0.12, share / 2 + 0.12);
    }

    [Fact]
    public void A_process_that_is_gone_gives_no_sample()
        => Assert.Empty(MemorySample.NonZeroPages([int.MaxValue], 64, new Random(7)));
}
