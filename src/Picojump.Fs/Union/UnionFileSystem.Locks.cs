using Picojump.Fs.Fuse;
using Picojump.Fs.Native;
using Picojump.Protos.Peer;

namespace Picojump.Fs.Union;

// Locks: local files keep the local file system's; a remote file's locks are held at its
// owner for "host:lock owner". The owner never waits, so a waiting lock polls until granted
// or interrupted.
public sealed partial class UnionFileSystem
{
    private static readonly TimeSpan LongestLockPoll = TimeSpan.FromMilliseconds(50);

    public Errno GetLk(in FuseInHeader header, in FuseLkIn input, out FuseFileLock conflict)
    {
        conflict = default;
        var node = Node(header.NodeId);
        if (node == null)
            return Errno.ESTALE;
        if (!IsRemote(input.Fh))
            return _local.GetLk(At(in header, node.LocalId), in input, out conflict);
        if (RemoteFile(input.Fh) is not { } handle)
            return Errno.EBADF;
        var request = LockRequest(handle, in input);
        var error = handle.Owner.Call((c, o) => c.GetLock(request, o), out var reply, out _);
        if (error != Errno.OK)
            return error;
        if (reply!.Errno != 0)
            return FromWire(reply.Errno);
        conflict = new FuseFileLock { Type = reply.Type, Start = reply.Start, End = reply.End };
        return Errno.OK;
    }

    public Errno SetLk(in FuseInHeader header, in FuseLkIn input, bool wait, CancellationToken cancel)
    {
        var node = Node(header.NodeId);
        if (node == null)
            return Errno.ESTALE;
        if (!IsRemote(input.Fh))
            return _local.SetLk(At(in header, node.LocalId), in input, wait, cancel);
        if (RemoteFile(input.Fh) is not { } handle)
            return Errno.EBADF;
        var request = LockRequest(handle, in input);
        // From now on a close must release what its lock owner holds at the file's owner.
        handle.Node.RemoteLocksTaken = true;
        var pause = TimeSpan.FromMilliseconds(1);
        while (true)
        {
            var error = handle.Owner.Call((c, o) => c.SetLock(request, o), out var reply, out _);
            if (error == Errno.OK)
                error = FromWire(reply!.Errno);
            if (error == Errno.OK && input.Lk.Type != (uint)LibC.F_UNLCK)
                return Revalidate(handle);
            if (error != Errno.EAGAIN || !wait)
                return error;
            if (cancel.WaitHandle.WaitOne(pause))
                return Errno.EINTR;
            pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, LongestLockPoll.Ticks));
        }
    }

    /// <summary>
    /// A lock was just granted: whoever held it before may have changed the file, and their
    /// invalidation may still be on its way. Ask the owner now, and if the file changed, drop
    /// the kernel's pages before the locker reads (sqlite reads its header right after locking).
    /// </summary>
    private Errno Revalidate(Internal.RemoteFileHandle handle)
    {
        var error = RemoteStat(handle.Node, out var attr);
        if (error != Errno.OK)
            return error;
        lock (handle.Gate)
        {
            if (attr!.CtimeNs == handle.Version)
                return Errno.OK;
            handle.Restart(attr.CtimeNs);
        }
        NotifyAndWait(new KernelNotice(handle.Node.Id, 0, null));
        return Errno.OK;
    }

    private LockRequest LockRequest(Internal.RemoteFileHandle handle, in FuseLkIn input) => new()
    {
        Path = _nodes.PathOf(handle.Node),
        Ino = handle.Ino,
        Owner = LockOwner(input.Owner),
        Type = input.Lk.Type,
        Start = input.Lk.Start,
        End = input.Lk.End,
        Flock = (input.LkFlags & FuseConstants.LkFlock) != 0,
    };

    private string LockOwner(ulong owner) => $"{_options.HostName}:{owner:x}";

    private Errno ReleaseRemoteLocks(Internal.RemoteFileHandle handle, ulong owner)
    {
        var request = new ReleaseLocksRequest { Path = _nodes.PathOf(handle.Node), Ino = handle.Ino, Owner = LockOwner(owner) };
        var error = handle.Owner.Call((c, o) => c.ReleaseLocks(request, o), out var reply, out _);
        return error != Errno.OK ? error : FromWire(reply!.Errno);
    }
}
