using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Picojump.Tests.Infrastructure;

/// <summary>
/// A real picojumpd process (`dotnet picojumpd.dll ...` from the test output directory),
/// with its output captured for failure messages. Knows nothing about mounts.
/// </summary>
public sealed class DaemonProcess : IDisposable
{
    public const int SIGINT = 2;
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;

    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private DaemonProcess(Process process, string command)
    {
        _process = process;
        Command = command;
    }

    /// <summary>The daemon the test project builds next to the tests.</summary>
    public static string DaemonDll => Path.Combine(AppContext.BaseDirectory, "picojumpd.dll");

    public string Command { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Everything the daemon wrote (stdout and stderr interleaved by line).</summary>
    public string Output
    {
        get
        {
            lock (_output)
                return _output.ToString();
        }
    }

    /// <summary>
    /// Starts the daemon. `env --default-signal` undoes a SIGINT that the test runner's own
    /// parent ignored (a background job), which the daemon would otherwise inherit.
    /// </summary>
    public static DaemonProcess Start(IEnumerable<string> arguments, string workingDirectory, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo("env")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        start.ArgumentList.Add("--default-signal=INT,TERM");
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
            start.ArgumentList.Add($"{name}={value}");
        start.ArgumentList.Add(DotnetHost());
        start.ArgumentList.Add(DaemonDll);
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        var command = string.Join(' ', start.ArgumentList.Skip(1).Select(ExternalProgram.Quote));
        var process = new Process { StartInfo = start };
        var daemon = new DaemonProcess(process, command);
        process.OutputDataReceived += (_, e) => daemon.Append(e.Data);
        process.ErrorDataReceived += (_, e) => daemon.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.StandardInput.Close();
        return daemon;
    }

    /// <summary>The exit code, or null if the daemon is still running after <paramref name="timeout"/>.</summary>
    public int? WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
            return null;
        _process.WaitForExit(); // drains the output readers
        return _process.ExitCode;
    }

    public void Signal(int signal)
    {
        if (!_process.HasExited && kill(_process.Id, signal) != 0)
            Assert.Fail($"kill({_process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Polls the output for <paramref name="text"/>; false when the daemon exits or time runs out.</summary>
    public bool WaitForOutput(string text, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            if (_process.HasExited || clock.Elapsed > timeout)
                return Output.Contains(text, StringComparison.Ordinal);
            Thread.Sleep(20);
        }
        return true;
    }

    /// <summary>The command and its output so far, for failure messages.</summary>
    public string Describe()
    {
        var state = _process.HasExited ? $"exited with {_process.ExitCode}" : $"running as pid {_process.Id}";
        var output = Output;
        if (output.Length > 8000)
            output = "[...]" + output[^8000..];
        return $"`{Command}` {state}\n--- daemon output ---\n{output}";
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(TimeSpan.FromSeconds(10));
        }
        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line == null)
            return;
        lock (_output)
            _output.Append(line).Append('\n');
    }

    /// <summary>The dotnet host that runs the tests (the CLI sets DOTNET_HOST_PATH), else PATH's.</summary>
    public static string DotnetHost()
        => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host)
            ? host
            : Prerequisites.FindOnPath("dotnet") ?? "dotnet";

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}
