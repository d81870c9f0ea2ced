using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;

namespace Picojump.Host;

/// <summary>
/// The Prometheus endpoint (GET /metrics, plain HTTP/1.1) on "metricsListen". The daemon only
/// wires it: the instruments live where the events happen (remote bytes in the union file
/// system, cache lookups in the block cache, migrations, policy decisions), each library
/// with its own meter under "Picojump.".
/// </summary>
public static class MetricsServer
{
    private const string Meters = "Picojump.*";

    public static void Configure(WebApplicationBuilder builder, IPEndPoint listen)
    {
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel => kestrel.Listen(listen, endpoint => endpoint.Protocols = HttpProtocols.Http1));
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics.AddMeter(Meters).AddPrometheusExporter());
    }

    /// <summary>Only on the metrics port: Kestrel serves every endpoint on every listener.</summary>
    public static void Map(WebApplication app, IPEndPoint listen)
        => app.UseOpenTelemetryPrometheusScrapingEndpoint(context =>
            context.Connection.LocalPort == listen.Port && context.Request.Path == "/metrics");
}
