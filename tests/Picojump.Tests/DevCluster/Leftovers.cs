using System.Text.Json;
using Picojump.Tests.Infrastructure;

namespace Picojump.Tests.DevCluster;

/// <summary>What `pjctl devcluster down` must not leave behind.</summary>
public static class Leftovers
{
    public static string ClusterId(string root)
        => JsonDocument.Parse(File.ReadAllText(Path.Combine(root, "cluster.json"))).RootElement.GetProperty("id").GetString()!;

    public static void AssertNone(string root, string id)
    {
        var prefix = $"pj{id}";
        var namespaces = TestProcess.Run("ip", ["netns", "list"], TimeSpan.FromSeconds(10)).Output;
        Assert.DoesNotContain(prefix, namespaces, StringComparison.Ordinal);
        var links = TestProcess.Run("ip", ["-o", "link", "show"], TimeSpan.FromSeconds(10)).Output;
        Assert.DoesNotContain(prefix, links, StringComparison.Ordinal);
        Assert.DoesNotContain(root, File.ReadAllText("/proc/self/mountinfo"), StringComparison.Ordinal);
        Assert.Empty(ProcessesMentioning(root));
        Assert.False(Directory.Exists(root), $"{root} still exists");
    }

    /// <summary>Live processes with <paramref name="text"/> in their command line: a daemon's --config lies under the root.</summary>
    public static List<string> ProcessesMentioning(string text)
    {
        var found = new List<string>();
        foreach (var dir in Directory.EnumerateDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)))
        {
            try
            {
                var commandLine = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                if (commandLine.Contains(text, StringComparison.Ordinal) && !stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z'))
                    found.Add($"{Path.GetFileName(dir)}: {commandLine}");
            }
            catch (IOException)
            {
                // Gone meanwhile.
            }
        }
        return found;
    }
}
