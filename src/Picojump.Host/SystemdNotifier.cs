using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Picojump.Host;

/// <summary>
/// sd_notify(3) for Type=notify units: READY=1 once every other service has started (so
/// /pj is mounted), STOPPING=1 at shutdown. Speaks the datagram protocol itself, so it
/// works wherever NOTIFY_SOCKET points, systemd or a test's socket.
/// </summary>
public sealed class SystemdNotifier(ILogger<SystemdNotifier> logger) : IHostedLifecycleService
{
    private readonly string? _socketPath = Environment.GetEnvironmentVariable("NOTIFY_SOCKET");

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Send("READY=1");

    public Task StoppingAsync(CancellationToken cancellationToken) => Send("STOPPING=1");

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private Task Send(string state)
    {
        if (string.IsNullOrEmpty(_socketPath))
            return Task.CompletedTask;
        try
        {
            // A leading '@' names an abstract socket, which .NET spells with a NUL.
            var path = _socketPath[0] == '@' ? "\0" + _socketPath[1..] : _socketPath;
            using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            socket.SendTo(Encoding.UTF8.GetBytes(state), new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException ex)
        {
            logger.LogWarning("Could not notify the service manager at {Socket}: {Error}", _socketPath, ex.Message);
        }
        return Task.CompletedTask;
    }
}
