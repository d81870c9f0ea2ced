namespace Picojump.Migrator.Policy;

/// <summary>
/// The knobs of the locality policy. The defaults lean towards staying: a move freezes the job
/// and its cost estimate is rough, so the policy moves only when the gain is clear and stable.
/// </summary>
public sealed record PolicyOptions
{
    /// <summary>
    /// The sliding window the caller should take from the accounting (and pass as
    /// <see cref="JobObservation.Window"/>). 30 s: long enough to smooth bursts, short enough
    /// to follow a job that moved on to another dataset within a minute.
    /// </summary>
    public TimeSpan Window { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The job stays while no more than this share of its bytes goes to other hosts. 0.5: a job
    /// doing most of its I/O here is where it belongs, whatever the gain arithmetic says.
    /// </summary>
    public double MinRemoteShare { get; init; } = 0.5;

    /// <summary>
    /// A move needs gain &gt; cost x <see cref="MarginFactor"/> + <see cref="MarginAbsolute"/>.
    /// 2: the move must pay for itself twice in the next window, because that window may not
    /// behave like the last one and the cost is an estimate.
    /// </summary>
    public double MarginFactor { get; init; } = 2.0;

    /// <summary>
    /// The fixed part of the margin. 1 s per window: a gain smaller than that is noise, and it
    /// keeps jobs with tiny traffic where they are even when a move would be free.
    /// </summary>
    public TimeSpan MarginAbsolute { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How many consecutive evaluations the same host must clear the margin before the job
    /// moves. 2: one evaluation may catch a phase change; two in a row mean the phase holds.
    /// </summary>
    public int Hysteresis { get; init; } = 2;

    /// <summary>
    /// No automatic move within this time after the last migration (or attempt). 60 s, two
    /// windows: the window after a move must reflect the new placement before it is judged,
    /// and it bounds a job to one freeze a minute.
    /// </summary>
    public TimeSpan Cooldown { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Within this time after leaving a host, moving back to it needs the margin multiplied by
    /// <see cref="ReturnMarginFactor"/>. 5 min: a job alternating between datasets would
    /// otherwise go back and forth once per cooldown.
    /// </summary>
    public TimeSpan ReturnCooldown { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Multiplies both parts of the margin for a return within <see cref="ReturnCooldown"/>.
    /// 2 (so 4 x cost + 2 s by default); <see cref="double.PositiveInfinity"/> blocks returns.
    /// </summary>
    public double ReturnMarginFactor { get; init; } = 2.0;

    /// <summary>
    /// How many consecutive evaluations a return within <see cref="ReturnCooldown"/> must clear
    /// its margin. 4, twice <see cref="Hysteresis"/>: with costs small next to the gain, the
    /// larger margin alone rarely stops a return; a longer confirmation does, when the phases
    /// alternate faster than the window can follow (the move would land as the phase ends),
    /// while a job that really came back for a while still returns.
    /// </summary>
    public int ReturnHysteresis { get; init; } = 4;

    /// <summary>How many decisions are kept per job for status. 32: several minutes at one evaluation every few seconds.</summary>
    public int HistoryLength { get; init; } = 32;

    /// <summary>The size of a memory page in bytes (x86-64 and arm64 Linux: 4 KiB).</summary>
    public int PageSize { get; init; } = 4096;

    /// <summary>The size of a cached file block in bytes; the block cache's default is 1 MiB.</summary>
    public int BlockSize { get; init; } = 1 << 20;

    /// <summary>Throws on settings that make no sense; the engine calls it once.</summary>
    public void Validate()
    {
        if (Window <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(Window), Window, "The window must be positive.");
        if (double.IsNaN(MinRemoteShare) || MinRemoteShare is < 0 or >= 1)
            throw new ArgumentOutOfRangeException(nameof(MinRemoteShare), MinRemoteShare, "The remote share threshold must be in [0, 1).");
        if (double.IsNaN(MarginFactor) || MarginFactor < 1)
            throw new ArgumentOutOfRangeException(nameof(MarginFactor), MarginFactor, "The margin factor must be at least 1.");
        if (MarginAbsolute < TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(MarginAbsolute), MarginAbsolute, "The absolute margin must not be negative.");
        if (Hysteresis < 1)
            throw new ArgumentOutOfRangeException(nameof(Hysteresis), Hysteresis, "Hysteresis must be at least one evaluation.");
        if (ReturnHysteresis < Hysteresis)
            throw new ArgumentOutOfRangeException(nameof(ReturnHysteresis), ReturnHysteresis, "A return needs at least as many evaluations as any move.");
        if (Cooldown < TimeSpan.Zero || ReturnCooldown < TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(Cooldown), "Cooldowns must not be negative.");
        if (double.IsNaN(ReturnMarginFactor) || ReturnMarginFactor < 1)
            throw new ArgumentOutOfRangeException(nameof(ReturnMarginFactor), ReturnMarginFactor, "The return margin factor must be at least 1.");
        if (HistoryLength < 1)
            throw new ArgumentOutOfRangeException(nameof(HistoryLength), HistoryLength, "The history must keep at least one decision.");
        if (PageSize < 1 || BlockSize < 1)
            throw new ArgumentOutOfRangeException(nameof(PageSize), "Page and block sizes must be positive.");
    }
}
