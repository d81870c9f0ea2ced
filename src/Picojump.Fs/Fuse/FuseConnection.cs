using System.Runtime.InteropServices;
using Picojump.Fs.Native;

namespace Picojump.Fs.Fuse;

/// <summary>
/// The negotiated kernel connection as a file system sees it: what INIT settled on, the
/// passthrough backing-file registry, and kernel notifications. Every write to the device
/// is one writev, which the kernel treats as one message, so all of this is thread-safe.
/// </summary>
public sealed unsafe class FuseConnection
{
    internal const uint BackingOpenIoctl = 0x4010e501; // _IOW(229, 1, struct fuse_backing_map)
    internal const uint BackingCloseIoctl = 0x4004e502; // _IOW(229, 2, uint32_t)

    internal FuseConnection(int deviceFd, uint protocolMinor, FuseInitFlags flags, uint maxWrite, uint maxRead)
    {
        DeviceFd = deviceFd;
        ProtocolMinor = protocolMinor;
        Flags = flags;
        MaxWrite = maxWrite;
        MaxRead = maxRead;
    }

    internal int DeviceFd { get; }

    /// <summary>The protocol minor both sides speak (7.x).</summary>
    public uint ProtocolMinor { get; }

    /// <summary>The capabilities both sides agreed on.</summary>
    public FuseInitFlags Flags { get; }

    public uint MaxWrite { get; }

    public uint MaxRead { get; }

    /// <summary>Whether opens may hand the kernel a backing file (FOPEN_PASSTHROUGH).</summary>
    public bool Passthrough => (Flags & FuseInitFlags.Passthrough) != 0;

    /// <summary>Registers <paramref name="fd"/> as a backing file; returns its id or an error.</summary>
    public Errno OpenBacking(int fd, out int backingId)
    {
        var map = new FuseBackingMap { Fd = fd };
        backingId = LibC.ioctl(DeviceFd, BackingOpenIoctl, &map);
        return backingId < 0 ? LibC.LastErrno : Errno.OK;
    }

    public void CloseBacking(int backingId)
    {
        var id = (uint)backingId;
        LibC.ioctl(DeviceFd, BackingCloseIoctl, &id);
    }

    /// <summary>
    /// Drops the kernel's cached data (from <paramref name="offset"/>, <paramref name="length"/>
    /// bytes; 0 means to the end) and attributes of a node. Never call from a request
    /// handler: the kernel may wait on that very request, so send from a worker.
    /// </summary>
    public Errno NotifyInvalInode(ulong nodeId, long offset, long length)
    {
        var body = new FuseNotifyInvalInodeOut { Ino = nodeId, Off = offset, Len = length };
        return Notify(FuseNotifyCode.InvalInode, MemoryMarshal.AsBytes(new ReadOnlySpan<FuseNotifyInvalInodeOut>(in body)), default);
    }

    /// <summary>Drops a cached name from a directory. Same rule as <see cref="NotifyInvalInode"/>.</summary>
    public Errno NotifyInvalEntry(ulong parent, ReadOnlySpan<byte> name)
    {
        var body = new FuseNotifyInvalEntryOut { Parent = parent, NameLen = (uint)name.Length };
        return Notify(FuseNotifyCode.InvalEntry, MemoryMarshal.AsBytes(new ReadOnlySpan<FuseNotifyInvalEntryOut>(in body)), name);
    }

    private Errno Notify(FuseNotifyCode code, ReadOnlySpan<byte> body, ReadOnlySpan<byte> name)
    {
        byte nul = 0;
        var header = new FuseOutHeader { Error = (int)code, Unique = 0 };
        fixed (byte* b = body, n = name)
        {
            var iov = stackalloc IoVec[4];
            iov[0] = new IoVec { Base = &header, Length = (nuint)sizeof(FuseOutHeader) };
            iov[1] = new IoVec { Base = b, Length = (nuint)body.Length };
            var count = 2;
            if (!name.IsEmpty)
            {
                iov[2] = new IoVec { Base = n, Length = (nuint)name.Length };
                iov[3] = new IoVec { Base = &nul, Length = 1 };
                count = 4;
            }
            header.Len = (uint)(sizeof(FuseOutHeader) + body.Length + (name.IsEmpty ? 0 : name.Length + 1));
            return LibC.writev(DeviceFd, iov, count) < 0 ? LibC.LastErrno : Errno.OK;
        }
    }

    /// <summary>Sends a reply made of the header and up to two payload pieces.</summary>
    internal Errno Reply(ulong unique, Errno error, ReadOnlySpan<byte> first, ReadOnlySpan<byte> second = default)
    {
        var header = new FuseOutHeader { Unique = unique, Error = -(int)error };
        if (error != Errno.OK)
        {
            first = default;
            second = default;
        }
        header.Len = (uint)(sizeof(FuseOutHeader) + first.Length + second.Length);
        fixed (byte* a = first, b = second)
        {
            var iov = stackalloc IoVec[3];
            iov[0] = new IoVec { Base = &header, Length = (nuint)sizeof(FuseOutHeader) };
            iov[1] = new IoVec { Base = a, Length = (nuint)first.Length };
            iov[2] = new IoVec { Base = b, Length = (nuint)second.Length };
            return LibC.writev(DeviceFd, iov, 3) < 0 ? LibC.LastErrno : Errno.OK;
        }
    }

    internal Errno Reply<T>(ulong unique, in T value) where T : unmanaged
        => Reply(unique, Errno.OK, MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value)));
}
