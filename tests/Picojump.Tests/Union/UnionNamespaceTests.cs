using System.Text.Json;
using Picojump.Tests.DevCluster;

namespace Picojump.Tests.Union;

/// <summary>
/// The union namespace end to end on one 3-host dev cluster: what one host writes under /pj
/// the others read byte for byte, who owns what (merge and clash rules), where new files land,
/// rename, remote writes, concurrent writers, coherence and per-job accounting. Each test
/// works under its own top directory, so they share the cluster.
/// </summary>
public sealed class UnionNamespaceTests(DevClusterFixture fixture) : IClassFixture<DevClusterFixture>
{
    private const int MiB = 1 << 20;

    private readonly UnionCluster _cluster = new(fixture);

    /// <summary>
    /// Entries with type, mode, size (files), mtime (files) and target (symlinks), then the
    /// files' sha256: run in a directory, the same script lists /pj on a host and an export
    /// from the test process.
    /// </summary>
    private const string Manifest = """
        export LC_ALL=C
        find . -mindepth 1 \( -type d -printf 'd %m %p\n' \) -o \( -type l -printf 'l %l %p\n' \) \
            -o \( -type f -printf 'f %m %s %T@ %p\n' \) -o -printf '? %p\n' | sort
        find . -type f -print0 | sort -z | xargs -0 -r sha256sum
        """;

    [SkippableFact]
    public void A_tree_written_on_h1_reads_byte_for_byte_on_h2_and_h3_and_lives_in_h1s_export()
    {
        _cluster.EnsureUp("sha256sum", "diff");
        var name = UnionCluster.UniqueName("tree");

        _cluster.ShOk("h1", $"""
            d=/pj/{name}
            mkdir -p $d/a/b/c $d/empty-dir $d/doc
            : > $d/zero
            printf x > $d/one
            head -c $((1048576 - 1)) /dev/urandom > $d/a/mib-minus-1
            head -c 1048576 /dev/urandom > $d/a/b/mib
            head -c $((3 * 1048576 + 17)) /dev/urandom > $d/a/b/c/three-mib-plus-17
            seq 1 20000 > $d/a/b/c/numbers
            ln -s a/b/mib $d/link-to-mib
            ln -s ../../one $d/a/b/up-link
            ln -s does/not/exist $d/dangling
            chmod 0600 $d/one
            chmod 0750 $d/a/b
            for doc in bash coreutils sqlite3; do
              if [ -d /usr/share/doc/$doc ]; then cp -a /usr/share/doc/$doc $d/doc/; fi
            done
            """);

        var original = _cluster.Export("h1", name);
        Assert.True(Directory.Exists(original), $"{original} missing: the tree should live in h1's export");
        Assert.Equal(3 * MiB + 17, new FileInfo(Path.Combine(original, "a/b/c/three-mib-plus-17")).Length);
        Assert.Equal("a/b/mib", new FileInfo(Path.Combine(original, "link-to-mib")).LinkTarget);
        foreach (var other in new[] { "h2", "h3" })
            Assert.False(Path.Exists(_cluster.Export(other, name)), $"{name} also in {other}'s export");
        var expected = UnionCluster.LocalShOk(Manifest, original);
        Assert.Contains(" ./zero\n", expected, StringComparison.Ordinal);

        foreach (var host in UnionCluster.Hosts)
        {
            var seen = _cluster.ShOk(host, $"cd /pj/{name}\n{Manifest}");
            Assert.Equal(expected, seen);
        }
        // And once more with diff, reading every byte through h2's and h3's /pj against h1's export.
        foreach (var host in new[] { "h2", "h3" })
            _cluster.ShOk(host, $"diff -r --no-dereference /pj/{name} {UnionCluster.Quote(original)}");
    }

