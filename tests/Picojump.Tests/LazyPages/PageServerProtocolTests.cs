using System.Net;
using Picojump.Migrator.Images;
using Picojump.Migrator.LazyPages;
using Picojump.Migrator.Pages;

namespace Picojump.Tests.LazyPages;

/// <summary>CRIU 4.1's page-server wire format, and <see cref="LazyPageServer"/> spoken to by <see cref="CriuPageServerClient"/> over loopback.</summary>
public sealed class PageServerProtocolTests
{
    [Fact]
    public void AGetHeaderIsCriu41sTwentyFourBytes()
    {
        var bytes = new byte[PageServerIov.Size];
        PageServerIov.Get(pid: 1, vaddr: 0x7f0012345000, pageCount: 16).WriteTo(bytes);

        Assert.Equal(24, PageServerIov.Size);
        Assert.Equal(
            Convert.FromHexString("07000000" + "10000000" + "0050341200" + "7f0000" + "0100000000000000"),
            bytes);
        var reply = PageServerIov.Reply(1, 0x7f0012345000, 3);
        Assert.Equal(PageServerCommand.AddWithFlags, reply.Command);
        Assert.Equal(4, reply.Flags); // PE_PRESENT
        Assert.Equal(0x00040006u, reply.Cmd);
        Assert.Equal(0x1023u, PageServerIov.Encode(PageServerCommand.Close));
        Assert.Equal(reply, PageServerIov.ReadFrom(ToBytes(reply)));
    }

    [Fact]
    public async Task TheServerAnswersGetsInOrderAndClosesWithStatusZero()
    {
        var source = new PatternSource(pid: 7, from: 0x10000, pages: 64);
        await using var server = new LazyPageServer(source, new IPEndPoint(IPAddress.Loopback, 0));
        server.Start();
        await using var client = await CriuPageServerClient.ConnectAsync(server.EndPoint);

        var buffer = new byte[16 * Pagemap.PageSize];
        Assert.Equal(16, await client.ReadAsync(7, 0x10000, 16, buffer, default));
        for (var i = 0; i < 16; i++)
        {
            Assert.Equal(PatternSource.Page(7, 0x10000 + ((ulong)i * Pagemap.PageSize)), buffer.AsSpan(i * Pagemap.PageSize, Pagemap.PageSize).ToArray());
        }
        // Past the end of what the source holds: the prefix it has.
        Assert.Equal(4, await client.ReadAsync(7, 0x10000 + (60 * Pagemap.PageSize), 16, buffer, default));
        Assert.False(server.Completion.IsCompleted);

        Assert.Equal(0, await client.CloseAsync());
        await server.Completion.WaitAsync(TimeSpan.FromSeconds(10));
        var stats = server.Stats;
        Assert.Equal(2, stats.Requests);
        Assert.Equal(20, stats.PagesServed);
        Assert.NotNull(stats.Closed);
    }

