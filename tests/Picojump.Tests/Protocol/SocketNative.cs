using System.Runtime.InteropServices;

namespace Picojump.Tests.Protocol;

/// <summary>The few socket calls the protocol tests need beyond Picojump.Fs.Native.LibC.</summary>
internal static unsafe partial class SocketNative
{
    public const int AF_UNIX = 1;
    public const int SOCK_SEQPACKET = 5;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int SOL_SOCKET = 1;
    public const int SO_SNDBUF = 7;
    public const int SO_SNDBUFFORCE = 32;
    public const int SO_SNDTIMEO = 21;
    public const short POLLIN = 1;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", SetLastError = true)]
    public static partial int socketpair(int domain, int type, int protocol, int* fds);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setsockopt(int fd, int level, int name, int* value, uint length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getsockopt(int fd, int level, int name, int* value, uint* length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int poll(PollFd* fds, nuint count, int timeoutMs);

    /// <summary>A connected SOCK_SEQPACKET pair: message boundaries kept, like /dev/fuse.</summary>
    public static (int Server, int Client) SeqPacketPair()
    {
        var fds = stackalloc int[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0)
            throw new InvalidOperationException($"socketpair failed: errno {Marshal.GetLastPInvokeError()}");
        // A datagram larger than the send buffer fails with EMSGSIZE; a full WRITE request
        // (max_write 1 MiB plus headers) must fit. The kernel doubles the value; without
        // root (SO_SNDBUFFORCE) it caps it at net.core.wmem_max.
        foreach (var fd in new[] { fds[0], fds[1] })
        {
            var size = 2 << 20;
            if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(int)) != 0)
                setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(int));
        }
        // The test's side never blocks for long: a send the server does not take in time
        // (it stopped reading) fails with EAGAIN, and the test with it, instead of hanging.
        var timeout = stackalloc long[2] { 10, 0 }; // struct timeval: 10 s
        setsockopt(fds[1], SOL_SOCKET, SO_SNDTIMEO, (int*)timeout, 16);
        return (fds[0], fds[1]);
    }

    /// <summary>The send buffer in bytes: no datagram can be larger.</summary>
    public static int SendBufferSize(int fd)
    {
        int size;
        uint length = sizeof(int);
        return getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, &length) == 0 ? size : 0;
    }

    /// <summary>Waits until <paramref name="fd"/> is readable; false on timeout.</summary>
    public static bool WaitReadable(int fd, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var pfd = new PollFd { Fd = fd, Events = POLLIN };
            var left = (int)Math.Max(0, (deadline - DateTime.UtcNow).TotalMilliseconds);
            var n = poll(&pfd, 1, left);
            if (n > 0)
                return true;
            if (n == 0 || left == 0)
                return false;
            // n < 0: EINTR; poll again for what is left.
        }
    }
}
