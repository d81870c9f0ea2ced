using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Picojump.Fs.Native;

namespace Picojump.Fs.Fuse;

/// <summary>
/// Serves one FUSE mount: reader threads take requests from /dev/fuse, decode them
/// (<see cref="FuseServer"/>.Dispatch.cs) and answer with one writev each. Knows the kernel
/// protocol and nothing of what the file system behind <see cref="IFuseFileSystem"/> does.
/// </summary>
public sealed unsafe partial class FuseServer : IDisposable
{
    private const uint OldestMinor = 31; // 5.10's protocol: MAX_PAGES, CACHE_SYMLINKS, fuse_init_out as today
    private const uint NewestMinor = 45;
    private static readonly TimeSpan LockWaitGrace = TimeSpan.FromSeconds(2);

    private readonly FuseMount _mount;
    private readonly IFuseFileSystem _fs;
    private readonly FuseServerOptions _options;
    private readonly ILogger _logger;
    private readonly BufferPool _buffers;
    private const int MaxEarlyInterrupts = 1024;

    private readonly ConcurrentDictionary<ulong, CancellationTokenSource> _interruptible = new();
    private readonly ConcurrentDictionary<ulong, byte> _earlyInterrupts = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private FuseConnection _connection;
    private int _running;
    private int _idle;
    private int _nextReaderId;

    public FuseServer(FuseMount mount, IFuseFileSystem fs, FuseServerOptions options, ILogger logger)
    {
        _mount = mount;
        _fs = fs;
        _options = options;
        _logger = logger;
        // A read must hold the largest WRITE request: header, write_in and the payload.
        _buffers = new BufferPool((int)options.MaxWrite + 4096);
        _connection = new FuseConnection(mount.DeviceFd, 0, FuseInitFlags.None, 0, 0);
    }

    /// <summary>The negotiated connection; valid once INIT has been answered.</summary>
    public FuseConnection Connection => _connection;

    /// <summary>Completes when every reader has stopped: the mount is gone or aborted.</summary>
    public Task Completion => _completion.Task;

    public void Start()
    {
        for (var i = 0; i < _options.ReaderThreads; i++)
            StartReader();
    }

    /// <summary>Readers now running, the ones started on demand included (for tests and status).</summary>
    public int Readers => Volatile.Read(ref _running);

    private void StartReader()
    {
        Interlocked.Increment(ref _running);
        Interlocked.Increment(ref _idle);
        var thread = new Thread(ReaderLoop) { IsBackground = true, Name = $"fuse-reader-{Interlocked.Increment(ref _nextReaderId)}" };
        thread.Start();
    }

    /// <summary>
    /// Unmounts and waits for the readers. If processes still hold files under the mount,
    /// the connection is aborted after <paramref name="grace"/> so nothing hangs.
    /// </summary>
    public void Stop(TimeSpan grace)
    {
        _mount.Unmount();
        if (!_completion.Task.Wait(grace))
        {
            _logger.LogWarning("Files under {Mountpoint} are still open; aborting the FUSE connection", _mount.Mountpoint);
            _mount.Abort();
            _completion.Task.Wait(grace);
        }
    }

    public void Dispose()
    {
        // Lock waits run on threads of their own and answer when cancelled: let them finish
        // here, before the owner closes the device they would otherwise still write to.
        foreach (var cts in _interruptible.Values)
        {
            try
            {
                cts.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // That wait ended meanwhile.
            }
        }
        if (!SpinWait.SpinUntil(() => _interruptible.IsEmpty, LockWaitGrace))
            _logger.LogWarning("{Count} lock waits did not end on cancellation", _interruptible.Count);
        if (_completion.Task.IsCompleted)
            _buffers.Dispose();
    }

    private void ReaderLoop()
    {
        var input = _buffers.Rent();
        var output = _buffers.Rent();
        try
        {
            while (true)
            {
                var n = LibC.read(_mount.DeviceFd, input, (nuint)_buffers.BufferSize);
                if (n < 0)
                {
                    var errno = LibC.LastErrno;
                    if (errno is Errno.EINTR or Errno.EAGAIN or Errno.ENOENT)
                        continue; // ENOENT: the request was interrupted before we read it
                    if (errno is not (Errno.ENODEV or Errno.EBADF))
                        _logger.LogError("Reading /dev/fuse failed: {Errno}", errno);
                    break; // ENODEV: unmounted or aborted
                }
                if (n == 0)
                    break; // end of a test socket; the real device never returns 0
                // The last idle reader takes a request: start another, so that a request that
                // waits (a remote call to a slow peer) never leaves the mount without a reader.
                if (Interlocked.Decrement(ref _idle) == 0 && Volatile.Read(ref _running) < _options.MaxReaderThreads)
                    StartReader();
                Handle(new Span<byte>(input, (int)n), output);
                // Readers started on demand go away once the base number is idle again.
                if (Interlocked.Increment(ref _idle) > _options.ReaderThreads)
                {
                    Interlocked.Decrement(ref _idle);
                    break;
                }
            }
        }
        finally
        {
            _buffers.Return(input);
            _buffers.Return(output);
            if (Interlocked.Decrement(ref _running) == 0)
                _completion.TrySetResult();
        }
    }

