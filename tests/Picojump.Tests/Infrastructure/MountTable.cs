namespace Picojump.Tests.Infrastructure;

/// <summary>Reads /proc/self/mountinfo: what is mounted where, without touching the mount itself.</summary>
public static class MountTable
{
    public const string PicojumpType = "fuse.picojump";

    /// <summary>The mounts exactly at <paramref name="path"/> (mount id, file system type), oldest first.</summary>
    public static IReadOnlyList<(int Id, string Type)> MountsAt(string path)
    {
        var mounts = new List<(int, string)>();
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            // id parent major:minor root mountpoint options [optional fields] - type source super-options
            var fields = line.Split(' ');
            var separator = Array.IndexOf(fields, "-");
            if (fields.Length > 4 && separator > 4 && separator + 1 < fields.Length && Unescape(fields[4]) == path)
                mounts.Add((int.Parse(fields[0]), fields[separator + 1]));
        }
        return mounts;
    }

    /// <summary>The file system types mounted exactly at <paramref name="path"/>, oldest first.</summary>
    public static IReadOnlyList<string> TypesAt(string path) => MountsAt(path).Select(m => m.Type).ToList();

    public static bool IsPicojumpMounted(string path) => TypesAt(path).Contains(PicojumpType);

    public static bool IsMountPoint(string path) => TypesAt(path).Count > 0;

    /// <summary>mountinfo writes space, tab, newline and backslash as \ooo.</summary>
    private static string Unescape(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
            return field;
        var sb = new System.Text.StringBuilder(field.Length);
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length)
            {
                sb.Append((char)Convert.ToInt32(field.Substring(i + 1, 3), 8));
                i += 3;
            }
            else
            {
                sb.Append(field[i]);
            }
        }
        return sb.ToString();
    }
}
