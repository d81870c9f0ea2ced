using Picojump.Migrator.Images;
using Picojump.Migrator.Pages;
using Xunit.Abstractions;

namespace Picojump.Tests.Migration;

/// <summary>One real CRIU dump of a python3 job, shared by the tests of <see cref="CriuDumpTests"/>.</summary>
public sealed class DumpedJobFixture : IDisposable
{
    private readonly Lazy<CriuTestJob> _job = new(CriuTestJob.StartAndDump);

    public CriuTestJob Job
    {
        get
        {
            CriuTestJob.RequireCriu();
            return _job.Value;
        }
    }

    public void Dispose()
    {
        if (_job.IsValueCreated)
        {
            _job.Value.Dispose();
        }
    }
}

/// <summary>Reading, hashing, rewriting and rebuilding the memory images of a real CRIU 4.1 dump, and restoring the results.</summary>
public sealed class CriuDumpTests(DumpedJobFixture fixture, ITestOutputHelper output) : IClassFixture<DumpedJobFixture>
{
    [SkippableFact]
    public void ThePagemapAccountsForEveryPageOfThePagesImage()
    {
        var job = fixture.Job;
        var pagemapPaths = Directory.GetFiles(job.ImagesDirectory, "pagemap-*.img");
        Assert.NotEmpty(pagemapPaths);
        foreach (var path in pagemapPaths)
        {
            var pagemap = Pagemap.Read(path);
            var pagesLength = new FileInfo(Path.Combine(job.ImagesDirectory, pagemap.PagesFileName)).Length;
            Assert.Equal(pagesLength / Pagemap.PageSize, pagemap.PresentPageCount);
            Assert.Equal(0, pagesLength % Pagemap.PageSize);
            // Regions are sorted and disjoint, as CRIU walks the address space.
            Assert.All(pagemap.Regions.Zip(pagemap.Regions.Skip(1)), pair => Assert.True(pair.First.End <= pair.Second.Vaddr));
            output.WriteLine($"{Path.GetFileName(path)}: {pagemap.Regions.Count} regions, {pagemap.PresentPageCount} pages in {pagemap.PagesFileName}, flags {string.Join(", ", pagemap.Regions.Select(r => r.Flags).Distinct())}");
        }
    }

    [SkippableFact]
    public void TheJobsBufferIsInTheDumpPageByPageAtConsecutiveAddresses()
    {
        var job = fixture.Job;
        var pages = PageHashes.ComputeDump(job.ImagesDirectory).SelectMany(image => image.Pages).ToList();
        var buffer = File.ReadAllBytes(job.BufferPath);
        var bufferHashes = Enumerable.Range(0, buffer.Length / Pagemap.PageSize)
            .Select(i => PageHash.Of(buffer.AsSpan(i * Pagemap.PageSize, Pagemap.PageSize))).ToArray();

        var start = pages.FindIndex(p => p.Hash == bufferHashes[0]);
        Assert.True(start >= 0, "the buffer's first page is not in the dump");
        for (var i = 0; i < bufferHashes.Length; i++)
        {
            Assert.Equal(bufferHashes[i], pages[start + i].Hash);
            Assert.Equal(pages[start].Vaddr + ((ulong)i * Pagemap.PageSize), pages[start + i].Vaddr);
        }
        // The 4 MiB of touched zeros: 1024 pages that are all one hash.
        Assert.True(pages.Count(p => p.Hash == PageHash.ZeroPage) >= 1024);
    }

    /// <summary>
    /// out.txt, open for writing in the job, stands for a file on /pj that another job wrote while
    /// this one was frozen: CRIU refuses the dump as it is, and restores it once the sizes of the
    /// files under the shared root are out of the image (files elsewhere keep theirs).
    /// </summary>
    [SkippableFact]
    public void AFileThatGrewWhileTheJobWasFrozenRestoresOnceItsSizeIsForgotten()
    {
        var job = fixture.Job;
        var copy = Path.Combine(job.WorkDirectory, "sizes");
        CopyImages(job.ImagesDirectory, copy, except: _ => false);
        Assert.Contains("has bad size", job.RestoreFailure(copy, outputGrowth: 4096));

        Assert.Equal(0, FilesImage.ForgetSizesUnder(copy, "/no/such/shared/root"));
        Assert.Equal(2, FilesImage.ForgetSizesUnder(copy, job.WorkDirectory)); // out.txt and err.txt
        Assert.Equal(0, FilesImage.ForgetSizesUnder(copy, job.WorkDirectory));
        job.RestoreAndCheck(copy, outputGrowth: 4096);
    }

