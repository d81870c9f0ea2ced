using Picojump.Migrator.Images;

namespace Picojump.Tests.Migration;

public sealed class PagemapImageTests
{
    // The start of a pagemap image that CRIU 4.1.1 wrote on this machine: the two magics, the
    // head (pages_id 1), then entries of (vaddr, nr_pages, flags).
    private static readonly byte[] CriuBytes = Convert.FromHexString(
        "19435654" + "25400856"
        + "02000000" + "0801"
        + "0c000000" + "0880e081d1f0ac15" + "1001" + "2004"
        + "0c000000" + "0880a082d1f0ac15" + "1002" + "2004");

    [Fact]
    public void ReadsWhatCriuWrote()
    {
        var pagemap = Pagemap.Read(new MemoryStream(CriuBytes));

        Assert.Equal(1u, pagemap.PagesId);
        Assert.Equal("pages-1.img", pagemap.PagesFileName);
        Assert.Equal(2, pagemap.Regions.Count);
        Assert.Equal(new PagemapRegion(0x55670a207000, 1, PagemapFlags.Present), pagemap.Regions[0]);
        Assert.Equal(new PagemapRegion(0x55670a209000, 2, PagemapFlags.Present), pagemap.Regions[1]);
        Assert.Equal(3, pagemap.PresentPageCount);
        Assert.Equal([0x55670a207000UL, 0x55670a209000, 0x55670a20a000], pagemap.PresentPageAddresses());
    }

    [Fact]
    public void WritesItBackByteForByte()
    {
        var output = new MemoryStream();
        Pagemap.Read(new MemoryStream(CriuBytes)).Write(output);

        Assert.Equal(CriuBytes, output.ToArray());
    }

    [Fact]
    public void LazyAndAbsentRegionsHoldNoPagesInTheImage()
    {
        var pagemap = new Pagemap(7, [
            new PagemapRegion(0x1000, 4, PagemapFlags.Present),
            new PagemapRegion(0x10000, 8, PagemapFlags.Lazy),
            new PagemapRegion(0x20000, 2, PagemapFlags.Lazy | PagemapFlags.Present),
            new PagemapRegion(0x30000, 3, PagemapFlags.Parent),
        ]);
        var output = new MemoryStream();
        pagemap.Write(output);
        output.Position = 0;

        var read = Pagemap.Read(output);

        Assert.Equal(pagemap.Regions, read.Regions);
        Assert.Equal(6, read.PresentPageCount);
    }

    [Fact]
    public void ACriu42CountAndAnOldInParentEntryReadAsCriuReadsThem()
    {
        // Field 5 (u64 count, CRIU 4.2) wins over field 2; in_parent without flags is PE_PARENT;
        // no flags at all means the pages are present.
        var bytes = Convert.FromHexString(
            "19435654" + "25400856" + "02000000" + "0803"
            + "09000000" + "088020" + "1000" + "2004" + "2805"
            + "07000000" + "088040" + "1001" + "1801"
            + "05000000" + "088060" + "1002");

        var pagemap = Pagemap.Read(new MemoryStream(bytes));

        Assert.Equal(
            [new PagemapRegion(0x1000, 5, PagemapFlags.Present), new PagemapRegion(0x2000, 1, PagemapFlags.Parent), new PagemapRegion(0x3000, 2, PagemapFlags.Present)],
            pagemap.Regions);
    }

    [Fact]
    public void AForeignFileIsRejected()
    {
        var bytes = (byte[])CriuBytes.Clone();
        bytes[4] ^= 0xff;
        Assert.Throws<InvalidDataException>(() => Pagemap.Read(new MemoryStream(bytes)));
        Assert.Throws<InvalidDataException>(() => Pagemap.Read(new MemoryStream(CriuBytes[..^3])));
    }
}
