using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace Picojump.Fs.Fuse;

/// <summary>
/// Page-aligned native buffers of one size for request and reply data. Native memory never
/// moves, so syscalls take pointers into it without pinning.
/// </summary>
public sealed unsafe class BufferPool : IDisposable
{
    private const int PageSize = 4096;
    private readonly ConcurrentBag<nint> _free = new();
    private readonly ConcurrentBag<nint> _all = new();

    public BufferPool(int bufferSize)
    {
        BufferSize = (bufferSize + PageSize - 1) / PageSize * PageSize;
    }

    public int BufferSize { get; }

    public byte* Rent()
    {
        if (_free.TryTake(out var buffer))
            return (byte*)buffer;
        var fresh = (byte*)NativeMemory.AlignedAlloc((nuint)BufferSize, PageSize);
        _all.Add((nint)fresh);
        return fresh;
    }

    public void Return(byte* buffer) => _free.Add((nint)buffer);

    public void Dispose()
    {
        foreach (var buffer in _all)
            NativeMemory.AlignedFree((void*)buffer);
        _all.Clear();
        _free.Clear();
    }
}
