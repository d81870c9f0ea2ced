using Picojump.Fs.Fuse;
using Picojump.Fs.Native;

namespace Picojump.Tests.Protocol;

/// <summary>POSIX record locks per lock owner, flock(2) per open file, SETLKW waits and INTERRUPT.</summary>
public sealed class LockTests : ProtocolTest
{

    [Fact]
    public void Posix_locks_conflict_between_owners_and_unlock_frees_them()
    {
        var (file, open) = Client.CreateOk(Root, "locked");
        const ulong ownerA = 0xA, ownerB = 0xB;
        Client.SetLk(file.NodeId, open.Fh, ownerA, LibC.F_WRLCK, 0, 99).AssertOk();
        Client.SetLk(file.NodeId, open.Fh, ownerB, LibC.F_WRLCK, 50, 60).AssertError(Errno.EAGAIN);
        Client.SetLk(file.NodeId, open.Fh, ownerB, LibC.F_RDLCK, 100, 200).AssertOk(); // no overlap

        var conflict = Client.GetLk(file.NodeId, open.Fh, ownerB, LibC.F_WRLCK, 0, long.MaxValue).As<FuseLkOut>().Lk;
        Assert.Equal((uint)LibC.F_WRLCK, conflict.Type);
        Assert.Equal(0UL, conflict.Start);
        Assert.Equal(99UL, conflict.End);
        // No conflict: GETLK answers F_UNLCK.
        Assert.Equal((uint)LibC.F_UNLCK, Client.GetLk(file.NodeId, open.Fh, ownerA, LibC.F_WRLCK, 0, 10).As<FuseLkOut>().Lk.Type);

        // Unlocking the whole range (as close(2) does via FLUSH/unlock) frees owner B.
        Client.SetLk(file.NodeId, open.Fh, ownerA, LibC.F_UNLCK, 0, long.MaxValue).AssertOk();
        Client.SetLk(file.NodeId, open.Fh, ownerB, LibC.F_WRLCK, 50, 60).AssertOk();
        Client.SetLk(file.NodeId, open.Fh, ownerA, LibC.F_RDLCK, 55, 55).AssertError(Errno.EAGAIN);
    }

    [Fact]
    public void Setlkw_blocked_by_a_conflict_answers_EINTR_when_interrupted()
    {
        var (file, open) = Client.CreateOk(Root, "contended");
        Client.SetLk(file.NodeId, open.Fh, 1, LibC.F_WRLCK, 0, 0).AssertOk();
        var waiting = Client.SendSetLkW(file.NodeId, open.Fh, 2, LibC.F_WRLCK, 0, 0);
        Assert.Null(Client.TryReceiveAny(TimeSpan.FromMilliseconds(200))); // still blocked

        Client.Send(FuseOpcode.Interrupt, 0, FuseTestClient.Bytes(new FuseInterruptIn { Unique = waiting }));
        Client.Receive(waiting).AssertError(Errno.EINTR);
        // The INTERRUPT itself is not answered once it found its request.
        Assert.Null(Client.TryReceiveAny(TimeSpan.FromMilliseconds(100)));
        // The lock was not taken.
        Client.SetLk(file.NodeId, open.Fh, 1, LibC.F_UNLCK, 0, long.MaxValue).AssertOk();
        Assert.Equal((uint)LibC.F_UNLCK, Client.GetLk(file.NodeId, open.Fh, 3, LibC.F_WRLCK, 0, 0).As<FuseLkOut>().Lk.Type);
    }

    [Fact]
    public void Setlkw_completes_once_the_conflicting_lock_goes()
    {
        var (file, open) = Client.CreateOk(Root, "handover");
        Client.SetLk(file.NodeId, open.Fh, 1, LibC.F_WRLCK, 0, 0).AssertOk();
        var waiting = Client.SendSetLkW(file.NodeId, open.Fh, 2, LibC.F_WRLCK, 0, 0);
        Client.SetLk(file.NodeId, open.Fh, 1, LibC.F_UNLCK, 0, long.MaxValue).AssertOk();
        Client.Receive(waiting).AssertOk();
        Client.SetLk(file.NodeId, open.Fh, 1, LibC.F_WRLCK, 0, 0).AssertError(Errno.EAGAIN);
    }

