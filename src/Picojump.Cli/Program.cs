using System.CommandLine;
using System.Security.Cryptography;
using Picojump.Cli;
using Picojump.Cli.Certificates;
using Picojump.Cli.Infrastructure;

var command = new RootCommand("pjctl: control and inspect Picojump") { StatusCommand.Create(), CaCommands.Create() };

var parsed = command.Parse(args);
if (parsed.Errors.Count > 0)
{
    Console.Error.WriteLine($"pjctl: {parsed.Errors[0].Message} (see pjctl --help)");
    return 2;
}
try
{
    return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception ex) when (ex is CliException or IOException or UnauthorizedAccessException or CryptographicException)
{
    Console.Error.WriteLine($"pjctl: {ex.Message}");
    return 1;
}
