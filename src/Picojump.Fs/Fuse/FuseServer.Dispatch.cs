using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Picojump.Fs.Native;

namespace Picojump.Fs.Fuse;

// Decoding: one case per opcode. Every input is length-checked before it is read; a short
// or unterminated request gets EINVAL and never reaches the file system.
public sealed unsafe partial class FuseServer
{
    private void Dispatch(in FuseInHeader h, ReadOnlySpan<byte> p, byte* output)
    {
        var u = h.Unique;
        Errno e;
        FuseEntryOut entry;
        FuseAttrOut attr;
        FuseOpenOut open;
        FuseName name, second;
        switch (h.Opcode)
        {
            case FuseOpcode.Init:
                HandleInit(in h, p);
                return;
            case FuseOpcode.Destroy:
                _fs.Destroy();
                Reply(u, Errno.OK);
                return;
            case FuseOpcode.Lookup when TryName(p, out name, out _):
                e = _fs.Lookup(in h, name, out entry);
                Reply(u, e, in entry);
                return;
            case FuseOpcode.Forget when Fits<FuseForgetIn>(p):
                _fs.Forget(h.NodeId, As<FuseForgetIn>(p).Nlookup);
                return;
            case FuseOpcode.BatchForget when Fits<FuseBatchForgetIn>(p):
                BatchForget(p);
                return;
            case FuseOpcode.GetAttr when Fits<FuseGetAttrIn>(p):
                e = _fs.GetAttr(in h, in As<FuseGetAttrIn>(p), out attr);
                Reply(u, e, in attr);
                return;
            case FuseOpcode.SetAttr when Fits<FuseSetAttrIn>(p):
                e = _fs.SetAttr(in h, in As<FuseSetAttrIn>(p), out attr);
                Reply(u, e, in attr);
                return;
            case FuseOpcode.ReadLink:
            {
                var target = OutputSpan(output, 4096);
                e = _fs.ReadLink(in h, target, out var length);
                Reply(u, e, target[..length]);
                return;
            }
            case FuseOpcode.Symlink when TryName(p, out name, out var rest) && TryName(rest, out second, out _):
                e = _fs.Symlink(in h, name, second, out entry);
                Reply(u, e, in entry);
                return;
            case FuseOpcode.MkNod when Fits<FuseMknodIn>(p) && TryName(p[sizeof(FuseMknodIn)..], out name, out _):
                e = _fs.MkNod(in h, in As<FuseMknodIn>(p), name, out entry);
                Reply(u, e, in entry);
                return;
            case FuseOpcode.MkDir when Fits<FuseMkdirIn>(p) && TryName(p[sizeof(FuseMkdirIn)..], out name, out _):
                e = _fs.MkDir(in h, in As<FuseMkdirIn>(p), name, out entry);
                Reply(u, e, in entry);
                return;
            case FuseOpcode.Unlink when TryName(p, out name, out _):
                Reply(u, _fs.Unlink(in h, name));
                return;
            case FuseOpcode.RmDir when TryName(p, out name, out _):
                Reply(u, _fs.RmDir(in h, name));
                return;
            case FuseOpcode.Rename when Fits<FuseRenameIn>(p) && TryTwoNames(p[sizeof(FuseRenameIn)..], out name, out second):
                Reply(u, _fs.Rename(in h, name, As<FuseRenameIn>(p).NewDir, second, 0));
                return;
            case FuseOpcode.Rename2 when Fits<FuseRename2In>(p) && TryTwoNames(p[sizeof(FuseRename2In)..], out name, out second):
                Reply(u, _fs.Rename(in h, name, As<FuseRename2In>(p).NewDir, second, As<FuseRename2In>(p).Flags));
                return;
            case FuseOpcode.Link when Fits<FuseLinkIn>(p) && TryName(p[sizeof(FuseLinkIn)..], out name, out _):
                e = _fs.Link(in h, As<FuseLinkIn>(p).OldNodeId, name, out entry);
                Reply(u, e, in entry);
                return;
            case FuseOpcode.Open when Fits<FuseOpenIn>(p):
                e = _fs.Open(in h, in As<FuseOpenIn>(p), out open);
                Reply(u, e, in open);
                return;
            case FuseOpcode.Create when Fits<FuseCreateIn>(p) && TryName(p[sizeof(FuseCreateIn)..], out name, out _):
                e = _fs.Create(in h, in As<FuseCreateIn>(p), name, out entry, out open);
                Reply(u, e, AsBytes(in entry), AsBytes(in open));
                return;
            case FuseOpcode.Read when Fits<FuseReadIn>(p):
            {
                ref readonly var read = ref As<FuseReadIn>(p);
                var buffer = OutputSpan(output, read.Size);
                e = _fs.Read(in h, in read, buffer, out var length);
                Reply(u, e, buffer[..length]);
                return;
            }
            case FuseOpcode.Write when Fits<FuseWriteIn>(p) && p.Length - sizeof(FuseWriteIn) >= As<FuseWriteIn>(p).Size:
            {
                ref readonly var write = ref As<FuseWriteIn>(p);
                e = _fs.Write(in h, in write, p.Slice(sizeof(FuseWriteIn), (int)write.Size), out var written);
                Reply(u, e, new FuseWriteOut { Size = written });
                return;
            }
            case FuseOpcode.StatFs:
                e = _fs.StatFs(in h, out var statfs);
                Reply(u, e, in statfs);
                return;
            case FuseOpcode.Flush when Fits<FuseFlushIn>(p):
                Reply(u, _fs.Flush(in h, in As<FuseFlushIn>(p)));
                return;
            case FuseOpcode.Release when Fits<FuseReleaseIn>(p):
                Reply(u, _fs.Release(in h, in As<FuseReleaseIn>(p)));
                return;
            case FuseOpcode.Fsync when Fits<FuseFsyncIn>(p):
                Reply(u, _fs.Fsync(in h, in As<FuseFsyncIn>(p)));
                return;
            case FuseOpcode.SetXattr:
                SetXattr(in h, p);
                return;
            case FuseOpcode.GetXattr when Fits<FuseGetXattrIn>(p) && TryName(p[sizeof(FuseGetXattrIn)..], out name, out _):
            {
                var size = As<FuseGetXattrIn>(p).Size;
                var value = OutputSpan(output, size);
                e = _fs.GetXattr(in h, name, value, out var length);
                ReplySized(u, e, size, value, length);
                return;
            }
            case FuseOpcode.ListXattr when Fits<FuseGetXattrIn>(p):
            {
                var size = As<FuseGetXattrIn>(p).Size;
                var list = OutputSpan(output, size);
                e = _fs.ListXattr(in h, list, out var length);
                ReplySized(u, e, size, list, length);
                return;
            }
            case FuseOpcode.RemoveXattr when TryName(p, out name, out _):
                Reply(u, _fs.RemoveXattr(in h, name));
                return;
            case FuseOpcode.Access when Fits<FuseAccessIn>(p):
                Reply(u, _fs.Access(in h, in As<FuseAccessIn>(p)));
                return;
            case FuseOpcode.OpenDir when Fits<FuseOpenIn>(p):
                e = _fs.OpenDir(in h, in As<FuseOpenIn>(p), out open);
                Reply(u, e, in open);
                return;
            case FuseOpcode.ReadDir or FuseOpcode.ReadDirPlus when Fits<FuseReadIn>(p):
            {
                ref readonly var read = ref As<FuseReadIn>(p);
                var writer = new DirEntryWriter(OutputSpan(output, read.Size), h.Opcode == FuseOpcode.ReadDirPlus);
                e = _fs.ReadDir(in h, in read, ref writer);
                Reply(u, e, new ReadOnlySpan<byte>(output, writer.Length));
                return;
            }
            case FuseOpcode.ReleaseDir when Fits<FuseReleaseIn>(p):
                Reply(u, _fs.ReleaseDir(in h, in As<FuseReleaseIn>(p)));
                return;
            case FuseOpcode.FsyncDir when Fits<FuseFsyncIn>(p):
                Reply(u, _fs.FsyncDir(in h, in As<FuseFsyncIn>(p)));
                return;
            case FuseOpcode.GetLk when Fits<FuseLkIn>(p):
                e = _fs.GetLk(in h, in As<FuseLkIn>(p), out var conflict);
                Reply(u, e, new FuseLkOut { Lk = conflict });
                return;
            case FuseOpcode.SetLk when Fits<FuseLkIn>(p):
                Reply(u, _fs.SetLk(in h, in As<FuseLkIn>(p), wait: false, CancellationToken.None));
                return;
            case FuseOpcode.SetLkW when Fits<FuseLkIn>(p):
                StartWaitingLock(h, As<FuseLkIn>(p));
                return;
            case FuseOpcode.Interrupt when Fits<FuseInterruptIn>(p):
                Interrupt(As<FuseInterruptIn>(p).Unique);
                return;
            case FuseOpcode.Fallocate when Fits<FuseFallocateIn>(p):
                Reply(u, _fs.Fallocate(in h, in As<FuseFallocateIn>(p)));
                return;
            case FuseOpcode.Lseek when Fits<FuseLseekIn>(p):
                e = _fs.Lseek(in h, in As<FuseLseekIn>(p), out var offset);
                Reply(u, e, new FuseLseekOut { Offset = offset });
                return;
            case FuseOpcode.CopyFileRange when Fits<FuseCopyFileRangeIn>(p):
                e = _fs.CopyFileRange(in h, in As<FuseCopyFileRangeIn>(p), out var copied);
                // The 32-bit reply; the kernel splits larger copies itself.
                Reply(u, e, new FuseWriteOut { Size = (uint)Math.Min(copied, uint.MaxValue) });
                return;
            case FuseOpcode.NotifyReply:
                return; // answers to retrieve requests, which we never send
            case FuseOpcode.Lookup or FuseOpcode.Forget or FuseOpcode.BatchForget or FuseOpcode.GetAttr
                or FuseOpcode.SetAttr or FuseOpcode.Symlink or FuseOpcode.MkNod or FuseOpcode.MkDir
                or FuseOpcode.Unlink or FuseOpcode.RmDir or FuseOpcode.Rename or FuseOpcode.Rename2
                or FuseOpcode.Link or FuseOpcode.Open or FuseOpcode.Create or FuseOpcode.Read
                or FuseOpcode.Write or FuseOpcode.Flush or FuseOpcode.Release or FuseOpcode.Fsync
                or FuseOpcode.GetXattr or FuseOpcode.ListXattr or FuseOpcode.RemoveXattr
                or FuseOpcode.Access or FuseOpcode.OpenDir or FuseOpcode.ReadDir or FuseOpcode.ReadDirPlus
                or FuseOpcode.ReleaseDir or FuseOpcode.FsyncDir or FuseOpcode.GetLk or FuseOpcode.SetLk
                or FuseOpcode.SetLkW or FuseOpcode.Interrupt or FuseOpcode.Fallocate or FuseOpcode.Lseek
                or FuseOpcode.CopyFileRange:
                MalformedRequest(in h, p.Length);
                return;
            default:
                Reply(u, Errno.ENOSYS);
                return;
        }
    }

