namespace Picojump.Fs.Fuse;

/// <summary>How a <see cref="FuseServer"/> serves its mount.</summary>
public sealed class FuseServerOptions
{
    /// <summary>
    /// Threads blocked in read(2) on the device; each serves one request at a time. The
    /// kernel wakes waiting readers in turn, so every extra idle thread makes a sequential
    /// caller hop threads more often: on 2 cores, 2 readers answered a stat 20% faster than
    /// 4 (1 was faster still, but lets one slow request stall the mount).
    /// </summary>
    public int ReaderThreads { get; init; } = Math.Clamp(Environment.ProcessorCount, 2, 8);

    /// <summary>
    /// Readers started on demand when every reader is busy (requests that wait on a peer), and
    /// stopped again once idle: the go-fuse model, so slow requests never starve fast ones.
    /// </summary>
    public int MaxReaderThreads { get; init; } = 64;

    /// <summary>Largest WRITE payload asked for; 1 MiB is the kernel's default page limit (256).</summary>
    public uint MaxWrite { get; init; } = 1 << 20;

    /// <summary>Ask for FUSE passthrough when the kernel offers it.</summary>
    public bool Passthrough { get; init; } = true;

    /// <summary>Background requests (read-ahead, async direct I/O) the kernel keeps in flight.</summary>
    public ushort MaxBackground { get; init; } = 64;
}
