using System.Net;
using Picojump.Migrator.Images;
using Picojump.Migrator.LazyPages;
using Picojump.Migrator.Pages;
using Xunit.Abstractions;

namespace Picojump.Tests.LazyPages;

/// <summary>
/// Real lazy restores with CRIU 4.1.1 whose every lazy page comes from <see cref="LazyPageServer"/>:
/// the job resumes before its memory is back and goes on with the same memory.
/// </summary>
public sealed class LazyRestoreTests(ITestOutputHelper output)
{
    /// <summary>
    /// Full dump, lazy pages taken out of the images, then criu restore --lazy-pages with
    /// criu lazy-pages --page-server asking our server, which serves half of the pages from a
    /// page store and pulls the rest from the dump's pages (standing in for the source host).
    /// </summary>
    [SkippableFact]
    public async Task AFullDumpRestoresLazilyFromOurServerHalfFromTheStore()
    {
        LazyTestJob.RequireCriu();
        using var job = LazyTestJob.Start();
        var source = Path.Combine(job.WorkDirectory, "source");
        var dumpTime = job.DumpFull(source);

        var map = LazyPageMap.FromDump(source);
        Assert.True(map.PageCount >= LazyTestJob.StateMiB << 8, $"{map.PageCount} lazy pages");
        var destination = Path.Combine(job.WorkDirectory, "destination");
        Assert.Equal(map.PageCount, LazyImages.WithoutLazyPages(source, destination));

        // The destination's store already holds every other distinct page.
        using var store = new PageStore(new PageStoreOptions { Directory = Path.Combine(job.WorkDirectory, "store"), MemoryBytes = 64 << 20, MaxBytes = 512 << 20, CheckpointInterval = TimeSpan.Zero });
        using var sourcePages = new DumpImagePageSource(source);
        var seen = new HashSet<PageHash>();
        var distinct = map.Tasks.SelectMany(pid => map.PagesOf(pid).Select(p => (p.Hash, Pid: pid, p.Vaddr))).Where(p => seen.Add(p.Hash)).ToList();
        var page = new byte[Pagemap.PageSize];
        foreach (var (hash, pid, vaddr) in distinct.Where((_, i) => i % 2 == 0))
        {
            Assert.Equal(1, await sourcePages.ReadAsync(pid, vaddr, 1, page, default));
            store.Put(hash, page);
        }

        var lazySource = new HashedLazyPageSource(map, store, sourcePages);
        await using var server = new LazyPageServer(lazySource, new IPEndPoint(IPAddress.Loopback, 0));
        server.Start();
        using var daemon = job.StartLazyPagesDaemon(destination, server.EndPoint.Port);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var resume = job.RestoreLazy(destination);
        var pagesAtResume = server.Stats.PagesServed;
        await server.Completion.WaitAsync(TimeSpan.FromSeconds(60));
        var allPages = clock.Elapsed;
        Assert.Equal(0, LazyTestJob.WaitForExit(daemon, destination, "lazy-pages.log"));

        job.AssertContinuesWithTheSameMemory();
        var counts = lazySource.Counts;
        var stats = server.Stats;
        output.WriteLine($"dump {dumpTime.TotalMilliseconds:F0} ms; {map.PageCount} lazy pages ({map.PageCount * Pagemap.PageSize >> 20} MiB), {distinct.Count} distinct");
        output.WriteLine($"resumed after {resume.TotalMilliseconds:F0} ms ({pagesAtResume} pages served by then); every page in after {allPages.TotalMilliseconds:F0} ms");
        output.WriteLine($"{stats.Requests} requests, {stats.PagesServed} pages served ({stats.InSource.TotalMilliseconds:F0} ms in the page source): {counts.FromStore} from the store, {counts.Fetched} fetched, {counts.FetchedUnhashed} unhashed");
        Assert.Equal(stats.PagesServed, counts.Pages);
        // Every lazy page was asked for once, unless the job unmapped some of it first.
        Assert.InRange(stats.PagesServed, LazyTestJob.StateMiB << 8, map.PageCount);
        Assert.True(counts.FromStore > 0 && counts.Fetched > 0 && counts.FetchedUnhashed == 0, counts.ToString());
        Assert.True(resume < allPages, "the job resumed only once its memory was back");
    }

