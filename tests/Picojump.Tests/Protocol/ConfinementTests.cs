using System.Text;
using Picojump.Fs.Fuse;
using Picojump.Fs.Native;

namespace Picojump.Tests.Protocol;

/// <summary>
/// No request may reach outside the export: not by "..", not by a name with a slash, not
/// through a symlink inside the export that points out of it. The harness keeps a sibling
/// directory, Outside, with a secret file, and every test checks that it stays untouched.
/// </summary>
public sealed class ConfinementTests : ProtocolTest
{
    private const string Secret = "outside the export";
    private const uint SecretMode = 0b110_100_000; // 0640

    public ConfinementTests()
    {
        File.WriteAllText(SecretPath, Secret);
        SetMode(SecretPath, SecretMode);
        // Ways out, as a careless or hostile user could leave them inside the export.
        File.CreateSymbolicLink(Path.Combine(Harness.Export, "etc"), "/etc");
        File.CreateSymbolicLink(Path.Combine(Harness.Export, "up"), "../..");
        File.CreateSymbolicLink(Path.Combine(Harness.Export, "out"), "../outside");
        File.CreateSymbolicLink(Path.Combine(Harness.Export, "secret"), "../outside/secret");
        File.CreateSymbolicLink(Path.Combine(Harness.Export, "abs"), SecretPath);
    }

    private string SecretPath => Path.Combine(Harness.Outside, "secret");

    public static TheoryData<string> BadNames => [".", "..", "a/b", "/", "../outside", ""];

    public static TheoryData<string> EscapeLinks => ["etc", "up", "out", "secret", "abs"];

    /// <summary>Links into Outside only: a test that tries to change a target never aims at /etc.</summary>
    public static TheoryData<string> LinksIntoOutside => ["out", "secret", "abs"];

    private protected override void CheckAfterTest()
    {
        Assert.Equal(Secret, File.ReadAllText(SecretPath));
        Assert.Equal(SecretMode, ModeOf(SecretPath));
        Assert.Equal(["secret"], Directory.EnumerateFileSystemEntries(Harness.Outside).Select(Path.GetFileName));
        Assert.Empty(XattrNames(Harness.Outside));
        Assert.Empty(XattrNames(SecretPath));
    }

    [Theory]
    [MemberData(nameof(BadNames))]
    public void Names_that_are_not_one_plain_component_are_EINVAL_everywhere(string name)
    {
        File.WriteAllText(Path.Combine(Harness.Export, "plain"), "");
        var plain = Client.LookupOk(Root, "plain").NodeId;
        Client.Lookup(Root, name).AssertError(Errno.EINVAL);
        Client.Create(Root, name).AssertError(Errno.EINVAL);
        Client.MkDir(Root, name).AssertError(Errno.EINVAL);
        Client.Call(FuseOpcode.MkNod, Root, [.. FuseTestClient.Bytes(new FuseMknodIn { Mode = 0x1000 | 0x1a4 }), .. FuseTestClient.Name(name)]).AssertError(Errno.EINVAL);
        Client.Symlink(Root, name, "plain").AssertError(Errno.EINVAL);
        Client.Link(plain, Root, name).AssertError(Errno.EINVAL);
        Client.Unlink(Root, name).AssertError(Errno.EINVAL);
        Client.RmDir(Root, name).AssertError(Errno.EINVAL);
        Client.Rename(Root, "plain", Root, name).AssertError(Errno.EINVAL);
        Client.Rename(Root, name, Root, "renamed").AssertError(Errno.EINVAL);
        Client.Rename2(Root, "plain", Root, name, FuseConstants.RenameNoReplace).AssertError(Errno.EINVAL);
        Client.Rename2(Root, name, Root, "plain", FuseConstants.RenameExchange).AssertError(Errno.EINVAL);
        Assert.True(File.Exists(Path.Combine(Harness.Export, "plain")));
    }

    [Fact]
    public void A_name_longer_than_NAME_MAX_is_ENAMETOOLONG()
    {
        Client.Lookup(Root, new string('n', 256)).AssertError(Errno.ENAMETOOLONG);
        Client.Create(Root, new string('n', 256)).AssertError(Errno.ENAMETOOLONG);
        Client.Lookup(Root, new string('n', 255)).AssertError(Errno.ENOENT);
    }

