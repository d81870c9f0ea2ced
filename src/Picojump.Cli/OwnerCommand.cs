using System.CommandLine;
using System.Text;
using System.Text.Json;
using Picojump.Cli.Infrastructure;
using Picojump.Fs.Native;

namespace Picojump.Cli;

/// <summary>
/// `pjctl owner PATH...`: which host owns each path under /pj (every host that has it, for a
/// merged directory), read from the file system itself through user.picojump.owner.
/// </summary>
public static class OwnerCommand
{
    public const string Attribute = "user.picojump.owner";

    public static Command Create()
    {
        var paths = new Argument<string[]>("path") { Description = "Paths under a Picojump mount", Arity = ArgumentArity.OneOrMore };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table" };
        var owner = new Command("owner", "Show the host that owns each path (the hosts of a merged directory)") { paths, json };
        owner.SetAction(result => Run(result.GetValue(paths)!, result.GetValue(json), Console.Out));
        return owner;
    }

    public static int Run(IReadOnlyList<string> paths, bool json, TextWriter output)
    {
        var owners = paths.Select(p => (Path: p, Hosts: OwnerOf(p))).ToList();
        if (json)
            output.WriteLine(JsonSerializer.Serialize(owners.Select(o => new { path = o.Path, hosts = o.Hosts })));
        else
            foreach (var (path, hosts) in owners)
                output.WriteLine($"{string.Join(',', hosts)}\t{path}");
        return 0;
    }

    private static unsafe string[] OwnerOf(string path)
    {
        var name = Encoding.UTF8.GetBytes(path + "\0");
        var attribute = Encoding.UTF8.GetBytes(Attribute + "\0");
        var value = new byte[1024];
        nint n;
        fixed (byte* p = name)
        fixed (byte* a = attribute)
        fixed (byte* v = value)
            n = LibC.getxattr(p, a, v, (nuint)value.Length);
        if (n < 0)
        {
            var errno = LibC.LastErrno;
            throw new CliException(errno == Errno.ENODATA
                ? $"{path} is not under a Picojump mount"
                : $"{path}: {errno}");
        }
        return Encoding.UTF8.GetString(value, 0, (int)n).Split(',');
    }
}