    [Fact]
    public async Task ARequestForPagesNobodyHasEndsTheSession()
    {
        var source = new PatternSource(pid: 7, from: 0x10000, pages: 4);
        await using var server = new LazyPageServer(source, new IPEndPoint(IPAddress.Loopback, 0));
        server.Start();
        await using var client = await CriuPageServerClient.ConnectAsync(server.EndPoint);

        await Assert.ThrowsAsync<IOException>(async () => await client.ReadAsync(8, 0x10000, 1, new byte[Pagemap.PageSize], default));
        await Assert.ThrowsAsync<InvalidDataException>(() => server.Completion.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task AClientLeavingWithoutCloseFaultsTheCompletion()
    {
        await using var server = new LazyPageServer(new PatternSource(pid: 1, from: 0, pages: 1), new IPEndPoint(IPAddress.Loopback, 0));
        server.Start();
        var client = await CriuPageServerClient.ConnectAsync(server.EndPoint);
        await client.DisposeAsync();

        await Assert.ThrowsAsync<IOException>(() => server.Completion.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task TheHashedSourceServesFromTheStoreAndFetchesOnlyTheRestCheckingEachPage()
    {
        var source = new PatternSource(pid: 1, from: 0x40000, pages: 32);
        var map = new LazyPageMap();
        for (var i = 0; i < 32; i++)
        {
            var vaddr = 0x40000 + ((ulong)i * Pagemap.PageSize);
            map.Add(1, vaddr, PageHash.Of(PatternSource.Page(1, vaddr)));
        }
        // The store holds pages 0-7 and every fourth page after them.
        var store = new DictionarySource();
        for (var i = 0; i < 32; i++)
        {
            if (i < 8 || i % 4 == 0)
            {
                store.Add(PatternSource.Page(1, 0x40000 + ((ulong)i * Pagemap.PageSize)));
            }
        }
        var hashed = new HashedLazyPageSource(map, store, source);

        var buffer = new byte[32 * Pagemap.PageSize];
        Assert.Equal(32, await hashed.ReadAsync(1, 0x40000, 32, buffer, default));
        for (var i = 0; i < 32; i++)
        {
            Assert.Equal(PatternSource.Page(1, 0x40000 + ((ulong)i * Pagemap.PageSize)), buffer.AsSpan(i * Pagemap.PageSize, Pagemap.PageSize).ToArray());
        }
        Assert.Equal(new LazyPageCounts(1, 8 + 6, 18, 0), hashed.Counts);
        // Runs of missing pages go to the fallback as one read each: 8-11 minus the held 8, ...
        Assert.Equal(6, source.Reads);

        // A fallback that sends other bytes than the job's page is refused, never served.
        map.Add(1, 0x40000, PageHash.Of(new byte[Pagemap.PageSize].Select((_, i) => (byte)i).ToArray()));
        var refusing = new HashedLazyPageSource(map, new DictionarySource(), source);
        await Assert.ThrowsAsync<InvalidDataException>(async () => await refusing.ReadAsync(1, 0x40000, 1, buffer, default));
    }

    [Fact]
    public async Task TheHashedSourceReadsTheNextRangeAheadAndServesItRightWhereverTheNextRequestStarts()
    {
        const int pages = 512;
        var source = new PatternSource(pid: 1, from: 0x40000, pages: pages);
        var map = new LazyPageMap();
        var store = new DictionarySource();
        for (var i = 0; i < pages; i++)
        {
            var vaddr = 0x40000 + ((ulong)i * Pagemap.PageSize);
            map.Add(1, vaddr, PageHash.Of(PatternSource.Page(1, vaddr)));
            // The store lacks every fifth page: those are fetched, read ahead or not.
            if (i % 5 != 0)
            {
                store.Add(PatternSource.Page(1, vaddr));
            }
        }
        var hashed = new HashedLazyPageSource(map, store, source);

        async Task Read(int first, int count)
        {
            var buffer = new byte[count * Pagemap.PageSize];
            Assert.Equal(count, await hashed.ReadAsync(1, 0x40000 + ((ulong)first * Pagemap.PageSize), count, buffer, default));
            for (var i = 0; i < count; i++)
            {
                Assert.Equal(PatternSource.Page(1, 0x40000 + ((ulong)(first + i) * Pagemap.PageSize)), buffer.AsSpan(i * Pagemap.PageSize, Pagemap.PageSize).ToArray());
            }
        }

        // CRIU's background fill: growing ranges, each starting where the last ended.
        await Read(0, 16);
        // The next 32 pages are read from the store before anyone asks for them.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (store.Asked < 16 + 32 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(5);
        }
        Assert.Equal(16 + 32, store.Asked);
        await Read(16, 32);
        // A fault elsewhere in between, then a range longer than the read-ahead, one that starts
        // elsewhere, and one that starts inside the read-ahead (a fault took its first pages).
        await Read(300, 1);
        await Read(48, 100);
        await Read(400, 64);
        await Read(470, 30);
        await Read(148, 152);
        Assert.Equal(16 + 32 + 1 + 100 + 64 + 30 + 152, hashed.Counts.Pages);
    }

    private static byte[] ToBytes(PageServerIov iov)
    {
        var bytes = new byte[PageServerIov.Size];
        iov.WriteTo(bytes);
        return bytes;
    }

    /// <summary>Pages whose bytes are a function of (pid, vaddr), for one task's range.</summary>
    private sealed class PatternSource(ulong pid, ulong from, int pages) : ILazyPageSource
    {
        public int Reads { get; private set; }

        public static byte[] Page(ulong pid, ulong vaddr)
        {
            var page = new byte[Pagemap.PageSize];
            new Random(HashCode.Combine(pid, vaddr)).NextBytes(page);
            return page;
        }

        public ValueTask<int> ReadAsync(ulong pid1, ulong vaddr, int pageCount, Memory<byte> destination, CancellationToken cancellationToken)
        {
            Reads++;
            var end = from + ((ulong)pages * Pagemap.PageSize);
            if (pid1 != pid || vaddr < from || vaddr >= end)
            {
                return ValueTask.FromResult(0);
            }
            var count = (int)Math.Min((ulong)pageCount, (end - vaddr) / Pagemap.PageSize);
            for (var i = 0; i < count; i++)
            {
                Page(pid, vaddr + ((ulong)i * Pagemap.PageSize)).CopyTo(destination.Span[(i * Pagemap.PageSize)..]);
            }
            return ValueTask.FromResult(count);
        }
    }

    private sealed class DictionarySource : IPageSource
    {
        private readonly Dictionary<PageHash, byte[]> _pages = [];
        private int _asked;

        /// <summary>How many pages were asked for so far.</summary>
        public int Asked => Volatile.Read(ref _asked);

        public void Add(byte[] page) => _pages[PageHash.Of(page)] = page;

        public bool TryGet(PageHash hash, Span<byte> page)
        {
            Interlocked.Increment(ref _asked);
            if (!_pages.TryGetValue(hash, out var bytes))
            {
                return false;
            }
            bytes.CopyTo(page);
            return true;
        }
    }
}
