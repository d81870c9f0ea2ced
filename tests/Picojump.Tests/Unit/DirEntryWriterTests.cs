using System.Runtime.InteropServices;
using Picojump.Fs.Fuse;

namespace Picojump.Tests.Unit;

/// <summary>
/// READDIR/READDIRPLUS record packing: fuse_dirent (24 bytes) or fuse_entry_out (128) +
/// fuse_dirent, then the name, padded with zeros to a multiple of 8 (FUSE_DIRENT_ALIGN).
/// The protocol tests check the same sizes against the header's own macros.
/// </summary>
public sealed class DirEntryWriterTests
{
    [Theory]
    [InlineData(1, 32)]
    [InlineData(7, 32)]
    [InlineData(8, 32)]
    [InlineData(9, 40)]
    [InlineData(255, 280)]
    public void Plain_records_are_24_bytes_plus_the_name_aligned_to_8(int nameLength, int recordSize)
    {
        var writer = new DirEntryWriter(new byte[4096], plus: false);
        Assert.True(writer.Add(Name(nameLength), 42, 8, 1));
        Assert.Equal(recordSize, writer.Length);
    }

    [Theory]
    [InlineData(1, 160)]
    [InlineData(8, 160)]
    [InlineData(9, 168)]
    [InlineData(255, 408)]
    public void Plus_records_are_152_bytes_plus_the_name_aligned_to_8(int nameLength, int recordSize)
    {
        var writer = new DirEntryWriter(new byte[4096], plus: true);
        Assert.True(writer.AddPlus(Name(nameLength), 8, 1, default));
        Assert.Equal(recordSize, writer.Length);
    }

    [Fact]
    public void A_plain_record_holds_the_dirent_the_name_and_zero_padding()
    {
        var buffer = Filled(4096, 0xEE);
        var writer = new DirEntryWriter(buffer, plus: false);
        Assert.True(writer.Add("abc"u8, 42, 4, 7));
        Assert.True(writer.Add("second"u8, 43, 8, 9));

        var first = MemoryMarshal.Read<FuseDirent>(buffer);
        Assert.Equal((42UL, 7UL, 3u, 4u), (first.Ino, first.Off, first.NameLen, first.Type));
        Assert.Equal("abc"u8.ToArray(), buffer[24..27]);
        Assert.All(buffer[27..32], b => Assert.Equal(0, b)); // padding is zeroed, not left over
        var second = MemoryMarshal.Read<FuseDirent>(buffer.AsSpan(32));
        Assert.Equal((43UL, 9UL, 6u, 8u), (second.Ino, second.Off, second.NameLen, second.Type));
        Assert.Equal("second"u8.ToArray(), buffer[56..62]);
        Assert.Equal(64, writer.Length);
        Assert.All(buffer[64..], b => Assert.Equal(0xEE, b)); // nothing written past Length
    }

    [Fact]
    public void A_plus_record_starts_with_the_entry_and_takes_its_inode_number()
    {
        var buffer = Filled(4096, 0xEE);
        var writer = new DirEntryWriter(buffer, plus: true);
        var entry = new FuseEntryOut { NodeId = 5, Generation = 1, EntryValid = 2, Attr = new FuseAttr { Ino = 77, Mode = 0x81a4 } };
        Assert.True(writer.AddPlus("f"u8, 8, 3, in entry));

        Assert.Equal(entry, MemoryMarshal.Read<FuseEntryOut>(buffer));
        var dirent = MemoryMarshal.Read<FuseDirent>(buffer.AsSpan(128));
        Assert.Equal((77UL, 3UL, 1u, 8u), (dirent.Ino, dirent.Off, dirent.NameLen, dirent.Type));
        Assert.Equal((byte)'f', buffer[152]);
        Assert.All(buffer[153..160], b => Assert.Equal(0, b));
        Assert.Equal(160, writer.Length);
    }

    [Fact]
    public void HasRoomFor_is_exact_at_the_end_of_the_buffer()
    {
        var writer = new DirEntryWriter(new byte[64], plus: false);
        Assert.True(writer.HasRoomFor(40)); // 24 + 40 = 64
        Assert.False(writer.HasRoomFor(41)); // 72 after alignment
        Assert.True(writer.Add(Name(8), 1, 8, 1)); // 32 bytes
        Assert.True(writer.HasRoomFor(8));
        Assert.False(writer.HasRoomFor(9));

        var plus = new DirEntryWriter(new byte[160], plus: true);
        Assert.True(plus.HasRoomFor(8));
        Assert.False(plus.HasRoomFor(9));
    }

    [Fact]
    public void A_full_buffer_refuses_the_record_and_stays_as_it_was()
    {
        var buffer = Filled(40, 0xEE);
        var writer = new DirEntryWriter(buffer, plus: false);
        Assert.True(writer.Add("a"u8, 1, 8, 1)); // 32 bytes
        var before = buffer.ToArray();
        Assert.False(writer.Add("b"u8, 2, 8, 2)); // needs 32 more, 8 left
        Assert.Equal(32, writer.Length);
        Assert.Equal(before, buffer);

        var empty = new DirEntryWriter([], plus: false);
        Assert.False(empty.HasRoomFor(1));
        Assert.False(empty.Add("a"u8, 1, 8, 1));
        Assert.Equal(0, empty.Length);
    }

    [Fact]
    public void Plain_and_plus_entries_cannot_be_mixed()
    {
        Assert.Throws<InvalidOperationException>(() => new DirEntryWriter(new byte[4096], plus: true).Add("a"u8, 1, 8, 1));
        Assert.Throws<InvalidOperationException>(() => new DirEntryWriter(new byte[4096], plus: false).AddPlus("a"u8, 8, 1, default));
    }

    private static byte[] Name(int length)
    {
        var name = new byte[length];
        Array.Fill(name, (byte)'n');
        return name;
    }

    private static byte[] Filled(int length, byte value)
    {
        var bytes = new byte[length];
        Array.Fill(bytes, value);
        return bytes;
    }
}