    private void Handle(Span<byte> request, byte* output)
    {
        if (request.Length < sizeof(FuseInHeader))
        {
            _logger.LogWarning("Dropped a {Length}-byte request shorter than its header", request.Length);
            return;
        }
        ref readonly var header = ref MemoryMarshal.AsRef<FuseInHeader>(request);
        var extensions = header.TotalExtLen * 8;
        if (header.Len != request.Length || sizeof(FuseInHeader) + extensions > request.Length)
        {
            _logger.LogWarning("Malformed {Opcode} request: length {Declared} but {Read} bytes read", header.Opcode, header.Len, request.Length);
            Reply(header.Unique, Errno.EINVAL);
            return;
        }
        var payload = request[sizeof(FuseInHeader)..^extensions];
        try
        {
            Dispatch(in header, payload, output);
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "{Opcode} on node {NodeId} failed", header.Opcode, header.NodeId);
            if (header.Opcode is not (FuseOpcode.Forget or FuseOpcode.BatchForget))
                Reply(header.Unique, Errno.EIO);
        }
    }

    private void HandleInit(in FuseInHeader header, ReadOnlySpan<byte> payload)
    {
        if (payload.Length < 16)
        {
            Reply(header.Unique, Errno.EINVAL);
            return;
        }
        var init = default(FuseInitIn);
        payload[..Math.Min(payload.Length, sizeof(FuseInitIn))].CopyTo(new Span<byte>(&init, sizeof(FuseInitIn)));
        if (init.Major > 7)
        {
            // Newer major: answer with ours and the kernel asks again in 7.x.
            var major = new FuseInitOut { Major = 7, Minor = NewestMinor };
            _connection.Reply(header.Unique, in major);
            return;
        }
        if (init.Major < 7 || init.Minor < OldestMinor)
        {
            _logger.LogError("The kernel speaks FUSE {Major}.{Minor}; Picojump needs 7.{Oldest} or newer", init.Major, init.Minor, OldestMinor);
            Reply(header.Unique, Errno.EPROTO);
            return;
        }

        var offered = (FuseInitFlags)init.Flags;
        if ((offered & FuseInitFlags.InitExt) != 0)
            offered |= (FuseInitFlags)((ulong)init.Flags2 << 32);
        var wanted = FuseInitFlags.AsyncRead | FuseInitFlags.PosixLocks | FuseInitFlags.FlockLocks
            | FuseInitFlags.AtomicOTrunc | FuseInitFlags.BigWrites | FuseInitFlags.AutoInvalData
            | FuseInitFlags.DoReaddirplus | FuseInitFlags.ReaddirplusAuto | FuseInitFlags.AsyncDio
            | FuseInitFlags.ParallelDirops | FuseInitFlags.MaxPages | FuseInitFlags.CacheSymlinks
            | FuseInitFlags.HandleKillprivV2 | FuseInitFlags.InitExt;
        if (_options.Passthrough)
            wanted |= FuseInitFlags.Passthrough;
        var agreed = offered & wanted;

        var maxPages = (ushort)(_options.MaxWrite / 4096);
        var reply = new FuseInitOut
        {
            Major = 7,
            Minor = Math.Min(init.Minor, NewestMinor),
            MaxReadahead = init.MaxReadahead,
            Flags = (uint)agreed,
            Flags2 = (uint)((ulong)agreed >> 32),
            MaxBackground = _options.MaxBackground,
            CongestionThreshold = (ushort)(_options.MaxBackground * 3 / 4),
            MaxWrite = _options.MaxWrite,
            TimeGran = 1,
            MaxPages = maxPages,
            // Passthrough needs a stack depth; 1 means our backing files are not FUSE files.
            MaxStackDepth = (agreed & FuseInitFlags.Passthrough) != 0 ? 1u : 0u,
        };
        _connection = new FuseConnection(_mount.DeviceFd, reply.Minor, agreed, _options.MaxWrite, (uint)maxPages * 4096);
        _fs.Init(_connection);
        _logger.LogInformation("FUSE 7.{Minor} negotiated: {Flags}", reply.Minor, agreed);
        _connection.Reply(header.Unique, in reply);
    }

    private void Reply(ulong unique, Errno error) => ReplyChecked(_connection.Reply(unique, error, default));

    private void Reply<T>(ulong unique, Errno error, in T value) where T : unmanaged
        => ReplyChecked(error == Errno.OK ? _connection.Reply(unique, in value) : _connection.Reply(unique, error, default));

    private void Reply(ulong unique, Errno error, ReadOnlySpan<byte> first, ReadOnlySpan<byte> second = default)
        => ReplyChecked(_connection.Reply(unique, error, first, second));

    private void ReplyChecked(Errno result)
    {
        // ENOENT: the request was interrupted and the kernel no longer waits for it.
        if (result is not (Errno.OK or Errno.ENOENT or Errno.ENODEV))
            _logger.LogWarning("Writing a reply to /dev/fuse failed: {Errno}", result);
    }
}
