using System.Runtime.CompilerServices;
using Picojump.Tests.Infrastructure;

namespace Picojump.Tests.Integration;

/// <summary>mmap in both directions and between processes; sparse files, SEEK_DATA/SEEK_HOLE and fallocate.</summary>
public abstract class MappedAndSparseFileTests(MountFixture fixture) : MountTestBase(fixture)
{
    [SkippableFact]
    public void WritesThroughMmapReachReadAndTheExport()
    {
        RunPython("""
            import mmap, os, sys
            path, exported = os.path.join(sys.argv[1], "mapped"), os.path.join(sys.argv[2], "mapped")
            size = 1 << 20
            pattern = bytes((i * 7 + 3) % 251 for i in range(size))
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            os.ftruncate(fd, size)
            with mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE) as m:
                m[:] = pattern
                m.flush()
            os.close(fd)
            assert open(path, "rb").read() == pattern, "read() differs from what mmap wrote"
            assert open(exported, "rb").read() == pattern, "the export differs from what mmap wrote"
            # And the other way: a mapping shows what write() wrote.
            with open(path, "r+b") as f:
                f.seek(4096)
                f.write(b"written by write()")
            with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, mmap.MAP_SHARED, mmap.PROT_READ) as m:
                assert len(m) == size and m[4096:4114] == b"written by write()", m[4096:4114]
            """);
    }

    [SkippableFact]
    public void SharedMappingsOfTwoProcessesSeeEachOther()
    {
        RunPython("""
            import mmap, os, sys
            path, exported = os.path.join(sys.argv[1], "shared"), os.path.join(sys.argv[2], "shared")
            size = 1 << 20
            with open(path, "wb") as f:
                f.truncate(size)
            def mapping():
                fd = os.open(path, os.O_RDWR)
                return mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            to_child_r, to_child_w = os.pipe()
            to_parent_r, to_parent_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                m = mapping()
                os.read(to_child_r, 1)
                assert m[0:15] == b"from the parent", m[0:15]
                m[size - 4096:size - 4082] = b"from the child"
                os.write(to_parent_w, b"x")
                os._exit(0)
            m = mapping()
            m[0:15] = b"from the parent"
            os.write(to_child_w, b"x")
            os.read(to_parent_r, 1)
            assert os.waitpid(pid, 0)[1] == 0, "the child did not see the parent's store"
            assert m[size - 4096:size - 4082] == b"from the child", m[size - 4096:size - 4082]
            m.flush()
            data = open(exported, "rb").read()
            assert data[0:15] == b"from the parent" and data[size - 4096:size - 4082] == b"from the child"
            """);
    }

    [SkippableFact]
    public void SparseFileStaysSparseAndSeeksFindItsData()
    {
        var dir = Prepare(["bash", "python3", "truncate", "dd", "du", "cp"]);
        ExternalProgram.Bash($$"""
            cd {{ExternalProgram.Quote(dir.Mounted)}}
            truncate -s 1G sparse
            head -c 4096 /dev/urandom | dd of=sparse bs=4096 seek=$((512 * 256)) conv=notrunc status=none
            test "$(stat -c %s sparse)" = 1073741824
            # 1 GiB apparent, one 4 KiB block (or a few, as the disk file system rounds) on disk.
            test "$(du -k sparse | cut -f1)" -le 1024
            cp --sparse=always sparse copy
            test "$(du -k copy | cut -f1)" -le 1024
            python3 -c '
            import os, sys
            def layout(path):
                fd = os.open(path, os.O_RDONLY)
                data = os.lseek(fd, 0, os.SEEK_DATA)
                hole = os.lseek(fd, data, os.SEEK_HOLE)
                try:
                    os.lseek(fd, hole, os.SEEK_DATA)
                    raise AssertionError(f"{path}: data after {hole}")
                except OSError as e:
                    assert e.errno == 6, e  # ENXIO: only a hole up to the end
                block = os.pread(fd, 4096, data)
                assert os.pread(fd, 4096, data - 4096) == bytes(4096)
                os.close(fd)
                return os.stat(path).st_size, data, hole, block
            original, copy = layout("sparse"), layout("copy")
            assert original[:3] == (1 << 30, 512 << 20, (512 << 20) + 4096), original[:3]
            assert copy == original, "the copy differs"
            '
            """).AssertSuccess();
    }

    [SkippableFact]
    public void WritesFarBeyondFourGibibytes()
    {
        RunPython("""
            import os, sys
            path = os.path.join(sys.argv[1], "far")
            far = (5 << 30) + 12345  # past 32-bit offsets and not block aligned
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            os.pwrite(fd, b"far away", far)
            assert os.fstat(fd).st_size == far + 8
            assert os.pread(fd, 8, far) == b"far away" and os.pread(fd, 8, far - 8) == bytes(8)
            os.close(fd)
            assert os.stat(path).st_size == far + 8
            with open(os.path.join(sys.argv[2], "far"), "rb") as f:
                f.seek(far)
                assert f.read() == b"far away"
            """);
    }

    [SkippableFact]
    public void FallocateReservesAndPunchesHoles()
    {
        var dir = Prepare(["bash", "fallocate", "stat"]);
        ExternalProgram.Bash($$"""
            cd {{ExternalProgram.Quote(dir.Mounted)}}
            fallocate -l 10MiB reserved
            test "$(stat -c %s reserved)" = 10485760
            test "$(( $(stat -c '%b * %B' reserved) ))" -ge 10485760
            head -c 4MiB /dev/urandom > punched
            fallocate --punch-hole --offset 1MiB --length 2MiB punched
            test "$(stat -c %s punched)" = 4194304
            test "$(( $(stat -c '%b * %B' punched) ))" -le $((2 * 1048576 + 65536))
            cmp -n 2MiB -i 1MiB:0 punched /dev/zero
            fallocate --keep-size -o 4MiB -l 1MiB punched
            test "$(stat -c %s punched)" = 4194304
            """).AssertSuccess();
    }

    private void RunPython(string script, [CallerMemberName] string test = "")
    {
        var dir = Prepare(["python3"], test);
        ExternalProgram.Python(script, [dir.Mounted, dir.Exported]).AssertSuccess();
    }
}

[Collection(PassthroughMount.Collection)]
public sealed class MappedAndSparseFileTestsWithPassthrough(PassthroughMount fixture) : MappedAndSparseFileTests(fixture);

[Collection(DaemonPathMount.Collection)]
public sealed class MappedAndSparseFileTestsWithoutPassthrough(DaemonPathMount fixture) : MappedAndSparseFileTests(fixture);
