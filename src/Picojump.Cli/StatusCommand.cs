using System.CommandLine;
using Google.Protobuf;
using Picojump.Cli.Control;

namespace Picojump.Cli;

/// <summary>`pjctl status`: what this host's picojumpd reports over its control socket.</summary>
public static class StatusCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print the daemon's whole reply as JSON" };
        var socket = new Option<string?>("--socket")
        {
            Description = $"The daemon's control socket (default: \"controlSocket\" in {ControlClient.DaemonConfig}, else {ControlClient.DefaultSocket})",
        };
        var status = new Command("status", "Show this host's daemon, its peers, its cache and its jobs") { json, socket };
        status.SetAction(result => Run(result.GetValue(json), ControlClient.SocketPath(result.GetValue(socket)), Console.Out));
        return status;
    }

    public static int Run(bool json, string socketPath, TextWriter output)
    {
        var reply = ControlClient.Status(socketPath);
        if (json)
            output.WriteLine(new JsonFormatter(JsonFormatter.Settings.Default.WithFormatDefaultValues(true).WithIndentation()).Format(reply));
        else
            output.Write(StatusTable.Format(reply, DateTimeOffset.UtcNow));
        return 0;
    }
}