    [SkippableFact]
    public void A_directory_on_several_hosts_merges_and_a_clash_goes_to_the_first_host_name()
    {
        _cluster.EnsureUp();
        var name = UnionCluster.UniqueName("merge");
        _cluster.PutInExport("h2", $"{name}/d/only-h2", "two\n");
        _cluster.PutInExport("h3", $"{name}/d/only-h3", "three\n");
        // Same name, different contents (and sizes): h2 sorts before h3 and wins.
        _cluster.PutInExport("h2", $"{name}/d/clash", "h2's content\n");
        _cluster.PutInExport("h3", $"{name}/d/clash", "h3's longer, different content\n");
        // A directory on h3 and a file of its name on h2: the directory hides the file.
        _cluster.PutInExport("h2", $"{name}/d/thing", "a file on h2\n");
        _cluster.PutInExport("h3", $"{name}/d/thing/inside", "in h3's directory\n");
        // On all three hosts.
        foreach (var host in UnionCluster.Hosts)
            _cluster.PutInExport(host, $"{name}/all/from-{host}", host);

        var d = $"/pj/{name}/d";
        Assert.Equal("clash\nonly-h2\nonly-h3\nthing\n", _cluster.ShOk("h1", $"LC_ALL=C ls -A {d}"));
        Assert.Equal("from-h1\nfrom-h2\nfrom-h3\n", _cluster.ShOk("h1", $"LC_ALL=C ls -A /pj/{name}/all"));
        Assert.Equal("h2", _cluster.Owner("h1", $"{d}/only-h2"));
        Assert.Equal("h3", _cluster.Owner("h1", $"{d}/only-h3"));
        Assert.Equal("h2", _cluster.Owner("h1", $"{d}/clash"));
        Assert.Equal("h3", _cluster.Owner("h1", $"{d}/thing"));
        Assert.Equal("h2,h3", _cluster.Owner("h1", d));
        Assert.Equal("h2,h3", _cluster.Owner("h2", d));
        Assert.Equal("h1,h2,h3", _cluster.Owner("h1", $"/pj/{name}/all"));
        Assert.Equal("h1,h2,h3", _cluster.Owner("h3", $"/pj/{name}/all"));
        Assert.Equal("h1,h2,h3", _cluster.Owner("h1", $"/pj/{name}"));
        // pjctl shows the same, from the host's own view of /pj.
        Assert.Equal($"h2\t{d}/clash\nh2,h3\t{d}\n", _cluster.Pjctl.Run(["--host", "h1", "owner", $"{d}/clash", d]).Output);

        foreach (var host in UnionCluster.Hosts)
        {
            Assert.Equal("h2's content\n", _cluster.ShOk(host, $"cat {d}/clash"));
            Assert.Equal("directory\nin h3's directory\n", _cluster.ShOk(host, $"stat -c %F {d}/thing; cat {d}/thing/inside"));
            Assert.Equal("two\nthree\n", _cluster.ShOk(host, $"cat {d}/only-h2 {d}/only-h3"));
            Assert.Equal("h1h2h3", _cluster.ShOk(host, $"cat /pj/{name}/all/from-h1 /pj/{name}/all/from-h2 /pj/{name}/all/from-h3"));
        }

        // h1 gets the directory too, later: within the attribute timeout it joins the merge.
        Directory.CreateDirectory(_cluster.Export("h1", $"{name}/d"));
        var joined = _cluster.Sh("h1", $$"""
            for i in $(seq 1 30); do
              owner=$({{UnionCluster.Python}} -c "import os; print(os.getxattr('{{d}}', 'user.picojump.owner').decode())")
              if [ "$owner" = h1,h2,h3 ]; then exit 0; fi
              sleep 0.1
            done
            echo "$owner"; exit 1
            """);
        Assert.True(joined.ExitCode == 0, $"{d} did not show as h1,h2,h3 within 3 s of mkdir in h1's export: {joined}");
    }

    [SkippableFact]
    public void A_file_created_under_a_directory_only_a_peer_has_lands_on_the_creating_host()
    {
        _cluster.EnsureUp();
        var name = UnionCluster.UniqueName("create");
        _cluster.PutInExport("h2", $"{name}/on-h2/sub/existing", "old\n");

        _cluster.ShOk("h3", $"echo x > /pj/{name}/on-h2/sub/new");

        Assert.Equal("x\n", File.ReadAllText(_cluster.Export("h3", $"{name}/on-h2/sub/new")));
        Assert.False(File.Exists(_cluster.Export("h2", $"{name}/on-h2/sub/new")), "the new file went to h2, the parent's host");
        Assert.False(File.Exists(_cluster.Export("h3", $"{name}/on-h2/sub/existing")), "creating the parent path on h3 copied h2's files");
        foreach (var host in UnionCluster.Hosts)
            Assert.Equal("x\nold\n", _cluster.ShOk(host, $"cat /pj/{name}/on-h2/sub/new /pj/{name}/on-h2/sub/existing"));
        Assert.Equal("h3", _cluster.Owner("h1", $"/pj/{name}/on-h2/sub/new"));
        Assert.Equal("h2,h3", _cluster.Owner("h1", $"/pj/{name}/on-h2/sub"));
    }

