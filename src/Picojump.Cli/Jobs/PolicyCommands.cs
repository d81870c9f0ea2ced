using System.CommandLine;
using Picojump.Cli.Control;
using Picojump.Protos.Jobs;

namespace Picojump.Cli.Jobs;

/// <summary>`pjctl pin`, `unpin` and `policy`: what the locality policy may do with one job (kept with the job, wherever it goes).</summary>
public static class PolicyCommands
{
    public static IEnumerable<Command> Create()
    {
        var host = new Argument<string>("host") { Description = "The host to keep the job on" };
        yield return Command("pin", "Pin a job to a host: the policy moves it there (if it runs elsewhere) and never away", [host],
            (client, job, result) => client.SetPolicy(job, result.GetValue(host)!, null));
        yield return Command("unpin", "Unpin a job: the policy may move it again", [],
            (client, job, _) => client.SetPolicy(job, "", null));
        var state = new Argument<string>("state") { Description = "on (the policy moves the job towards its data) or off (it moves only when asked)" };
        state.AcceptOnlyFromAmong("on", "off");
        yield return Command("policy", "Turn the locality policy on or off for a job", [state],
            (client, job, result) => client.SetPolicy(job, null, result.GetValue(state) == "on"));
    }

    private static Command Command(string name, string description, Argument[] arguments, Func<JobClient, string, ParseResult, JobInfo> set)
    {
        var job = JobCommands.JobArgument();
        var json = new Option<bool>("--json") { Description = "Print the job as JSON" };
        var socket = JobCommands.SocketOption();
        var command = new Command(name, description) { job };
        foreach (var argument in arguments)
            command.Arguments.Add(argument);
        command.Options.Add(json);
        command.Options.Add(socket);
        command.SetAction(result =>
        {
            using var client = new JobClient(ControlClient.SocketPath(result.GetValue(socket)));
            var info = set(client, result.GetValue(job)!, result);
            Console.Out.WriteLine(result.GetValue(json) ? JsonOutput.Format(info) : Describe(info));
            return 0;
        });
        return command;
    }

    /// <summary>"job 3fa2c1d0e9b7 on h1: pinned to h2, policy on".</summary>
    public static string Describe(JobInfo job)
        => $"job {job.Id} on {job.Host}: {(job.PinnedHost.Length == 0 ? "not pinned" : $"pinned to {job.PinnedHost}")}, policy {(job.PolicyOff ? "off" : "on")}";
}
