using System.Runtime.CompilerServices;

namespace Picojump.Tests.Infrastructure;

/// <summary>
/// One test's directories: <see cref="Mounted"/> on the FUSE mount, <see cref="Exported"/>
/// the same directory in the export (behind the daemon's back), and <see cref="Local"/> a
/// scratch directory on the same disk outside the mount.
/// </summary>
public sealed record TestDirectory(string Mounted, string Exported, string Local);

/// <summary>
/// Base of the tests that run on a shared mount. Each test class has two sealed children,
/// one per mount mode, so every data-path test runs with and without passthrough. After
/// each test the daemon must still run and have logged no warning or error.
/// </summary>
public abstract class MountTestBase(MountFixture fixture) : IDisposable
{
    private TestDirectory? _directory;
    private int _outputOffset;

    protected MountedDaemon Daemon => fixture.Daemon;

    /// <summary>
    /// Checks root, /dev/fuse and <paramref name="commands"/> (skipping or, under CI, failing),
    /// starts the shared daemon if needed and makes this test's own directory on the mount.
    /// </summary>
    protected TestDirectory Prepare(string[] commands, [CallerMemberName] string test = "")
    {
        Prerequisites.RequireFuse();
        foreach (var command in commands)
            Prerequisites.RequireCommand(command);
        var daemon = fixture.Daemon;
        _outputOffset = daemon.Process.Output.Length;
        var name = $"{test}-{Guid.NewGuid():N}"[..(test.Length + 9)];
        var mounted = Path.Combine(daemon.Mountpoint, name);
        // Through the mount (MKDIR reaches the daemon), with a deadline in case it hangs.
        ExternalProgram.Run("mkdir", [mounted], timeout: TimeSpan.FromSeconds(20)).AssertSuccess();
        var local = Path.Combine(daemon.Root, "local", name);
        Directory.CreateDirectory(local);
        _directory = new TestDirectory(mounted, Path.Combine(daemon.Export, name), local);
        return _directory;
    }

    public void Dispose()
    {
        GC.SuppressFinalize(this);
        if (_directory == null)
            return;
        try
        {
            fixture.Daemon.AssertHealthy(_outputOffset);
        }
        finally
        {
            // Behind the daemon's back: cleanup must not depend on the mount under test.
            DeleteTree(_directory.Exported);
            DeleteTree(_directory.Local);
        }
    }

    /// <summary>rm, not Directory.Delete: names need not be UTF-8, and it never crosses into a mount.</summary>
    internal static void DeleteTree(string path)
    {
        if (Directory.Exists(path))
            ExternalProgram.Run("rm", ["-rf", "--one-file-system", path], timeout: TimeSpan.FromSeconds(120)).AssertSuccess();
    }
}
