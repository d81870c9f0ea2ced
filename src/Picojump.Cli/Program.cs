using System.CommandLine;
using System.Security.Cryptography;
using Picojump.Cli;
using Picojump.Cli.Certificates;
using Picojump.Cli.Demo;
using Picojump.Cli.DevCluster;
using Picojump.Cli.Infrastructure;
using Picojump.Cli.Jobs;

var host = new Option<string?>("--host") { Description = "Run the command on that host (for now a dev cluster host, h1..hN)", Recursive = true };
var root = new Option<string?>("--root")
{
    Description = $"Dev cluster state directory (default ${ClusterLayout.RootVariable}, else {ClusterLayout.DefaultRoot})",
    Recursive = true,
};
var devcluster = DevClusterCommands.Create(root);
var demo = DemoCommand.Create(root);
var command = new RootCommand("pjctl: control and inspect Picojump") { host, root, demo, OwnerCommand.Create(), CaCommands.Create(), devcluster };
foreach (var statusCommand in StatusCommand.Create())
    command.Subcommands.Add(statusCommand);
foreach (var jobCommand in JobCommands.Create())
    command.Subcommands.Add(jobCommand);

var parsed = command.Parse(args);
if (parsed.Errors.Count > 0)
{
    Console.Error.WriteLine($"pjctl: {parsed.Errors[0].Message} (see pjctl --help)");
    return 2;
}
try
{
    if (parsed.GetValue(host) is { } hostName)
    {
        if (parsed.GetResult(devcluster) != null || parsed.GetResult(demo) != null)
        {
            Console.Error.WriteLine("pjctl: --host does not apply to devcluster and demo commands (use pjctl devcluster exec HOST -- ...)");
            return 2;
        }
        return HostRedirect.Run(hostName, parsed.GetValue(root), args);
    }
    return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception ex) when (ex is CliException or IOException or UnauthorizedAccessException or CryptographicException)
{
    Console.Error.WriteLine($"pjctl: {ex.Message}");
    return 1;
}
