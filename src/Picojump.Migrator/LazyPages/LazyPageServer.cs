using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Picojump.Migrator.Images;

namespace Picojump.Migrator.LazyPages;

/// <summary>
/// What a <see cref="LazyPageServer"/> has done so far, and when: time spent getting pages from
/// its source, waiting for the client's next request (CRIU copying the last reply into the job),
/// and the single-page requests (the job's faults, mostly) with their time in the source.
/// </summary>
public readonly record struct LazyPageServerStats(
    long Connections,
    long Requests,
    long PagesServed,
    TimeSpan? FirstRequest,
    TimeSpan? LastReply,
    TimeSpan? Closed,
    TimeSpan InSource,
    TimeSpan AwaitingClient,
    long SinglePageRequests,
    TimeSpan SinglePagesInSource);

/// <summary>
/// Picojump's page server on the destination host of a hybrid migration: the server that
/// <c>criu lazy-pages --page-server --address A --port P</c> asks for every page of the restored
/// job's lazy memory, speaking CRIU 4.1's page-server protocol (see <see cref="PageServerIov"/>),
/// and answering from an <see cref="ILazyPageSource"/> instead of a frozen process.
///
/// The protocol as the lazy-pages daemon of CRIU 4.1.1 uses it (criu/uffd.c, criu/page-xfer.c):
/// it connects once, after <c>criu restore --lazy-pages</c> has handed it the tasks'
/// userfaultfds, and sends no handshake. Each request is a 24-byte header
/// <c>{cmd = PS_IOV_GET (7), nr_pages, vaddr, dst_id = the task's virtual pid}</c>, sent
/// without waiting for earlier replies: faults first, then the background fill in chunks of
/// 64 KiB growing to 4 MiB. The daemon matches replies to requests in order, so this server
/// answers each connection's requests one after another: a header
/// <c>{cmd = PS_IOV_ADD_F | PE_PRESENT &lt;&lt; 16, nr_pages = n, vaddr, dst_id}</c> with the
/// request's vaddr and dst_id and n &lt;= nr_pages, then n pages of raw bytes; the daemon asks
/// again for any rest. Like CRIU's server, it closes the connection when it has none of the
/// pages asked for (the daemon then fails; the job's memory is not there to be had). When
/// every page is in, the daemon sends <c>PS_IOV_CLOSE</c> (0x1023) and waits for an int32
/// status, 0; <see cref="Completion"/> then finishes: the job is wholly resident and its source
/// copy may go. Dump-side commands (OPEN2, ADD_F with pages, PARENT) are not served: this
/// server only serves reads.
/// </summary>
public sealed class LazyPageServer : IAsyncDisposable
{
    /// <summary>CRIU's lazy-pages daemon asks for at most 4 MiB at a time; anything far larger is a foreign client.</summary>
    public const int MaxPagesPerRequest = 1 << 16;

    private readonly ILazyPageSource _source;
    private readonly ILogger _logger;
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<Task> _connections = [];
    private Task? _acceptLoop;
    private long _connectionCount;
    private long _requests;
    private long _pagesServed;
    private long _firstRequestTicks = -1;
    private long _lastReplyTicks = -1;
    private long _closedTicks = -1;
    private long _sourceTicks;
    private long _clientTicks;
    private long _singlePageRequests;
    private long _singlePageTicks;

    public LazyPageServer(ILazyPageSource source, IPEndPoint endpoint, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        _source = source;
        _logger = logger ?? NullLogger.Instance;
        _listener = new TcpListener(endpoint);
    }

    /// <summary>Where the server listens; with port 0 asked, the port the system chose.</summary>
    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndpoint;

    /// <summary>Finishes when a client closed its session with PS_IOV_CLOSE; faults if a session broke first (including a client that left without PS_IOV_CLOSE).</summary>
    public Task Completion => _completion.Task;

    /// <summary>Counts and times, measured from the moment the server started.</summary>
    public LazyPageServerStats Stats => new(
        Interlocked.Read(ref _connectionCount),
        Interlocked.Read(ref _requests),
        Interlocked.Read(ref _pagesServed),
        Elapsed(ref _firstRequestTicks),
        Elapsed(ref _lastReplyTicks),
        Elapsed(ref _closedTicks),
        TimeSpan.FromTicks(Interlocked.Read(ref _sourceTicks)),
        TimeSpan.FromTicks(Interlocked.Read(ref _clientTicks)),
        Interlocked.Read(ref _singlePageRequests),
        TimeSpan.FromTicks(Interlocked.Read(ref _singlePageTicks)));

    public void Start()
    {
        _listener.Start();
        _clock.Restart();
        // Accepting and serving run on threads of their own, so that a busy thread pool (a
        // daemon's, or a test's blocked on a child process) cannot delay a fault's first page.
        _acceptLoop = Task.Factory.StartNew(() => Accept(_stop.Token), _stop.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        if (_acceptLoop != null)
        {
            await _acceptLoop.ConfigureAwait(false);
        }
        Task[] connections;
        lock (_connections)
        {
            connections = [.. _connections];
        }
        await Task.WhenAll(connections).ConfigureAwait(false);
        _completion.TrySetCanceled();
        _stop.Dispose();
    }

    private void Accept(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                // Stopping the listener ends a blocked accept.
                socket = _listener.AcceptSocket();
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            Interlocked.Increment(ref _connectionCount);
            lock (_connections)
            {
                _connections.RemoveAll(t => t.IsCompleted);
                // A session of its own thread: the page source may block (the page store waits for
                // its disk reads, whose completions need the thread pool), and a pool thread
                // blocked here would stall the very completions it waits for.
                _connections.Add(Task.Factory.StartNew(() => Serve(socket, cancellationToken), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default));
            }
        }
    }

