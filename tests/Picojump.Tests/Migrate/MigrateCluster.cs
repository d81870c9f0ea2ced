using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Picojump.Tests.DevCluster;
using Picojump.Tests.Infrastructure;
using Picojump.Tests.Union;

namespace Picojump.Tests.Migrate;

/// <summary>Helpers of the migration tests: jobs started with pjctl in a directory under /pj, migrations, and where a job's copies live.</summary>
public sealed class MigrateCluster(DevClusterFixture fixture)
{
    public const string Criu = "/usr/local/sbin/criu";

    /// <summary>Builds 256 MiB (argv[3] MiB) of SHAKE-256 output, prints "built"; at go1 flips the first byte of each page of the first tenth, prints "changed"; at go2 prints the sha256.</summary>
    public const string StateProgram = """
        import hashlib, os, sys, time
        n = int(sys.argv[3]) << 20
        state = bytearray(hashlib.shake_256(b"picojump-state").digest(n))
        print("built", flush=True)
        def wait(path):
            while not os.path.exists(path):
                time.sleep(0.05)
        wait(sys.argv[1])
        for offset in range(0, n // 10, 4096):
            state[offset] ^= 0xFF
        print("changed", flush=True)
        wait(sys.argv[2])
        print("sum", hashlib.sha256(state).hexdigest(), flush=True)
        """;

    public UnionCluster Union { get; } = new(fixture);

    public DevClusterFixture Fixture => fixture;

    public Pjctl Pjctl => fixture.Pjctl;

    public void EnsureUp()
    {
        Union.EnsureUp();
        Prerequisites.Require(File.Exists(Criu), $"{Criu} (./install.sh installs CRIU)");
        Prerequisites.RequireCommand("python3");
    }

    /// <summary>The checksum the state program prints, computed here with the same algorithm.</summary>
    public static string ExpectedStateSum(int mebibytes)
    {
        var state = Shake256.HashData("picojump-state"u8, mebibytes << 20);
        for (var offset = 0; offset < state.Length / 10; offset += 4096)
            state[offset] ^= 0xFF;
        return Convert.ToHexStringLower(SHA256.HashData(state));
    }

    /// <summary>A new directory under /pj (in <paramref name="host"/>'s export); its /pj path.</summary>
    public string NewDirectory(string host, string what)
    {
        var dir = "/pj/" + UnionCluster.UniqueName(what);
        Union.ShOk(host, $"mkdir {dir}");
        return dir;
    }

    /// <summary>`pjctl run ARGS` on the host from <paramref name="directory"/>; returns the job id.</summary>
    public string Run(string host, string directory, params string[] command)
    {
        var id = Pjctl.Check(["devcluster", "exec", host, "--", "sh", "-c", "cd \"$1\" && shift && exec \"$@\"", "sh", directory,
            TestProcess.Dotnet, Path.Combine(AppContext.BaseDirectory, "pjctl.dll"), "run", "--", .. command]).Output.Trim();
        Assert.Matches("^[0-9a-f]{12}$", id);
        // These tests move jobs by hand: the locality policy must not move one first (a writer of
        // another host's database was moved away before the test's own move, which then failed).
        Pjctl.Check(["--host", host, "policy", id, "off"]);
        return id;
    }

    /// <summary>`pjctl --host FROM migrate ID TO --json`: the exit code and the reply.</summary>
    public (int ExitCode, JsonElement Reply, TestProcess.Result Result) Migrate(string from, string id, string to)
    {
        var result = Pjctl.Run(["--host", from, "migrate", id, to, "--json"]);
        var reply = result.Output.TrimStart().StartsWith('{') ? JsonDocument.Parse(result.Output).RootElement.Clone() : default;
        return (result.ExitCode, reply, result);
    }

    public JsonElement Job(string host, string id)
    {
        var reply = JsonDocument.Parse(Pjctl.Check("--host", host, "ps", "--json").Output).RootElement;
        var jobs = reply.GetProperty("jobs").EnumerateArray().Where(j => j.GetProperty("id").GetString() == id).ToList();
        Assert.True(jobs.Count == 1, $"ps on {host} lists job {id} {jobs.Count} times: {reply}");
        return jobs[0].Clone();
    }

