using System.Net.Sockets;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using Picojump.Cli.Infrastructure;
using Picojump.Protos.Control;

namespace Picojump.Cli.Control;

/// <summary>pjctl's end of the control API: gRPC over HTTP/2 on this host's picojumpd control socket.</summary>
public static class ControlClient
{
    public const string DefaultSocket = "/run/picojump/control.sock";

    /// <summary>The daemon's config: inside a dev-cluster host this is the host's own /etc/picojump.</summary>
    public const string DaemonConfig = "/etc/picojump/picojumpd.json";

    /// <summary>Status lists every reachable peer's jobs too: a peer that stalls costs the daemon up to its peer timeout (5 s by default).</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);

    /// <summary>--socket, else the daemon config's "controlSocket", else <see cref="DefaultSocket"/>.</summary>
    /// <summary>The daemon config's "mountpoint", else /pj.</summary>
    public static string Mountpoint()
    {
        try
        {
            if (File.Exists(DaemonConfig))
            {
                using var config = JsonDocument.Parse(File.ReadAllText(DaemonConfig), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
                if (config.RootElement.ValueKind == JsonValueKind.Object
                    && config.RootElement.TryGetProperty("mountpoint", out var mountpoint) && mountpoint.ValueKind == JsonValueKind.String)
                    return mountpoint.GetString()!.TrimEnd('/');
            }
        }
        catch (JsonException)
        {
            // SocketPath says it; the default will do here.
        }
        return "/pj";
    }

    public static string SocketPath(string? option)
    {
        if (option != null)
            return option;
        if (!File.Exists(DaemonConfig))
            return DefaultSocket;
        try
        {
            using var config = JsonDocument.Parse(File.ReadAllText(DaemonConfig), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            return config.RootElement.ValueKind == JsonValueKind.Object
                && config.RootElement.TryGetProperty("controlSocket", out var socket) && socket.ValueKind == JsonValueKind.String
                ? socket.GetString()!
                : DefaultSocket;
        }
        catch (JsonException ex)
        {
            throw new CliException($"{DaemonConfig} is not valid JSON ({ex.Message}); give --socket PATH");
        }
    }

    /// <remarks><paramref name="windowSeconds"/>: the window of the jobs' recent access; 0, the longest the daemon keeps.</remarks>
    public static StatusReply Status(string socketPath, uint windowSeconds = 0)
    {
        using var channel = Channel(socketPath);
        try
        {
            return new Protos.Control.Control.ControlClient(channel).Status(new StatusRequest { WindowSeconds = windowSeconds }, deadline: DateTime.UtcNow + Deadline);
        }
        catch (RpcException ex)
        {
            throw Explain(ex, socketPath, "status");
        }
    }

    /// <summary>A channel to the daemon on its control socket.</summary>
    public static GrpcChannel Channel(string socketPath) => GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions
    {
        HttpHandler = new SocketsHttpHandler { ConnectCallback = (_, cancel) => ConnectAsync(socketPath, cancel) },
    });

    private static async ValueTask<Stream> ConnectAsync(string socketPath, CancellationToken cancel)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancel);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>One line saying what went wrong, from the socket error under the gRPC one when there is one.</summary>
    public static CliException Explain(RpcException ex, string socketPath, string call)
    {
        if (ex.StatusCode == StatusCode.DeadlineExceeded)
            return new CliException($"picojumpd did not answer on {socketPath} within {Deadline.TotalSeconds:0} s");
        for (var inner = ex.Status.DebugException; inner != null; inner = inner.InnerException)
        {
            if (inner is not SocketException socket)
                continue;
            return socket.SocketErrorCode switch
            {
                // ENOENT; checked by connecting, since a user who may not look in the directory sees no file either.
                SocketError.AddressNotAvailable => new CliException($"picojumpd is not running on this host (no control socket at {socketPath})"),
                SocketError.AccessDenied => new CliException($"permission denied on the control socket {socketPath} (only root may ask picojumpd)"),
                SocketError.ConnectionRefused => new CliException($"picojumpd is not running on this host (nothing listens on the control socket at {socketPath})"),
                _ => new CliException($"cannot reach picojumpd at {socketPath}: {socket.Message}"),
            };
        }
        return new CliException($"picojumpd at {socketPath} failed the {call} call: {ex.Status.StatusCode} {ex.Status.Detail}");
    }
}
