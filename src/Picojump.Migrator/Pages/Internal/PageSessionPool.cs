using System.Collections.Concurrent;
using FASTER.core;

namespace Picojump.Migrator.Pages.Internal;

/// <summary>
/// FASTER sessions are single-threaded: each operation rents one, uses it alone, and returns it.
/// The pool grows to the number of threads that touch the store at once.
/// </summary>
internal sealed class PageSessionPool(FasterKV<SpanByte, SpanByte> store) : IDisposable
{
    private readonly ConcurrentBag<ClientSession<SpanByte, SpanByte, SpanByte, PageReadOutput, long, PageFunctions>> _idle = [];
    private readonly PageFunctions _functions = new();

    public ClientSession<SpanByte, SpanByte, SpanByte, PageReadOutput, long, PageFunctions> Rent()
        => _idle.TryTake(out var session) ? session : store.For(_functions).NewSession<PageFunctions>();

    public void Return(ClientSession<SpanByte, SpanByte, SpanByte, PageReadOutput, long, PageFunctions> session) => _idle.Add(session);

    public void Dispose()
    {
        while (_idle.TryTake(out var session))
        {
            session.Dispose();
        }
    }
}