    public static long Long(JsonElement element, string name)
        => element.GetProperty(name) is { ValueKind: JsonValueKind.String } s ? long.Parse(s.GetString()!, CultureInfo.InvariantCulture) : element.GetProperty(name).GetInt64();

    /// <summary>The PID namespaces (one per copy of the job) of the live, non-zombie processes whose command line holds <paramref name="marker"/>, with whether any of their processes is stopped.</summary>
    public static List<(string Namespace, bool Stopped)> Copies(string marker)
    {
        // A job's processes live in its own PID namespace; the launcher's unshare (which carries the
        // command line too) lives in the host's, as does this test.
        var own = new FileInfo("/proc/self/ns/pid").LinkTarget;
        var found = new Dictionary<string, bool>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId)
                continue;
            try
            {
                var cmdline = File.ReadAllText($"{dir}/cmdline");
                if (!cmdline.Contains(marker, StringComparison.Ordinal) || cmdline.Contains("pjctl", StringComparison.Ordinal))
                    continue;
                var stat = File.ReadAllText($"{dir}/stat");
                var state = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0];
                if (state is "Z" or "X")
                    continue;
                var ns = new FileInfo($"{dir}/ns/pid").LinkTarget ?? "?";
                if (ns == own)
                    continue;
                found[ns] = found.GetValueOrDefault(ns) || state == "T";
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Gone meanwhile.
            }
        }
        return [.. found.Select(f => (f.Key, f.Value))];
    }

    /// <summary>Waits until exactly one copy of the job lives and runs (a stopped copy elsewhere may take a recovery pass to go).</summary>
    public static void AssertOneRunningCopy(string marker)
    {
        List<(string, bool)> copies = [];
        var settled = UnionCluster.PollUntil(TimeSpan.FromSeconds(20), () => (copies = Copies(marker)) is [(_, false)]);
        Assert.True(settled != null, $"copies of {marker}: {string.Join(", ", copies)}");
    }

    /// <summary>The numbered lines of a file: 1..N, each once, in order.</summary>
    public static int AssertNumbered(string path)
    {
        var lines = File.ReadAllLines(path);
        for (var i = 0; i < lines.Length; i++)
            Assert.True(lines[i] == (i + 1).ToString(CultureInfo.InvariantCulture), $"{path}: line {i + 1} is '{lines[i]}' (a gap or a duplicate)");
        return lines.Length;
    }

    /// <summary>Waits until the file has more than <paramref name="count"/> lines.</summary>
    public static void AssertGrows(string path, int count, string what)
        => Assert.True(UnionCluster.PollUntil(TimeSpan.FromSeconds(15), () => File.Exists(path) && File.ReadAllLines(path).Length > count + 5) != null,
            $"{what}: {path} stopped growing at {count} lines");

    public int DaemonPid(string host) => int.Parse(File.ReadAllText(Path.Combine(fixture.HostDirectory(host), "pid")).Trim(), CultureInfo.InvariantCulture);

    public string NetNamespace(int pid) => new FileInfo($"/proc/{pid}/ns/net").LinkTarget ?? "";

    public void WaitForLine(string stdoutPath, string prefix)
        => Assert.True(UnionCluster.PollUntil(TimeSpan.FromSeconds(60), () => File.Exists(stdoutPath) && File.ReadAllLines(stdoutPath).Any(l => l.StartsWith(prefix, StringComparison.Ordinal))) != null,
            $"no line '{prefix}' in {stdoutPath}: {(File.Exists(stdoutPath) ? File.ReadAllText(stdoutPath) : "(none)")}");

    /// <summary>Turns a fault of the host's daemon on (read at each use) or off.</summary>
    public void Fault(string host, string? fault)
    {
        var path = Path.Combine(fixture.HostDirectory(host), "state", "fault-injection");
        if (fault == null)
            File.Delete(path);
        else
            File.WriteAllText(path, fault + "\n");
    }
}
