using Picojump.Tests.Infrastructure;

namespace Picojump.Tests.Integration;

/// <summary>Attributes: xattrs, chmod/chown/utimens/truncate, and statfs.</summary>
public abstract class MetadataTests(MountFixture fixture) : MountTestBase(fixture)
{
    [SkippableFact]
    public void UserXattrsSetGetListAndRemove()
    {
        var dir = Prepare(["python3"]);
        ExternalProgram.Python("""
            import errno, os, sys
            path, exported = os.path.join(sys.argv[1], "f"), os.path.join(sys.argv[2], "f")
            open(path, "w").close()
            os.mkdir(os.path.join(sys.argv[1], "d"))
            big = bytes(range(256)) * 15  # 3840 bytes: ext4 (without ea_inode) takes one block at most
            os.setxattr(path, "user.small", b"value")
            os.setxattr(path, "user.big", big)
            os.setxattr(path, "user.empty", b"")
            os.setxattr(os.path.join(sys.argv[1], "d"), "user.on-dir", b"dir value")
            assert os.getxattr(path, "user.small") == b"value"
            assert os.getxattr(path, "user.big") == big
            assert os.getxattr(path, "user.empty") == b""
            assert os.getxattr(os.path.join(sys.argv[1], "d"), "user.on-dir") == b"dir value"
            assert sorted(os.listxattr(path)) == ["user.big", "user.empty", "user.small"], os.listxattr(path)
            assert os.getxattr(exported, "user.big") == big  # stored in the export itself
            try:
                os.setxattr(path, "user.small", b"again", os.XATTR_CREATE)
                raise AssertionError("XATTR_CREATE replaced an existing attribute")
            except OSError as e:
                assert e.errno == errno.EEXIST, e
            try:
                os.setxattr(path, "user.absent", b"x", os.XATTR_REPLACE)
                raise AssertionError("XATTR_REPLACE created an attribute")
            except OSError as e:
                assert e.errno == errno.ENODATA, e
            os.setxattr(path, "user.small", b"replaced", os.XATTR_REPLACE)
            assert os.getxattr(path, "user.small") == b"replaced"
            os.removexattr(path, "user.small")
            try:
                os.getxattr(path, "user.small")
                raise AssertionError("a removed attribute is still there")
            except OSError as e:
                assert e.errno == errno.ENODATA, e
            assert sorted(os.listxattr(exported)) == ["user.big", "user.empty"]
            """, [dir.Mounted, dir.Exported]).AssertSuccess();
    }

    [SkippableFact]
    public void ChmodChownTouchAndTruncateChangeTheExport()
    {
        var dir = Prepare(["bash", "stat", "touch", "truncate"]);
        var exported = ExternalProgram.Quote(Path.Combine(dir.Exported, "f"));
        ExternalProgram.Bash($$"""
            cd {{ExternalProgram.Quote(dir.Mounted)}}
            echo data > f
            chmod 640 f
            chown 1234:5678 f
            touch -m -d '2001-02-03 04:05:06.123456789' f
            touch -a -d '2002-03-04 05:06:07.5' f
            expected='640 1234 5678 981173106.123456789 1015218367.500000000'
            test "$(stat -c '%a %u %g %.9Y %.9X' f)" = "$expected"
            test "$(stat -c '%a %u %g %.9Y %.9X' {{exported}})" = "$expected"
            chmod u+s,g+s f && test "$(stat -c %a f)" = 6640
            chown -h 42 f && test "$(stat -c %u {{exported}})" = 42
            before=$(stat -c %Z f)
            touch f  # to now
            test "$(stat -c %Y f)" -ge "$before"
            truncate -s 3 f && test "$(cat f)" = dat && test "$(stat -c %s {{exported}})" = 3
            truncate -s 100000 f && test "$(stat -c %s f)" = 100000
            mkdir d && chmod 1750 d && test "$(stat -c %a {{ExternalProgram.Quote(Path.Combine(dir.Exported, "d"))}})" = 1750
            ln -s f l && touch -h -d '2003-01-01 00:00:00' l && test "$(stat -c %Y l)" = "$(date -d '2003-01-01 00:00:00' +%s)"
            """).AssertSuccess();
    }

    [SkippableFact]
    public void OtherUsersOwnWhatTheyCreateAndModesApplyToThem()
    {
        var dir = Prepare(["bash", "setpriv", "stat"]);
        ExternalProgram.Bash($$"""
            cd {{ExternalProgram.Quote(dir.Mounted)}}
            chmod 777 .
            as_user() { setpriv --reuid=1234 --regid=1234 --clear-groups "$@"; }
            as_user bash -c 'echo mine > file && mkdir dir && ln -s file link && mkfifo fifo'
            for name in file dir link fifo; do
                test "$(stat -c %u:%g $name)" = 1234:1234
                test "$(stat -c %u:%g {{ExternalProgram.Quote(dir.Exported)}}/$name)" = 1234:1234
            done
            echo secret > private && chmod 600 private
            if as_user cat private 2>/dev/null; then echo "mode 600 did not keep another user out" >&2; exit 1; fi
            if as_user bash -c 'echo x >> private' 2>/dev/null; then echo "another user appended to a 600 file" >&2; exit 1; fi
            if as_user chmod 666 private 2>/dev/null; then echo "another user changed the mode" >&2; exit 1; fi
            mkdir locked && chmod 700 locked && touch locked/inside
            if as_user ls locked >/dev/null 2>&1; then echo "another user listed a 700 directory" >&2; exit 1; fi
            as_user chmod 600 file && test "$(stat -c %a file)" = 600
            """).AssertSuccess();
    }

    [SkippableFact]
    public void DfReportsTheExportsFileSystem()
    {
        var dir = Prepare(["df", "stat"]);
        var df = ExternalProgram.Run("df", ["-P", Daemon.Mountpoint]).AssertSuccess();
        Assert.Contains(Daemon.Mountpoint, df.Stdout, StringComparison.Ordinal);
        // Totals are the export's (free space moves while others write, so only the size).
        var mounted = ExternalProgram.Run("stat", ["-f", "-c", "%b %S %l", dir.Mounted]).AssertSuccess().Stdout;
        var exported = ExternalProgram.Run("stat", ["-f", "-c", "%b %S %l", dir.Exported]).AssertSuccess().Stdout;
        Assert.Equal(exported, mounted);
    }
}

[Collection(PassthroughMount.Collection)]
public sealed class MetadataTestsWithPassthrough(PassthroughMount fixture) : MetadataTests(fixture);

[Collection(DaemonPathMount.Collection)]
public sealed class MetadataTestsWithoutPassthrough(DaemonPathMount fixture) : MetadataTests(fixture);
