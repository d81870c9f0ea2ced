using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Picojump.Fs.Fuse;
using Picojump.Fs.Cluster;
using Picojump.Fs.Union;
using Microsoft.Extensions.DependencyInjection;

namespace Picojump.Host;

/// <summary>
/// Serves the mount for the daemon's lifetime: starts the FUSE readers, unmounts on stop,
/// and stops the daemon if the mount goes away underneath it (umount, abort).
/// </summary>
public sealed class FileSystemService(
    FuseMount mount,
    UnionFileSystem fileSystem,
    IServiceProvider services,
    FuseServerOptions serverOptions,
    DaemonSettings settings,
    IHostApplicationLifetime lifetime,
    ILogger<FileSystemService> logger) : IHostedService, IDisposable
{
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(5);
    private FuseServer? _server;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _server = new FuseServer(mount, fileSystem, serverOptions, logger);
        _server.Start();
        // Peers are contacted once we serve: their invalidations need the kernel connection.
        services.GetService<PeerSet>()?.Start();
        _server.Completion.ContinueWith(_ =>
        {
            if (!lifetime.ApplicationStopping.IsCancellationRequested)
            {
                logger.LogWarning("{Mountpoint} was unmounted from outside; stopping", mount.Mountpoint);
                lifetime.StopApplication();
            }
        }, TaskScheduler.Default);
        logger.LogInformation("Serving {Export} at {Mountpoint} with {Readers} FUSE readers", settings.Export, mount.Mountpoint, serverOptions.ReaderThreads);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _server?.Stop(StopGrace);
        logger.LogInformation("Unmounted {Mountpoint}", mount.Mountpoint);
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _server?.Dispose();
        fileSystem.Dispose();
        mount.Dispose();
    }
}
