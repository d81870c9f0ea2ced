using System.Text.Json;

namespace Picojump.Cli;

/// <summary>
/// `pjctl status`: the Picojump mounts of this host, read from the kernel's mount table
/// (the daemon's control API comes with the cluster).
/// </summary>
public static class StatusCommand
{
    public sealed record MountInfo(string Mountpoint, string Source, string Options, long TotalBytes, long FreeBytes);

    public static int Run(bool json, TextWriter output)
    {
        var mounts = ReadMounts();
        if (json)
        {
            output.WriteLine(JsonSerializer.Serialize(mounts, new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }
        if (mounts.Count == 0)
        {
            output.WriteLine("No Picojump mount on this host (start picojumpd --export DIR --mountpoint /pj).");
            return 0;
        }
        output.WriteLine($"{"MOUNTPOINT",-24} {"SIZE",10} {"FREE",10}  OPTIONS");
        foreach (var m in mounts)
            output.WriteLine($"{m.Mountpoint,-24} {Human(m.TotalBytes),10} {Human(m.FreeBytes),10}  {m.Options}");
        return 0;
    }

    private static List<MountInfo> ReadMounts()
    {
        var mounts = new List<MountInfo>();
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
            var separator = line.IndexOf(" - ", StringComparison.Ordinal);
            if (separator < 0)
                continue;
            var head = line[..separator].Split(' ');
            var tail = line[(separator + 3)..].Split(' ');
            if (tail[0] != "fuse.picojump")
                continue;
            long total = -1, free = -1;
            try
            {
                var drive = new DriveInfo(head[4]);
                total = drive.TotalSize;
                free = drive.AvailableFreeSpace;
            }
            catch (IOException)
            {
                // A mount whose daemon is gone answers nothing; show it without sizes.
            }
            mounts.Add(new MountInfo(head[4], tail[1], head[5], total, free));
        }
        return mounts;
    }

    private static string Human(long bytes) => bytes < 0 ? "?" : bytes switch
    {
        >= 1L << 40 => $"{bytes / (double)(1L << 40):0.0}T",
        >= 1L << 30 => $"{bytes / (double)(1L << 30):0.0}G",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):0.0}M",
        _ => $"{bytes / 1024.0:0.0}K",
    };
}