    private void MalformedRequest(in FuseInHeader h, int payloadLength)
    {
        _logger.LogWarning("Malformed {Opcode} request ({Length}-byte payload): answered EINVAL", h.Opcode, payloadLength);
        if (h.Opcode is not (FuseOpcode.Forget or FuseOpcode.BatchForget))
            Reply(h.Unique, Errno.EINVAL);
    }

    private void BatchForget(ReadOnlySpan<byte> p)
    {
        var count = As<FuseBatchForgetIn>(p).Count;
        var items = p[sizeof(FuseBatchForgetIn)..];
        if ((ulong)count * (ulong)sizeof(FuseForgetOne) > (ulong)items.Length)
        {
            _logger.LogWarning("Dropped a BATCH_FORGET whose {Count} items exceed its length", count);
            return;
        }
        foreach (var one in MemoryMarshal.Cast<byte, FuseForgetOne>(items[..(int)(count * (uint)sizeof(FuseForgetOne))]))
            _fs.Forget(one.NodeId, one.Nlookup);
    }

    private void SetXattr(in FuseInHeader h, ReadOnlySpan<byte> p)
    {
        // Without FUSE_SETXATTR_EXT the kernel sends the 8-byte compat struct.
        var inputSize = (_connection.Flags & FuseInitFlags.SetxattrExt) != 0 ? sizeof(FuseSetXattrIn) : 8;
        if (p.Length < inputSize)
        {
            MalformedRequest(in h, p.Length);
            return;
        }
        var input = default(FuseSetXattrIn);
        p[..inputSize].CopyTo(new Span<byte>(&input, sizeof(FuseSetXattrIn)));
        if (!TryName(p[inputSize..], out var name, out var rest) || rest.Length < input.Size)
        {
            MalformedRequest(in h, p.Length);
            return;
        }
        Reply(h.Unique, _fs.SetXattr(in h, in input, name, rest[..(int)input.Size]));
    }

