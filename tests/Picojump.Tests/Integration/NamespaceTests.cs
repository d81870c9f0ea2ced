using Picojump.Tests.Infrastructure;

namespace Picojump.Tests.Integration;

/// <summary>Names: a large directory, hard links, symlinks, renameat2 flags, and a symlink that points out of the export.</summary>
public abstract class NamespaceTests(MountFixture fixture) : MountTestBase(fixture)
{
    [SkippableFact]
    public void DirectoryWithTenThousandEntries()
    {
        var dir = Prepare(["bash", "python3", "ls", "find"]);
        var descriptorsBefore = DaemonDescriptors();
        var big = ExternalProgram.Quote(Path.Combine(dir.Mounted, "big"));
        ExternalProgram.Bash($$"""
            mkdir {{big}}
            python3 -c '
            import os, sys
            for i in range(10000):
                os.close(os.open(os.path.join(sys.argv[1], f"entry-{i:05d}"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            ' {{big}}
            test "$(ls {{big}} | wc -l)" = 10000
            test "$(ls -l {{big}} | grep -c '^-rw-r--r-- ')" = 10000
            test "$(find {{big}} -type f | wc -l)" = 10000
            test "$(ls {{ExternalProgram.Quote(Path.Combine(dir.Exported, "big"))}} | wc -l)" = 10000
            # Every name exactly once, none lost or repeated across READDIR batches.
            diff <(ls {{big}}) <(for i in $(seq 0 9999); do printf 'entry-%05d\n' $i; done)
            find {{big}} -mindepth 1 -delete
            test -z "$(ls -A {{big}})"
            rmdir {{big}}
            """, timeout: TimeSpan.FromSeconds(120)).AssertSuccess();

        // The kernel forgets deleted nodes (asynchronously); the daemon must close their descriptors.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (DaemonDescriptors() > descriptorsBefore + 20 && clock.Elapsed < TimeSpan.FromSeconds(10))
            Thread.Sleep(50);
        Assert.True(DaemonDescriptors() <= descriptorsBefore + 20,
            $"picojumpd holds {DaemonDescriptors()} descriptors after the 10,000 files are gone, {descriptorsBefore} before");
    }

    private int DaemonDescriptors() => Directory.GetFileSystemEntries($"/proc/{Daemon.Process.Pid}/fd").Length;

    [SkippableFact]
    public void ConcurrentChurnLeavesTheMountAndTheExportInAgreement()
    {
        // Four processes create, rewrite, rename, link, unlink, list and read 50 names at random.
        var dir = Prepare(["python3"]);
        ExternalProgram.Python("""
            import errno, os, random, sys
            d, exported = sys.argv[1], sys.argv[2]
            expected = (errno.ENOENT, errno.EEXIST, errno.EISDIR, errno.ENOTDIR, errno.ENOTEMPTY, errno.EPERM)
            pids = []
            for w in range(4):
                pid = os.fork()
                if pid == 0:
                    rnd = random.Random(w)
                    for i in range(1500):
                        a, b = (os.path.join(d, f"n{rnd.randrange(50)}") for _ in range(2))
                        op = rnd.randrange(7)
                        try:
                            if op == 0:
                                with open(a, "wb") as f:
                                    f.write(os.urandom(rnd.randrange(1, 9000)))
                            elif op == 1: os.rename(a, b)
                            elif op == 2: os.unlink(a)
                            elif op == 3: os.link(a, b)
                            elif op == 4: os.listdir(d); os.stat(a)
                            elif op == 5: open(a, "rb").read()
                            elif op == 6: os.mkdir(a) if rnd.random() < .5 else os.rmdir(a)
                        except OSError as e:
                            if e.errno not in expected:
                                print(f"worker {w}: op {op}: {e}", file=sys.stderr)
                                os._exit(1)
                    os._exit(0)
                pids.append(pid)
            assert all(os.waitpid(p, 0)[1] == 0 for p in pids), "a worker met an unexpected error"
            def view(top):
                # Inode numbers on /pj are the cluster's, not the export's: compare which names
                # share an inode (hard links), not the numbers themselves.
                out, first = {}, {}
                for name in sorted(os.listdir(top)):
                    st = os.lstat(os.path.join(top, name))
                    data = open(os.path.join(top, name), "rb").read() if os.path.isfile(os.path.join(top, name)) else None
                    links = first.setdefault(st.st_ino, name)
                    out[name] = (st.st_mode, st.st_nlink if not os.path.isdir(os.path.join(top, name)) else 0, st.st_size, links, data)
                return out
            mounted, behind = view(d), view(exported)
            assert mounted.keys() == behind.keys(), (sorted(mounted), sorted(behind))
            for name in mounted:
                assert mounted[name] == behind[name], (name, mounted[name][:4], behind[name][:4])
            """, [dir.Mounted, dir.Exported]).AssertSuccess();
    }

    [SkippableFact]
    public void HardLinksShareOneInodeAndCountTheirNames()
    {
        var dir = Prepare(["bash", "stat", "ln"]);
        ExternalProgram.Bash($$"""
            cd {{ExternalProgram.Quote(dir.Mounted)}}
            echo one > a
            ln a b
            mkdir sub && ln b sub/c
            test "$(stat -c %h a)" = 3 && test "$(stat -c %h sub/c)" = 3
            test "$(stat -c %i a)" = "$(stat -c %i b)" && test "$(stat -c %i a)" = "$(stat -c %i sub/c)"
            echo two >> sub/c
            test "$(cat a)" = "$(printf 'one\ntwo')"
            rm a
            test "$(stat -c %h b)" = 2
            test "$(stat -c %h {{ExternalProgram.Quote(Path.Combine(dir.Exported, "b"))}})" = 2
            rm b
            test "$(stat -c %h sub/c)" = 1 && test "$(cat sub/c)" = "$(printf 'one\ntwo')"
            """).AssertSuccess();
    }

