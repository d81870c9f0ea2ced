using Microsoft.Extensions.Hosting;
using Picojump.Migrator.Jobs;

namespace Picojump.Host;

/// <summary>Records the end of this host's jobs as it happens (and of those that ended while the daemon was down).</summary>
public sealed class JobMonitorService(JobManager jobs) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.Run(() => jobs.MonitorAsync(stoppingToken), stoppingToken);
}