    /// <summary>GETXATTR and LISTXATTR: a zero size asks only for the size.</summary>
    private void ReplySized(ulong unique, Errno e, uint size, Span<byte> data, int length)
    {
        if (e != Errno.OK || size != 0)
            Reply(unique, e, data[..length]);
        else
            Reply(unique, e, new FuseGetXattrOut { Size = (uint)length });
    }

    private void StartWaitingLock(FuseInHeader h, FuseLkIn lk)
    {
        // SETLKW may wait for minutes: it gets its own thread so the readers stay free,
        // and an INTERRUPT for it cancels the wait.
        var cts = new CancellationTokenSource();
        _interruptible[h.Unique] = cts;
        // Its INTERRUPT may have been read first, by another reader (see Interrupt).
        if (_earlyInterrupts.TryRemove(h.Unique, out _))
            cts.Cancel();
        var thread = new Thread(() =>
        {
            try
            {
                Reply(h.Unique, _fs.SetLk(in h, in lk, wait: true, cts.Token));
            }
            catch (Exception ex)
            {
                _logger.LogError(ex, "SETLKW on node {NodeId} failed", h.NodeId);
                Reply(h.Unique, Errno.EIO);
            }
            finally
            {
                _interruptible.TryRemove(h.Unique, out _);
                cts.Dispose();
            }
        })
        { IsBackground = true, Name = "fuse-setlkw" };
        thread.Start();
    }

