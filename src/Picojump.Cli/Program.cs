using System.CommandLine;
using Picojump.Cli;

var json = new Option<bool>("--json") { Description = "Print JSON instead of a table" };
var status = new Command("status", "Show the Picojump mounts on this host") { json };
status.SetAction(result => StatusCommand.Run(result.GetValue(json), Console.Out));

var root = new RootCommand("pjctl: control and inspect Picojump") { status };
var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    Console.Error.WriteLine($"pjctl: {parsed.Errors[0].Message} (see pjctl --help)");
    return 2;
}
return parsed.Invoke();