    [SkippableFact]
    public void ARewrittenPagemapIsByteIdenticalAndRestores()
    {
        var job = fixture.Job;
        var copy = Path.Combine(job.WorkDirectory, "rewritten");
        CopyImages(job.ImagesDirectory, copy, except: name => name.StartsWith("pagemap-", StringComparison.Ordinal));
        foreach (var path in Directory.GetFiles(job.ImagesDirectory, "pagemap-*.img"))
        {
            var rewritten = Path.Combine(copy, Path.GetFileName(path));
            Pagemap.Read(path).Write(rewritten);
            Assert.Equal(File.ReadAllBytes(path), File.ReadAllBytes(rewritten));
        }

        job.RestoreAndCheck(copy);
    }

    [SkippableFact]
    public void APagesImageRebuiltFromAStoreAndTheSentPagesIsIdenticalAndRestores()
    {
        var job = fixture.Job;
        var images = PageHashes.ComputeDump(job.ImagesDirectory);
        var storeDirectory = Path.Combine(job.WorkDirectory, "store");
        using var store = new PageStore(new PageStoreOptions { Directory = storeDirectory, MemoryBytes = 16 << 20, MaxBytes = 256 << 20, CheckpointInterval = TimeSpan.Zero });

        // The destination already holds every other distinct page of the dump.
        var distinct = images.SelectMany(i => i.Pages).Select(p => p.Hash).Where(h => h != PageHash.ZeroPage).Distinct().ToList();
        var page = new byte[Pagemap.PageSize];
        foreach (var image in images)
        {
            using var source = new PagesImageFile(Path.Combine(job.ImagesDirectory, image.Pagemap.PagesFileName), image.Pages);
            foreach (var hash in distinct.Where((_, i) => i % 2 == 0))
            {
                if (source.TryGet(hash, page))
                {
                    store.Put(hash, page);
                }
            }
        }

        // The source asks which pages the destination lacks and sends those.
        var rebuilt = Path.Combine(job.WorkDirectory, "rebuilt");
        CopyImages(job.ImagesDirectory, rebuilt, except: name => name.StartsWith("pages-", StringComparison.Ordinal));
        long sent = 0;
        foreach (var image in images)
        {
            var toSend = ImageDelta.PagesToSend(image.Pages, store);
            Assert.DoesNotContain(PageHash.ZeroPage, toSend);
            var received = new ReceivedPages();
            using (var source = new PagesImageFile(Path.Combine(job.ImagesDirectory, image.Pagemap.PagesFileName), image.Pages))
            {
                foreach (var hash in toSend)
                {
                    Assert.True(source.TryGet(hash, page));
                    received.Add(hash, page);
                }
            }
            sent += received.Count;
            PagesImageBuilder.Write(Path.Combine(rebuilt, image.Pagemap.PagesFileName), image.Pages, new PageSources(received, store));
            Assert.Equal(
                File.ReadAllBytes(Path.Combine(job.ImagesDirectory, image.Pagemap.PagesFileName)),
                File.ReadAllBytes(Path.Combine(rebuilt, image.Pagemap.PagesFileName)));
        }
        var total = images.Sum(i => i.Pages.Count);
        output.WriteLine($"{total} pages in the dump, {distinct.Count} distinct non-zero, {sent} sent");
        Assert.Equal(distinct.Count / 2, sent);

        job.RestoreAndCheck(rebuilt);
    }

    [SkippableFact]
    public void ARebuildWithAPageMissingWritesNothingAndNamesIt()
    {
        var job = fixture.Job;
        var image = PageHashes.ComputeDump(job.ImagesDirectory).First(i => i.Pages.Count > 0);
        var storeDirectory = Path.Combine(job.WorkDirectory, "store-missing");
        using var store = new PageStore(new PageStoreOptions { Directory = storeDirectory, MemoryBytes = 16 << 20, MaxBytes = 256 << 20, CheckpointInterval = TimeSpan.Zero });
        var target = Path.Combine(job.WorkDirectory, "missing-pages.img");

        var error = Assert.Throws<MissingPagesException>(() => PagesImageBuilder.Write(target, image.Pages, store));

        Assert.Equal(image.Pages.Select(p => p.Hash).Where(h => h != PageHash.ZeroPage).Distinct(), error.Missing);
        Assert.False(File.Exists(target));
        Assert.False(File.Exists(target + ".partial"));
    }

    private static void CopyImages(string from, string to, Func<string, bool> except)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
        {
            var name = Path.GetFileName(file);
            if (!except(name) && name.EndsWith(".img", StringComparison.Ordinal))
            {
                File.Copy(file, Path.Combine(to, name));
            }
        }
    }
}
