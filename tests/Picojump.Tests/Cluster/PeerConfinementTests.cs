using Google.Protobuf;
using Grpc.Core;
using Picojump.Fs.Native;
using Picojump.Protos.Peer;

namespace Picojump.Tests.Cluster;

/// <summary>No path a peer sends reaches outside the export, and no request makes the owner throw or allocate wildly.</summary>
public sealed class PeerConfinementTests : IClassFixture<PeerServerFixture>
{
    private readonly PeerServerFixture _server;
    private readonly Peer.PeerClient _client;

    public PeerConfinementTests(PeerServerFixture server)
    {
        _server = server;
        _client = server.ClusterClient();
        Directory.CreateDirectory(Path.Combine(server.Export, "a"));
        File.WriteAllText(Path.Combine(server.Export, "a", "f"), "inside");
        if (!File.Exists(Path.Combine(server.Export, "link")) && !Directory.Exists(Path.Combine(server.Export, "link")))
            File.CreateSymbolicLink(Path.Combine(server.Export, "link"), "/etc");
    }

    private static CallOptions Deadline => new(deadline: DateTime.UtcNow + PeerServerFixture.Deadline);

    public static TheoryData<string, Errno> BadPaths => new()
    {
        { "..", Errno.EINVAL },
        { "a/../../etc", Errno.EINVAL },
        { "a/./f", Errno.EINVAL },
        { "a//f", Errno.EINVAL },
        { "a/", Errno.EINVAL },
        { "/etc/passwd", Errno.EINVAL },
        { "a/f\0/etc/passwd", Errno.EINVAL },
        { new string('n', 256), Errno.ENAMETOOLONG },
        { string.Join('/', Enumerable.Repeat("abcdefgh", 512)), Errno.ENAMETOOLONG },
    };

    [Theory]
    [MemberData(nameof(BadPaths))]
    public async Task Malformed_paths_are_refused_for_every_kind_of_call(string path, Errno expected)
    {
        Assert.Equal((int)expected, (await _client.LookupAsync(new PathRequest { Path = path }, Deadline)).Errno);
        Assert.Equal((int)expected, (await _client.ReadLinkAsync(new PathRequest { Path = path }, Deadline)).Errno);
        Assert.Equal((int)expected, (await _client.UnlinkAsync(new PathRequest { Path = path }, Deadline)).Errno);
        Assert.Equal((int)expected, (await _client.CreateAsync(new MakeRequest { Path = path, Mode = 0x1A4 }, Deadline)).Errno);
        Assert.Equal((int)expected, (await _client.WriteAsync(new WriteRequest { Path = path, Data = ByteString.CopyFromUtf8("x") }, Deadline)).Errno);
        Assert.Equal((int)expected, (await _client.RenameAsync(new RenameRequest { OldPath = "a/f", NewPath = path }, Deadline)).Errno);
        Assert.Equal((int)expected, (await ReadAll(new ReadRequest { Path = path, Length = 100 })).Errno);
        Assert.Equal((int)expected, (await FirstDirChunk(path)).Errno);
    }

    [Theory]
    [InlineData("link/passwd")]
    [InlineData("link/shadow")]
    [InlineData("link/../etc/passwd")]
    public async Task A_symlink_to_outside_is_never_followed_as_a_directory(string path)
    {
        var lookup = await _client.LookupAsync(new PathRequest { Path = path }, Deadline);
        Assert.NotEqual(0, lookup.Errno);
        var read = await ReadAll(new ReadRequest { Path = path, Length = 4096 });
        Assert.NotEqual(0, read.Errno);
        Assert.Empty(read.Data);
        Assert.NotEqual(0, (await _client.CreateAsync(new MakeRequest { Path = "link/pj-escape", Mode = 0x1A4 }, Deadline)).Errno);
        Assert.False(File.Exists("/etc/pj-escape"));
    }

    [Fact]
    public async Task A_symlink_to_outside_is_not_followed_as_the_last_component()
    {
        Assert.Equal((int)Errno.ELOOP, (await FirstDirChunk("link")).Errno);
        var lookup = await _client.LookupAsync(new PathRequest { Path = "link" }, Deadline);
        Assert.Equal(Stat.S_IFLNK, lookup.Attr.Mode & Stat.S_IFMT);
        File.CreateSymbolicLink(Path.Combine(_server.Export, "a", "passwd"), "/etc/passwd");
        var read = await ReadAll(new ReadRequest { Path = "a/passwd", Length = 4096 });
        Assert.Equal((int)Errno.ELOOP, read.Errno);
        Assert.Empty(read.Data);
        Assert.Equal((int)Errno.ELOOP, (await _client.WriteAsync(new WriteRequest { Path = "a/passwd", Data = ByteString.CopyFromUtf8("x") }, Deadline)).Errno);
        var passwdLength = new FileInfo("/etc/passwd").Length;
        Assert.Equal((int)Errno.EINVAL, (await _client.SetAttrAsync(new SetAttrRequest { Path = "a/passwd", Size = 0 }, Deadline)).Errno);
        Assert.Equal(passwdLength, new FileInfo("/etc/passwd").Length);
    }

