using System.Collections;
using Grpc.Core;
using Picojump.Cli.Control;
using Picojump.Cli.Infrastructure;
using Picojump.Protos.Control;
using Picojump.Protos.Jobs;

namespace Picojump.Cli.Jobs;

/// <summary>pjctl's job calls to its own host's daemon, which forwards to the job's host.</summary>
public sealed class JobClient(string socketPath) : IDisposable
{
    /// <summary>Starting a job on a peer is forwarded (the daemon bounds that at 30 s).</summary>
    private static readonly TimeSpan RunDeadline = TimeSpan.FromSeconds(40);

    private readonly Grpc.Net.Client.GrpcChannel _channel = ControlClient.Channel(socketPath);

    private Protos.Control.Control.ControlClient Client => new(_channel);

    public JobInfo Run(string? host, string? name, IReadOnlyList<string> command, string workingDirectory, bool pin = false)
    {
        var job = new RunJobRequest { Name = name ?? "", WorkingDirectory = workingDirectory, Pin = pin };
        if (Umask() is { } umask)
            job.Umask = umask;
        job.Command.AddRange(command);
        foreach (DictionaryEntry variable in Environment.GetEnvironmentVariables())
            job.Environment[(string)variable.Key] = (string?)variable.Value ?? "";
        return Call("run", () => Client.Run(new RunRequest { Host = host ?? "", Job = job }, deadline: DateTime.UtcNow + RunDeadline).Job);
    }

    public PsReply Ps() => Call("ps", () => Client.Ps(new PsRequest(), deadline: DateTime.UtcNow + RunDeadline));

    public JobInfo Kill(string job, int signal) => Call("kill", () => Client.Kill(new KillRequest { Job = job, Signal = signal }, deadline: DateTime.UtcNow + RunDeadline).Job);

    /// <summary>The daemon bounds a forwarded migration at 30 minutes.</summary>
    public Protos.Migration.MigrateReply Migrate(string job, string host, Protos.Migration.Mode mode)
        => Call("migrate", () => Client.Migrate(new MigrateRequest { Job = job, Host = host, Mode = mode }, deadline: DateTime.UtcNow + TimeSpan.FromMinutes(31)));

    /// <summary>Pins (<paramref name="pin"/> a host), unpins (empty) or leaves the pin (null); turns the policy on, off, or leaves it (null).</summary>
    public JobInfo SetPolicy(string job, string? pin, bool? enabled)
    {
        var request = new SetPolicyRequest { Job = job };
        if (pin != null)
            request.PinnedHost = pin;
        if (enabled is { } on)
            request.PolicyEnabled = on;
        return Call("policy", () => Client.SetPolicy(request, deadline: DateTime.UtcNow + RunDeadline).Job);
    }

    /// <summary>No deadline: a job may run for days.</summary>
    public Task<JobInfo> WaitAsync(string job, CancellationToken cancel = default)
        => CallAsync("wait", async () => (await Client.WaitAsync(new WaitRequest { Job = job }, cancellationToken: cancel)).Job);

    /// <summary>This process's umask, from /proc/self/status ("Umask:\t0022").</summary>
    private static uint? Umask()
    {
        try
        {
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("Umask:", StringComparison.Ordinal));
            return line == null ? null : Convert.ToUInt32(line["Umask:".Length..].Trim(), 8);
        }
        catch (Exception ex) when (ex is IOException or FormatException)
        {
            return null;
        }
    }

    /// <summary>A refusal of the daemon (no such job, bad input, host down) is its message alone; a failure to reach it is explained.</summary>
    private T Call<T>(string what, Func<T> call)
    {
        try
        {
            return call();
        }
        catch (RpcException ex)
        {
            throw Explain(ex, what);
        }
    }

    private async Task<T> CallAsync<T>(string what, Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (RpcException ex)
        {
            throw Explain(ex, what);
        }
    }

    private CliException Explain(RpcException ex, string what)
    {
        // The daemon's own answers carry no local exception; a socket that no one answers does.
        return ex.Status.DebugException == null
            && ex.StatusCode is StatusCode.NotFound or StatusCode.InvalidArgument or StatusCode.FailedPrecondition or StatusCode.Unavailable or StatusCode.Unimplemented
            ? new CliException(ex.Status.Detail)
            : ControlClient.Explain(ex, socketPath, what);
    }

    public void Dispose() => _channel.Dispose();
}
