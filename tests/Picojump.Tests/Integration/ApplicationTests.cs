using Picojump.Tests.Infrastructure;

namespace Picojump.Tests.Integration;

/// <summary>Real applications whose file habits are demanding: git (renames, fsync, mmap'd packs) and sqlite (locks, shm).</summary>
public abstract class ApplicationTests(MountFixture fixture) : MountTestBase(fixture)
{
    [SkippableFact]
    public void GitInitAddCommitLogStatusAndGc()
    {
        var dir = Prepare(["bash", "git"]);
        var repo = ExternalProgram.Quote(Path.Combine(dir.Mounted, "repo"));
        var result = ExternalProgram.Bash($$"""
            export GIT_CONFIG_NOSYSTEM=1 HOME={{ExternalProgram.Quote(dir.Local)}}
            git config --global user.name Picojump
            git config --global user.email picojump@example.invalid
            git config --global init.defaultBranch main
            git init -q {{repo}}
            cd {{repo}}
            mkdir -p src/deep/er
            for i in $(seq 1 50); do seq 1 $((i * 100)) > src/file-$i.txt; done
            printf 'int main(void) { return 0; }\n' > src/deep/er/main.c
            ln -s src/deep/er/main.c main-link.c
            git add -A
            git commit -q -m 'first commit'
            git rm -q src/file-50.txt
            git mv src/file-49.txt src/renamed.txt
            sed -i 's/^5$/five/' src/file-*.txt
            git commit -q -am 'second commit'
            git log --oneline | wc -l | grep -qx 2
            git log -1 --format=%s | grep -qx 'second commit'
            test -z "$(git status --porcelain)"
            git gc -q --aggressive
            git fsck --full --strict
            test -z "$(git status --porcelain)"
            git show HEAD~1:src/file-50.txt | wc -l | grep -qx 5000
            git diff --stat HEAD~1 HEAD | tail -1
            git clone -q . ../clone
            diff -r -x .git . ../clone
            """);
        result.AssertSuccess();
        Assert.Contains("changed", result.Stdout, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void CompileAndRunAProgramOnTheMount()
    {
        // Executing maps the ELF file (MAP_PRIVATE), which passthrough serves from the backing file.
        var dir = Prepare(["bash", "gcc"]);
        var result = ExternalProgram.Bash($$"""
            cd {{ExternalProgram.Quote(dir.Mounted)}}
            cat > hello.c <<'EOF'
            #include <stdio.h>
            int main(int argc, char **argv) { printf("ran %s\n", argc > 1 ? argv[1] : "?"); return 0; }
            EOF
            gcc -O2 -Wall -Werror -o hello hello.c
            ./hello from-the-mount
            cp /bin/ls ./copied-ls
            ./copied-ls hello.c
            """);
        result.AssertSuccess();
        Assert.Equal(["ran from-the-mount", "hello.c"], result.StdoutLines);
    }

    [SkippableTheory]
    [InlineData("psync", "--rw=randwrite --bsrange=1k-256k --numjobs=2")]
    [InlineData("mmap", "--rw=randwrite --bs=4k")]
    [InlineData("libaio", "--rw=randwrite --bs=4k --direct=1 --iodepth=8")]
    public void FioRandomWritesVerify(string engine, string options)
    {
        var dir = Prepare(["fio"]);
        var result = ExternalProgram.Run("fio", [
            "--name=verify", $"--directory={dir.Mounted}", "--size=16M", $"--ioengine={engine}",
            "--verify=crc32c", "--verify_fatal=1", "--do_verify=1", "--group_reporting", .. options.Split(' ')]);
        result.AssertSuccess();
        Assert.DoesNotContain("verify:", result.Stderr, StringComparison.Ordinal);
    }

    [SkippableTheory]
    [InlineData("delete")]
    [InlineData("wal")]
    public void SqliteWithTwoConcurrentWritersLosesNoRow(string journalMode)
    {
        var dir = Prepare(["bash", "sqlite3", "seq"]);
        var db = ExternalProgram.Quote(Path.Combine(dir.Mounted, "test.db"));
        var result = ExternalProgram.Bash($$"""
            sqlite3 {{db}} "PRAGMA journal_mode={{journalMode}}; CREATE TABLE t(writer TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (writer, n));"
            # 500 transactions each, both at once: every one of them contends for the lock.
            writer() {
                { echo ".timeout 10000"; for i in $(seq 1 500); do echo "BEGIN IMMEDIATE; INSERT INTO t VALUES ('$1', $i); COMMIT;"; done; } \
                    | sqlite3 -bail {{db}}
            }
            writer a & a=$!
            writer b & b=$!
            wait $a
            wait $b
            sqlite3 {{db}} "PRAGMA journal_mode; SELECT count(*) FROM t; SELECT count(DISTINCT writer) FROM t; PRAGMA integrity_check;"
            """, timeout: TimeSpan.FromSeconds(90));
        result.AssertSuccess();
        // The CREATE prints the mode it set, the check prints it again.
        Assert.Equal([journalMode, journalMode, "1000", "2", "ok"], result.StdoutLines);
    }
}

[Collection(PassthroughMount.Collection)]
public sealed class ApplicationTestsWithPassthrough(PassthroughMount fixture) : ApplicationTests(fixture);

[Collection(DaemonPathMount.Collection)]
public sealed class ApplicationTestsWithoutPassthrough(DaemonPathMount fixture) : ApplicationTests(fixture);
