using System.Globalization;
using System.Text.Json.Nodes;

namespace Picojump.Cli.Demo;

/// <summary>What `pjctl demo` runs: the size of each dataset, how often the job reads each, and what it leaves behind.</summary>
/// <param name="SizeMiB">Each dataset's size; null: sized from the measured network (<see cref="RemotePassTarget"/>).</param>
/// <param name="Passes">How many times the job reads each dataset.</param>
/// <param name="Keep">Leave the cluster up at the end.</param>
/// <param name="Json">The final table as JSON on stdout.</param>
/// <param name="Daemon">The picojumpd command the hosts run.</param>
public sealed record DemoOptions(int? SizeMiB, int Passes, bool Keep, bool Json, string[] Daemon)
{
    /// <summary>Not under /run/picojump (each host mounts its own there), and apart from `pjctl devcluster`'s default.</summary>
    public const string DefaultRoot = "/run/picojump-demo";

    /// <summary>
    /// Without --size, each dataset is as large as h1 reads from h2 in this time (measured at
    /// the start): a remote pass then lasts well beyond what the policy takes to notice and
    /// move the job (about 2 s) plus the move itself (1 s quiet, several on a busy machine),
    /// so following the data pays against copying it first, on a fast machine as on a
    /// loaded one; and the whole demo takes about 3 minutes either way.
    /// </summary>
    public static readonly TimeSpan RemotePassTarget = TimeSpan.FromSeconds(10);

    public const int MinAutoSizeMiB = 128;

    public const int MaxAutoSizeMiB = 2048;

    public const int DefaultPasses = 3;

    /// <summary>
    /// The block cache of each host: smaller than one dataset, so that a job that stays on
    /// h1 fetches every pass again over the network, as with data larger than a host's cache.
    /// </summary>
    public const int CacheMemoryMiB = 16;

    public const int CacheSizeMiB = 64;

    /// <summary>
    /// The demo cluster's daemon settings: the small cache, and a policy that reacts within a
    /// few seconds (picojumpd's defaults wait for 30 s windows and a minute between moves,
    /// which would hide the effect in a demo of minutes).
    /// </summary>
    public static JsonObject DaemonSettings() => new()
    {
        ["cacheMemoryMiB"] = CacheMemoryMiB,
        ["cacheSizeMiB"] = CacheSizeMiB,
        ["policy"] = new JsonObject
        {
            ["enabled"] = true,
            ["intervalSeconds"] = 0.5,
            ["windowSeconds"] = 2,
            ["cooldownSeconds"] = 3,
            ["returnCooldownSeconds"] = 3,
        },
    };

    /// <summary>"512M", "2G" or a number of MiB; null if it is none of those.</summary>
    public static int? ParseSize(string text)
    {
        var multiplier = 1;
        var number = text.Trim();
        if (number.EndsWith('G') || number.EndsWith('g'))
            (multiplier, number) = (1024, number[..^1]);
        else if (number.EndsWith('M') || number.EndsWith('m'))
            number = number[..^1];
        return int.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 && (long)n * multiplier <= MaxSizeMiB
            ? n * multiplier
            : null;
    }

    public const int MaxSizeMiB = 64 * 1024;
}