    [Theory]
    [MemberData(nameof(EscapeLinks))]
    public void A_symlink_out_of_the_export_is_a_symlink_node_and_no_directory(string link)
    {
        var entry = Client.LookupOk(Root, link);
        Assert.Equal(Stat.S_IFLNK, FileType.Of(entry.Attr));
        var target = new FileInfo(Path.Combine(Harness.Export, link)).LinkTarget!;
        Assert.Equal((ulong)Encoding.UTF8.GetByteCount(target), entry.Attr.Size); // the link's own size, not its target's
        Assert.Equal(target, Encoding.UTF8.GetString(Client.ReadLink(entry.NodeId).AssertOk().Payload));

        // Under the link's node nothing resolves: its O_PATH descriptor is the link itself.
        foreach (var name in new[] { "passwd", "secret", "outside" })
            Client.Lookup(entry.NodeId, name).AssertError(Errno.ENOTDIR);
        Client.Create(entry.NodeId, "planted").AssertError(Errno.ENOTDIR);
        Client.MkDir(entry.NodeId, "planted").AssertError(Errno.ENOTDIR);
        Client.Symlink(entry.NodeId, "planted", "x").AssertError(Errno.ENOTDIR);
        Client.Unlink(entry.NodeId, "secret").AssertError(Errno.ENOTDIR);
        Client.Rename(Root, link, entry.NodeId, "planted").AssertError(Errno.ENOTDIR);
        Client.Call(FuseOpcode.OpenDir, entry.NodeId, FuseTestClient.Bytes(new FuseOpenIn())).AssertError(Errno.ENOTDIR);
    }

    [Theory]
    [MemberData(nameof(LinksIntoOutside))]
    public void Opening_or_changing_a_symlink_node_never_touches_its_target(string link)
    {
        var node = Client.LookupOk(Root, link).NodeId;
        foreach (var flags in new[] { OpenFlags.O_RDONLY, OpenFlags.O_RDWR | OpenFlags.O_TRUNC, OpenFlags.O_WRONLY | OpenFlags.O_APPEND })
        {
            var open = Client.Open(node, flags);
            Assert.True(open.RawError != 0, $"OPEN of symlink {link} with flags 0x{flags:x} succeeded");
        }
        Client.SetAttr(node, new FuseSetAttrIn { Valid = FuseSetAttrValid.Size, Size = 0 }).AssertError(Errno.EINVAL);
        Assert.NotEqual(Errno.OK, Client.SetAttr(node, new FuseSetAttrIn { Valid = FuseSetAttrValid.Mode, Mode = 0x1ff }).Errno);
        // user.* attributes are not allowed on symlinks; had the link been followed, this would land on the target.
        Client.SetXattr(node, "user.escaped", "1"u8).AssertError(Errno.EPERM);
        Assert.NotEqual(Errno.OK, Client.GetLk(node, 0, 1, LibC.F_WRLCK, 0, 0).Errno);
        // A file created over the link's name must not follow it either.
        Client.Create(Root, link, OpenFlags.O_WRONLY | OpenFlags.O_TRUNC).AssertError(Errno.ELOOP);
        Client.Create(Root, link, OpenFlags.O_WRONLY | OpenFlags.O_CREAT | OpenFlags.O_EXCL).AssertError(Errno.EEXIST);
    }

    [Fact]
    public void Readdirplus_reports_links_as_links()
    {
        var entries = Client.ReadWholeDir(Root, plus: true);
        foreach (var link in new[] { "etc", "up", "out", "secret", "abs" })
        {
            var entry = entries.Single(e => e.Name == link);
            Assert.Equal(10u, entry.Type); // DT_LNK
            Assert.Equal(Stat.S_IFLNK, FileType.Of(entry.Entry!.Value.Attr));
        }
    }

    [Fact]
    public void Hard_link_and_rename_of_a_symlink_move_the_link_not_its_target()
    {
        var node = Client.LookupOk(Root, "secret").NodeId;
        Assert.Equal(Stat.S_IFLNK, FileType.Of(Client.Link(node, Root, "secret2").As<FuseEntryOut>().Attr));
        Client.Rename(Root, "secret2", Root, "secret3").AssertOk();
        Client.Unlink(Root, "secret3").AssertOk();
        Client.Unlink(Root, "secret").AssertOk();
    }

    private static unsafe void SetMode(string path, uint mode)
    {
        fixed (byte* p = Encoding.UTF8.GetBytes(path + "\0"))
            Assert.Equal(0, LibC.fchmodat(LibC.AT_FDCWD, p, mode, 0));
    }

    private static unsafe uint ModeOf(string path)
    {
        Stat st;
        fixed (byte* p = Encoding.UTF8.GetBytes(path + "\0"))
            Assert.Equal(0, LibC.fstatat(LibC.AT_FDCWD, p, &st, LibC.AT_SYMLINK_NOFOLLOW));
        return st.Mode & 0xFFF;
    }

    private static unsafe string[] XattrNames(string path)
    {
        var buffer = new byte[4096];
        nint n;
        fixed (byte* p = Encoding.UTF8.GetBytes(path + "\0"), b = buffer)
            n = LibC.listxattr(p, b, (nuint)buffer.Length);
        Assert.True(n >= 0, $"listxattr {path}: {LibC.LastErrno}");
        return Encoding.UTF8.GetString(buffer, 0, (int)n).Split('\0', StringSplitOptions.RemoveEmptyEntries)
            .Where(name => name.StartsWith("user.", StringComparison.Ordinal)).ToArray();
    }
}
