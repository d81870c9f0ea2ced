using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Picojump.Host.Control;

/// <summary>
/// The control API on Kestrel: HTTP/2 without TLS on the root-only Unix socket. Kestrel
/// serves every mapped service on every endpoint, so requests are split by where they came
/// in: the control API only on the socket, the peer API (open to every cluster host) never there.
/// </summary>
public static class ControlServer
{
    private static readonly PathString ControlPrefix = "/" + Protos.Control.Control.Descriptor.FullName;

    public static void Configure(WebApplicationBuilder builder, string socketPath)
    {
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.ListenUnixSocket(socketPath, endpoint => endpoint.Protocols = HttpProtocols.Http2);
        });
        builder.WebHost.UseSockets(sockets => sockets.CreateBoundListenSocket = endpoint => endpoint is UnixDomainSocketEndPoint unix
            ? ControlSocket.Bind(unix, socketPath)
            : Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets.SocketTransportOptions.CreateDefaultBoundListenSocket(endpoint));
        builder.Services.AddRouting();
        builder.Services.AddGrpc();
        builder.Services.AddSingleton<ControlService>();
    }

    public static void Map(WebApplication app)
    {
        app.Use((context, next) =>
        {
            // A Unix socket connection has no IP address; a peer's TCP connection always has one.
            var overControlSocket = context.Connection.LocalIpAddress == null;
            if (overControlSocket != context.Request.Path.StartsWithSegments(ControlPrefix))
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            }
            return next(context);
        });
        app.MapGrpcService<ControlService>();
    }
}
