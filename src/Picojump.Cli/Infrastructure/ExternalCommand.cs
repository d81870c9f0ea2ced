using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Picojump.Cli.Infrastructure;

/// <summary>
/// Runs the system tools pjctl builds on (ip, nsenter, unshare, mount): captured with a
/// time limit, or attached to pjctl's own stdio. A failure names the command and quotes
/// what it printed, so one line tells the user what went wrong.
/// </summary>
public static class ExternalCommand
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    public sealed record Result(string CommandLine, int ExitCode, string Output, string Error)
    {
        public bool Succeeded => ExitCode == 0;

        /// <summary>The first non-empty line of stderr (or stdout): what the tool said went wrong.</summary>
        public string Complaint
            => (Error + "\n" + Output).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .FirstOrDefault() ?? $"exit status {ExitCode}";
    }

    /// <summary>Runs the command with stdin closed and its output captured.</summary>
    public static Result Run(IReadOnlyList<string> command, TimeSpan? timeout = null)
    {
        var limit = timeout ?? DefaultTimeout;
        var info = StartInfo(command);
        info.RedirectStandardInput = true;
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        using var process = Start(info, command);
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(limit))
        {
            process.Kill(entireProcessTree: true);
            throw new CliException($"{Format(command)} did not finish within {limit.TotalSeconds:0} s");
        }
        process.WaitForExit();
        return new Result(Format(command), process.ExitCode, output.Result, error.Result);
    }

    /// <summary>Runs the command and returns its stdout; a non-zero exit is a <see cref="CliException"/>.</summary>
    public static string Check(IReadOnlyList<string> command, TimeSpan? timeout = null)
    {
        var result = Run(command, timeout);
        if (!result.Succeeded)
            throw new CliException($"{result.CommandLine} failed: {result.Complaint}");
        return result.Output;
    }

    /// <summary>
    /// Runs the command on pjctl's own stdin, stdout and stderr and returns its exit code.
    /// Ctrl-C reaches the command from the terminal; pjctl stays to report its exit code.
    /// </summary>
    public static int RunAttached(IReadOnlyList<string> command)
    {
        using var process = Start(StartInfo(command), command);
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, context => context.Cancel = true);
        process.WaitForExit();
        return process.ExitCode;
    }

    public static string Format(IReadOnlyList<string> command)
        => string.Join(' ', command.Select(a => a.Length > 0 && a.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:,@%+".Contains(c)) ? a : $"'{a.Replace("'", "'\\''")}'"));

    private static ProcessStartInfo StartInfo(IReadOnlyList<string> command)
    {
        var info = new ProcessStartInfo(command[0]) { UseShellExecute = false };
        foreach (var argument in command.Skip(1))
            info.ArgumentList.Add(argument);
        return info;
    }

    private static Process Start(ProcessStartInfo info, IReadOnlyList<string> command)
    {
        try
        {
            return Process.Start(info) ?? throw new CliException($"cannot start {command[0]}");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new CliException($"cannot start {command[0]}: {ex.Message}", ex);
        }
    }
}