    private void Serve(Socket socket, CancellationToken cancellationToken)
    {
        var peer = socket.RemoteEndPoint;
        // Stopping the server closes the socket, which ends a blocked read.
        using var stopping = cancellationToken.Register(socket.Dispose);
        try
        {
            using (socket)
            {
                socket.NoDelay = true;
                using var stream = new NetworkStream(socket, ownsSocket: false);
                Serve(stream, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The server is stopping.
        }
        catch (Exception ex) when (cancellationToken.IsCancellationRequested && ex is IOException or SocketException or ObjectDisposedException)
        {
            // The server is stopping.
        }
        catch (Exception ex)
        {
            // Whatever broke the session (the network, a page source that failed or refused a
            // page), the job's memory is not all in: say so to whoever waits for Completion.
            _logger.LogError(ex, "page-server session with {Peer} failed", peer);
            _completion.TrySetException(ex);
        }
    }

    private void Serve(NetworkStream stream, CancellationToken cancellationToken)
    {
        var header = new byte[PageServerIov.Size];
        byte[] reply = [];
        while (true)
        {
            var waiting = _clock.Elapsed.Ticks;
            var read = stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
            Interlocked.Add(ref _clientTicks, _clock.Elapsed.Ticks - waiting);
            if (read == 0)
            {
                // The lazy-pages daemon died or gave up: the job's memory is not all in.
                throw new IOException("the client closed the connection without PS_IOV_CLOSE");
            }
            if (read < header.Length)
            {
                throw new InvalidDataException($"the client closed the connection within a header ({read} of {header.Length} bytes)");
            }
            var request = PageServerIov.ReadFrom(header);
            switch (request.Command)
            {
                case PageServerCommand.Get:
                    Interlocked.CompareExchange(ref _firstRequestTicks, _clock.Elapsed.Ticks, -1);
                    Interlocked.Increment(ref _requests);
                    if (request.PageCount == 0 || request.PageCount > MaxPagesPerRequest)
                    {
                        throw new InvalidDataException($"a request for {request.PageCount} pages: {request}");
                    }
                    var length = PageServerIov.Size + ((int)request.PageCount * Pagemap.PageSize);
                    if (reply.Length < length)
                    {
                        reply = new byte[length];
                    }
                    var asked = _clock.Elapsed.Ticks;
                    var pending = _source.ReadAsync(request.DstId, request.Vaddr, (int)request.PageCount, reply.AsMemory(PageServerIov.Size), cancellationToken);
                    var pages = pending.IsCompletedSuccessfully ? pending.Result : pending.AsTask().GetAwaiter().GetResult();
                    Interlocked.Add(ref _sourceTicks, _clock.Elapsed.Ticks - asked);
                    if (request.PageCount == 1)
                    {
                        // Mostly the job's own faults (CRIU's background requests are larger): what the job waits for.
                        Interlocked.Increment(ref _singlePageRequests);
                        Interlocked.Add(ref _singlePageTicks, _clock.Elapsed.Ticks - asked);
                    }
                    if (pages <= 0)
                    {
                        // CRIU's own server does the same; the lazy-pages daemon cannot go on without these pages.
                        throw new InvalidDataException($"no page to answer {request}");
                    }
                    PageServerIov.Reply(request.DstId, request.Vaddr, (uint)pages).WriteTo(reply);
                    stream.Write(reply, 0, PageServerIov.Size + (pages * Pagemap.PageSize));
                    Interlocked.Add(ref _pagesServed, pages);
                    Interlocked.Exchange(ref _lastReplyTicks, _clock.Elapsed.Ticks);
                    break;

                case PageServerCommand.Close:
                case PageServerCommand.ForceClose:
                    var status = new byte[sizeof(int)];
                    BinaryPrimitives.WriteInt32LittleEndian(status, 0);
                    stream.Write(status);
                    Interlocked.CompareExchange(ref _closedTicks, _clock.Elapsed.Ticks, -1);
                    _logger.LogInformation("page-server session closed by its client after {Pages} pages", Interlocked.Read(ref _pagesServed));
                    _completion.TrySetResult();
                    // The client closes its end next (CRIU's server waits for that too, sparing a TIME_WAIT here).
                    stream.ReadAtLeast(header, 1, throwOnEndOfStream: false);
                    return;

                default:
                    throw new InvalidDataException($"unsupported page-server command {request}: this server only answers PS_IOV_GET and PS_IOV_CLOSE");
            }
        }
    }

    private TimeSpan? Elapsed(ref long ticks)
    {
        var value = Interlocked.Read(ref ticks);
        return value < 0 ? null : TimeSpan.FromTicks(value);
    }
}
