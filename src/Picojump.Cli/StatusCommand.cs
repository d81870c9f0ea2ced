using System.CommandLine;
using System.Text.Json;
using Picojump.Fs.Native;

namespace Picojump.Cli;

/// <summary>
/// `pjctl status`: the Picojump mounts of this host, read from the kernel's mount table
/// (the daemon's control API comes with the cluster).
/// </summary>
public static class StatusCommand
{
    public sealed record MountInfo(string Mountpoint, string Source, string Options, long TotalBytes, long FreeBytes);

    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table" };
        var status = new Command("status", "Show the Picojump mounts on this host") { json };
        status.SetAction(result => Run(result.GetValue(json), Console.Out));
        return status;
    }

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
        foreach (var entry in MountTable.Current().Where(m => m.FsType == "fuse.picojump"))
        {
            long total = -1, free = -1;
            try
            {
                var drive = new DriveInfo(entry.Mountpoint);
                total = drive.TotalSize;
                free = drive.AvailableFreeSpace;
            }
            catch (IOException)
            {
                // A mount whose daemon is gone answers nothing; show it without sizes.
            }
            mounts.Add(new MountInfo(entry.Mountpoint, entry.Source, entry.Options, total, free));
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
