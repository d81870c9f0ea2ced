using System.Runtime.InteropServices;
using Picojump.Fs.Fuse;
using Xunit.Abstractions;
using static Picojump.Tests.Protocol.FuzzTests;

namespace Picojump.Tests.Protocol;

/// <summary>
/// What the fuzz sent and what came back: at most one reply per request, none for what the
/// kernel never waits on, each of the size its opcode answers with; and a tally of outcomes.
/// </summary>
internal sealed class FuzzLedger
{
    private readonly Dictionary<ulong, (byte[] Message, Expect Expect, int Index)> _sent = [];
    private readonly HashSet<ulong> _answered = [];
    private readonly Dictionary<string, int> _outcomes = new(StringComparer.Ordinal);
    private int _count;

    /// <summary>SETLKW requests not answered yet: they wait for a lock the noise may hold.</summary>
    public HashSet<ulong> WaitingLocks { get; } = [];

    public void Sent(byte[] message, Expect expect)
    {
        var index = _count++;
        if (message.Length < Marshal.SizeOf<FuseInHeader>())
            return; // no unique to answer to
        var header = MemoryMarshal.Read<FuseInHeader>(message);
        _sent[header.Unique] = (message, expect, index);
        if (header.Opcode == FuseOpcode.SetLkW && expect == Expect.MaybeLater)
            WaitingLocks.Add(header.Unique);
    }

    public void Received(FuseReply reply)
    {
        Assert.True(_sent.TryGetValue(reply.Unique, out var request), $"a reply to a request never sent: {reply}");
        var (message, expect, index) = request;
        Assert.True(expect != Expect.Never, $"request {index} ({Describe(message)}) must get no reply, got {reply}");
        Assert.True(_answered.Add(reply.Unique), $"request {index} ({Describe(message)}) answered twice, now {reply}");
        WaitingLocks.Remove(reply.Unique);
        var header = MemoryMarshal.Read<FuseInHeader>(message);
        CheckReplySize(header, message, reply, index);
        var opcode = Enum.IsDefined(header.Opcode) ? header.Opcode.ToString() : "(unknown)";
        var outcome = $"{opcode} {(reply.RawError == 0 ? "OK" : reply.Errno.ToString())}";
        _outcomes[outcome] = _outcomes.GetValueOrDefault(outcome) + 1;
    }

    /// <summary>Whether <paramref name="message"/> needs a reply that has not come yet.</summary>
    public bool IsUnanswered(byte[] message)
    {
        if (message.Length < Marshal.SizeOf<FuseInHeader>())
            return false;
        var unique = MemoryMarshal.Read<FuseInHeader>(message).Unique;
        return _sent[unique].Expect == Expect.Reply && !_answered.Contains(unique);
    }

    public void AssertAnswered(byte[] message)
        => Assert.False(IsUnanswered(message), $"request {_count - 1} ({Describe(message)}) got no reply: the kernel would wait forever");

    /// <summary>Logs what the noise reached; a fuzz that only ever met EINVAL would prove little.</summary>
    public void Report(ITestOutputHelper output, int requests)
    {
        output.WriteLine(string.Join("\n", _outcomes.OrderBy(o => o.Key, StringComparer.Ordinal).Select(o => $"{o.Key}: {o.Value}")));
        var succeeded = _outcomes.Where(o => o.Key.EndsWith(" OK", StringComparison.Ordinal)).Sum(o => o.Value);
        Assert.True(succeeded > requests / 10, $"only {succeeded} of {requests} requests succeeded: the noise hardly got past decoding");
    }
}