    /// <summary>
    /// CRIU's own post-copy source, criu dump --lazy-pages, keeps the job frozen and serves its
    /// lazy pages; our server stands in front of it on the destination, asks it (through
    /// <see cref="CriuPageServerClient"/>) for every page it cannot serve itself, keeps them in the
    /// page store, and releases the source only once every page is in.
    /// </summary>
    [SkippableFact]
    public async Task OurServerProxiesCriusDumpSidePageServerAndReleasesItAtTheEnd()
    {
        LazyTestJob.RequireCriu();
        using var job = LazyTestJob.Start();
        var source = Path.Combine(job.WorkDirectory, "source");
        var sourcePort = FreePort();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var dump = job.DumpLazy(source, sourcePort);
        var frozenAfter = clock.Elapsed;
        var destination = Path.Combine(job.WorkDirectory, "destination");
        Directory.CreateDirectory(destination);
        foreach (var file in Directory.GetFiles(source, "*.img"))
        {
            File.Copy(file, Path.Combine(destination, Path.GetFileName(file)));
        }
        var imageBytes = Directory.GetFiles(destination).Sum(f => new FileInfo(f).Length);

        using var store = new PageStore(new PageStoreOptions { Directory = Path.Combine(job.WorkDirectory, "store"), MemoryBytes = 64 << 20, MaxBytes = 512 << 20, CheckpointInterval = TimeSpan.Zero });
        await using var upstream = await CriuPageServerClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, sourcePort));
        var lazySource = new HashedLazyPageSource(new LazyPageMap(), store, upstream, keep: store);
        await using var server = new LazyPageServer(lazySource, new IPEndPoint(IPAddress.Loopback, 0));
        server.Start();
        using var daemon = job.StartLazyPagesDaemon(destination, server.EndPoint.Port);

        clock.Restart();
        var resume = job.RestoreLazy(destination);
        await server.Completion.WaitAsync(TimeSpan.FromSeconds(60));
        var allPages = clock.Elapsed;
        Assert.Equal(0, LazyTestJob.WaitForExit(daemon, destination, "lazy-pages.log"));
        // Every page is in: the frozen source may go.
        Assert.Equal(0, await upstream.CloseAsync());
        Assert.Equal(0, LazyTestJob.WaitForExit(dump, source, "dump.log"));

        job.AssertContinuesWithTheSameMemory();
        var counts = lazySource.Counts;
        var stats = server.Stats;
        output.WriteLine($"criu dump --lazy-pages: frozen and listening after {frozenAfter.TotalMilliseconds:F0} ms, images without lazy pages {imageBytes >> 10} KiB");
        output.WriteLine($"resumed after {resume.TotalMilliseconds:F0} ms; every page in after {allPages.TotalMilliseconds:F0} ms");
        output.WriteLine($"{stats.Requests} requests, {stats.PagesServed} pages served ({stats.InSource.TotalMilliseconds:F0} ms in the page source), {upstream.PagesReceived} from the source; {counts}; store {store.Stats}");
        Assert.Equal(stats.PagesServed, upstream.PagesReceived);
        Assert.Equal(stats.PagesServed, counts.FetchedUnhashed);
        Assert.True(stats.PagesServed >= LazyTestJob.StateMiB << 8, $"{stats.PagesServed} pages");
        Assert.True(imageBytes < 16 << 20, $"{imageBytes} bytes of images: the lazy memory is not in them");
        Assert.True(resume < allPages);
    }

    /// <summary>
    /// Hybrid as the architecture has it: criu dump --lazy-pages freezes the job; the source
    /// hashes its lazy pages from the frozen memory; the destination serves every page its
    /// store holds and asks the source's criu page server only for the rest, each checked
    /// against its hash.
    /// </summary>
    [SkippableFact]
    public async Task WithTheFrozenJobsHashesOnlyThePagesTheStoreLacksComeFromTheSource()
    {
        LazyTestJob.RequireCriu();
        using var job = LazyTestJob.Start();
        var source = Path.Combine(job.WorkDirectory, "source");
        var sourcePort = FreePort();
        using var dump = job.DumpLazy(source, sourcePort);

        // On the source, while the job is frozen: the hash of every lazy page (16 bytes a page).
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var map = new LazyPageMap();
        map.AddFrozenTask(1, job.Pid, Path.Combine(source, "pagemap-1.img"));
        var hashing = clock.Elapsed;
        Assert.True(map.PageCount >= LazyTestJob.StateMiB << 8, $"{map.PageCount} lazy pages");

        // The destination's store holds every other distinct page (as after an earlier visit of the job).
        using var store = new PageStore(new PageStoreOptions { Directory = Path.Combine(job.WorkDirectory, "store"), MemoryBytes = 64 << 20, MaxBytes = 512 << 20, CheckpointInterval = TimeSpan.Zero });
        var seen = new HashSet<PageHash>();
        var distinct = map.PagesOf(1).Where(p => seen.Add(p.Hash)).ToList();
        using (var memory = File.OpenHandle($"/proc/{job.Pid}/mem"))
        {
            var page = new byte[Pagemap.PageSize];
            foreach (var (vaddr, hash) in distinct.Where((_, i) => i % 2 == 0))
            {
                Assert.Equal(Pagemap.PageSize, RandomAccess.Read(memory, page, (long)vaddr));
                store.Put(hash, page);
            }
        }

        var destination = Path.Combine(job.WorkDirectory, "destination");
        Directory.CreateDirectory(destination);
        foreach (var file in Directory.GetFiles(source, "*.img"))
        {
            File.Copy(file, Path.Combine(destination, Path.GetFileName(file)));
        }
        await using var upstream = await CriuPageServerClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, sourcePort));
        var lazySource = new HashedLazyPageSource(map, store, upstream, keep: store);
        await using var server = new LazyPageServer(lazySource, new IPEndPoint(IPAddress.Loopback, 0));
        server.Start();
        using var daemon = job.StartLazyPagesDaemon(destination, server.EndPoint.Port);

        clock.Restart();
        var resume = job.RestoreLazy(destination);
        await server.Completion.WaitAsync(TimeSpan.FromSeconds(60));
        var allPages = clock.Elapsed;
        Assert.Equal(0, LazyTestJob.WaitForExit(daemon, destination, "lazy-pages.log"));
        Assert.Equal(0, await upstream.CloseAsync());
        Assert.Equal(0, LazyTestJob.WaitForExit(dump, source, "dump.log"));

        job.AssertContinuesWithTheSameMemory();
        var counts = lazySource.Counts;
        var stats = server.Stats;
        output.WriteLine($"hashed {map.PageCount} lazy pages of the frozen job in {hashing.TotalMilliseconds:F0} ms");
        output.WriteLine($"resumed after {resume.TotalMilliseconds:F0} ms; every page in after {allPages.TotalMilliseconds:F0} ms");
        output.WriteLine($"{stats.Requests} requests, {stats.PagesServed} pages served ({stats.InSource.TotalMilliseconds:F0} ms in the page source); {counts}; {upstream.PagesReceived} pages from the source");
        Assert.Equal(stats.PagesServed, counts.Pages);
        Assert.Equal(upstream.PagesReceived, counts.Fetched);
        Assert.Equal(0, counts.FetchedUnhashed);
        Assert.InRange(stats.PagesServed, LazyTestJob.StateMiB << 8, map.PageCount);
        // About half the distinct pages were in the store.
        Assert.InRange(counts.FromStore, stats.PagesServed * 2 / 5, stats.PagesServed * 3 / 5);
        Assert.True(resume < allPages);
    }

    private static int FreePort()
    {
        using var probe = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
