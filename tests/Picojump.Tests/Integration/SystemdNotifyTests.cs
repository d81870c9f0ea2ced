using System.Net.Sockets;
using System.Text;
using Picojump.Tests.Infrastructure;

namespace Picojump.Tests.Integration;

/// <summary>
/// Type=notify readiness: picojumpd tells the service manager READY=1 once /pj serves and
/// STOPPING=1 when it shuts down, on the datagram socket NOTIFY_SOCKET names (systemd's
/// own is not available here: PID 1 is not systemd).
/// </summary>
[Collection(DaemonLifecycleTests.Collection)]
public sealed class SystemdNotifyTests
{
    private static readonly TimeSpan NotifyTimeout = TimeSpan.FromSeconds(15);

    [SkippableFact]
    public void ReadyIsSentOnceTheMountServesAndStoppingAtShutdown()
    {
        Prerequisites.RequireFuse();
        var root = MountedDaemon.CreateRoot();
        var socketPath = Path.Combine(root, "notify.sock");
        using var manager = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        manager.Bind(new UnixDomainSocketEndPoint(socketPath));
        manager.ReceiveTimeout = (int)NotifyTimeout.TotalMilliseconds;

        using var daemon = MountedDaemon.Start(root, passthrough: true, ownsRoot: true,
            new Dictionary<string, string> { ["NOTIFY_SOCKET"] = socketPath });

        Assert.Equal("READY=1", Receive(manager));
        // Ready means served: the mount answers at once.
        File.WriteAllText(Path.Combine(daemon.Mountpoint, "after-ready"), "served");
        Assert.Equal("served", File.ReadAllText(Path.Combine(daemon.Export, "after-ready")));

        Assert.Equal(0, daemon.Stop(DaemonProcess.SIGTERM));
        Assert.Equal("STOPPING=1", Receive(manager));
    }

    private static string Receive(Socket manager)
    {
        var buffer = new byte[256];
        try
        {
            return Encoding.UTF8.GetString(buffer, 0, manager.Receive(buffer));
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.TimedOut)
        {
            Assert.Fail($"no notification from picojumpd within {NotifyTimeout.TotalSeconds:F0} s");
            throw;
        }
    }
}