    [Theory]
    [InlineData("proc/self/root/etc/passwd")]
    [InlineData("dev/fd/0")]
    public async Task Proc_style_names_are_names_in_the_export(string path)
    {
        Assert.Equal((int)Errno.ENOENT, (await _client.LookupAsync(new PathRequest { Path = path }, Deadline)).Errno);
        Assert.Equal((int)Errno.ENOENT, (await ReadAll(new ReadRequest { Path = path, Length = 4096 })).Errno);
    }

    [Fact]
    public async Task Huge_offsets_and_lengths_are_errors_or_short_reads()
    {
        var ino = (await _client.LookupAsync(new PathRequest { Path = "a/f" }, Deadline)).Attr.Ino;
        Assert.Equal((int)Errno.EINVAL, (await ReadAll(new ReadRequest { Path = "a/f", Ino = ino, Offset = ulong.MaxValue, Length = 10 })).Errno);
        var pastEnd = await ReadAll(new ReadRequest { Path = "a/f", Ino = ino, Offset = long.MaxValue, Length = ulong.MaxValue });
        Assert.Equal((0, 0), (pastEnd.Errno, pastEnd.Data.Length));
        var all = await ReadAll(new ReadRequest { Path = "a/f", Ino = ino, Length = ulong.MaxValue });
        Assert.Equal("inside"u8.ToArray(), all.Data);
        var write = new WriteRequest { Path = "a/f", Ino = ino, Offset = long.MaxValue, Data = ByteString.CopyFromUtf8("x") };
        Assert.Equal((int)Errno.EFBIG, (await _client.WriteAsync(write, Deadline)).Errno);
        write.Offset = ulong.MaxValue;
        Assert.Equal((int)Errno.EFBIG, (await _client.WriteAsync(write, Deadline)).Errno);
        Assert.NotEqual(0, (await _client.SetAttrAsync(new SetAttrRequest { Path = "a/f", Size = ulong.MaxValue }, Deadline)).Errno);
        Assert.Equal("inside", File.ReadAllText(Path.Combine(_server.Export, "a", "f")));
    }

    [Fact]
    public async Task A_write_larger_than_a_chunk_is_refused_by_the_transport()
    {
        var write = new WriteRequest { Path = "a/f", Data = ByteString.CopyFrom(new byte[2 * 1024 * 1024]) };
        var error = await Assert.ThrowsAsync<RpcException>(() => _client.WriteAsync(write, Deadline).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Equal("inside", File.ReadAllText(Path.Combine(_server.Export, "a", "f")));
    }

    [Fact]
    public async Task A_path_that_names_another_file_now_is_stale()
    {
        var path = Path.Combine(_server.Export, "a", "replaced");
        File.WriteAllText(path, "old");
        var ino = (await _client.LookupAsync(new PathRequest { Path = "a/replaced" }, Deadline)).Attr.Ino;
        File.WriteAllText(path + ".new", "new");
        File.Move(path + ".new", path, overwrite: true);
        var read = await ReadAll(new ReadRequest { Path = "a/replaced", Ino = ino, Length = 100 });
        Assert.Equal((int)Errno.ESTALE, read.Errno);
        Assert.Empty(read.Data);
        var write = await _client.WriteAsync(new WriteRequest { Path = "a/replaced", Ino = ino, Data = ByteString.CopyFromUtf8("x") }, Deadline);
        Assert.Equal((int)Errno.ESTALE, write.Errno);
        Assert.Equal("new", File.ReadAllText(path));
    }

    private async Task<(int Errno, byte[] Data)> ReadAll(ReadRequest request)
    {
        using var call = _client.Read(request, Deadline);
        var data = new MemoryStream();
        var errno = 0;
        await foreach (var chunk in call.ResponseStream.ReadAllAsync())
        {
            errno = chunk.Errno;
            chunk.Data.WriteTo(data);
        }
        return (errno, data.ToArray());
    }

    private async Task<DirChunk> FirstDirChunk(string path)
    {
        using var call = _client.ReadDir(new PathRequest { Path = path }, Deadline);
        Assert.True(await call.ResponseStream.MoveNext());
        return call.ResponseStream.Current;
    }
}