    [Fact]
    public void Interrupt_for_a_request_not_waiting_gets_no_answer()
    {
        // EAGAIN would make the kernel resend it at once for as long as the request runs.
        Client.Send(FuseOpcode.Interrupt, 0, FuseTestClient.Bytes(new FuseInterruptIn { Unique = 12345 }));
        Assert.Null(Client.TryReceiveAny(TimeSpan.FromMilliseconds(200)));
    }

    [Fact]
    public void Interrupt_read_before_its_setlkw_still_cancels_the_wait()
    {
        var (file, open) = Client.CreateOk(Root, "raced");
        Client.SetLk(file.NodeId, open.Fh, 1, LibC.F_WRLCK, 0, 0).AssertOk();
        var waiting = Client.NewUnique();
        Client.Send(FuseOpcode.Interrupt, 0, FuseTestClient.Bytes(new FuseInterruptIn { Unique = waiting }));
        var lk = new FuseLkIn { Fh = open.Fh, Owner = 2, Lk = new FuseFileLock { Type = (uint)LibC.F_WRLCK, Start = 0, End = 0 } };
        Client.Send(FuseOpcode.SetLkW, file.NodeId, FuseTestClient.Bytes(in lk), unique: waiting);
        Client.Receive(waiting).AssertError(Errno.EINTR);
    }

    [Fact]
    public void Flush_drops_the_posix_locks_of_its_lock_owner_as_close_does()
    {
        var (file, open) = Client.CreateOk(Root, "flushed");
        Client.SetLk(file.NodeId, open.Fh, 0xA, LibC.F_WRLCK, 0, 10).AssertOk();
        Client.SetLk(file.NodeId, open.Fh, 0xB, LibC.F_WRLCK, 0, 10).AssertError(Errno.EAGAIN);
        Client.Call(FuseOpcode.Flush, file.NodeId, FuseTestClient.Bytes(new FuseFlushIn { Fh = open.Fh, LockOwner = 0xB })).AssertOk();
        Client.SetLk(file.NodeId, open.Fh, 0xB, LibC.F_WRLCK, 0, 10).AssertError(Errno.EAGAIN); // B's flush is not A's
        Client.Call(FuseOpcode.Flush, file.NodeId, FuseTestClient.Bytes(new FuseFlushIn { Fh = open.Fh, LockOwner = 0xA })).AssertOk();
        Client.SetLk(file.NodeId, open.Fh, 0xB, LibC.F_WRLCK, 0, 10).AssertOk();
    }

    [Fact]
    public void Flock_conflicts_between_open_files_and_ends_with_release()
    {
        var (file, first) = Client.CreateOk(Root, "flocked");
        var second = Client.Open(file.NodeId, OpenFlags.O_RDWR).As<FuseOpenOut>();
        FuseReply Flock(ulong fh, short type) => Client.Call(FuseOpcode.SetLk, file.NodeId,
            FuseTestClient.Bytes(new FuseLkIn { Fh = fh, Owner = fh, LkFlags = FuseConstants.LkFlock, Lk = new FuseFileLock { Type = (uint)type } }));

        Flock(first.Fh, LibC.F_WRLCK).AssertOk();
        Flock(second.Fh, LibC.F_WRLCK).AssertError(Errno.EAGAIN);
        Flock(second.Fh, LibC.F_RDLCK).AssertError(Errno.EAGAIN);
        Client.Release(file.NodeId, first.Fh).AssertOk(); // closing the file drops its flock
        Flock(second.Fh, LibC.F_WRLCK).AssertOk();
        Flock(second.Fh, LibC.F_UNLCK).AssertOk();
    }
}
