using System.Globalization;
using Picojump.Tests.DevCluster;
using Picojump.Tests.Infrastructure;

namespace Picojump.Tests.Union;

/// <summary>
/// The union namespace when a host fails: its daemon killed (`devcluster stop`) or its link
/// cut, and a restarted daemon's block cache. On a cluster of its own; each test brings the
/// host back whatever happened.
/// </summary>
public sealed class UnionFaultTests(DevClusterFixture fixture) : IClassFixture<DevClusterFixture>
{
    private const int MiB = 1 << 20;

    /// <summary>The peer operation bound (peerTimeoutSeconds, 5 s by default) and a second of slack.</summary>
    private static readonly TimeSpan FailureBound = TimeSpan.FromSeconds(6);

    private readonly UnionCluster _cluster = new(fixture);

    /// <summary>
    /// Opens and reads each path given (the word `sleep` pauses 2 s) and prints one line per
    /// path: the path, `ok:BYTES` or the errno name, and the seconds it took.
    /// </summary>
    private const string Reader = """
        import errno, os, sys, time
        for p in sys.argv[1:]:
            if p == 'sleep':
                time.sleep(2)
                continue
            t = time.monotonic()
            try:
                with open(p, 'rb') as f:
                    r = 'ok:%d' % len(f.read())
            except OSError as e:
                r = errno.errorcode.get(e.errno, str(e.errno))
            print('%s %s %.3f' % (p, r, time.monotonic() - t), flush=True)
        """;

    /// <summary>Writes, reads back and lists files of a directory only this host has; prints the seconds it took.</summary>
    private const string LocalWork = """
        import os, sys, time
        d = sys.argv[1]
        t = time.monotonic()
        with open(os.path.join(d, 'written-while-peer-down'), 'wb') as f:
            f.write(b'still here\n' * 1000)
        with open(os.path.join(d, 'written-while-peer-down'), 'rb') as f:
            assert f.read() == b'still here\n' * 1000
        with open(os.path.join(d, 'before'), 'rb') as f:
            assert f.read() == b'before\n'
        assert sorted(os.listdir(d)) == ['before', 'written-while-peer-down'], os.listdir(d)
        os.rename(os.path.join(d, 'written-while-peer-down'), os.path.join(d, 'renamed'))
        os.unlink(os.path.join(d, 'renamed'))
        print('%.3f' % (time.monotonic() - t))
        """;

    [SkippableFact]
    public void A_killed_owner_fails_reads_in_bounded_time_local_files_keep_working_and_a_restart_serves_again()
        => OwnerFailure(down: ["devcluster", "stop", "h2"], up: ["devcluster", "start", "h2"]);

    [SkippableFact]
    public void A_cut_off_owner_fails_reads_in_bounded_time_local_files_keep_working_and_a_heal_serves_again()
        => OwnerFailure(down: ["devcluster", "cut", "h2"], up: ["devcluster", "heal", "h2"]);

