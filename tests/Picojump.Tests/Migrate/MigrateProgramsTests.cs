using System.Globalization;
using System.Text;
using Picojump.Tests.DevCluster;
using Picojump.Tests.Infrastructure;
using Picojump.Tests.Union;
using Xunit.Abstractions;

namespace Picojump.Tests.Migrate;

/// <summary>
/// `pjctl migrate` (eager) of more real, unmodified programs mid-run: sqlite3 (python's
/// sqlite3 module, i.e. the sqlite3 library) writing transactions to a database on /pj
/// through one open connection, and a `sort | uniq -c` pipeline on a large file.
/// </summary>
public sealed class MigrateProgramsTests(DevClusterFixture fixture, ITestOutputHelper output) : IClassFixture<DevClusterFixture>
{
    /// <summary>
    /// One connection, kept open: transactions of 20 rows (each `BEGIN IMMEDIATE`, so the
    /// write lock is held almost all the time) that also set a counter to the last row's
    /// number, until argv[2] exists; prints the counter every 25 transactions and at the end.
    /// </summary>
    private const string SqliteProgram = """
        import os, sqlite3, sys, time
        db, stop = sys.argv[1], sys.argv[2]
        c = sqlite3.connect(db, isolation_level=None, timeout=60)
        c.execute("create table if not exists rows(n integer not null, pad text not null)")
        c.execute("create table if not exists counter(k integer primary key, v integer not null)")
        c.execute("insert or ignore into counter values (1, 0)")
        n = c.execute("select v from counter where k = 1").fetchone()[0]
        print("open", flush=True)
        t = 0
        while not os.path.exists(stop):
            c.execute("begin immediate")
            for _ in range(20):
                n += 1
                c.execute("insert into rows values (?, ?)", (n, "x" * 200))
                time.sleep(0.002)
            c.execute("update counter set v = ? where k = 1", (n,))
            c.execute("commit")
            t += 1
            if t % 25 == 0:
                print("at", n, flush=True)
        print("done", n, flush=True)
        """;

    private readonly MigrateCluster _cluster = new(fixture);

    [SkippableFact]
    public void Sqlite_with_an_open_database_on_pj_moves_h1_h2_h1_mid_transaction_and_the_database_stays_consistent()
    {
        _cluster.EnsureUp();
        Prerequisites.RequireCommand("sqlite3");
        var dir = _cluster.NewDirectory("h1", "sqlite");
        _cluster.Union.PutInExport("h1", dir[4..] + "/writer.py", SqliteProgram);
        var id = _cluster.Run("h1", dir, UnionCluster.Python, "writer.py", $"{dir}/db", $"{dir}/stop");
        var stdout = _cluster.Union.Export("h1", $".picojump/jobs/{id}/stdout");
        _cluster.WaitForLine(stdout, "at");

        var from = "h1";
        foreach (var to in new[] { "h2", "h1" })
        {
            var lines = Lines(stdout);
            var (code, reply, result) = _cluster.Migrate(from, id, to);
            Assert.True(code == 0, $"migrate {from} -> {to}: {result}");
            Report($"{from} -> {to}", reply);
            Assert.Equal(to, _cluster.Job("h2", id).GetProperty("host").GetString());
            // It commits on: the database (h1's file) now reached through the union from the job's host.
            Assert.True(UnionCluster.PollUntil(TimeSpan.FromSeconds(30), () => Lines(stdout) > lines + 1) != null,
                $"no commits after the move to {to}: {File.ReadAllText(stdout)}");
            from = to;
        }

        _cluster.Union.ShOk("h2", $"touch {dir}/stop");
        var wait = _cluster.Pjctl.Run(["--host", "h2", "wait", id]);
        Assert.True(wait.ExitCode == 0, $"wait: {wait}\n{File.ReadAllText(_cluster.Union.Export("h1", $".picojump/jobs/{id}/stderr"))}");
        var done = File.ReadAllLines(stdout).Last();
        Assert.StartsWith("done ", done);
        var counter = long.Parse(done[5..], CultureInfo.InvariantCulture);

        // The job has ended: check the file itself, in h1's export.
        var db = _cluster.Union.Export("h1", dir[4..] + "/db");
        var check = UnionCluster.LocalShOk(
            "sqlite3 db 'pragma integrity_check; select v from counter; select count(*), count(distinct n), min(n), max(n) from rows;'",
            Path.GetDirectoryName(db)!).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        output.WriteLine($"counter {counter}; sqlite3 says: {string.Join(" | ", check)}");
        Assert.Equal("ok", check[0]);
        Assert.Equal(counter.ToString(CultureInfo.InvariantCulture), check[1]);
        Assert.Equal($"{counter}|{counter}|1|{counter}", check[2]);
        Assert.False(File.Exists(db + "-journal"), "a hot journal was left behind");
    }

