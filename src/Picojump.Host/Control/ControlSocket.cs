using System.Net.Sockets;
using System.Text;
using Picojump.Fs.Native;

namespace Picojump.Host.Control;

/// <summary>
/// The control API's Unix socket file: root's alone (mode 0600, set between bind and listen,
/// so no one else ever connects), in a directory made 0755 if missing. A socket left by a
/// crashed daemon is replaced; one that a live daemon answers on is not.
/// </summary>
public static class ControlSocket
{
    private const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private const UnixFileMode SocketMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Before anything is mounted: the directory exists and <paramref name="path"/> is free to bind.</summary>
    public static void Prepare(string path)
    {
        var kind = FileKind(path);
        if (kind != null && kind != Stat.S_IFSOCK)
            throw new SettingsException($"control socket {path} exists and is not a socket");
        if (kind != null && Answers(path))
            throw new SettingsException($"control socket {path} is in use by another picojumpd");
        try
        {
            if (kind != null)
                File.Delete(path);
            var directory = Path.GetDirectoryName(path)!;
            if (!Directory.Exists(directory))
            {
                Directory.CreateDirectory(directory);
                // Only a directory we made: an existing one (/run, /tmp) keeps its mode.
                File.SetUnixFileMode(directory, DirectoryMode);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new SettingsException($"control socket {path}: {ex.Message}");
        }
    }

    /// <summary>Kestrel's bind for the control socket: bound, then made root-only, then listened on by Kestrel.</summary>
    public static Socket Bind(UnixDomainSocketEndPoint endpoint, string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Bind(endpoint);
            File.SetUnixFileMode(path, SocketMode);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>At stop: the socket goes, so that pjctl says the daemon is not running.</summary>
    public static void Remove(string path)
    {
        if (FileKind(path) == Stat.S_IFSOCK)
            File.Delete(path);
    }

    private static bool Answers(string path)
    {
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
            return true;
        }
        catch (SocketException)
        {
            return false; // ECONNREFUSED: nobody listens, the file is a crash's leftover
        }
    }

    /// <summary>The S_IFMT bits of <paramref name="path"/> itself (no symlink followed); null if nothing is there.</summary>
    private static unsafe uint? FileKind(string path)
    {
        var bytes = Encoding.UTF8.GetBytes(path + "\0");
        Stat stat;
        fixed (byte* p = bytes)
        {
            if (LibC.fstatat(LibC.AT_FDCWD, p, &stat, LibC.AT_SYMLINK_NOFOLLOW) != 0)
                return null;
        }
        return stat.Mode & Stat.S_IFMT;
    }
}
