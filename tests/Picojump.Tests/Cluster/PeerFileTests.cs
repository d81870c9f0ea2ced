using Google.Protobuf;
using Grpc.Core;
using Picojump.Fs.Cluster;
using Picojump.Fs.Native;
using Picojump.Protos.Peer;
using Picojump.Tests.Infrastructure;

namespace Picojump.Tests.Cluster;

/// <summary>The owner's file operations over the wire, checked against the export directory.</summary>
public sealed class PeerFileTests(PeerServerFixture server) : IClassFixture<PeerServerFixture>
{
    private readonly Peer.PeerClient _client = server.ClusterClient();

    private static CallOptions Deadline => new(deadline: DateTime.UtcNow + PeerServerFixture.Deadline);

    private string Local(string path) => Path.Combine(server.Export, path);

    /// <summary>A fresh directory per test: the fixture's export is shared by the class.</summary>
    private string Dir(string name)
    {
        Directory.CreateDirectory(Local(name));
        return name;
    }

    [Fact]
    public async Task Lookup_gives_the_attributes_of_files_and_the_root()
    {
        var dir = Dir("lookup");
        await File.WriteAllTextAsync(Local($"{dir}/f"), "hello");
        var file = await _client.LookupAsync(new PathRequest { Path = $"{dir}/f" }, Deadline);
        Assert.Equal(0, file.Errno);
        Assert.Equal(5ul, file.Attr.Size);
        Assert.Equal(Stat.S_IFREG, file.Attr.Mode & Stat.S_IFMT);
        var root = await _client.LookupAsync(new PathRequest { Path = "" }, Deadline);
        Assert.Equal(Stat.S_IFDIR, root.Attr.Mode & Stat.S_IFMT);
        var missing = await _client.LookupAsync(new PathRequest { Path = $"{dir}/nope" }, Deadline);
        Assert.Equal((int)Errno.ENOENT, missing.Errno);
    }

    [Fact]
    public async Task ReadDir_streams_every_entry_with_attributes()
    {
        var dir = Dir("readdir");
        for (var i = 0; i < 600; i++)
            await File.WriteAllTextAsync(Local($"{dir}/f{i}"), new string('x', i));
        var names = new Dictionary<string, ulong>();
        using var call = _client.ReadDir(new PathRequest { Path = dir }, Deadline);
        await foreach (var chunk in call.ResponseStream.ReadAllAsync())
        {
            Assert.Equal(0, chunk.Errno);
            foreach (var entry in chunk.Entries)
                names.Add(entry.Name, entry.Attr.Size);
        }
        Assert.Equal(600, names.Count);
        Assert.DoesNotContain(".", names.Keys);
        Assert.Equal(599ul, names["f599"]);
    }

    [Fact]
    public async Task ReadDir_leaves_out_names_that_are_not_UTF8()
    {
        var dir = Dir("readdir-bytes");
        ExternalProgram.Bash($"touch \"$(printf '{Local(dir)}/bad\\377')\" {Local(dir)}/good").AssertSuccess();
        try
        {
            using var call = _client.ReadDir(new PathRequest { Path = dir }, Deadline);
            var names = new List<string>();
            await foreach (var chunk in call.ResponseStream.ReadAllAsync())
                names.AddRange(chunk.Entries.Select(e => e.Name));
            Assert.Equal(["good"], names);
        }
        finally
        {
            // .NET cannot name that file to delete it: the fixture's cleanup would fail.
            ExternalProgram.Bash($"rm -rf {Local(dir)}").AssertSuccess();
        }
    }

    [Fact]
    public async Task Read_streams_a_5_MiB_file_back_byte_for_byte_in_chunks_of_at_most_1_MiB()
    {
        var dir = Dir("read");
        var content = new byte[5 * 1024 * 1024 + 123];
        new Random(42).NextBytes(content);
        await File.WriteAllBytesAsync(Local($"{dir}/big"), content);
        var ino = (await _client.LookupAsync(new PathRequest { Path = $"{dir}/big" }, Deadline)).Attr.Ino;

        var (errno, data, largest) = await Read(new ReadRequest { Path = $"{dir}/big", Ino = ino, Offset = 0, Length = ulong.MaxValue });
        Assert.Equal(0, errno);
        Assert.True(largest <= ExportPeerService.MaxChunk);
        Assert.Equal(content, data);

        var middle = await Read(new ReadRequest { Path = $"{dir}/big", Ino = ino, Offset = 1000, Length = 3000 });
        Assert.Equal(content.AsSpan(1000, 3000).ToArray(), middle.Data);
    }