    private void OwnerFailure(string[] down, string[] up)
    {
        _cluster.EnsureUp();
        var name = UnionCluster.UniqueName("fault");
        var local = UnionCluster.UniqueName("local-h1");
        var content = UnionCluster.RandomBytes(MiB + 1);
        _cluster.PutInExport("h2", $"{name}/read-before", content);
        _cluster.PutInExport("h2", $"{name}/named-before", content);
        _cluster.PutInExport("h2", $"{name}/never-named", content);
        // h1 has the directory too: a merged directory must keep h2's layer while h2 cannot
        // answer, or h2's names in it would say ENOENT (a program would then create its own).
        _cluster.PutInExport("h1", $"{name}/h1-own", "mine\n");
        _cluster.ShOk("h1", $"mkdir /pj/{local} && echo before > /pj/{local}/before");
        // h1 knows the names (and has read one file) before the owner goes.
        Assert.Equal($"{content.Length}\n", _cluster.ShOk("h1", $"cat /pj/{name}/read-before | wc -c; ls -l /pj/{name}/named-before > /dev/null"));
        var sum = UnionCluster.Sha256(_cluster.Export("h2", $"{name}/read-before"));

        // Every expectation is checked and the failures reported together: which of them hold
        // when another does not is what tells a bug from a slow machine.
        var problems = new List<string>();
        TestProcess.Result reads;
        try
        {
            _cluster.Pjctl.Check(down);

            // Right away, then after a few heartbeats have found the peer gone.
            reads = _cluster.Pjctl.Run(["devcluster", "exec", "h1", "--", UnionCluster.Python, "-c", Reader,
                $"/pj/{name}/named-before", $"/pj/{name}/read-before", "sleep", $"/pj/{name}/never-named", $"/pj/{name}/read-before"]);

            var work = _cluster.Sh("h1", $"{UnionCluster.Python} -c {UnionCluster.Quote(LocalWork)} /pj/{local}");
            if (work.ExitCode != 0)
                problems.Add($"h1's own files failed while h2 was down: {work}");
            else if (double.Parse(work.Output, CultureInfo.InvariantCulture) >= 1.0)
                problems.Add($"h1's own files took {work.Output.Trim()} s (limit 1 s) while h2 was down");
            if (File.ReadAllText(_cluster.Export("h1", $"{local}/before")) != "before\n")
                problems.Add("h1's own file changed while h2 was down");
            var own = _cluster.Sh("h1", $"cat /pj/{name}/h1-own");
            if (own.ExitCode != 0 || own.Output != "mine\n")
                problems.Add($"h1's own file in the merged directory failed while h2 was down: {own}");
        }
        finally
        {
            _cluster.Pjctl.Check(up);
        }

        Assert.True(reads.ExitCode == 0, reads.ToString());
        foreach (var line in reads.Output.TrimEnd('\n').Split('\n'))
        {
            var fields = line.Split(' ');
            if (fields[1] is not ("EIO" or "ETIMEDOUT"))
                problems.Add($"a read of a file on the failed owner gave {fields[1]}, not EIO or ETIMEDOUT: {line}");
            if (double.Parse(fields[2], CultureInfo.InvariantCulture) >= FailureBound.TotalSeconds)
                problems.Add($"a read of a file on the failed owner took {fields[2]} s, limit {FailureBound.TotalSeconds} s: {line}");
        }

        // Back within a few heartbeats (polled on h1 itself, every 100 ms, up to 10 s).
        var back = _cluster.Sh("h1", $$"""
            start=$(date +%s%N)
            while :; do
              if sum=$(sha256sum < /pj/{{name}}/never-named 2>/dev/null) && [ "${sum%% *}" = {{sum}} ]; then
                echo $(( ($(date +%s%N) - start) / 1000000 )); exit 0
              fi
              if [ $(( ($(date +%s%N) - start) / 1000000 )) -gt 10000 ]; then cat /pj/{{name}}/never-named > /dev/null; exit 1; fi
              sleep 0.1
            done
            """);
        if (back.ExitCode != 0)
            problems.Add($"h1 could not read h2's file within 10 s of `{string.Join(' ', up)}`: {back}");
        else if (int.Parse(back.Output, CultureInfo.InvariantCulture) > 6000)
            problems.Add($"h1 read h2's file again only {back.Output.Trim()} ms after `{string.Join(' ', up)}` (limit 6 s)");
        else if (_cluster.Sh("h1", $"sha256sum < /pj/{name}/read-before | cut -d' ' -f1").Output != $"{sum}\n")
            problems.Add("after recovery h1 read other bytes of h2's file than h2's export holds");

        Assert.True(problems.Count == 0, $"with h2 `{string.Join(' ', down)}`:\n" + string.Join("\n", problems) + $"\nall reads on h1 (path, result, seconds):\n{reads.Output}");
    }

    [SkippableFact]
    public void The_block_cache_survives_a_restart_of_the_daemon()
    {
        _cluster.EnsureUp("sha256sum");
        var name = UnionCluster.UniqueName("cache");
        const int Size = 16 * MiB;
        _cluster.PutInExport("h2", $"{name}/big", UnionCluster.RandomBytes(Size));
        var sum = UnionCluster.Sha256(_cluster.Export("h2", $"{name}/big"));

        var before = Cache("h1");
        Assert.Equal($"{sum}\n", _cluster.ShOk("h1", $"sha256sum < /pj/{name}/big | cut -d' ' -f1"));
        var first = Cache("h1");
        // Read-ahead fetches several blocks per miss: a few misses, the rest hits.
        Assert.True(first.Misses > before.Misses, $"a first read of 16 MiB from h2 missed no block (before {before}, after {first})");
        Assert.True(first.BytesUsed - before.BytesUsed >= Size, $"a first read of 16 MiB from h2 cached only {first.BytesUsed - before.BytesUsed} bytes (before {before}, after {first})");

        // A clean stop: the daemon's last act is a checkpoint of its cache. (`stop` without
        // --graceful is SIGKILL: a killed daemon keeps only what its periodic checkpoints, once
        // a minute, saved, and here that would be nothing: the restarted cache is empty.)
        try
        {
            _cluster.Pjctl.Check(["devcluster", "stop", "h1", "--graceful"]);
            Assert.DoesNotContain(" /pj ", _cluster.Sh("h1", "cat /proc/self/mountinfo").Output, StringComparison.Ordinal);
        }
        finally
        {
            _cluster.Pjctl.Check(["devcluster", "start", "h1"]);
        }
        _cluster.WaitUntilReachable("h1", ["h2", "h3"], TimeSpan.FromSeconds(20));

        var restarted = Cache("h1");
        Assert.Equal($"{sum}\n", _cluster.ShOk("h1", $"sha256sum < /pj/{name}/big | cut -d' ' -f1"));
        var again = Cache("h1");
        Assert.True(again.Hits - restarted.Hits >= 16 && again.Misses - restarted.Misses <= 1,
            $"after the restart, reading the 16 MiB again hit {again.Hits - restarted.Hits} and missed {again.Misses - restarted.Misses} blocks (after the restart {restarted}, after the read {again})");
    }

    private readonly record struct CacheCounters(long Hits, long Misses, long BytesUsed);

    private CacheCounters Cache(string host)
    {
        var cache = _cluster.Status(host).GetProperty("cache");
        long Get(string field) => long.Parse(cache.GetProperty(field).ToString(), CultureInfo.InvariantCulture);
        return new CacheCounters(Get("hits"), Get("misses"), Get("bytesUsed"));
    }
}
