using System.Runtime.InteropServices;

namespace Picojump.Fs.Native;

public static unsafe partial class LibC
{
    public const ulong MS_NOSUID = 2;
    public const ulong MS_NODEV = 4;
    public const int MNT_DETACH = 2;

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int mount(byte* source, byte* target, byte* fstype, ulong flags, byte* data);

    [LibraryImport(Lib, SetLastError = true)]
    public static partial int umount2(byte* target, int flags);
}
