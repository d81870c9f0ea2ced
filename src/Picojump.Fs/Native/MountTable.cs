using System.Text;

namespace Picojump.Fs.Native;

/// <summary>One line of a mountinfo file (proc(5)), with the mountpoint unescaped.</summary>
public sealed record MountEntry(int Id, uint Minor, string Mountpoint, string FsType, string Source, string Options);

/// <summary>
/// The kernel's mount table, read from mountinfo: what is mounted where, without touching
/// a mount (a stat of a dead or not yet served FUSE mount would fail or hang).
/// </summary>
public static class MountTable
{
    /// <summary>The mounts of the calling process's mount namespace.</summary>
    public static List<MountEntry> Current() => Parse(File.ReadLines("/proc/self/mountinfo"));

    public static List<MountEntry> Parse(IEnumerable<string> mountinfo)
    {
        var entries = new List<MountEntry>();
        foreach (var line in mountinfo)
        {
            // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
            var separator = line.IndexOf(" - ", StringComparison.Ordinal);
            if (separator < 0)
                continue;
            var head = line[..separator].Split(' ');
            var tail = line[(separator + 3)..].Split(' ');
            if (head.Length < 6 || tail.Length < 2 || !int.TryParse(head[0], out var id)
                || !uint.TryParse(head[2].AsSpan(head[2].IndexOf(':') + 1), out var minor))
                continue;
            entries.Add(new MountEntry(id, minor, Unescape(head[4]), tail[0], Unescape(tail[1]), head[5]));
        }
        return entries;
    }

    /// <summary>The mounts exactly at <paramref name="path"/>, oldest first.</summary>
    public static List<MountEntry> At(string path) => Current().Where(m => m.Mountpoint == path).ToList();

    /// <summary>Whether <paramref name="path"/> is <paramref name="directory"/> or lies below it.</summary>
    public static bool IsAtOrBelow(string path, string directory)
        => path == directory || path.StartsWith(directory.TrimEnd('/') + "/", StringComparison.Ordinal);

    // The kernel writes space, tab, newline and backslash as \ooo octal escapes.
    private static string Unescape(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
            return field;
        var bytes = new List<byte>(field.Length);
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length && IsOctal(field.AsSpan(i + 1, 3)))
            {
                bytes.Add(Convert.ToByte(field.Substring(i + 1, 3), 8));
                i += 3;
            }
            else
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(field[i].ToString()));
            }
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    private static bool IsOctal(ReadOnlySpan<char> digits) => digits.IndexOfAnyExceptInRange('0', '7') < 0;
}
