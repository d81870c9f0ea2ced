namespace Picojump.Cli.Demo;

/// <summary>One of the demo's three runs of the same job from h1.</summary>
public sealed record Scenario(string Key, string Title, string Label, bool Pinned, bool CopiesFirst)
{
    public static readonly Scenario Picojump = new("picojump", "Picojump: the job starts on h1 and the policy moves it toward its data",
        "Picojump (follows its data)", Pinned: false, CopiesFirst: false);

    public static readonly Scenario PinnedToH1 = new("pinned", "pinned to h1 (pjctl run --pin): every read of a dataset crosses the network",
        "Pinned to h1 (remote I/O)", Pinned: true, CopiesFirst: false);

    public static readonly Scenario CopyFirst = new("copy-first", "copy the datasets to h1 first (cp through /pj), then run pinned on h1",
        "Data copied to h1 first", Pinned: true, CopiesFirst: true);

    public static readonly IReadOnlyList<Scenario> All = [Picojump, PinnedToH1, CopyFirst];
}

/// <summary>A dataset of the demo and the host whose export holds it.</summary>
public sealed record Dataset(string Name, string Host);

/// <summary>A move of the job, as `pjctl ps` lists it; <see cref="At"/> from the job's start.</summary>
public sealed record Move(string From, string To, TimeSpan At, TimeSpan Freeze);

/// <summary>
/// One run: its wall time (the copy included), the bytes the cluster's network carried
/// meanwhile, the job's moves and the CRC-32 it printed for each dataset.
/// </summary>
public sealed record RunResult(Scenario Scenario, TimeSpan Elapsed, TimeSpan? Copy, long NetworkBytes, IReadOnlyList<Move> Moves, IReadOnlyDictionary<string, string> Checksums);
