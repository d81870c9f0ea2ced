namespace Picojump.Tests.Infrastructure;

/// <summary>Test questions about the mount table, answered by the daemon's own reader of it.</summary>
public static class MountTable
{
    public const string PicojumpType = "fuse.picojump";

    /// <summary>The mounts exactly at <paramref name="path"/> (mount id, file system type), oldest first.</summary>
    public static IReadOnlyList<(int Id, string Type)> MountsAt(string path)
        => Picojump.Fs.Native.MountTable.At(path).Select(m => (m.Id, m.FsType)).ToList();

    /// <summary>The file system types mounted exactly at <paramref name="path"/>, oldest first.</summary>
    public static IReadOnlyList<string> TypesAt(string path) => MountsAt(path).Select(m => m.Type).ToList();

    public static bool IsPicojumpMounted(string path) => TypesAt(path).Contains(PicojumpType);

    public static bool IsMountPoint(string path) => TypesAt(path).Count > 0;
}
