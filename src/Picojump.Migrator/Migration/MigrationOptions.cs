namespace Picojump.Migrator.Migration;

public sealed record MigrationOptions
{
    /// <summary>This host's name (what peers call it).</summary>
    public required string HostName { get; init; }

    /// <summary>The daemon's state directory: migrations are kept in its migrations/ subdirectory.</summary>
    public required string StateDirectory { get; init; }

    /// <summary>The bound on a small call to a peer; bulk calls get more, in proportion to their size.</summary>
    public TimeSpan PeerTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The slowest transfer rate a bulk call's deadline allows for (bytes per second).</summary>
    public long MinimumBytesPerSecond { get; init; } = 20L << 20;

    /// <summary>How often unfinished migrations (a lost Commit, a prepared job without a decision) are looked at.</summary>
    public TimeSpan RecoveryInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Hybrid: the address the source serves its frozen job's lazy pages on (its cluster address); null: every address.</summary>
    public System.Net.IPAddress? PageServerAddress { get; init; }

    /// <summary>
    /// Hybrid, after the commit: how long the destination keeps trying to reach the source for a page
    /// (a cut link, a restarting source) before it declares the job lost. The source keeps its
    /// frozen copy at least twice as long without hearing from the destination.
    /// </summary>
    public TimeSpan LazySourcePatience { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The bound on warming the destination's block cache with the job's file working set (from
    /// the offer, which goes out once the job is frozen); past it the job reads the rest on demand.
    /// The source's reply waits for the outcome at most this long (plus one small-call bound).
    /// </summary>
    public TimeSpan WorkingSetPatience { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>The CRIU binary; null: looked up (/usr/local/sbin, /usr/sbin, PATH).</summary>
    public string? CriuPath { get; init; }
}
