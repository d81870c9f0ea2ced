using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Picojump.Tests.DevCluster;
using Picojump.Tests.Infrastructure;

namespace Picojump.Tests.Union;

/// <summary>
/// What the union tests do on a dev cluster: shell scripts on a host (its /pj), the hosts'
/// exports seen directly from the test process, and a fresh name under /pj for each test.
/// </summary>
public sealed class UnionCluster(DevClusterFixture cluster)
{
    public const string Python = "/usr/bin/python3";

    public static readonly string[] Hosts = ["h1", "h2", "h3"];

    public DevClusterFixture Fixture => cluster;

    public Pjctl Pjctl => cluster.Pjctl;

    private bool _formed;

    /// <summary>
    /// Brings the cluster up (once per class), waits until every host reaches every peer and
    /// checks the tools the scripts use.
    /// </summary>
    public void EnsureUp(params string[] tools)
    {
        cluster.EnsureUp();
        foreach (var tool in tools)
            Prerequisites.RequireCommand(tool);
        Prerequisites.Require(File.Exists(Python), Python);
        if (!_formed)
        {
            // The daemons start together, so a first heartbeat may find a peer not yet
            // listening; until the next one succeeds that peer's files are missing from /pj.
            foreach (var host in Hosts)
                WaitUntilReachable(host, Hosts.Where(h => h != host), TimeSpan.FromSeconds(20));
            _formed = true;
        }
    }

    /// <summary>Polls the host's status until it reports each of <paramref name="peers"/> reachable; returns the time it took.</summary>
    public TimeSpan WaitUntilReachable(string host, IEnumerable<string> peers, TimeSpan limit)
    {
        var wanted = peers.ToList();
        string last = "";
        var took = PollUntil(limit, () =>
        {
            var hosts = Status(host).GetProperty("hosts").EnumerateArray().ToList();
            last = string.Join(", ", hosts.Select(h => $"{h.GetProperty("name").GetString()} reachable={h.GetProperty("reachable").GetBoolean()} {h.GetProperty("error").GetString()}"));
            return wanted.All(p => hosts.Any(h => h.GetProperty("name").GetString() == p && h.GetProperty("reachable").GetBoolean()));
        });
        Assert.True(took != null, $"{host} did not reach {string.Join(", ", wanted)} within {limit.TotalSeconds} s: {last}");
        return took!.Value;
    }

    /// <summary>A name no other test of the class uses, for its top directory under /pj.</summary>
    public static string UniqueName(string what) => $"{what}-{Guid.NewGuid().ToString("N")[..8]}";

    /// <summary>The path of <paramref name="relative"/> in the host's export, as the test process sees it.</summary>
    public string Export(string host, string relative = "") => Path.Combine(cluster.HostDirectory(host), "export", relative);

    /// <summary>Writes a file straight into a host's export (not through any /pj), making its directories.</summary>
    public void PutInExport(string host, string relative, byte[] content)
    {
        var path = Export(host, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, content);
    }

    public void PutInExport(string host, string relative, string content) => PutInExport(host, relative, System.Text.Encoding.UTF8.GetBytes(content));

    /// <summary>bash -c <paramref name="script"/> on the host, with `set -e -o pipefail`.</summary>
    public TestProcess.Result Sh(string host, string script, string? input = null)
        => Pjctl.Run(["devcluster", "exec", host, "--", "bash", "-c", "set -e -o pipefail\n" + script], input);

    /// <summary><see cref="Sh"/> that fails the test unless the script exits 0; returns its stdout.</summary>
    public string ShOk(string host, string script)
    {
        var result = Sh(host, script);
        Assert.True(result.ExitCode == 0, $"on {host}: {script}\n{result}");
        return result.Output;
    }

    /// <summary>A Python program on the host (its stdout), failing the test unless it exits 0.</summary>
    public string PyOk(string host, string program)
    {
        var result = Pjctl.Run(["devcluster", "exec", host, "--", Python, "-c", program]);
        Assert.True(result.ExitCode == 0, $"on {host}: python3 -c {program}\n{result}");
        return result.Output;
    }

    /// <summary>The user.picojump.owner xattr of a /pj path as the host sees it.</summary>
    public string Owner(string host, string pjPath)
        => PyOk(host, $"import os,sys; sys.stdout.write(os.getxattr({Quote(pjPath)}, 'user.picojump.owner').decode())");

    /// <summary>`pjctl --host HOST status --json`, parsed.</summary>
    public JsonElement Status(string host)
        => JsonDocument.Parse(Pjctl.Check("--host", host, "status", "--json").Output).RootElement.Clone();

    public static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    public static string Sha256(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    public static byte[] RandomBytes(int length)
    {
        var bytes = new byte[length];
        Random.Shared.NextBytes(bytes);
        return bytes;
    }

    /// <summary>Runs a script on the local machine (outside any host), e.g. to list an export the way a host lists /pj.</summary>
    public static string LocalShOk(string script, string workingDirectory)
    {
        var result = TestProcess.Run("bash", ["-c", "set -e -o pipefail\n" + script], TimeSpan.FromSeconds(60), workingDirectory: workingDirectory);
        Assert.True(result.ExitCode == 0, $"locally in {workingDirectory}: {script}\n{result}");
        return result.Output;
    }

    /// <summary>Calls <paramref name="attempt"/> until it returns true or <paramref name="limit"/> passes; returns the time it took, or null.</summary>
    public static TimeSpan? PollUntil(TimeSpan limit, Func<bool> attempt, TimeSpan? interval = null)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (attempt())
                return clock.Elapsed;
            if (clock.Elapsed > limit)
                return null;
            Thread.Sleep(interval ?? TimeSpan.FromMilliseconds(100));
        }
    }
}
