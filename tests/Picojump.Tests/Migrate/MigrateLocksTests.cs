using Picojump.Tests.DevCluster;
using Picojump.Tests.Infrastructure;
using Picojump.Tests.Union;

namespace Picojump.Tests.Migrate;

/// <summary>
/// A job's POSIX locks on /pj move with it (`pjctl migrate`, eager): sqlite3 (python's module)
/// holds `BEGIN IMMEDIATE` (its RESERVED lock) across a move, an aborted move and its end,
/// and the sqlite3 shell on the other hosts tries to take the same write lock meanwhile.
/// FUSE locks live in the daemons, at the file's owner, where CRIU neither sees nor restores
/// them: the daemons carry them (README, Migration, Locks).
/// </summary>
public sealed class MigrateLocksTests(DevClusterFixture fixture) : IClassFixture<DevClusterFixture>
{
    private readonly MigrateCluster _cluster = new(fixture);

    /// <summary>
    /// The database lives on h3 (neither the job's old host nor its new one owns it), or on h1,
    /// the host the job leaves (its lock was taken there, as a local file).
    /// </summary>
    [SkippableTheory]
    [InlineData("h3")]
    [InlineData("h1")]
    public void A_write_lock_held_across_a_migration_still_excludes_other_hosts(string owner)
    {
        var (dir, id) = StartHolder(owner);
        AssertLocked(dir, "before the move", "h1", "h2", "h3");

        var (code, _, result) = _cluster.Migrate("h1", id, "h2");
        Assert.True(code == 0, $"migrate h1 -> h2: {result}");
        AssertLocked(dir, "after the move h1 -> h2", "h1", "h3");
        CommitAndEnd(dir, id);
    }

    /// <summary>The destination's restore fails: the job, restored on h1 from its dump, still holds its lock.</summary>
    [SkippableFact]
    public void An_aborted_migration_leaves_the_write_lock_with_the_job()
    {
        var (dir, id) = StartHolder(owner: "h1");
        try
        {
            _cluster.Fault("h2", "restore-fails");
            var (code, reply, result) = _cluster.Migrate("h1", id, "h2");
            Assert.True(code == 1, $"migrate with a failing restore: {result}");
            Assert.Equal("h1", reply.GetProperty("jobHost").GetString());
        }
        finally
        {
            _cluster.Fault("h2", null);
        }
        AssertLocked(dir, "after the aborted move", "h1", "h2", "h3");
        CommitAndEnd(dir, id);
    }

    /// <summary>A moved job killed while it holds the lock: the lock goes with it, and another host takes it.</summary>
    [SkippableFact]
    public void A_job_that_ends_releases_its_locks()
    {
        var (dir, id) = StartHolder(owner: "h1");
        var (code, _, result) = _cluster.Migrate("h1", id, "h2");
        Assert.True(code == 0, $"migrate h1 -> h2: {result}");
        AssertLocked(dir, "after the move h1 -> h2", "h3");

        _cluster.Pjctl.Check("--host", "h1", "kill", id);
        Assert.Equal(137, _cluster.Pjctl.Run(["--host", "h1", "wait", id]).ExitCode);
        AssertFree(dir, "h3", "h1");
    }

