using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Picojump.Fs.Fuse;
using Picojump.Fs.Local;
using Picojump.Fs.Native;

namespace Picojump.Tests.Protocol;

/// <summary>
/// A FuseServer serving a LocalFileSystem over a temporary export directory, reached
/// through a SOCK_SEQPACKET socket pair instead of /dev/fuse: no mount, no root needed.
/// One reader thread by default, so replies come in request order (SETLKW aside).
/// </summary>
internal sealed class ProtocolHarness : IDisposable
{
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(5);

    private readonly FuseMount _mount;
    private readonly LocalFileSystem _fs;
    private readonly FuseServer _server;

    public ProtocolHarness(bool initialise = true, bool passthrough = true, int readers = 1)
    {
        Root = Directory.CreateTempSubdirectory("pj-protocol-").FullName;
        Export = Path.Combine(Root, "export");
        Outside = Path.Combine(Root, "outside");
        Directory.CreateDirectory(Export);
        Directory.CreateDirectory(Outside);
        var (serverFd, clientFd) = SocketNative.SeqPacketPair();
        _mount = FuseMount.FromDevice(serverFd);
        _fs = LocalFileSystem.Open(Export, new LocalFileSystemOptions(), Log);
        _server = new FuseServer(_mount, _fs, new FuseServerOptions { ReaderThreads = readers, MaxReaderThreads = readers, Passthrough = passthrough }, Log);
        Client = new FuseTestClient(clientFd);
        _server.Start();
        if (initialise)
            Client.Init(FuseTestClient.KernelInit()).As<FuseInitOut>();
    }

    /// <summary>The temporary directory holding <see cref="Export"/> and <see cref="Outside"/>.</summary>
    public string Root { get; }

    /// <summary>The exported directory: node 1.</summary>
    public string Export { get; }

    /// <summary>A directory next to the export that no request may ever reach.</summary>
    public string Outside { get; }

    public FuseTestClient Client { get; }

    public RecordingLogger Log { get; } = new();

    public FuseServer Server => _server;

    /// <summary>The server must not have met an exception: that is a decoding or handler bug.</summary>
    public void AssertNoExceptionsLogged()
    {
        var failures = Log.Entries.Where(e => e.Exception != null).ToList();
        Assert.True(failures.Count == 0, "the server caught exceptions:\n" + string.Join("\n", failures));
    }

    public void Dispose()
    {
        // Unmount() shuts the socket down: the readers read 0 bytes and stop.
        _server.Stop(StopGrace);
        var stopped = _server.Completion.IsCompleted;
        _server.Dispose();
        Client.Dispose();
        _mount.Dispose();
        _fs.Dispose();
        DeleteTree(Root);
        Assert.True(stopped, $"the server's readers did not stop within {StopGrace.TotalSeconds} s of the shutdown");
    }

    /// <summary>
    /// Removes the temporary tree. Names the fuzz made need not be UTF-8, which .NET cannot
    /// name back to the kernel, so rm(1) takes what Directory.Delete leaves.
    /// </summary>
    private static void DeleteTree(string root)
    {
        try
        {
            Directory.Delete(root, recursive: true);
        }
        catch (IOException)
        {
            using var rm = System.Diagnostics.Process.Start("rm", ["-rf", "--one-file-system", "--", root]);
            rm.WaitForExit(TimeSpan.FromSeconds(30));
        }
    }
}

/// <summary>Keeps what the server logs, so tests can check it met no exception.</summary>
internal sealed class RecordingLogger : ILogger
{
    public sealed record Entry(LogLevel Level, string Message, Exception? Exception)
    {
        public override string ToString() => $"{Level}: {Message} {Exception}";
    }

    private readonly ConcurrentQueue<Entry> _entries = new();

    public IReadOnlyCollection<Entry> Entries => _entries;

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel))
            _entries.Enqueue(new Entry(logLevel, formatter(state, exception), exception));
    }
}

/// <summary>File-type bits of fuse_attr.mode.</summary>
internal static class FileType
{
    public static uint Of(in FuseAttr attr) => attr.Mode & Stat.S_IFMT;
}
