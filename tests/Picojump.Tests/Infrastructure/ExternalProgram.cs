using System.Diagnostics;
using System.Text;

namespace Picojump.Tests.Infrastructure;

/// <summary>What a finished program did: enough to explain a failure in one message.</summary>
public sealed record ProgramResult(string Command, int ExitCode, string Stdout, string Stderr, TimeSpan Elapsed)
{
    public ProgramResult AssertSuccess() => AssertExitCode(0);

    public ProgramResult AssertExitCode(int expected)
    {
        if (ExitCode != expected)
            Assert.Fail($"expected exit code {expected}, got {ExitCode}\n{Describe()}");
        return this;
    }

    /// <summary>The command, its exit code and the end of its output, for failure messages.</summary>
    public string Describe()
        => $"`{Command}` exited {ExitCode} after {Elapsed.TotalSeconds:F1} s\n--- stdout ---\n{Tail(Stdout)}\n--- stderr ---\n{Tail(Stderr)}";

    /// <summary>Stdout split into lines, without the final empty one.</summary>
    public string[] StdoutLines => Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    private static string Tail(string text) => text.Length <= 6000 ? text : "[...]" + text[^6000..];
}

/// <summary>
/// Runs real programs (bash, python3, sqlite3, git, ...) with a deadline. A program that
/// outlives its deadline is killed with its children and fails the test with its output.
/// </summary>
public static class ExternalProgram
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    public static ProgramResult Run(string fileName, IEnumerable<string> arguments, string? workingDirectory = null,
        TimeSpan? timeout = null, string? stdin = null)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
        };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        // Stable, parseable output from coreutils and friends.
        start.Environment["LC_ALL"] = "C";
        var command = string.Join(' ', start.ArgumentList.Prepend(fileName).Select(Quote));

        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(stdout, e.Data);
        process.ErrorDataReceived += (_, e) => Append(stderr, e.Data);
        var clock = Stopwatch.StartNew();
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            if (stdin != null)
                process.StandardInput.Write(stdin);
            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // The program exited without reading its input; its exit code tells why.
        }

        var limit = timeout ?? DefaultTimeout;
        if (!process.WaitForExit(limit))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(TimeSpan.FromSeconds(10));
            Assert.Fail($"timed out after {limit.TotalSeconds:F0} s (killed)\n"
                + new ProgramResult(command, -1, Snapshot(stdout), Snapshot(stderr), clock.Elapsed).Describe());
        }
        process.WaitForExit(); // drains the asynchronous readers
        return new ProgramResult(command, process.ExitCode, Snapshot(stdout), Snapshot(stderr), clock.Elapsed);
    }

    /// <summary>Runs a bash script with errexit, nounset and pipefail.</summary>
    public static ProgramResult Bash(string script, string? workingDirectory = null, TimeSpan? timeout = null)
        => Run("bash", ["-euo", "pipefail", "-c", script], workingDirectory, timeout);

    /// <summary>Runs a python3 script; <paramref name="arguments"/> arrive as sys.argv[1:].</summary>
    public static ProgramResult Python(string script, IEnumerable<string> arguments, string? workingDirectory = null, TimeSpan? timeout = null)
        => Run("python3", new[] { "-c", script }.Concat(arguments), workingDirectory, timeout);

    /// <summary>Single-quotes <paramref name="word"/> for a bash script when it needs it.</summary>
    public static string Quote(string word)
        => word.Length > 0 && word.All(c => char.IsAsciiLetterOrDigit(c) || "/._-+=:,@%".Contains(c))
            ? word
            : "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static void Append(StringBuilder sb, string? line)
    {
        if (line == null)
            return;
        lock (sb)
            sb.Append(line).Append('\n');
    }

    private static string Snapshot(StringBuilder sb)
    {
        lock (sb)
            return sb.ToString();
    }
}
