using System.Text;

namespace Picojump.Fs.Cache;

/// <summary>
/// Identity of one cached block: which host owns the file, the file's inode number and
/// version (its ctime in ns) on that host, and the block's index within the file.
/// </summary>
public readonly record struct BlockKey(ulong OwnerHost, ulong FileId, long Version, ulong BlockIndex)
{
    /// <summary>A stable 64-bit id for a host name (FNV-1a over its UTF-8 bytes): same name, same id, in every process.</summary>
    public static ulong HashHost(string hostName)
    {
        ArgumentNullException.ThrowIfNull(hostName);
        var hash = 14695981039346656037UL;
        foreach (var b in Encoding.UTF8.GetBytes(hostName))
        {
            hash = (hash ^ b) * 1099511628211UL;
        }
        return hash;
    }
}
