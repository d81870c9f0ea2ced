using Picojump.Migrator.Images;
using Picojump.Migrator.Pages;

namespace Picojump.Tests.Migration;

// Hashing speed is measured by bench/migration (it is part of the freeze), not asserted here:
// a shared machine made fixed rates fail for reasons that were not the code's.
public sealed class PageHashTests
{
    [Fact]
    public void TheZeroPageHashIsTheHashOfZeros()
        => Assert.Equal(PageHash.Of(new byte[Pagemap.PageSize]), PageHash.ZeroPage);
}
