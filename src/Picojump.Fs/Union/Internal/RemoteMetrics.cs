using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Picojump.Fs.Union.Internal;

/// <summary>
/// File data that crossed the network, per owner host: what the block cache and locality
/// are meant to save. Exported by picojumpd as picojump_remote_bytes_total.
/// </summary>
internal static class RemoteMetrics
{
    private static readonly Meter Meter = new("Picojump.Fs.Union");

    private static readonly Counter<long> Bytes = Meter.CreateCounter<long>(
        "picojump.remote.bytes", "By", "File data received from (read) or sent to (write) the file's owner host");

    public static void Read(string owner, long bytes) => Add(owner, "read", bytes);

    public static void Written(string owner, long bytes) => Add(owner, "write", bytes);

    private static void Add(string owner, string direction, long bytes)
    {
        if (bytes > 0)
            Bytes.Add(bytes, new TagList { { "owner", owner }, { "direction", direction } });
    }
}
