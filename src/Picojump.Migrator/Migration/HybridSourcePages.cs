using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Picojump.Migrator.Images;
using Picojump.Migrator.LazyPages;

namespace Picojump.Migrator.Migration;

/// <summary>
/// The destination's way to the frozen source of a hybrid migration: a client of the source's
/// <see cref="HybridPageProxy"/>. A request that fails or gets no answer within its bound (a
/// cut link looks like silence) drops the connection and is asked again on a new one, until the
/// source has been out of reach for <c>patience</c> in a row, or says its frozen copy is gone.
/// Then the job cannot go on (its missing pages exist nowhere else): <c>onLost</c> runs first
/// (it kills the job, before CRIU's lazy-pages daemon gives up and the kernel would fill the
/// missing pages with zeros), and the request fails.
/// </summary>
internal sealed class HybridSourcePages(
    IPEndPoint endpoint, byte[] token, TimeSpan patience, TimeSpan requestTimeout, long minimumBytesPerSecond, Action<string> onLost, ILogger logger)
    : ILazyPageSource, IAsyncDisposable
{
    private readonly SemaphoreSlim _lock = new(1, 1);
    private CriuPageServerClient? _client;
    private long _pages;
    private long _retries;
    private string? _lost;
    private bool _disposed;

    public long PagesReceived => Interlocked.Read(ref _pages);

    /// <summary>Requests asked again on a new connection.</summary>
    public long Retries => Interlocked.Read(ref _retries);

    public string? Lost => _lost;

    /// <summary>Connects now (before the commit: a source this host cannot reach must make the migration abort).</summary>
    public async Task ConnectAsync(CancellationToken cancel)
    {
        await _lock.WaitAsync(cancel);
        try
        {
            _client ??= await OpenAsync(cancel);
        }
        finally
        {
            _lock.Release();
        }
    }

    public async ValueTask<int> ReadAsync(ulong pid, ulong vaddr, int pageCount, Memory<byte> destination, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken);
        try
        {
            Stopwatch? failing = null;
            while (true)
            {
                if (_lost != null)
                    throw new IOException(_lost);
                ObjectDisposedException.ThrowIf(_disposed, this);
                try
                {
                    _client ??= await OpenAsync(cancellationToken);
                    using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    bound.CancelAfter(requestTimeout + TimeSpan.FromSeconds((double)pageCount * Pagemap.PageSize / minimumBytesPerSecond));
                    var read = await _client.ReadAsync(pid, vaddr, pageCount, destination, bound.Token);
                    Interlocked.Add(ref _pages, read);
                    return read;
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested && !_disposed
                    && ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
                {
                    if (_client != null)
                    {
                        await _client.DisposeAsync();
                        _client = null;
                    }
                    failing ??= Stopwatch.StartNew();
                    if (ex is SourceGoneException || failing.Elapsed > patience)
                    {
                        var reason = ex is SourceGoneException
                            ? $"the source's frozen copy is gone ({ex.Message})"
                            : $"the source did not answer for {failing.Elapsed.TotalSeconds:0} s ({ex.Message})";
                        _lost = reason;
                        onLost(reason);
                        throw new IOException(reason, ex);
                    }
                    Interlocked.Increment(ref _retries);
                    logger.LogWarning("Hybrid: a page request to {Source} failed ({Error}); asking again", endpoint, ex.Message);
                    await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
                }
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        var client = Interlocked.Exchange(ref _client, null);
        if (client != null)
            await client.DisposeAsync();
    }

    private async Task<CriuPageServerClient> OpenAsync(CancellationToken cancel)
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        bound.CancelAfter(requestTimeout);
        var (client, answer) = await CriuPageServerClient.ConnectAsync(endpoint, token, bound.Token);
        if (answer == HybridPageProxy.Accepted)
            return client;
        await client.DisposeAsync();
        throw new SourceGoneException($"{endpoint} answered {answer}");
    }

    private sealed class SourceGoneException(string message) : IOException(message);
}