    private void Interrupt(ulong target)
    {
        // Only a waiting SETLKW can be interrupted; every other request ends soon by itself.
        // An INTERRUPT is never answered: EAGAIN would make the kernel send it again at once,
        // spinning both sides for as long as a slow request runs. One whose SETLKW another
        // reader has not registered yet is remembered; the check after registering, and the
        // second look here after remembering, make sure one side sees the other.
        if (CancelWaiting(target))
            return;
        if (_earlyInterrupts.Count >= MaxEarlyInterrupts)
            _earlyInterrupts.Clear(); // interrupts of requests that finished without waiting
        _earlyInterrupts[target] = 0;
        if (CancelWaiting(target))
            _earlyInterrupts.TryRemove(target, out _);
    }

    private bool CancelWaiting(ulong target)
    {
        if (!_interruptible.TryGetValue(target, out var cts))
            return false;
        try
        {
            cts.Cancel(); // the waiting request answers EINTR itself
        }
        catch (ObjectDisposedException)
        {
            // It finished meanwhile.
        }
        return true;
    }

    private Span<byte> OutputSpan(byte* output, uint size) => new(output, (int)Math.Min(size, (uint)_buffers.BufferSize));

    private static bool Fits<T>(ReadOnlySpan<byte> p) where T : unmanaged => p.Length >= sizeof(T);

    private static ref readonly T As<T>(ReadOnlySpan<byte> p) where T : unmanaged => ref MemoryMarshal.AsRef<T>(p);

    private static ReadOnlySpan<byte> AsBytes<T>(in T value) where T : unmanaged
        => MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value));

    /// <summary>Takes a NUL-terminated, non-empty name off the front of <paramref name="p"/>.</summary>
    private static bool TryName(ReadOnlySpan<byte> p, out FuseName name, out ReadOnlySpan<byte> rest)
    {
        var end = p.IndexOf((byte)0);
        // An empty name is malformed: the kernel never sends one, and an empty span pins to
        // a null pointer, so it would reach a syscall as NULL (EFAULT) instead of "".
        if (end <= 0)
        {
            name = default;
            rest = default;
            return false;
        }
        name = new FuseName(p[..end]);
        rest = p[(end + 1)..];
        return true;
    }

    private static bool TryTwoNames(ReadOnlySpan<byte> p, out FuseName first, out FuseName second)
    {
        second = default;
        return TryName(p, out first, out var rest) && TryName(rest, out second, out _);
    }
}