    [Fact]
    public async Task Write_reaches_the_file_before_the_reply()
    {
        var dir = Dir("write");
        await File.WriteAllTextAsync(Local($"{dir}/f"), "0123456789");
        var ino = (await _client.LookupAsync(new PathRequest { Path = $"{dir}/f" }, Deadline)).Attr.Ino;
        var reply = await _client.WriteAsync(new WriteRequest { Path = $"{dir}/f", Ino = ino, Offset = 4, Data = ByteString.CopyFromUtf8("abc"), Sync = true }, Deadline);
        Assert.Equal(0, reply.Errno);
        Assert.Equal(3u, reply.Written);
        Assert.Equal("0123abc789", await File.ReadAllTextAsync(Local($"{dir}/f")));
    }

    [Fact]
    public async Task Create_and_mkdir_make_entries_owned_by_the_caller()
    {
        var dir = Dir("create");
        var caller = new Caller { Uid = 1234, Gid = 5678 };
        var file = await _client.CreateAsync(new MakeRequest { Path = $"{dir}/new", Caller = caller, Mode = 0x1A4 /* 0644 */, Exclusive = true }, Deadline);
        Assert.Equal(0, file.Errno);
        Assert.Equal((1234u, 5678u), (file.Attr.Uid, file.Attr.Gid));
        Assert.Equal(0x1A4u, file.Attr.Mode & 0xFFF);
        var again = await _client.CreateAsync(new MakeRequest { Path = $"{dir}/new", Caller = caller, Mode = 0x1A4, Exclusive = true }, Deadline);
        Assert.Equal((int)Errno.EEXIST, again.Errno);

        var sub = await _client.MkDirAsync(new MakeRequest { Path = $"{dir}/sub", Caller = caller, Mode = 0x1ED /* 0755 */ }, Deadline);
        Assert.Equal(0, sub.Errno);
        Assert.Equal(1234u, sub.Attr.Uid);
        Assert.True(Directory.Exists(Local($"{dir}/sub")));
    }

    [Fact]
    public async Task Rename_unlink_and_rmdir_change_the_export()
    {
        var dir = Dir("rename");
        await File.WriteAllTextAsync(Local($"{dir}/a"), "a");
        await File.WriteAllTextAsync(Local($"{dir}/b"), "b");
        var noReplace = await _client.RenameAsync(new RenameRequest { OldPath = $"{dir}/a", NewPath = $"{dir}/b", Flags = 1 }, Deadline);
        Assert.Equal((int)Errno.EEXIST, noReplace.Errno);
        Assert.Equal(0, (await _client.RenameAsync(new RenameRequest { OldPath = $"{dir}/a", NewPath = $"{dir}/b", Flags = 2 }, Deadline)).Errno);
        Assert.Equal("a", await File.ReadAllTextAsync(Local($"{dir}/b")));
        Assert.Equal(0, (await _client.RenameAsync(new RenameRequest { OldPath = $"{dir}/a", NewPath = $"{dir}/c" }, Deadline)).Errno);
        Assert.Equal(0, (await _client.UnlinkAsync(new PathRequest { Path = $"{dir}/c" }, Deadline)).Errno);
        Assert.False(File.Exists(Local($"{dir}/c")));
        Assert.Equal((int)Errno.ENOTEMPTY, (await _client.RmDirAsync(new PathRequest { Path = dir }, Deadline)).Errno);
        Assert.Equal((int)Errno.EINVAL, (await _client.RenameAsync(new RenameRequest { OldPath = $"{dir}/b", NewPath = $"{dir}/d", Flags = 4 }, Deadline)).Errno);
    }

    [Fact]
    public async Task SetAttr_changes_mode_size_and_times()
    {
        var dir = Dir("setattr");
        await File.WriteAllTextAsync(Local($"{dir}/f"), "0123456789");
        var reply = await _client.SetAttrAsync(new SetAttrRequest { Path = $"{dir}/f", Mode = 0x180 /* 0600 */, Size = 4, MtimeNs = 1_500_000_000_123_456_789 }, Deadline);
        Assert.Equal(0, reply.Errno);
        Assert.Equal(0x180u, reply.Attr.Mode & 0xFFF);
        Assert.Equal(4ul, reply.Attr.Size);
        Assert.Equal(1_500_000_000_123_456_789, reply.Attr.MtimeNs);
        Assert.Equal("0123", await File.ReadAllTextAsync(Local($"{dir}/f")));
    }