    [SkippableFact]
    public void Rename_within_one_owner_works_and_across_owners_is_EXDEV_that_mv_copies_around()
    {
        _cluster.EnsureUp();
        var name = UnionCluster.UniqueName("rename");
        var payload = UnionCluster.RandomBytes(MiB + 5);
        _cluster.PutInExport("h2", $"{name}/a/f", payload);
        Directory.CreateDirectory(_cluster.Export("h3", $"{name}/b"));

        // From h1, of a file h2 owns, within h2: done on h2.
        _cluster.PyOk("h1", $"import os; os.rename('/pj/{name}/a/f', '/pj/{name}/a/g')");
        Assert.False(File.Exists(_cluster.Export("h2", $"{name}/a/f")));
        Assert.Equal(payload, File.ReadAllBytes(_cluster.Export("h2", $"{name}/a/g")));
        Assert.Equal("1\n0\n", _cluster.ShOk("h3", $"ls /pj/{name}/a | grep -c '^g$'; ls /pj/{name}/a | grep -c '^f$' || true"));

        // h2's file into h3's directory: rename(2) refuses with EXDEV, at the syscall.
        var refused = _cluster.PyOk("h3", $"""
            import errno, os
            try:
                os.rename('/pj/{name}/a/g', '/pj/{name}/b/g')
                print('renamed')
            except OSError as e:
                print(errno.errorcode[e.errno])
            """);
        Assert.Equal("EXDEV\n", refused);
        Assert.True(File.Exists(_cluster.Export("h2", $"{name}/a/g")), "a refused rename lost the source");

        // mv falls back to copy and unlink: the copy is created by mv's host, h3, the target directory's.
        _cluster.ShOk("h3", $"mv /pj/{name}/a/g /pj/{name}/b/g");
        Assert.Equal(payload, File.ReadAllBytes(_cluster.Export("h3", $"{name}/b/g")));
        Assert.False(File.Exists(_cluster.Export("h2", $"{name}/a/g")), "mv left the source on h2");
        Assert.Equal("h3", _cluster.Owner("h1", $"/pj/{name}/b/g"));

        // From h1 the copy is h1's own creation (new objects land where the creating process runs).
        _cluster.ShOk("h1", $"mv /pj/{name}/b/g /pj/{name}/a/back");
        Assert.Equal(payload, File.ReadAllBytes(_cluster.Export("h1", $"{name}/a/back")));
        Assert.False(File.Exists(_cluster.Export("h3", $"{name}/b/g")), "mv left the source on h3");
    }

    /// <summary>
    /// Eight threads on one O_DIRECT descriptor of a peer's file: each pread is its own READ,
    /// so the kernel sends many at once on one handle, at random offsets across block edges
    /// (a cold cache first, then warm). Every word of the file holds its own offset, so each
    /// read is checked where it landed. A read must be whole: through the page cache the
    /// kernel takes a short one for the end of the file.
    /// </summary>
    [SkippableFact]
    public void Parallel_reads_of_a_peers_file_on_one_descriptor_come_back_whole_and_right()
    {
        _cluster.EnsureUp();
        var name = UnionCluster.UniqueName("parallel");
        const int Size = 24 * MiB + 12345;
        var words = new byte[Size];
        for (var offset = 0; offset + 8 <= Size; offset += 8)
            BitConverter.TryWriteBytes(words.AsSpan(offset), (long)offset);
        _cluster.PutInExport("h2", $"{name}/words", words);

        var said = _cluster.PyOk("h1", ParallelReader.Replace("PATH", $"/pj/{name}/words", StringComparison.Ordinal));

        Assert.Equal("0 problems in 2 x 8 x 150 reads\n", said);
    }

