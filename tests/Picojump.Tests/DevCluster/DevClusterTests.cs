using System.Text.Json;
using Picojump.Tests.Infrastructure;

namespace Picojump.Tests.DevCluster;

/// <summary>`pjctl devcluster` end to end on one 3-host cluster; the last test takes it down.</summary>
[TestCaseOrderer(RunLastOrderer.TypeName, RunLastOrderer.AssemblyName)]
public sealed class DevClusterTests(DevClusterFixture cluster) : IClassFixture<DevClusterFixture>
{
    private readonly Pjctl _pjctl = cluster.Pjctl;

    [SkippableFact]
    public void A_file_made_on_one_host_lives_in_its_export_and_shows_on_every_host()
    {
        cluster.EnsureUp();

        Assert.Equal(0, _pjctl.Exec("h1", "sh", "-c", "echo from-h1 > /pj/only-on-h1").ExitCode);

        Assert.Equal("from-h1\n", File.ReadAllText(Path.Combine(cluster.HostDirectory("h1"), "export", "only-on-h1")));
        Assert.False(File.Exists(Path.Combine(cluster.HostDirectory("h2"), "export", "only-on-h1")));
        Assert.Equal("from-h1\n", _pjctl.Exec("h2", "cat", "/pj/only-on-h1").Output);
        foreach (var host in new[] { "h1", "h2", "h3" })
        {
            var pj = _pjctl.Exec(host, "grep", " /pj ", "/proc/self/mountinfo");
            Assert.Contains("fuse.picojump", pj.Output, StringComparison.Ordinal);
            // Each host sees its own /etc/picojump.
            Assert.Contains($"\"host\": \"{host}\"", _pjctl.Exec(host, "cat", "/etc/picojump/cluster.json").Output, StringComparison.Ordinal);
        }
    }

    [SkippableFact]
    public void Each_host_reaches_the_peer_port_of_the_others()
    {
        cluster.EnsureUp();

        // Inside the cluster's own network namespaces: h2 and h3 dial h1's peer API.
        foreach (var host in new[] { "h2", "h3" })
        {
            var dial = _pjctl.Exec(host, "bash", "-c", $"echo > /dev/tcp/{cluster.Address("h1")}/{Picojump.Cli.DevCluster.HostConfig.PeerPort}");
            Assert.True(dial.ExitCode == 0, $"{host} -> h1: {dial}");
        }
    }

    [SkippableFact]
    public void Exec_passes_stdin_stdout_stderr_and_the_exit_code()
    {
        cluster.EnsureUp();

        var result = _pjctl.Run(["devcluster", "exec", "h3", "--", "sh", "-c", "cat; echo to-stderr >&2; exit 7"], input: "to-stdin\n");

        Assert.Equal(7, result.ExitCode);
        Assert.Equal("to-stdin\n", result.Output);
        Assert.Equal("to-stderr\n", result.Error);
        Assert.Contains($"inet {cluster.Address("h3")}/24", _pjctl.Exec("h3", "ip", "-o", "-4", "address", "show", "dev", "eth0").Output, StringComparison.Ordinal);
        var unknown = _pjctl.Exec("h4", "true");
        Assert.Equal(1, unknown.ExitCode);
        Assert.Equal($"pjctl: unknown host 'h4': the dev cluster at {cluster.Root} has h1..h3\n", unknown.Error);
        Assert.Equal(2, _pjctl.Run(["devcluster", "exec", "h1"]).ExitCode);
    }

    [SkippableFact]
    public void Cut_takes_a_hosts_link_down_and_heal_brings_it_back()
    {
        cluster.EnsureUp();
        var h2 = cluster.Address("h2");
        Assert.Equal(0, Ping("h1", h2));

        _pjctl.Check("devcluster", "cut", "h2");
        Assert.NotEqual(0, Ping("h1", h2));
        Assert.False(HostStatus("h2").GetProperty("link").GetBoolean());
        Assert.True(HostStatus("h3").GetProperty("link").GetBoolean());

        _pjctl.Check("devcluster", "heal", "h2");
        Assert.True(HostStatus("h2").GetProperty("link").GetBoolean());
        // The bridge port forwards once up; retries cover a lost first ARP exchange.
        Assert.True(Enumerable.Range(0, 3).Any(_ => Ping("h1", h2) == 0), "h1 cannot reach h2 after heal");
    }

    [SkippableFact]
    public void Stop_kills_the_daemon_like_a_crash_and_start_serves_pj_again()
    {
        cluster.EnsureUp();
        var pid = HostStatus("h2").GetProperty("pid").GetInt32();

        _pjctl.Check("devcluster", "stop", "h2");

        Assert.Empty(Leftovers.ProcessesMentioning(Path.Combine(cluster.HostDirectory("h2"), "etc", "picojumpd.json")));
        Assert.Equal(JsonValueKind.Null, HostStatus("h2").GetProperty("pid").ValueKind);
        // statfs, not stat: a stat may still be answered from cached attributes.
        var stale = _pjctl.Exec("h2", "stat", "-f", "/pj");
        Assert.NotEqual(0, stale.ExitCode);
        Assert.Contains("Transport endpoint is not connected", stale.Error, StringComparison.Ordinal);
        Assert.Equal(0, _pjctl.Exec("h1", "stat", "/pj").ExitCode);

        _pjctl.Check("devcluster", "start", "h2");

        Assert.Equal(0, _pjctl.Exec("h2", "sh", "-c", "echo again > /pj/after-restart").ExitCode);
        Assert.True(File.Exists(Path.Combine(cluster.HostDirectory("h2"), "export", "after-restart")));
        Assert.NotEqual(pid, HostStatus("h2").GetProperty("pid").GetInt32());
    }

    [SkippableFact]
    public void Host_option_runs_the_command_inside_that_hosts_namespaces()
    {
        cluster.EnsureUp();

        var status = _pjctl.Check("--host", "h2", "status", "--json");

        // h2's own daemon answers, on h2's own /run/picojump/control.sock.
        var reply = JsonDocument.Parse(status.Output).RootElement;
        Assert.Equal("h2", reply.GetProperty("hostName").GetString());
        Assert.Equal("/pj", reply.GetProperty("mountpoint").GetString());
        var unknown = _pjctl.Run(["--host", "h9", "status"]);
        Assert.Equal(1, unknown.ExitCode);
        Assert.StartsWith("pjctl: unknown host 'h9'", unknown.Error, StringComparison.Ordinal);
        Assert.Equal(2, _pjctl.Run(["--host", "h1", "devcluster", "status"]).ExitCode);
    }

    [SkippableFact]
    [RunLast]
    public void Down_leaves_no_namespace_link_mount_process_or_state()
    {
        cluster.EnsureUp();
        var id = Leftovers.ClusterId(cluster.Root);

        _pjctl.Check("devcluster", "down");

        Leftovers.AssertNone(cluster.Root, id);
        Assert.Equal($"No dev cluster at {cluster.Root}\n", _pjctl.Check("devcluster", "down").Output);
    }

    private int Ping(string from, string address) => _pjctl.Exec(from, "ping", "-c1", "-W1", address).ExitCode;

    private JsonElement HostStatus(string host)
        => JsonDocument.Parse(_pjctl.Check("devcluster", "status", "--json").Output).RootElement
            .GetProperty("hosts").EnumerateArray().Single(h => h.GetProperty("host").GetString() == host);
}