    [SkippableFact]
    public void A_sort_uniq_pipeline_moves_mid_run_and_its_output_equals_the_unmigrated_one()
    {
        _cluster.EnsureUp();
        Prerequisites.RequireCommand("sort");
        var dir = _cluster.NewDirectory("h1", "pipeline");
        var local = _cluster.Union.Export("h1", dir[4..]);
        WriteBigText(Path.Combine(local, "big.txt"), lines: 6_000_000);
        var marker = UnionCluster.UniqueName("pipe");
        // LC_ALL=C: the same order here and in the job whatever the caller's locale; a buffer
        // large enough that sort keeps everything in memory (no temporary files in the host's /tmp).
        var id = _cluster.Run("h1", dir, "bash", "-c", $"m={marker}; LC_ALL=C sort -S 1G big.txt | LC_ALL=C uniq -c > out; echo finished > done");

        // Mid-run: sort has read some of its input.
        Assert.True(UnionCluster.PollUntil(TimeSpan.FromSeconds(30), () => SortRssMiB(marker) > 40) != null, "sort never got going");
        var (code, reply, result) = _cluster.Migrate("h1", id, "h2");
        Assert.True(code == 0, $"migrate h1 -> h2: {result}");
        Report("h1 -> h2", reply);
        Assert.False(File.Exists(Path.Combine(local, "done")), "the pipeline ended before it moved: make big.txt bigger");
        Assert.Equal("h2", _cluster.Job("h1", id).GetProperty("host").GetString());

        var wait = _cluster.Pjctl.Run(["--host", "h1", "wait", id]);
        Assert.True(wait.ExitCode == 0, $"wait: {wait}\n{File.ReadAllText(_cluster.Union.Export("h1", $".picojump/jobs/{id}/stderr"))}");
        // The same pipeline, unmigrated, on this machine.
        UnionCluster.LocalShOk("LC_ALL=C sort -S 1G big.txt | LC_ALL=C uniq -c > expected", local);
        var expected = Path.Combine(local, "expected");
        var actual = Path.Combine(local, "out");
        Assert.True(new FileInfo(expected).Length > 1 << 20);
        Assert.Equal(UnionCluster.Sha256(expected), UnionCluster.Sha256(actual));
        Assert.Empty(MigrateCluster.Copies(marker));
    }

    /// <summary>Lines of two words drawn from a fixed vocabulary, the first skewed (some lines repeat often, most rarely).</summary>
    private static void WriteBigText(string path, int lines)
    {
        var random = new Random(7);
        var words = new string[100_000];
        for (var i = 0; i < words.Length; i++)
        {
            var chars = new char[random.Next(3, 11)];
            for (var c = 0; c < chars.Length; c++)
                chars[c] = (char)('a' + random.Next(26));
            words[i] = new string(chars);
        }
        using var writer = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 20);
        for (var i = 0; i < lines; i++)
        {
            var skewed = (int)(words.Length * Math.Pow(random.NextDouble(), 4));
            writer.Write(words[skewed]);
            writer.Write(' ');
            writer.Write(words[random.Next(words.Length)]);
            writer.Write('\n');
        }
    }

    /// <summary>The resident memory (MiB) of the job's sort, found as the child of the bash whose command line holds the marker; 0 if none yet.</summary>
    private static long SortRssMiB(string marker)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                if (!int.TryParse(Path.GetFileName(dir), out _) || File.ReadAllText($"{dir}/comm").Trim() != "sort")
                    continue;
                var stat = File.ReadAllText($"{dir}/stat");
                var parent = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1];
                if (!File.ReadAllText($"/proc/{parent}/cmdline").Contains(marker, StringComparison.Ordinal))
                    continue;
                var rss = File.ReadAllLines($"{dir}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
                return long.Parse(rss.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) >> 10;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException)
            {
                // Gone meanwhile.
            }
        }
        return 0;
    }

    private static int Lines(string path) => File.Exists(path) ? File.ReadAllLines(path).Length : 0;

    private void Report(string leg, System.Text.Json.JsonElement reply)
        => output.WriteLine($"{leg}: freeze {MigrateCluster.Long(reply, "freezeMicros") / 1000.0:0.0} ms, total {MigrateCluster.Long(reply, "totalMicros") / 1000.0:0.0} ms, "
            + $"{MigrateCluster.Long(reply, "bytes") / (double)(1 << 20):0.00} MiB on the wire, {MigrateCluster.Long(reply, "pagesSent")} of {MigrateCluster.Long(reply, "pagesTotal")} pages sent");
}
