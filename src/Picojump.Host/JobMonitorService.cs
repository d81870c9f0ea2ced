using Microsoft.Extensions.Hosting;
using Picojump.Migrator.Jobs;
using Picojump.Migrator.Migration;
using Picojump.Migrator.Policy;

namespace Picojump.Host;

/// <summary>Records the end of this host's jobs as it happens (and of those that ended while the daemon was down).</summary>
public sealed class JobMonitorService(JobManager jobs) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.Run(() => jobs.MonitorAsync(stoppingToken), stoppingToken);
}

/// <summary>Finishes migrations left unfinished (a lost reply, an unreachable peer, a restart): see <see cref="MigrationCoordinator.RunRecoveryAsync"/>.</summary>
public sealed class MigrationRecoveryService(MigrationCoordinator migrations) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.Run(() => migrations.RunRecoveryAsync(stoppingToken), stoppingToken);
}

/// <summary>Moves this host's jobs towards their data: see <see cref="PolicyRunner"/>.</summary>
public sealed class PolicyService(PolicyRunner policy) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.Run(() => policy.RunAsync(stoppingToken), stoppingToken);
}
