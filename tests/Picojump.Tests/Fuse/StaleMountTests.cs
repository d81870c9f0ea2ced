using Picojump.Fs.Fuse;
using Picojump.Tests.Infrastructure;

namespace Picojump.Tests.Fuse;

public sealed class StaleMountTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pj-stale-").FullName;

    /// <summary>A daemon that crashed leaves its mount answering ENOTCONN; the next daemon must mount over it.</summary>
    [SkippableFact]
    public void Mount_replaces_the_stale_mount_of_a_dead_connection()
    {
        Prerequisites.RequireFuse();
        // Closing the device without unmounting is what a crash does to the connection.
        FuseMount.Mount(_dir, "picojump", "picojump").Dispose();
        Assert.False(Directory.Exists(_dir));

        using var mount = FuseMount.Mount(_dir, "picojump", "picojump");

        Assert.Equal(_dir, mount.Mountpoint);
        mount.Unmount();
    }

    public void Dispose()
    {
        while (TestProcess.Run("umount", ["--lazy", _dir], TimeSpan.FromSeconds(10)).ExitCode == 0)
        {
            // One stacked mount at a time, until none is left.
        }
        Directory.Delete(_dir);
    }
}