    [SkippableFact]
    public void SymlinksRelativeAbsoluteAndDangling()
    {
        var dir = Prepare(["bash", "stat", "readlink", "ln"]);
        ExternalProgram.Bash($$"""
            cd {{ExternalProgram.Quote(dir.Mounted)}}
            mkdir -p d/e && echo target > d/e/file
            ln -s e/file d/relative
            ln -s "$PWD/d/e/file" absolute
            ln -s nowhere dangling
            ln -s d/e dirlink
            test "$(readlink d/relative)" = e/file && test "$(cat d/relative)" = target
            test "$(readlink absolute)" = "$PWD/d/e/file" && test "$(cat absolute)" = target
            test "$(stat -c %F dangling)" = 'symbolic link' && ! test -e dangling
            test "$(cat dirlink/file)" = target && test "$(stat -c %F dirlink)" = 'symbolic link'
            test "$(readlink {{ExternalProgram.Quote(Path.Combine(dir.Exported, "d", "relative"))}})" = e/file
            long=$(printf 'x%.0s' $(seq 1 1000))
            ln -s "$long" longlink && test "$(readlink longlink)" = "$long"
            """).AssertSuccess();
    }

    [SkippableFact]
    public void SymlinkPointingOutOfTheExportStaysASymlink()
    {
        // The daemon never resolves it: the client sees a link to /etc and follows it in its
        // own namespace (beyond the mount), which is normal. Confinement of the daemon's own
        // lookups is tested at the protocol level.
        var dir = Prepare(["bash", "stat", "readlink"]);
        File.CreateSymbolicLink(Path.Combine(dir.Exported, "esc"), "/etc");
        File.CreateSymbolicLink(Path.Combine(dir.Exported, "up"), "../../..");
        ExternalProgram.Bash($$"""
            cd {{ExternalProgram.Quote(dir.Mounted)}}
            test "$(stat -c %F esc)" = 'symbolic link' && test "$(readlink esc)" = /etc
            test "$(stat -c %F up)" = 'symbolic link' && test "$(readlink up)" = ../../..
            ls -la | grep -q ' esc -> /etc$'
            """).AssertSuccess();
    }

    [SkippableFact]
    public void NamesAreBytesUpTo255Long()
    {
        var dir = Prepare(["python3"]);
        ExternalProgram.Python("""
            import errno, os, sys
            os.chdir(sys.argv[1])
            longest = "a" * 255
            with open(longest, "w") as f:
                f.write("x")
            assert os.listdir(".") == [longest]
            try:
                open("b" * 256, "w")
                raise AssertionError("a 256-byte name was accepted")
            except OSError as e:
                assert e.errno == errno.ENAMETOOLONG, e
            for name in [b"\xff\xfe-not-utf-8", b"new\nline", b"tab\there", "ünïcødé-🙂".encode(), b" lead and trail "]:
                with open(name, "wb") as f:
                    f.write(name)
                assert open(name, "rb").read() == name and name in os.listdir(b".")
                assert name in os.listdir(os.fsencode(sys.argv[2]))
            """, [dir.Mounted, dir.Exported]).AssertSuccess();
    }

    [SkippableFact]
    public void Renameat2NoReplaceAndExchange()
    {
        var dir = Prepare(["python3"]);
        ExternalProgram.Python("""
            import ctypes, errno, os, sys
            libc = ctypes.CDLL(None, use_errno=True)
            AT_FDCWD, RENAME_NOREPLACE, RENAME_EXCHANGE = -100, 1, 2
            def renameat2(old, new, flags):
                if libc.renameat2(AT_FDCWD, old.encode(), AT_FDCWD, new.encode(), flags) != 0:
                    e = ctypes.get_errno()
                    raise OSError(e, os.strerror(e))
            d = sys.argv[1]
            p = lambda name: os.path.join(d, name)
            def write(name, data):
                with open(p(name), "w") as f:
                    f.write(data)
            read = lambda name: open(p(name)).read()
            write("a", "A"); write("b", "B")
            try:
                renameat2(p("a"), p("b"), RENAME_NOREPLACE)
                raise AssertionError("RENAME_NOREPLACE replaced b")
            except OSError as e:
                assert e.errno == errno.EEXIST, e
            assert read("a") == "A" and read("b") == "B"
            renameat2(p("a"), p("c"), RENAME_NOREPLACE)
            assert not os.path.exists(p("a")) and read("c") == "A"
            renameat2(p("b"), p("c"), RENAME_EXCHANGE)
            assert read("b") == "A" and read("c") == "B"
            assert open(os.path.join(sys.argv[2], "b")).read() == "A"
            os.mkdir(p("dir")); write("dir/inside", "I")
            renameat2(p("dir"), p("b"), RENAME_EXCHANGE)  # a directory and a file swap names
            assert os.path.isdir(p("b")) and read("b/inside") == "I" and read("dir") == "A"
            try:
                renameat2(p("nope"), p("c"), RENAME_EXCHANGE)
                raise AssertionError("RENAME_EXCHANGE with a missing source succeeded")
            except OSError as e:
                assert e.errno == errno.ENOENT, e
            """, [dir.Mounted, dir.Exported]).AssertSuccess();
    }
}

[Collection(PassthroughMount.Collection)]
public sealed class NamespaceTestsWithPassthrough(PassthroughMount fixture) : NamespaceTests(fixture);

[Collection(DaemonPathMount.Collection)]
public sealed class NamespaceTestsWithoutPassthrough(DaemonPathMount fixture) : NamespaceTests(fixture);
