using Picojump.Tests.Infrastructure;

namespace Picojump.Tests.Integration;

/// <summary>Whole trees in and out of the mount with cp -a and tar, checked with diff -r and full listings.</summary>
public abstract class TreeCopyTests(MountFixture fixture) : MountTestBase(fixture)
{
    [SkippableFact]
    public void CpAKeepsContentsModesOwnersLinksTimesAndXattrs()
    {
        var dir = Prepare(["bash", "cp", "diff", "find", "python3", "mkfifo"]);
        var src = Q(Path.Combine(dir.Local, "src"));
        var copy = Q(Path.Combine(dir.Mounted, "copy"));
        var back = Q(Path.Combine(dir.Local, "back"));
        ExternalProgram.Bash($$"""
            {{SampleTree.SameTreeFunction}}
            generate() {
            {{SampleTree.Generate}}
            }
            generate {{src}}
            cp -a {{src}} {{copy}}
            same_tree {{src}} {{copy}}
            same_tree {{src}} {{Q(Path.Combine(dir.Exported, "copy"))}}   # what the daemon wrote
            {{copy}}/a/script.sh | grep -qx 'script ran'                  # exec from the mount
            cp -a {{copy}} {{back}}
            same_tree {{src}} {{back}}
            """).AssertSuccess();
    }

    [SkippableFact]
    public void CpAOfUsrShareDocMatchesTheOriginal()
    {
        var dir = Prepare(["bash", "cp", "diff", "find", "python3"]);
        Prerequisites.Require(Directory.Exists("/usr/share/doc"), "/usr/share/doc (documentation to copy)");
        var copy = Path.Combine(dir.Mounted, "doc");
        ExternalProgram.Bash($"""
            {SampleTree.SameTreeFunction}
            cp -a /usr/share/doc {Q(copy)}
            same_tree /usr/share/doc {Q(copy)}
            rm -r {Q(copy)}
            test ! -e {Q(copy)}
            """, timeout: TimeSpan.FromSeconds(120)).AssertSuccess();
    }

    [SkippableFact]
    public void TarRoundTripThroughTheMount()
    {
        var dir = Prepare(["bash", "tar", "diff", "find", "python3", "mkfifo"]);
        var src = Q(Path.Combine(dir.Local, "src"));
        var archive = Q(Path.Combine(dir.Mounted, "tree.tar"));
        var extracted = Q(Path.Combine(dir.Mounted, "extracted"));
        var back = Q(Path.Combine(dir.Local, "back"));
        ExternalProgram.Bash($$"""
            {{SampleTree.SameTreeFunction}}
            generate() {
            {{SampleTree.Generate}}
            }
            generate {{src}}
            tar_c() { tar --create --xattrs --xattrs-include='user.*' --numeric-owner -C "$1" .; }
            tar_x() { tar --extract --xattrs --xattrs-include='user.*' --numeric-owner --same-permissions -C "$1"; }
            tar_c {{src}} > {{archive}}
            mkdir {{extracted}}
            tar_x {{extracted}} < {{archive}}
            same_tree {{src}} {{extracted}}
            tar --compare --numeric-owner -C {{src}} -f {{archive}}
            mkdir {{back}}
            tar_c {{extracted}} | tar_x {{back}}
            same_tree {{src}} {{back}}
            """).AssertSuccess();
    }

    private static string Q(string path) => ExternalProgram.Quote(path);
}

[Collection(PassthroughMount.Collection)]
public sealed class TreeCopyTestsWithPassthrough(PassthroughMount fixture) : TreeCopyTests(fixture);

[Collection(DaemonPathMount.Collection)]
public sealed class TreeCopyTestsWithoutPassthrough(DaemonPathMount fixture) : TreeCopyTests(fixture);
