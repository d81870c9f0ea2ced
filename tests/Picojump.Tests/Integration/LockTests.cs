using Picojump.Tests.Infrastructure;

namespace Picojump.Tests.Integration;

/// <summary>flock(2) and POSIX record locks between real processes on the mount.</summary>
public abstract class LockTests(MountFixture fixture) : MountTestBase(fixture)
{
    [SkippableFact]
    public void FlockExcludesOtherOpenFilesUntilReleased()
    {
        var dir = Prepare(["bash", "flock"]);
        ExternalProgram.Bash($$"""
            cd {{ExternalProgram.Quote(dir.Mounted)}}
            : > lockfile
            exec 3> lockfile
            flock -x 3
            # Each flock(1) opens the file anew: its own open file description.
            if flock -n lockfile true; then echo "exclusive lock not honoured" >&2; exit 1; fi
            if flock -n -s lockfile true; then echo "shared lock granted over an exclusive one" >&2; exit 1; fi
            flock -u 3
            flock -n lockfile true
            flock -s 3
            flock -n -s lockfile true
            if flock -n -x lockfile true; then echo "exclusive lock granted over a shared one" >&2; exit 1; fi
            # Closing the last descriptor drops the lock. FUSE sends the RELEASE that carries the
            # unlock after close(2) has returned, so the drop is waited for (a held lock fails).
            exec 3>&-
            flock -w 5 -x lockfile true
            # A waiting flock(1) gets the lock as soon as the holder closes it.
            exec 3> lockfile
            flock -x 3
            flock -w 10 -x lockfile -c 'echo waited' > waiter.out 3>&- &
            waiter=$!
            sleep 0.3   # a window to catch a waiter that does not wait; it cannot cause a false failure
            if test -s waiter.out; then echo "the waiter got the lock while it was held" >&2; exit 1; fi
            exec 3>&-
            wait $waiter
            test "$(cat waiter.out)" = waited
            """).AssertSuccess();
    }

    [SkippableFact]
    public void PosixRecordLocksConflictBetweenProcesses()
    {
        var dir = Prepare(["python3"]);
        ExternalProgram.Python("""
            import errno, fcntl, os, select, struct, sys
            path = os.path.join(sys.argv[1], "records")
            with open(path, "wb") as f:
                f.write(b"\0" * 1000)

            def getlk(fd, start, length):
                # struct flock { short l_type, l_whence; off_t l_start, l_len; pid_t l_pid; } (32 bytes padded)
                probe = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, start, length, 0)
                kind, _, start, length, _ = struct.unpack("hhqqi4x", fcntl.fcntl(fd, fcntl.F_GETLK, probe))
                return kind, start, length

            def refused(fd, kind, length, start):
                try:
                    fcntl.lockf(fd, kind | fcntl.LOCK_NB, length, start)
                    return False
                except OSError as e:
                    assert e.errno in (errno.EAGAIN, errno.EACCES), e
                    return True

            held_r, held_w = os.pipe()
            release_r, release_w = os.pipe()
            holder = os.fork()
            if holder == 0:
                fd = os.open(path, os.O_RDWR)
                fcntl.lockf(fd, fcntl.LOCK_EX, 100, 0)    # bytes 0..99
                fcntl.lockf(fd, fcntl.LOCK_SH, 100, 500)  # bytes 500..599
                os.write(held_w, b"x")
                os.read(release_r, 1)
                os._exit(0)                                # exit drops its locks
            os.read(held_r, 1)

            fd = os.open(path, os.O_RDWR)
            assert refused(fd, fcntl.LOCK_EX, 100, 0), "exclusive over exclusive"
            assert refused(fd, fcntl.LOCK_SH, 10, 50), "shared over exclusive"
            assert refused(fd, fcntl.LOCK_EX, 10, 550), "exclusive over shared"
            assert not refused(fd, fcntl.LOCK_EX, 100, 200), "a disjoint range"
            assert not refused(fd, fcntl.LOCK_SH, 10, 520), "shared with shared"
            fcntl.lockf(fd, fcntl.LOCK_UN, 10, 520)
            assert getlk(fd, 0, 1000) == (fcntl.F_WRLCK, 0, 100), getlk(fd, 0, 1000)
            assert getlk(fd, 300, 100)[0] == fcntl.F_UNLCK

            # A blocking lock waits in another process until the holder is gone.
            granted_r, granted_w = os.pipe()
            waiter = os.fork()
            if waiter == 0:
                wfd = os.open(path, os.O_RDWR)
                fcntl.lockf(wfd, fcntl.LOCK_EX, 100, 0)
                os.write(granted_w, b"x")
                os._exit(0)
            early, _, _ = select.select([granted_r], [], [], 0.3)
            assert not early, "the blocking lock was granted while the holder held it"
            os.write(release_w, b"x")
            assert os.waitpid(holder, 0)[1] == 0
            ready, _, _ = select.select([granted_r], [], [], 10)
            assert ready, "the blocking lock was not granted within 10 s of the release"
            assert os.waitpid(waiter, 0)[1] == 0
            assert getlk(fd, 0, 1000)[0] == fcntl.F_UNLCK, "the waiter's lock outlived it"
            """, [dir.Mounted, dir.Exported]).AssertSuccess();
    }
}

[Collection(PassthroughMount.Collection)]
public sealed class LockTestsWithPassthrough(PassthroughMount fixture) : LockTests(fixture);

[Collection(DaemonPathMount.Collection)]
public sealed class LockTestsWithoutPassthrough(DaemonPathMount fixture) : LockTests(fixture);
