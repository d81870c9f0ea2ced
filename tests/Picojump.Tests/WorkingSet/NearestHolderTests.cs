using Picojump.Fs.WorkingSet;

namespace Picojump.Tests.WorkingSet;

/// <summary>The choice of the host a working set's blocks come from: measured round trip plus bytes over measured bandwidth.</summary>
public sealed class NearestHolderTests
{
    private const long EightMiB = 8L << 20;

    private static HolderLink Cache(double rttMs, double mbPerSecond, bool reachable = true)
        => new("h1", CacheWarmer.CacheRole, reachable, TimeSpan.FromMilliseconds(rttMs), mbPerSecond * 1e6);

    private static HolderLink Owner(double rttMs, double mbPerSecond, bool reachable = true)
        => new("h3", CacheWarmer.OwnerRole, reachable, TimeSpan.FromMilliseconds(rttMs), mbPerSecond * 1e6);

    [Fact]
    public void The_shorter_round_trip_wins_when_bandwidths_are_equal()
    {
        Assert.Equal("h3", NearestHolder.Choose([Cache(150, 500), Owner(1, 500)], EightMiB)!.Host);
        Assert.Equal("h1", NearestHolder.Choose([Cache(1, 500), Owner(150, 500)], EightMiB)!.Host);
    }

    [Fact]
    public void A_far_but_fast_holder_beats_a_near_but_slow_one_for_many_bytes_and_loses_for_few()
    {
        var nearSlow = Cache(1, 10);     // 8 MiB: ~840 ms
        var farFast = Owner(50, 1000);   // 8 MiB: ~58 ms
        Assert.Equal("h3", NearestHolder.Choose([nearSlow, farFast], EightMiB)!.Host);
        Assert.Equal("h1", NearestHolder.Choose([nearSlow, farFast], 64 << 10)!.Host); // 64 KiB: 7.5 ms against 50 ms
    }

    [Fact]
    public void An_unreachable_holder_is_never_chosen_and_none_reachable_is_null()
    {
        Assert.Equal("h3", NearestHolder.Choose([Cache(0.1, 5000, reachable: false), Owner(200, 1)], EightMiB)!.Host);
        Assert.Null(NearestHolder.Choose([Cache(1, 1, reachable: false), Owner(1, 1, reachable: false)], EightMiB));
        Assert.Null(NearestHolder.Choose([], EightMiB));
    }

    [Fact]
    public void An_unmeasured_link_is_charged_the_stated_defaults_so_a_measured_good_link_wins_and_a_tie_keeps_the_order()
    {
        var unmeasured = new HolderLink("h1", CacheWarmer.CacheRole, true, null, 0);
        Assert.Equal(NearestHolder.UnmeasuredRoundTrip + TimeSpan.FromSeconds(EightMiB / NearestHolder.UnmeasuredBytesPerSecond),
            NearestHolder.EstimatedTime(unmeasured, EightMiB));
        Assert.Equal("h3", NearestHolder.Choose([unmeasured, Owner(1, 500)], EightMiB)!.Host);
        var twin = unmeasured with { Host = "h3", Role = CacheWarmer.OwnerRole };
        Assert.Equal("h1", NearestHolder.Choose([unmeasured, twin], EightMiB)!.Host);
    }
}
