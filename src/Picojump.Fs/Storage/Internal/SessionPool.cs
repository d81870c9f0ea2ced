using System.Collections.Concurrent;
using FASTER.core;

namespace Picojump.Fs.Storage.Internal;

/// <summary>
/// FASTER sessions are single-threaded: each operation rents one, uses it alone, and returns it.
/// The pool grows to the number of threads that touch the store at once.
/// </summary>
internal sealed class SessionPool(FasterKV<SpanByte, SpanByte> store, RecordFunctions functions) : IDisposable
{
    private readonly ConcurrentBag<ClientSession<SpanByte, SpanByte, SpanByte, ReadOutput, long, RecordFunctions>> _idle = [];

    public ClientSession<SpanByte, SpanByte, SpanByte, ReadOutput, long, RecordFunctions> Rent()
        => _idle.TryTake(out var session) ? session : store.For(functions).NewSession<RecordFunctions>();

    public void Return(ClientSession<SpanByte, SpanByte, SpanByte, ReadOutput, long, RecordFunctions> session) => _idle.Add(session);

    public void Dispose()
    {
        while (_idle.TryTake(out var session))
        {
            session.Dispose();
        }
    }
}