    /// <summary>
    /// Two jobs write one database on h1 at once, in `BEGIN IMMEDIATE` transactions, one started
    /// on h1 and moved to h2 and then to h3 mid-run, the other on h3: their locks keep excluding
    /// each other, so every row of both is there, once, and the database is sound.
    /// </summary>
    [SkippableFact]
    public void Two_jobs_writing_one_database_lose_nothing_while_one_of_them_moves()
    {
        _cluster.EnsureUp();
        Prerequisites.RequireCommand("sqlite3");
        var dir = _cluster.NewDirectory("h1", "sqlitetwo");
        _cluster.Union.ShOk("h1", $"sqlite3 {dir}/db 'create table rows(tag text not null, n integer not null)'");
        _cluster.Union.PutInExport("h1", dir[4..] + "/writer.py", """
            import os, sqlite3, sys, time
            db, tag, stop = sys.argv[1], sys.argv[2], sys.argv[3]
            c = sqlite3.connect(db, isolation_level=None, timeout=60)
            n = 0
            while not os.path.exists(stop):
                c.execute("begin immediate")
                for _ in range(10):
                    n += 1
                    c.execute("insert into rows values (?, ?)", (tag, n))
                c.execute("commit")
                if n % 100 == 0:
                    print("at", n, flush=True)
                time.sleep(0.005)
            print("done", n, flush=True)
            """);
        var moving = _cluster.Run("h1", dir, UnionCluster.Python, "writer.py", $"{dir}/db", "moving", $"{dir}/stop");
        var staying = _cluster.Run("h3", dir, UnionCluster.Python, "writer.py", $"{dir}/db", "staying", $"{dir}/stop");
        var movingOut = _cluster.Union.Export("h1", $".picojump/jobs/{moving}/stdout");
        var stayingOut = _cluster.Union.Export("h3", $".picojump/jobs/{staying}/stdout");
        _cluster.WaitForLine(movingOut, "at");
        _cluster.WaitForLine(stayingOut, "at");

        var from = "h1";
        foreach (var to in new[] { "h2", "h3" })
        {
            var lines = File.ReadAllLines(movingOut).Length;
            var (code, _, result) = _cluster.Migrate(from, moving, to);
            // A failed move says what became of the job (it once was no longer running on h1 when the move began).
            if (code != 0)
            {
                Assert.Fail($"migrate {from} -> {to}: {result}\n{JobReport(moving, "h1")}\nthe other writer:\n{JobReport(staying, "h3")}");
            }
            Assert.True(UnionCluster.PollUntil(TimeSpan.FromSeconds(60), () => File.ReadAllLines(movingOut).Length > lines + 1) != null,
                $"no commits after the move to {to}: {File.ReadAllText(movingOut)}");
            from = to;
        }

        _cluster.Union.ShOk("h1", $"touch {dir}/stop");
        var expected = new List<string>();
        foreach (var (id, stdout, tag) in new[] { (moving, movingOut, "moving"), (staying, stayingOut, "staying") })
        {
            var wait = _cluster.Pjctl.Run(["--host", "h1", "wait", id]);
            Assert.True(wait.ExitCode == 0, $"wait {tag}: {wait}\n{File.ReadAllText(stdout)}");
            var done = File.ReadAllLines(stdout).Last();
            Assert.StartsWith("done ", done);
            var n = done[5..];
            expected.Add($"{tag}|{n}|{n}|{n}");
        }
        var check = UnionCluster.LocalShOk(
            "sqlite3 db 'pragma integrity_check; select tag, count(*), count(distinct n), max(n) from rows group by tag order by tag;'",
            _cluster.Union.Export("h1", dir[4..]));
        Assert.Equal(["ok", .. expected], check.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    /// <summary>
    /// Starts on h1 a job that opens a new database in a new directory of <paramref name="owner"/>'s
    /// export, enters `BEGIN IMMEDIATE`, inserts a row, and commits once "go" exists there.
    /// </summary>
    private (string Directory, string JobId) StartHolder(string owner)
    {
        _cluster.EnsureUp();
        Prerequisites.RequireCommand("sqlite3");
        var dir = _cluster.NewDirectory(owner, "sqlitelock");
        _cluster.Union.PutInExport(owner, dir[4..] + "/hold.py", $"""
            import os, sqlite3, time
            c = sqlite3.connect("{dir}/db", isolation_level=None)
            c.execute("create table t(x)")
            c.execute("begin immediate")
            c.execute("insert into t values (1)")
            print("locked", flush=True)
            while not os.path.exists("{dir}/go"):
                time.sleep(0.05)
            c.execute("commit")
            print("committed", flush=True)
            """);
        var id = _cluster.Run("h1", dir, UnionCluster.Python, "hold.py");
        _cluster.WaitForLine(_cluster.Union.Export("h1", $".picojump/jobs/{id}/stdout"), "locked");
        return (dir, id);
    }

    /// <summary>The job commits (it still holds the lock it needs), ends, and its row is there for every host.</summary>
    private void CommitAndEnd(string dir, string id)
    {
        _cluster.Union.ShOk("h3", $"touch {dir}/go");
        var wait = _cluster.Pjctl.Run(["--host", "h1", "wait", id]);
        var stdout = File.ReadAllText(_cluster.Union.Export("h1", $".picojump/jobs/{id}/stdout"));
        Assert.True(wait.ExitCode == 0, $"wait: {wait}\nstdout: {stdout}\nstderr: {File.ReadAllText(_cluster.Union.Export("h1", $".picojump/jobs/{id}/stderr"))}");
        Assert.Equal("locked\ncommitted\n", stdout);
        AssertFree(dir, "h1", "h2", "h3");
        Assert.Equal("1", _cluster.Union.ShOk("h2", $"sqlite3 {dir}/db 'select count(*) from t'").Trim());
    }

    private static string Probe(string dir) => $"sqlite3 -cmd '.timeout 0' {dir}/db 'begin immediate; rollback;'";

    private void AssertLocked(string dir, string when, params string[] hosts)
    {
        foreach (var host in hosts)
        {
            var probe = _cluster.Union.Sh(host, Probe(dir));
            Assert.True(probe.ExitCode != 0, $"{when}: {host} took the write lock that the job holds");
            Assert.Contains("locked", probe.Error);
        }
    }

    /// <summary>Each host gets the write lock soon (a job's end is seen within a second or two).</summary>
    private void AssertFree(string dir, params string[] hosts)
    {
        foreach (var host in hosts)
        {
            TestProcess.Result? last = null;
            var took = UnionCluster.PollUntil(TimeSpan.FromSeconds(20), () => (last = _cluster.Union.Sh(host, Probe(dir))).ExitCode == 0);
            Assert.True(took != null, $"{host} never got the write lock after the job let it go: {last}");
        }
    }

    /// <summary>What a failure message needs to tell why a job stopped: pjctl ps, its stdout's tail and its stderr.</summary>
    private string JobReport(string id, string startedOn)
    {
        var ps = _cluster.Pjctl.Run(["--host", startedOn, "ps", "--json"]);
        string Tail(string name)
        {
            var path = _cluster.Union.Export(startedOn, $".picojump/jobs/{id}/{name}");
            return File.Exists(path) ? string.Join('\n', File.ReadLines(path).TakeLast(20)) : "(none)";
        }
        return $"job {id}: pjctl ps: {ps.Output.Trim()}\nstdout: {Tail("stdout")}\nstderr: {Tail("stderr")}";
    }
}
