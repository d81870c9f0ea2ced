using Picojump.Fs.Native;

namespace Picojump.Fs.Local.Internal;

/// <summary>
/// Operations on an O_PATH descriptor through its /proc/self/fd link. The link leads to the
/// very object the descriptor holds, never through a path, so it cannot leave the export.
/// </summary>
internal static unsafe class ProcFd
{
    public static int Reopen(int pathFd, int flags)
    {
        var path = stackalloc byte[32];
        return LibC.open(LibC.ProcFdPath(pathFd, path), flags | OpenFlags.O_CLOEXEC, 0);
    }
}
