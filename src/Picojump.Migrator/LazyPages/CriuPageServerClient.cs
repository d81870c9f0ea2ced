using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Picojump.Migrator.Images;

namespace Picojump.Migrator.LazyPages;

/// <summary>
/// A client of a CRIU 4.1 page server that serves pages: the one <c>criu dump --lazy-pages
/// --address A --port P</c> runs on the source, serving the frozen job's lazy memory (or a
/// <see cref="LazyPageServer"/>). It asks as CRIU's lazy-pages daemon does (PS_IOV_GET, replies
/// in order) one request at a time, and <see cref="CloseAsync"/> ends the session with
/// PS_IOV_CLOSE, after which the dump-side criu finishes and the frozen source copy is gone.
/// CRIU's server copies pages out of its page pipes with tee(), so any page can be asked for
/// any number of times, and any sub-range of a pagemap entry; a page it does not hold (one
/// that was never dumped) ends the session.
/// </summary>
public sealed class CriuPageServerClient : ILazyPageSource, IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly byte[] _header = new byte[PageServerIov.Size];
    private bool _closed;

    private CriuPageServerClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
    }

    public static async Task<CriuPageServerClient> ConnectAsync(IPEndPoint endpoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false);
            return new CriuPageServerClient(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Connects, sends <paramref name="hello"/> and reads one answer byte, which it returns (the
    /// hello of Picojump's page proxy on a hybrid migration's source; CRIU's own server has none).
    /// </summary>
    public static async Task<(CriuPageServerClient Client, byte Answer)> ConnectAsync(IPEndPoint endpoint, ReadOnlyMemory<byte> hello, CancellationToken cancellationToken = default)
    {
        var client = await ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false);
        try
        {
            await client._stream.WriteAsync(hello, cancellationToken).ConfigureAwait(false);
            var answer = new byte[1];
            await client._stream.ReadExactlyAsync(answer, cancellationToken).ConfigureAwait(false);
            return (client, answer[0]);
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Whether closing the connection (also by this process's death) resets it instead of ending it
    /// (SO_LINGER 0). CRIU's dump-side server takes an end without PS_IOV_CLOSE for a finished
    /// session, so <c>criu dump --lazy-pages</c> kills the frozen job; a reset fails the dump, which
    /// then resumes the job on its host with its memory intact.
    /// </summary>
    public bool Abortive
    {
        set => _socket.LingerState = value ? new LingerOption(true, 0) : new LingerOption(false, 0);
    }

    /// <summary>Pages the server sent, over the client's life.</summary>
    public long PagesReceived { get; private set; }

    /// <summary>
    /// Asks for the pages and waits for them, blocking the calling thread: every caller is a
    /// thread that waits for the answer anyway (a page-server session, the source's proxy), and
    /// an asynchronous read cost each of the job's faults two thread switches at every hop.
    /// Cancelling closes the connection (a cancelled exchange leaves it out of step anyway).
    /// </summary>
    public ValueTask<int> ReadAsync(ulong pid, ulong vaddr, int pageCount, Memory<byte> destination, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pageCount);
        _lock.Wait(cancellationToken);
        try
        {
            using var cancel = cancellationToken.Register(static socket => ((Socket)socket!).Dispose(), _socket);
            ObjectDisposedException.ThrowIf(_closed, this);
            PageServerIov.Get(pid, vaddr, (uint)pageCount).WriteTo(_header);
            _stream.Write(_header);
            var read = _stream.ReadAtLeast(_header, _header.Length, throwOnEndOfStream: false);
            if (read < _header.Length)
            {
                // CRIU's server closes the connection when it holds none of the pages asked for.
                throw new IOException($"the page server closed the connection instead of answering {pageCount} pages at {vaddr:x} of task {pid}");
            }
            var reply = PageServerIov.ReadFrom(_header);
            if (reply.Command != PageServerCommand.AddWithFlags || reply.Vaddr != vaddr || reply.DstId != pid || reply.PageCount > pageCount)
            {
                throw new InvalidDataException($"the page server answered {reply} to a request for {pageCount} pages at {vaddr:x} of task {pid}");
            }
            var pages = (int)reply.PageCount;
            _stream.ReadExactly(destination.Span[..(pages * Pagemap.PageSize)]);
            PagesReceived += pages;
            return ValueTask.FromResult(pages);
        }
        catch (Exception ex) when (cancellationToken.IsCancellationRequested && ex is IOException or SocketException or ObjectDisposedException)
        {
            throw new OperationCanceledException($"a request for {pageCount} pages at {vaddr:x} of task {pid} was cancelled", ex, cancellationToken);
        }
        finally
        {
            _lock.Release();
        }
    }

    public async Task<int> CloseAsync(CancellationToken cancellationToken = default)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            _closed = true;
            new PageServerIov(PageServerIov.Encode(PageServerCommand.Close), 0, 0, 0).WriteTo(_header);
            await _stream.WriteAsync(_header, cancellationToken).ConfigureAwait(false);
            var status = new byte[sizeof(int)];
            await _stream.ReadExactlyAsync(status, cancellationToken).ConfigureAwait(false);
            _socket.Shutdown(SocketShutdown.Both);
            return BinaryPrimitives.ReadInt32LittleEndian(status);
        }
        finally
        {
            _lock.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _closed = true;
        await _stream.DisposeAsync().ConfigureAwait(false);
        _lock.Dispose();
    }
}
