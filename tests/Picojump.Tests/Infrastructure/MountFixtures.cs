namespace Picojump.Tests.Infrastructure;

/// <summary>
/// One daemon shared by every test of a collection, started by the first test that asks
/// for it (after that test has checked for root and /dev/fuse, so a machine without them
/// skips instead of failing in a constructor). A start failure fails every test with it.
/// </summary>
public abstract class MountFixture : IDisposable
{
    private readonly Lazy<MountedDaemon> _daemon;

    protected MountFixture(bool passthrough)
        => _daemon = new Lazy<MountedDaemon>(() => MountedDaemon.Start(passthrough), LazyThreadSafetyMode.ExecutionAndPublication);

    public MountedDaemon Daemon => _daemon.Value;

    public void Dispose()
    {
        if (_daemon.IsValueCreated)
            _daemon.Value.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>The default mode: the kernel reads and writes regular files' backing files itself.</summary>
public sealed class PassthroughMount() : MountFixture(passthrough: true)
{
    public const string Collection = "mount with passthrough";
}

/// <summary>`--no-passthrough`: every read and write goes through the daemon.</summary>
public sealed class DaemonPathMount() : MountFixture(passthrough: false)
{
    public const string Collection = "mount without passthrough";
}

[CollectionDefinition(PassthroughMount.Collection)]
public sealed class PassthroughMountCollection : ICollectionFixture<PassthroughMount>;

[CollectionDefinition(DaemonPathMount.Collection)]
public sealed class DaemonPathMountCollection : ICollectionFixture<DaemonPathMount>;
