using System.Runtime.InteropServices;
using System.Text;
using Picojump.Fs.Fuse;
using Picojump.Fs.Native;

namespace Picojump.Tests.Protocol;

/// <summary>One reply from the server: fuse_out_header and what follows it.</summary>
internal sealed class FuseReply(ulong unique, int error, byte[] payload)
{
    public ulong Unique { get; } = unique;

    /// <summary>The header's error: 0 or a negated errno.</summary>
    public int RawError { get; } = error;

    public Errno Errno => (Errno)(-RawError);

    public byte[] Payload { get; } = payload;

    /// <summary>The payload as one struct; the reply must be a success of exactly that size.</summary>
    public T As<T>() where T : unmanaged
    {
        AssertOk();
        Assert.True(Payload.Length == Marshal.SizeOf<T>(), $"reply {Unique}: {Payload.Length} bytes, a {typeof(T).Name} has {Marshal.SizeOf<T>()}");
        return MemoryMarshal.Read<T>(Payload);
    }

    public FuseReply AssertOk()
    {
        Assert.True(RawError == 0, $"reply {Unique}: expected success, got {Errno} ({RawError})");
        return this;
    }

    public void AssertError(Errno expected)
    {
        Assert.True(RawError == -(int)expected, $"reply {Unique}: expected {expected}, got {(RawError == 0 ? "success" : Errno.ToString())}");
        Assert.True(Payload.Length == 0, $"reply {Unique}: an error reply carries no payload, this one {Payload.Length} bytes");
    }

    public override string ToString() => $"unique {Unique}: {(RawError == 0 ? "OK" : Errno.ToString())}, {Payload.Length} bytes";
}

/// <summary>
/// The kernel's side of the FUSE protocol over a SOCK_SEQPACKET socket: builds requests
/// (header, structs, NUL-terminated names) and reads replies with a timeout, so a test
/// fails with a message instead of hanging. Replies that arrive for another request than
/// the one awaited are kept for later.
/// </summary>
internal sealed unsafe partial class FuseTestClient : IDisposable
{
    public static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(10);

    private readonly int _fd;
    private readonly byte[] _buffer = new byte[4 << 20];
    private readonly Dictionary<ulong, FuseReply> _early = [];
    private readonly Dictionary<ulong, FuseOpcode> _sent = [];
    private ulong _nextUnique = 100;

    public FuseTestClient(int fd) => _fd = fd;

    /// <summary>The largest message this socket can carry.</summary>
    public int MaxMessage => SocketNative.SendBufferSize(_fd);

    /// <summary>Replies read while waiting for another one and not yet claimed.</summary>
    public IReadOnlyCollection<FuseReply> Unclaimed => _early.Values;

    /// <summary>Claims every reply read while waiting for another one.</summary>
    public List<FuseReply> TakeUnclaimed()
    {
        var replies = _early.Values.ToList();
        _early.Clear();
        return replies;
    }