    private const string ParallelReader = """
        import mmap, os, random, threading
        path = "PATH"
        size = os.stat(path).st_size
        problems = []
        def reader(fd, seed):
            r = random.Random(seed)
            buffer = mmap.mmap(-1, 385 * 4096)  # page-aligned, as O_DIRECT wants
            for _ in range(150):
                n = r.randrange(1, 385) * 4096
                offset = r.randrange(0, size // 4096 + 1) * 4096
                got = os.preadv(fd, [memoryview(buffer)[:n]], offset)
                want = max(0, min(n, size - offset))
                if got != want:
                    problems.append(f"pread({n} at {offset}) gave {got} bytes, not {want}")
                    continue
                whole = got // 8 * 8
                words = memoryview(buffer)[:whole].cast("Q")
                for i in range(0, len(words), 64):
                    if words[i] != offset + 8 * i:
                        problems.append(f"pread({n} at {offset}): the word at {offset + 8 * i} says {words[i]}")
                        break
        for round in range(2):
            fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
            threads = [threading.Thread(target=reader, args=(fd, 8 * round + i)) for i in range(8)]
            [t.start() for t in threads]
            [t.join() for t in threads]
            os.close(fd)
        print(len(problems), "problems in 2 x 8 x 150 reads")
        print("\n".join(problems[:10]), end="")
        """;

    [SkippableFact]
    public void Writes_to_a_peers_file_are_in_its_export_when_the_write_returns()
    {
        _cluster.EnsureUp("sha256sum", "dd");
        var name = UnionCluster.UniqueName("write");
        _cluster.ShOk("h2", $"mkdir /pj/{name} && echo base > /pj/{name}/w && : > /pj/{name}/big");
        var w = _cluster.Export("h2", $"{name}/w");

        _cluster.ShOk("h1", $"echo more >> /pj/{name}/w");
        Assert.Equal("base\nmore\n", File.ReadAllText(w));
        _cluster.ShOk("h1", $"printf new > /pj/{name}/w");
        Assert.Equal("new", File.ReadAllText(w));
        _cluster.ShOk("h1", $"printf 'N' | dd of=/pj/{name}/w bs=1 seek=1 conv=notrunc status=none");
        Assert.Equal("nNw", File.ReadAllText(w));
        Assert.False(File.Exists(_cluster.Export("h1", $"{name}/w")));

        // 8 MiB through h1 into h2's (existing, so h2-owned) file; h3 reads it first, so it has it cached.
        _cluster.ShOk("h1", $"dd if=/dev/urandom of=/pj/{name}/big bs=1M count=8 status=none");
        var big = _cluster.Export("h2", $"{name}/big");
        Assert.Equal(8 * MiB, new FileInfo(big).Length);
        Assert.False(File.Exists(_cluster.Export("h1", $"{name}/big")));
        var sum = UnionCluster.Sha256(big);
        foreach (var host in UnionCluster.Hosts)
            Assert.Equal($"{sum}  /pj/{name}/big\n", _cluster.ShOk(host, $"sha256sum /pj/{name}/big"));

        // Overwrite 1 MiB + 3 bytes in the middle, unaligned, from h1: h3 must not keep its cached blocks.
        _cluster.ShOk("h1", $"head -c $((1048576 + 3)) /dev/urandom | dd of=/pj/{name}/big bs=4096 seek=700 iflag=fullblock conv=notrunc status=none");
        var changed = UnionCluster.Sha256(big);
        Assert.NotEqual(sum, changed);
        Assert.Equal(8 * MiB, new FileInfo(big).Length);
        foreach (var host in UnionCluster.Hosts)
            Assert.Equal($"{changed}  /pj/{name}/big\n", _cluster.ShOk(host, $"sha256sum /pj/{name}/big"));
    }