    [Fact]
    public async Task Symlink_and_readlink_keep_the_target_as_bytes()
    {
        var dir = Dir("symlink");
        var made = await _client.SymlinkAsync(new SymlinkRequest { Path = $"{dir}/l", Target = ByteString.CopyFromUtf8("../somewhere/else"), Caller = new Caller { Uid = 42, Gid = 43 } }, Deadline);
        Assert.Equal(0, made.Errno);
        Assert.Equal(Stat.S_IFLNK, made.Attr.Mode & Stat.S_IFMT);
        Assert.Equal(42u, made.Attr.Uid);
        var link = await _client.ReadLinkAsync(new PathRequest { Path = $"{dir}/l" }, Deadline);
        Assert.Equal("../somewhere/else", link.Target.ToStringUtf8());
        // chmod on a symlink would reach its target through /proc: refused.
        Assert.Equal((int)Errno.EOPNOTSUPP, (await _client.SetAttrAsync(new SetAttrRequest { Path = $"{dir}/l", Mode = 0x1FF }, Deadline)).Errno);
    }

    [Fact]
    public async Task Writes_are_announced_to_the_hosts_that_read_the_file()
    {
        var dir = Dir("invalidate");
        await File.WriteAllTextAsync(Local($"{dir}/f"), "x");
        using var subscription = _client.Invalidations(new InvalidationsRequest { Host = "h2" }, Deadline);
        // The subscription is in place once a first change arrives; keep changing until then.
        var next = subscription.ResponseStream.MoveNext();
        while (!next.IsCompleted)
        {
            await Read(new ReadRequest { Path = $"{dir}/f", Length = 1 });
            await _client.WriteAsync(new WriteRequest { Path = $"{dir}/f", Data = ByteString.CopyFromUtf8("y") }, Deadline);
            await Task.WhenAny(next, Task.Delay(50));
        }
        Assert.True(await next);
        Assert.Equal($"{dir}/f", subscription.ResponseStream.Current.Path);
        Assert.False(subscription.ResponseStream.Current.Entry);
    }

    [Fact]
    public async Task A_write_is_not_announced_to_a_host_that_never_read_the_file_but_names_go_to_all()
    {
        var dir = Dir("unread");
        await File.WriteAllTextAsync(Local($"{dir}/f"), "x");
        using var subscription = _client.Invalidations(new InvalidationsRequest { Host = "h2" }, Deadline);
        var next = subscription.ResponseStream.MoveNext();
        for (var i = 0; !next.IsCompleted; i++)
        {
            await _client.MkDirAsync(new MakeRequest { Path = $"{dir}/sub{i}", Mode = 0x1ED }, Deadline);
            await Task.WhenAny(next, Task.Delay(50));
        }
        Assert.True(await next);
        await _client.WriteAsync(new WriteRequest { Path = $"{dir}/f", Data = ByteString.CopyFromUtf8("y") }, Deadline);
        await _client.MkDirAsync(new MakeRequest { Path = $"{dir}/marker", Mode = 0x1ED }, Deadline);
        do
        {
            Assert.NotEqual($"{dir}/f", subscription.ResponseStream.Current.Path);
            Assert.True(subscription.ResponseStream.Current.Entry);
            Assert.True(await subscription.ResponseStream.MoveNext());
        }
        while (subscription.ResponseStream.Current.Path != $"{dir}/marker");
    }

    private async Task<(int Errno, byte[] Data, int Largest)> Read(ReadRequest request)
    {
        using var call = _client.Read(request, Deadline);
        var data = new MemoryStream();
        var largest = 0;
        var errno = 0;
        await foreach (var chunk in call.ResponseStream.ReadAllAsync())
        {
            errno = chunk.Errno;
            Assert.Equal((ulong)data.Length + request.Offset, chunk.Offset);
            chunk.Data.WriteTo(data);
            largest = Math.Max(largest, chunk.Data.Length);
        }
        return (errno, data.ToArray(), largest);
    }
}