    public static byte[] Bytes<T>(in T value) where T : unmanaged
        => MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value)).ToArray();

    /// <summary>A name as the kernel sends it: the bytes and a NUL.</summary>
    public static byte[] Name(string name) => [.. Encoding.UTF8.GetBytes(name), 0];

    public ulong NewUnique() => _nextUnique += 2;

    /// <summary>Sends header + payload; <paramref name="declaredLength"/> lies about the length when set.</summary>
    public ulong Send(FuseOpcode opcode, ulong nodeId, ReadOnlySpan<byte> payload, uint? declaredLength = null, ulong? unique = null, uint uid = 0, uint gid = 0)
    {
        var header = new FuseInHeader
        {
            Len = declaredLength ?? (uint)(sizeof(FuseInHeader) + payload.Length),
            Opcode = opcode,
            Unique = unique ?? NewUnique(),
            NodeId = nodeId,
            Uid = uid,
            Gid = gid,
            Pid = (uint)Environment.ProcessId,
        };
        SendRaw([.. Bytes(in header), .. payload]);
        _sent[header.Unique] = opcode;
        return header.Unique;
    }

    /// <summary>Sends bytes as one message, exactly as given.</summary>
    public void SendRaw(ReadOnlySpan<byte> message)
    {
        fixed (byte* p = message)
        {
            var n = LibC.write(_fd, p, (nuint)message.Length);
            Assert.True(n == message.Length, $"sending a {message.Length}-byte request failed: {(n < 0 ? LibC.LastErrno.ToString() : $"{n} bytes sent")}");
        }
    }

    /// <summary>The reply to <paramref name="unique"/>; fails the test if none comes in time.</summary>
    public FuseReply Receive(ulong unique, TimeSpan? timeout = null)
    {
        if (_early.Remove(unique, out var early))
            return early;
        var deadline = DateTime.UtcNow + (timeout ?? ReplyTimeout);
        while (true)
        {
            var reply = TryReceiveAny(deadline - DateTime.UtcNow);
            if (reply == null)
                Assert.Fail($"no reply to request {unique} ({OpcodeOf(unique)}) within {(timeout ?? ReplyTimeout).TotalSeconds} s; the server is hung or dropped it");
            if (reply.Unique == unique)
                return reply;
            Assert.False(_early.ContainsKey(reply.Unique), $"two replies to request {reply.Unique} ({OpcodeOf(reply.Unique)})");
            _early[reply.Unique] = reply;
        }
    }

    /// <summary>The next message from the server, or null if none comes within <paramref name="timeout"/>.</summary>
    public FuseReply? TryReceiveAny(TimeSpan timeout) => TryReceiveMessage(timeout, notification: false);

    /// <summary>The next message, which must be a notification (unique 0; Error holds the code).</summary>
    public FuseReply ReceiveNotification()
    {
        var message = TryReceiveMessage(ReplyTimeout, notification: true);
        Assert.True(message != null, $"no notification within {ReplyTimeout.TotalSeconds} s");
        return message;
    }

    private FuseReply? TryReceiveMessage(TimeSpan timeout, bool notification)
    {
        if (timeout < TimeSpan.Zero || !SocketNative.WaitReadable(_fd, timeout))
            return null;
        nint n;
        fixed (byte* b = _buffer)
            n = LibC.read(_fd, b, (nuint)_buffer.Length);
        Assert.True(n >= 0, $"reading a reply failed: {LibC.LastErrno}");
        Assert.True(n >= sizeof(FuseOutHeader), $"the server sent a {n}-byte message, shorter than fuse_out_header");
        var header = MemoryMarshal.Read<FuseOutHeader>(_buffer);
        Assert.True(header.Len == n, $"reply {header.Unique}: header says {header.Len} bytes, the message has {n}");
        if (notification)
        {
            Assert.True(header.Unique == 0, $"expected a notification, got reply {header.Unique}");
        }
        else
        {
            Assert.True(header.Error is <= 0 and > -4096, $"reply {header.Unique}: error {header.Error} is no negated errno");
            Assert.True(header.Unique != 0, "the server sent a notification (unique 0), which no test asked for");
        }
        return new FuseReply(header.Unique, header.Error, _buffer.AsSpan(sizeof(FuseOutHeader), (int)n - sizeof(FuseOutHeader)).ToArray());
    }

    /// <summary>Sends a request and waits for its reply.</summary>
    public FuseReply Call(FuseOpcode opcode, ulong nodeId, ReadOnlySpan<byte> payload, uint uid = 0, uint gid = 0)
        => Receive(Send(opcode, nodeId, payload, uid: uid, gid: gid));

    /// <summary>
    /// Proves that nothing answered the requests sent so far: with one reader thread the
    /// server handles requests in order, so once a GETATTR sent now is answered, any reply
    /// to an earlier request would have come first.
    /// </summary>
    public void AssertNothingAnsweredBefore(string what)
    {
        var sync = Send(FuseOpcode.GetAttr, FuseConstants.RootNodeId, Bytes(new FuseGetAttrIn()));
        var reply = TryReceiveAny(ReplyTimeout);
        Assert.True(reply != null, $"no reply to the GETATTR sent after {what}: the server is hung");
        Assert.True(reply.Unique == sync, $"{what} was answered ({reply}), but it should have been dropped");
        reply.AssertOk();
    }

    private string OpcodeOf(ulong unique) => _sent.TryGetValue(unique, out var opcode) ? opcode.ToString() : "?";

    public void Dispose() => LibC.close(_fd);
}
