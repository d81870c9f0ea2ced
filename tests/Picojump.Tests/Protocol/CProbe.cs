using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Picojump.Tests.Protocol;

/// <summary>
/// Asks the C compiler what the system headers say: writes a small C program that prints
/// one integer expression per line (sizeof, offsetof, a #define), builds it with gcc and
/// runs it. The answers come from the very headers a C file system would be built with.
/// </summary>
internal static class CProbe
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Evaluates every expression; the keys name them in the answer.</summary>
    public static IReadOnlyDictionary<string, long> Evaluate(IEnumerable<string> includes, IEnumerable<KeyValuePair<string, string>> expressions)
    {
        var source = new StringBuilder();
        source.AppendLine("#define _GNU_SOURCE");
        source.AppendLine("#include <stdio.h>");
        source.AppendLine("#include <stddef.h>");
        foreach (var include in includes)
            source.AppendLine(CultureInfo.InvariantCulture, $"#include <{include}>");
        source.AppendLine("int main(void) {");
        foreach (var (key, expression) in expressions)
            source.AppendLine(CultureInfo.InvariantCulture, $"    printf(\"%s %lld\\n\", \"{key}\", (long long)({expression}));");
        source.AppendLine("    return 0;");
        source.AppendLine("}");

        var dir = Directory.CreateTempSubdirectory("pj-cprobe-");
        try
        {
            var c = Path.Combine(dir.FullName, "probe.c");
            var exe = Path.Combine(dir.FullName, "probe");
            File.WriteAllText(c, source.ToString());
            var (code, _, errors) = Run("gcc", ["-std=gnu11", "-Wall", "-o", exe, c]);
            Assert.True(code == 0, $"gcc could not build the header probe:\n{errors}\n--- probe.c ---\n{source}");
            var (exit, output, stderr) = Run(exe, []);
            Assert.True(exit == 0, $"the header probe failed ({exit}): {stderr}");
            var values = new Dictionary<string, long>(StringComparer.Ordinal);
            foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var space = line.LastIndexOf(' ');
                values[line[..space]] = long.Parse(line[(space + 1)..], CultureInfo.InvariantCulture);
            }
            return values;
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>The headers after the preprocessor, with every #define kept (gcc -E -dD).</summary>
    public static string Preprocess(IEnumerable<string> includes)
    {
        var dir = Directory.CreateTempSubdirectory("pj-cprobe-");
        try
        {
            var c = Path.Combine(dir.FullName, "headers.c");
            File.WriteAllLines(c, includes.Select(i => $"#include <{i}>"));
            var (code, output, errors) = Run("gcc", ["-E", "-dD", "-P", c]);
            Assert.True(code == 0, $"gcc -E failed: {errors}");
            return output;
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static (int ExitCode, string Output, string Errors) Run(string file, string[] arguments)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {file}");
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(CommandTimeout))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{file} did not finish within {CommandTimeout.TotalSeconds} s");
        }
        return (process.ExitCode, output.Result, errors.Result);
    }
}