    [SkippableFact]
    public void Appends_from_two_hosts_to_a_third_hosts_file_all_arrive_whole()
    {
        _cluster.EnsureUp();
        var name = UnionCluster.UniqueName("append");
        _cluster.ShOk("h2", $"mkdir /pj/{name} && : > /pj/{name}/log");
        var padding = new string('.', 80);
        string Writer(string host) => $"for i in $(seq 1 200); do echo \"{host} $i {padding} end\" >> /pj/{name}/log; done";

        var writers = new[] { "h1", "h3" }.Select(host => Task.Run(() => _cluster.Sh(host, Writer(host)))).ToArray();
        Task.WaitAll(writers);

        foreach (var writer in writers)
            Assert.True(writer.Result.ExitCode == 0, writer.Result.ToString());
        var lines = File.ReadAllText(_cluster.Export("h2", $"{name}/log")).Split('\n');
        Assert.Equal("", lines[^1]);
        lines = lines[..^1];
        var expected = new[] { "h1", "h3" }.SelectMany(host => Enumerable.Range(1, 200).Select(i => $"{host} {i} {padding} end")).ToHashSet();
        var torn = lines.Select((line, i) => (line, i)).Where(l => !expected.Contains(l.line)).Select(l => $"line {l.i + 1}: {l.line}").ToList();
        Assert.True(torn.Count == 0, $"{lines.Length} lines, {torn.Count} not whole lines of one writer (an append landed inside another):\n{string.Join("\n", torn)}");
        Assert.Equal(400, lines.Length);
        Assert.Equal(400, lines.Distinct().Count());
        // Each writer's lines in its own order.
        foreach (var host in new[] { "h1", "h3" })
            Assert.Equal(Enumerable.Range(1, 200).Select(i => $"{host} {i} {padding} end"), lines.Where(l => l.StartsWith(host + " ", StringComparison.Ordinal)));
    }

    [SkippableFact]
    public void Concurrent_sqlite_inserts_from_two_hosts_into_a_third_hosts_database_lose_nothing()
    {
        _cluster.EnsureUp("sqlite3");
        var name = UnionCluster.UniqueName("sqlite");
        var db = $"/pj/{name}/db.sqlite";
        _cluster.ShOk("h2", $"mkdir /pj/{name} && sqlite3 {db} 'create table t(host text, i integer, pad text)'");
        string Writer(string host) => $"""
            for i in $(seq 1 30); do
              sqlite3 -cmd ".timeout 20000" {db} "insert into t values('{host}', $i, hex(randomblob(300)))"
            done
            """;

        var writers = new[] { "h1", "h3" }.Select(host => Task.Run(() => _cluster.Sh(host, Writer(host)))).ToArray();
        Task.WaitAll(writers);

        foreach (var writer in writers)
            Assert.True(writer.Result.ExitCode == 0, writer.Result.ToString());
        Assert.True(File.Exists(_cluster.Export("h2", $"{name}/db.sqlite")));
        const string Query = "select host, count(*), count(distinct i), min(i), max(i) from t group by host order by host; pragma integrity_check;";
        foreach (var host in UnionCluster.Hosts)
            Assert.Equal("h1|30|30|1|30\nh3|30|30|1|30\nok\n", _cluster.ShOk(host, $"sqlite3 {db} '{Query}'"));
        var direct = UnionCluster.LocalShOk($"sqlite3 db.sqlite '{Query}'", _cluster.Export("h2", name));
        Assert.Equal("h1|30|30|1|30\nh3|30|30|1|30\nok\n", direct);
    }

