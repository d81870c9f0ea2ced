using System.Collections.Concurrent;
using FASTER.core;

namespace Picojump.Fs.Cache.Internal;

/// <summary>
/// FASTER sessions are single-threaded: each operation rents one, uses it alone, and returns it.
/// The pool grows to the number of threads that touch the cache at once.
/// </summary>
internal sealed class SessionPool(FasterKV<SpanByte, SpanByte> store) : IDisposable
{
    private readonly ConcurrentBag<ClientSession<SpanByte, SpanByte, SpanByte, BlockReadOutput, Empty, BlockFunctions>> _idle = [];
    private readonly BlockFunctions _functions = new();

    public ClientSession<SpanByte, SpanByte, SpanByte, BlockReadOutput, Empty, BlockFunctions> Rent()
        => _idle.TryTake(out var session) ? session : store.For(_functions).NewSession<BlockFunctions>();

    public void Return(ClientSession<SpanByte, SpanByte, SpanByte, BlockReadOutput, Empty, BlockFunctions> session) => _idle.Add(session);

    public void Dispose()
    {
        while (_idle.TryTake(out var session))
        {
            session.Dispose();
        }
    }
}
