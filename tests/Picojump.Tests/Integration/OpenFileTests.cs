using System.Runtime.CompilerServices;
using Picojump.Tests.Infrastructure;

namespace Picojump.Tests.Integration;

/// <summary>
/// Open flags and the life of open files, driven by python3 (forked processes where two
/// are needed). Each script gets the test directory on the mount and in the export.
/// </summary>
public abstract class OpenFileTests(MountFixture fixture) : MountTestBase(fixture)
{
    [SkippableFact]
    public void ConcurrentAppendersLoseNoLine()
    {
        RunPython("""
            import os, sys
            path, writers, lines = os.path.join(sys.argv[1], "log"), 2, 3000
            pids = []
            for w in range(writers):
                pid = os.fork()
                if pid == 0:
                    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                    for i in range(lines):
                        os.write(fd, f"writer{w} {i:06d} {'x' * 50}\n".encode())
                    os.close(fd)
                    os._exit(0)
                pids.append(pid)
            for pid in pids:
                assert os.waitpid(pid, 0)[1] == 0, "a writer failed"
            for where in (path, os.path.join(sys.argv[2], "log")):
                data = open(where, "rb").read()
                assert len(data) == writers * lines * 66, f"{where}: {len(data)} bytes"
                last = {}
                for line in data.split(b"\n")[:-1]:
                    w, i, pad = line.decode().split(" ")
                    assert pad == "x" * 50, f"torn line {line!r}"
                    assert int(i) == last.get(w, -1) + 1, f"{w}: line {i} follows {last.get(w)}"
                    last[w] = int(i)
            """);
    }

    [SkippableFact]
    public void ExclusiveCreateFailsWhenTheNameExists()
    {
        RunPython("""
            import errno, os, sys
            path = os.path.join(sys.argv[1], "only-once")
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            try:
                os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                raise AssertionError("second O_EXCL create succeeded")
            except FileExistsError:
                pass
            os.symlink("only-once", os.path.join(sys.argv[1], "link"))
            try:  # O_EXCL never follows a symlink
                os.open(os.path.join(sys.argv[1], "link"), os.O_WRONLY | os.O_CREAT | os.O_EXCL)
                raise AssertionError("O_EXCL create through a symlink succeeded")
            except FileExistsError:
                pass
            # Two processes race for the same 200 names: each name goes to exactly one of them.
            names = [os.path.join(sys.argv[1], f"race-{i}") for i in range(200)]
            r, w = os.pipe()
            pids = []
            for who in range(2):
                pid = os.fork()
                if pid == 0:
                    won = 0
                    for name in names:
                        try:
                            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
                            won += 1
                        except FileExistsError:
                            pass
                    os.write(w, f"{won}\n".encode())
                    os._exit(0)
                pids.append(pid)
            for pid in pids:
                assert os.waitpid(pid, 0)[1] == 0
            os.close(w)
            wins = [int(n) for n in os.read(r, 100).split()]
            assert sum(wins) == 200, f"creates won: {wins}"
            """);
    }

    [SkippableFact]
    public void TruncatingOpenEmptiesTheFileAndItsCache()
    {
        RunPython("""
            import os, sys
            path, exported = os.path.join(sys.argv[1], "f"), os.path.join(sys.argv[2], "f")
            with open(path, "wb") as f:
                f.write(b"old" * 40000)
            assert open(path, "rb").read() == b"old" * 40000  # now in the page cache
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
            assert os.fstat(fd).st_size == 0
            os.write(fd, b"new")
            os.close(fd)
            assert open(path, "rb").read() == b"new"
            assert open(exported, "rb").read() == b"new"
            assert os.stat(path).st_size == 3
            fd = os.open(path, os.O_RDWR | os.O_TRUNC)
            assert os.read(fd, 10) == b"" and os.stat(exported).st_size == 0
            os.close(fd)
            """);
    }

    [SkippableFact]
    public void NoFollowOpensRegularFilesAndRefusesSymlinks()
    {
        // Regression: O_NOFOLLOW reached the daemon's reopen through /proc/self/fd (ELOOP).
        RunPython("""
            import errno, os, sys
            path = os.path.join(sys.argv[1], "regular")
            with open(path, "wb") as f:
                f.write(b"content")
            for flags in (os.O_RDONLY, os.O_RDWR, os.O_WRONLY | os.O_APPEND):
                os.close(os.open(path, flags | os.O_NOFOLLOW))
            os.symlink("regular", os.path.join(sys.argv[1], "link"))
            try:
                os.open(os.path.join(sys.argv[1], "link"), os.O_RDONLY | os.O_NOFOLLOW)
                raise AssertionError("O_NOFOLLOW opened a symlink")
            except OSError as e:
                assert e.errno == errno.ELOOP, e
            """);
    }

    [SkippableFact]
    public void RenameOverAnOpenFileLeavesItsReaderTheOldContents()
    {
        RunPython("""
            import os, sys
            d = sys.argv[1]
            target, incoming = os.path.join(d, "target"), os.path.join(d, "incoming")
            with open(target, "wb") as f:
                f.write(b"old contents\n" * 1000)
            reader = os.open(target, os.O_RDONLY)
            assert os.read(reader, 13) == b"old contents\n"
            with open(incoming, "wb") as f:
                f.write(b"new contents\n")
            os.rename(incoming, target)
            assert os.pread(reader, 13000, 0) == b"old contents\n" * 1000, "the open file changed"
            assert open(target, "rb").read() == b"new contents\n"
            assert open(os.path.join(sys.argv[2], "target"), "rb").read() == b"new contents\n"
            assert sorted(os.listdir(d)) == ["target"]
            os.close(reader)
            """);
    }

    [SkippableFact]
    public void UnlinkedOpenFileStaysUsableThroughItsDescriptor()
    {
        RunPython("""
            import os, sys
            path = os.path.join(sys.argv[1], "doomed")
            with open(path, "wb") as f:
                f.write(b"still here\n" * 1000)
            fd = os.open(path, os.O_RDWR)
            os.unlink(path)
            assert "doomed" not in os.listdir(sys.argv[1]) and not os.path.exists(path)
            assert not os.path.exists(os.path.join(sys.argv[2], "doomed"))
            assert os.fstat(fd).st_nlink == 0
            assert os.pread(fd, 11000, 0) == b"still here\n" * 1000
            os.pwrite(fd, b"STILL", 0)
            assert os.pread(fd, 11, 0) == b"STILL here\n"
            os.close(fd)
            """);
    }

    private void RunPython(string script, [CallerMemberName] string test = "")
    {
        var dir = Prepare(["python3"], test);
        ExternalProgram.Python(script, [dir.Mounted, dir.Exported]).AssertSuccess();
    }
}

[Collection(PassthroughMount.Collection)]
public sealed class OpenFileTestsWithPassthrough(PassthroughMount fixture) : OpenFileTests(fixture);

[Collection(DaemonPathMount.Collection)]
public sealed class OpenFileTestsWithoutPassthrough(DaemonPathMount fixture) : OpenFileTests(fixture);