    /// <summary>
    /// What is guaranteed: close-to-open for changes made through /pj (h2's close publishes
    /// the change, h1's next open sees it); for a change made straight in h2's export, behind
    /// Picojump's back, h1 sees it once its cached attributes expire (1 s) and it asks h2 again.
    /// Names: a file created or removed on h2 shows in h1's listing within the entry timeout.
    /// Each poll allows 3 s (2 s for names) and the time taken is in the failure message.
    /// </summary>
    [SkippableFact]
    public void A_peers_changes_show_within_the_cache_timeouts()
    {
        _cluster.EnsureUp();
        var name = UnionCluster.UniqueName("coherence");
        var f = $"/pj/{name}/f";
        _cluster.ShOk("h2", $"mkdir /pj/{name} && echo version-1 > {f}");
        Assert.Equal("version-1\n", _cluster.ShOk("h1", $"cat {f}"));

        // Through h2's /pj, same length: only the contents (and times) change.
        _cluster.ShOk("h2", $"echo version-2 > {f}");
        AssertSeenWithin("h1", $"[ \"$(cat {f})\" = version-2 ]", TimeSpan.FromSeconds(3), "a change through h2's /pj");

        // Straight into h2's export.
        File.WriteAllText(_cluster.Export("h2", $"{name}/f"), "version-3\n");
        AssertSeenWithin("h1", $"[ \"$(cat {f})\" = version-3 ]", TimeSpan.FromSeconds(3), "a change in h2's export");
        File.AppendAllText(_cluster.Export("h2", $"{name}/f"), "and a longer version 4\n");
        AssertSeenWithin("h1", $"[ \"$(cat {f})\" = \"$(printf 'version-3\\nand a longer version 4')\" ]", TimeSpan.FromSeconds(3), "an append in h2's export");

        // Names.
        Assert.Equal("f\n", _cluster.ShOk("h1", $"ls /pj/{name}"));
        _cluster.ShOk("h2", $"echo hello > /pj/{name}/new-through-pj");
        AssertSeenWithin("h1", $"ls /pj/{name} | grep -qx new-through-pj", TimeSpan.FromSeconds(2), "a file created through h2's /pj");
        File.WriteAllText(_cluster.Export("h2", $"{name}/new-in-export"), "hi\n");
        AssertSeenWithin("h1", $"ls /pj/{name} | grep -qx new-in-export", TimeSpan.FromSeconds(2), "a file created in h2's export");
        Assert.Equal("hello\nhi\n", _cluster.ShOk("h1", $"cat /pj/{name}/new-through-pj /pj/{name}/new-in-export"));
        _cluster.ShOk("h2", $"rm /pj/{name}/new-through-pj");
        AssertSeenWithin("h1", $"! ls /pj/{name} | grep -qx new-through-pj && ! [ -e /pj/{name}/new-through-pj ]", TimeSpan.FromSeconds(2), "a file removed through h2's /pj");
        File.Delete(_cluster.Export("h2", $"{name}/new-in-export"));
        AssertSeenWithin("h1", $"! ls /pj/{name} | grep -qx new-in-export && ! [ -e /pj/{name}/new-in-export ]", TimeSpan.FromSeconds(2), "a file removed from h2's export");
    }

    [SkippableFact]
    public void A_job_in_its_own_pid_namespace_is_accounted_to_the_owner_it_reads_from()
    {
        _cluster.EnsureUp("unshare");
        var name = UnionCluster.UniqueName("acct");
        const int Size = 3 * MiB + 123;
        _cluster.PutInExport("h2", $"{name}/data", UnionCluster.RandomBytes(Size));
        var before = PidNamespaceJobs(_cluster.Status("h1")).Select(j => j.Key).ToHashSet();

        _cluster.ShOk("h1", $"unshare --pid --fork --mount-proc cat /pj/{name}/data > /dev/null");

        var status = _cluster.Status("h1");
        var jobs = PidNamespaceJobs(status).Where(j => !before.Contains(j.Key)).ToList();
        var job = Assert.Single(jobs, j => j.BytesReadFromH2 >= Size);
        Assert.True(job.BytesReadFromH2 < 2L * Size, $"{job.Key} read {job.BytesReadFromH2} bytes from h2 for one {Size}-byte file");
    }

    private static IEnumerable<(string Key, long BytesReadFromH2)> PidNamespaceJobs(JsonElement status)
        => status.GetProperty("jobs").EnumerateArray()
            .Where(j => j.GetProperty("key").GetString()!.StartsWith("pidns:", StringComparison.Ordinal))
            .Select(j => (j.GetProperty("key").GetString()!, j.GetProperty("totals").EnumerateArray()
                .Where(t => t.GetProperty("ownerHost").GetString() == "h2")
                .Sum(t => long.Parse(t.GetProperty("bytesRead").ToString(), System.Globalization.CultureInfo.InvariantCulture))));

    /// <summary>Polls <paramref name="condition"/> (bash) on the host every 50 ms until it holds or the limit passes.</summary>
    private void AssertSeenWithin(string host, string condition, TimeSpan limit, string what)
    {
        var result = _cluster.Sh(host, $$"""
            start=$(date +%s%N)
            while :; do
              if {{condition}}; then echo $(( ($(date +%s%N) - start) / 1000000 )); exit 0; fi
              if [ $(( ($(date +%s%N) - start) / 1000000 )) -gt {{(int)limit.TotalMilliseconds}} ]; then exit 1; fi
              sleep 0.05
            done
            """);
        Assert.True(result.ExitCode == 0, $"{host} did not see {what} within {limit.TotalSeconds} s: {result}");
    }
}
