using Picojump.Fs.Cluster;
using Picojump.Fs.Fuse;
using Picojump.Fs.Native;
using Picojump.Protos.Peer;

namespace Picojump.Fs.Union;

// Locks: local files keep the local file system's; a remote file's locks are held at its
// owner for "host:lock owner". A job's process locks as the job (UnionFileSystem.JobLocks.cs),
// at the file's owner, this host's files included. The owner never waits, so a waiting lock
// polls until granted or interrupted.
public sealed partial class UnionFileSystem
{
    private static readonly TimeSpan LongestLockPoll = TimeSpan.FromMilliseconds(50);

    public Errno GetLk(in FuseInHeader header, in FuseLkIn input, out FuseFileLock conflict)
    {
        conflict = default;
        var node = Node(header.NodeId);
        if (node == null)
            return Errno.ESTALE;
        var local = !IsRemote(input.Fh);
        var job = JobLocker(in header, in input, local);
        LockReply? reply;
        if (local)
        {
            if (job == null)
                return _local.GetLk(At(in header, node.LocalId), in input, out conflict);
            reply = ExportService!.GetLock(LockRequest(_nodes.PathOf(node), _local.InoOf(node.LocalId), job.Owner, in input));
        }
        else
        {
            if (RemoteFile(input.Fh) is not { } handle)
                return Errno.EBADF;
            var request = LockRequest(_nodes.PathOf(handle.Node), handle.Ino, job?.Owner ?? LockOwners.Host(_options.HostName, input.Owner), in input);
            var error = handle.Owner.Call((c, o) => c.GetLock(request, o), out reply, out _);
            if (error != Errno.OK)
                return error;
        }
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
        var local = !IsRemote(input.Fh);
        var job = JobLocker(in header, in input, local);
        // From now on a close must release what this lock owner holds at the file's owner.
        if (job != null)
            job.Entry.MayHoldLocks = true;
        if (local)
        {
            if (job == null)
                return _local.SetLk(At(in header, node.LocalId), in input, wait, cancel);
            var jobRequest = LockRequest(_nodes.PathOf(node), _local.InoOf(node.LocalId), job.Owner, in input);
            return PollLock(() => ExportService!.SetLock(jobRequest), wait, cancel);
        }
        if (RemoteFile(input.Fh) is not { } handle)
            return Errno.EBADF;
        var request = LockRequest(_nodes.PathOf(handle.Node), handle.Ino, job?.Owner ?? LockOwners.Host(_options.HostName, input.Owner), in input);
        if (job == null)
            handle.Node.RemoteLocksTaken = true;
        var result = PollLock(() =>
        {
            var error = handle.Owner.Call((c, o) => c.SetLock(request, o), out var reply, out _);
            return error == Errno.OK ? FromWire(reply!.Errno) : error;
        }, wait, cancel);
        return result == Errno.OK && input.Lk.Type != (uint)LibC.F_UNLCK ? Revalidate(handle) : result;
    }

    /// <summary>Tries <paramref name="attempt"/> (which never waits) until it is granted, or, for a waiting lock, until interrupted.</summary>
    private static Errno PollLock(Func<Errno> attempt, bool wait, CancellationToken cancel)
    {
        var pause = TimeSpan.FromMilliseconds(1);
        while (true)
        {
            var error = attempt();
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

    private static LockRequest LockRequest(string path, ulong ino, string owner, in FuseLkIn input) => new()
    {
        Path = path,
        Ino = ino,
        Owner = owner,
        Type = input.Lk.Type,
        Start = input.Lk.Start,
        End = input.Lk.End,
        Flock = (input.LkFlags & FuseConstants.LkFlock) != 0,
    };

    /// <summary>close(2) drops the closing process's POSIX locks on the file, whichever descriptor took them.</summary>
    private Errno ReleaseLocksOnClose(in FuseInHeader header, in FuseFlushIn input)
    {
        // A frozen job's processes release nothing: the dump kills them, and the job goes on elsewhere.
        var job = _jobLockers.Find((int)header.Pid);
        if (IsRemote(input.Fh))
        {
            if (RemoteFile(input.Fh) is not { } handle)
                return Errno.EBADF;
            var error = handle.Node.RemoteLocksTaken ? ReleaseRemoteLocks(handle, LockOwners.Host(_options.HostName, input.LockOwner)) : Errno.OK;
            return error == Errno.OK && job is { ReleasesOnClose: true } ? ReleaseRemoteLocks(handle, job.Owner) : error;
        }
        if (job is { ReleasesOnClose: true } && ExportService != null && Node(header.NodeId) is { } node)
            ExportService.ReleaseLocks(job.Owner, _local.InoOf(node.LocalId));
        return Errno.OK;
    }

    private Errno ReleaseRemoteLocks(Internal.RemoteFileHandle handle, string owner)
    {
        var request = new ReleaseLocksRequest { Path = _nodes.PathOf(handle.Node), Ino = handle.Ino, Owner = owner };
        var error = handle.Owner.Call((c, o) => c.ReleaseLocks(request, o), out var reply, out _);
        return error != Errno.OK ? error : FromWire(reply!.Errno);
    }
}
