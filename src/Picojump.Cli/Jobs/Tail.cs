namespace Picojump.Cli.Jobs;

/// <summary>Copies what a growing file gains to an output, from where the last copy stopped.</summary>
internal sealed class Tail(string path, Stream output) : IDisposable
{
    private FileStream? _file;
    private long _offset;
    private readonly byte[] _buffer = new byte[64 * 1024];

    /// <summary>Copies everything past the last offset; <paramref name="reopen"/> opens the file anew first.</summary>
    public void Drain(bool reopen = false)
    {
        if (reopen)
        {
            _file?.Dispose();
            _file = null;
        }
        if (_file == null)
        {
            try
            {
                _file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.None);
            }
            catch (FileNotFoundException)
            {
                return; // not made yet
            }
            catch (DirectoryNotFoundException)
            {
                return;
            }
        }
        _file.Position = _offset;
        int read;
        while ((read = _file.Read(_buffer)) > 0)
        {
            output.Write(_buffer, 0, read);
            _offset += read;
        }
        output.Flush();
    }

    public void Dispose()
    {
        _file?.Dispose();
        output.Dispose();
    }
}
