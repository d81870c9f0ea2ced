using Picojump.Migrator.Images;
using Picojump.Migrator.Pages;

namespace Picojump.Tests.Migration;

public sealed class PageStoreTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("pj-pagestore-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void APutPageReadsBackByteForByte()
    {
        using var store = Open();
        var page = RandomPage(1);
        var hash = PageHash.Of(page);
        store.Put(hash, page);

        var read = new byte[Pagemap.PageSize];
        Assert.True(store.TryGet(hash, read));
        Assert.Equal(page, read);
        Assert.True(store.Contains(hash));
        Assert.False(store.Contains(PageHash.Of(RandomPage(2))));
        Assert.False(store.TryGet(PageHash.Of(RandomPage(2)), read));
    }

    [Fact]
    public void MissingListsTheAbsentPagesInTheirOrder()
    {
        using var store = Open();
        var pages = Enumerable.Range(0, 1000).Select(RandomPage).ToArray();
        var hashes = pages.Select(p => PageHash.Of(p)).ToArray();
        for (var i = 0; i < pages.Length; i += 2)
        {
            store.Put(hashes[i], pages[i]);
        }

        var missing = store.Missing(hashes);

        Assert.Equal(hashes.Where((_, i) => i % 2 == 1), missing);
    }

    [Fact]
    public void APageThatDoesNotHashToItsKeyIsRefused()
    {
        using var store = Open();
        Assert.Throws<ArgumentException>(() => store.Put(PageHash.Of(RandomPage(1)), RandomPage(2)));
        Assert.Throws<ArgumentException>(() => store.Put(PageHash.Of(new byte[100]), new byte[100]));
    }

    [Fact]
    public void ACorruptPageIsNeverHandedOutAndAPutRepairsIt()
    {
        using var store = Open();
        var page = RandomPage(1);
        var hash = PageHash.Of(page);
        store.PutUnverified(hash, RandomPage(2));

        var read = new byte[Pagemap.PageSize];
        Assert.False(store.TryGet(hash, read));
        Assert.Equal(1, store.Stats.CorruptReads);

        store.Put(hash, page);
        Assert.True(store.TryGet(hash, read));
        Assert.Equal(page, read);
    }

    [Fact]
    public void ZeroPagesAreAlwaysHeldAndNeverStored()
    {
        using var store = Open();
        var zeros = new byte[Pagemap.PageSize];
        Assert.Equal(PageHash.ZeroPage, PageHash.Of(zeros));
        Assert.True(store.Contains(PageHash.ZeroPage));
        Assert.Empty(store.Missing([PageHash.ZeroPage, PageHash.ZeroPage]));

        var bytesBefore = store.Stats.BytesStored;
        store.Put(PageHash.ZeroPage, zeros);
        Assert.Equal(bytesBefore, store.Stats.BytesStored);

        var read = RandomPage(3);
        Assert.True(store.TryGet(PageHash.ZeroPage, read));
        Assert.Equal(zeros, read);
    }

    [Fact]
    public void PuttingAHeldPageWritesNothing()
    {
        using var store = Open();
        var page = RandomPage(1);
        store.Put(PageHash.Of(page), page);
        var bytes = store.Stats.BytesStored;

        store.Put(PageHash.Of(page), page);

        Assert.Equal(bytes, store.Stats.BytesStored);
        Assert.Equal(1, store.Stats.DuplicatePuts);
    }

    [Fact]
    public async Task PagesSurviveAReopen()
    {
        var pages = Enumerable.Range(0, 2000).Select(RandomPage).ToArray();
        using (var store = Open())
        {
            foreach (var page in pages)
            {
                store.Put(PageHash.Of(page), page);
            }
            await store.CheckpointAsync();
        }

        using (var reopened = Open())
        {
            var read = new byte[Pagemap.PageSize];
            foreach (var page in pages)
            {
                Assert.True(reopened.TryGet(PageHash.Of(page), read));
                Assert.Equal(page, read);
            }
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ABatchReadGivesWhatSingleReadsGiveFromMemoryAndFromDisk(bool indexed)
    {
        // 2000 pages (8 MiB) in a 4 MiB memory part: most are read back from disk, after a reopen all of them.
        var pages = Enumerable.Range(0, 2000).Select(RandomPage).ToArray();
        var absent = RandomPage(99_999);
        using (var store = Open())
        {
            foreach (var page in pages)
            {
                store.Put(PageHash.Of(page), page);
            }
            store.PutUnverified(PageHash.Of(pages[7]), pages[8]);
            await store.CheckpointAsync();
        }
        // Indexed: the index is rebuilt from the log, and runs of neighbouring records are scanned.
        using var reopened = Open(indexed: indexed);
        await reopened.IndexBuilt;
        Assert.Equal(indexed ? pages.Length : 0, reopened.IndexedPages);
        // Log order and out of it, a page asked twice, one never stored, zeros.
        var order = Enumerable.Range(0, pages.Length).ToList();
        order.Reverse(0, 500);
        order.AddRange([3, 3, 1999]);
        List<PageHash> hashes = [.. order.Select(i => PageHash.Of(pages[i])), PageHash.Of(absent), PageHash.ZeroPage];
        var buffer = new byte[hashes.Count * Pagemap.PageSize];
        var found = new bool[hashes.Count];
        reopened.TryGetMany(hashes, buffer, found);
        for (var k = 0; k < order.Count; k++)
        {
            // Page 7 was overwritten with page 8's bytes: it fails its hash and reads as missing.
            var i = order[k];
            Assert.Equal(i != 7, found[k]);
            if (i != 7)
            {
                Assert.Equal(pages[i], buffer.AsSpan(k * Pagemap.PageSize, Pagemap.PageSize).ToArray());
            }
        }
        Assert.False(found[order.Count]);
        Assert.True(found[order.Count + 1]);
        Assert.All(buffer.AsSpan((order.Count + 1) * Pagemap.PageSize).ToArray(), b => Assert.Equal(0, b));
        Assert.True(reopened.Stats.CorruptReads >= 1);
        Assert.Equal(order.Count, reopened.Stats.Hits);
    }

    [Fact]
    public async Task TheStoreStaysWithinItsBoundAndDropsTheOldestPages()
    {
        const long maxBytes = 8 << 20;
        using var store = Open(memoryBytes: 2 << 20, maxBytes: maxBytes);
        await store.IndexBuilt;
        var pages = Enumerable.Range(0, 8000).Select(RandomPage).ToArray(); // 32 MiB, four times the bound
        foreach (var page in pages)
        {
            store.Put(PageHash.Of(page), page);
        }

        var stats = store.Stats;
        Assert.True(stats.BytesStored <= maxBytes, $"{stats.BytesStored} bytes stored, bound {maxBytes}");
        Assert.True(stats.Evictions > 0);
        Assert.False(store.Contains(PageHash.Of(pages[0])));
        Assert.True(store.Contains(PageHash.Of(pages[^1])));
        // The index forgets evicted pages (it may still hold those of the last segment dropped).
        Assert.True(store.IndexedPages <= (maxBytes + (2 << 20)) / Pagemap.PageSize, $"{store.IndexedPages} pages indexed");
        // A segment the eviction deletes while we list counts as gone.
        var onDisk = new DirectoryInfo(_directory).EnumerateFiles("pages.log*").Sum(LengthOrZero);
        Assert.True(onDisk <= maxBytes + (2 << 20), $"{onDisk} bytes of log on disk, bound {maxBytes}");
    }

    private static long LengthOrZero(FileInfo file)
    {
        try
        {
            return file.Length;
        }
        catch (FileNotFoundException)
        {
            return 0;
        }
    }

    [Fact]
    public void APageInUseOutlivesAStreamOfOneOffPages()
    {
        using var store = Open(memoryBytes: 2 << 20, maxBytes: 8 << 20);
        var hot = RandomPage(-1);
        var hotHash = PageHash.Of(hot);
        store.Put(hotHash, hot);
        for (var i = 0; i < 8000; i++)
        {
            var page = RandomPage(i);
            store.Put(PageHash.Of(page), page);
            if (i % 200 == 0)
            {
                Assert.Empty(store.Missing([hotHash]));
            }
        }

        var read = new byte[Pagemap.PageSize];
        Assert.True(store.TryGet(hotHash, read));
        Assert.Equal(hot, read);
    }

    private PageStore Open(long memoryBytes = 4 << 20, long maxBytes = 64 << 20, bool indexed = true) => new(new PageStoreOptions
    {
        Directory = _directory,
        MemoryBytes = memoryBytes,
        MaxBytes = maxBytes,
        CheckpointInterval = TimeSpan.Zero,
        IndexOnOpen = indexed,
    });

    internal static byte[] RandomPage(int seed)
    {
        var page = new byte[Pagemap.PageSize];
        new Random(seed).NextBytes(page);
        return page;
    }
}
