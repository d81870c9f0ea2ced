using Picojump.Fs.Native;

namespace Picojump.Fs.Fuse;

/// <summary>
/// The raw request API a file system implements, one method per opcode, in the spirit of
/// go-fuse's RawFileSystem. Requests arrive on several reader threads at once, so every
/// method must be thread-safe. Methods return <see cref="Errno.OK"/> or an error number;
/// anything not overridden answers ENOSYS, which the kernel remembers for most opcodes.
/// </summary>
public interface IFuseFileSystem
{
    /// <summary>Called once the kernel connection is negotiated, before any other request.</summary>
    void Init(FuseConnection connection) { }

    void Destroy() { }

    Errno Lookup(in FuseInHeader header, FuseName name, out FuseEntryOut entry)
    {
        entry = default;
        return Errno.ENOSYS;
    }

    /// <summary>The kernel drops <paramref name="nlookup"/> references to a node. No reply.</summary>
    void Forget(ulong nodeId, ulong nlookup) { }

    Errno GetAttr(in FuseInHeader header, in FuseGetAttrIn input, out FuseAttrOut attr)
    {
        attr = default;
        return Errno.ENOSYS;
    }

    Errno SetAttr(in FuseInHeader header, in FuseSetAttrIn input, out FuseAttrOut attr)
    {
        attr = default;
        return Errno.ENOSYS;
    }

    Errno ReadLink(in FuseInHeader header, Span<byte> target, out int length)
    {
        length = 0;
        return Errno.ENOSYS;
    }

    Errno Symlink(in FuseInHeader header, FuseName name, FuseName target, out FuseEntryOut entry)
    {
        entry = default;
        return Errno.ENOSYS;
    }

    Errno MkNod(in FuseInHeader header, in FuseMknodIn input, FuseName name, out FuseEntryOut entry)
    {
        entry = default;
        return Errno.ENOSYS;
    }

    Errno MkDir(in FuseInHeader header, in FuseMkdirIn input, FuseName name, out FuseEntryOut entry)
    {
        entry = default;
        return Errno.ENOSYS;
    }

    Errno Unlink(in FuseInHeader header, FuseName name) => Errno.ENOSYS;

    Errno RmDir(in FuseInHeader header, FuseName name) => Errno.ENOSYS;

    /// <summary>RENAME and RENAME2; <paramref name="flags"/> holds RENAME_NOREPLACE / RENAME_EXCHANGE.</summary>
    Errno Rename(in FuseInHeader header, FuseName oldName, ulong newDir, FuseName newName, uint flags) => Errno.ENOSYS;

    Errno Link(in FuseInHeader header, ulong oldNodeId, FuseName newName, out FuseEntryOut entry)
    {
        entry = default;
        return Errno.ENOSYS;
    }

    Errno Open(in FuseInHeader header, in FuseOpenIn input, out FuseOpenOut output)
    {
        output = default;
        return Errno.ENOSYS;
    }

    Errno Create(in FuseInHeader header, in FuseCreateIn input, FuseName name, out FuseEntryOut entry, out FuseOpenOut output)
    {
        entry = default;
        output = default;
        return Errno.ENOSYS;
    }

    /// <summary>Reads into <paramref name="buffer"/> (input.Size bytes); a short count means end of file.</summary>
    Errno Read(in FuseInHeader header, in FuseReadIn input, Span<byte> buffer, out int length)
    {
        length = 0;
        return Errno.ENOSYS;
    }

    Errno Write(in FuseInHeader header, in FuseWriteIn input, ReadOnlySpan<byte> data, out uint written)
    {
        written = 0;
        return Errno.ENOSYS;
    }

    Errno Flush(in FuseInHeader header, in FuseFlushIn input) => Errno.ENOSYS;

    Errno Release(in FuseInHeader header, in FuseReleaseIn input) => Errno.OK;

    Errno Fsync(in FuseInHeader header, in FuseFsyncIn input) => Errno.ENOSYS;

    Errno StatFs(in FuseInHeader header, out FuseKstatfs stat)
    {
        stat = default;
        return Errno.ENOSYS;
    }

    Errno SetXattr(in FuseInHeader header, in FuseSetXattrIn input, FuseName name, ReadOnlySpan<byte> value) => Errno.ENOSYS;

    /// <summary>An empty <paramref name="value"/> asks for the size only, returned in <paramref name="length"/>.</summary>
    Errno GetXattr(in FuseInHeader header, FuseName name, Span<byte> value, out int length)
    {
        length = 0;
        return Errno.ENOSYS;
    }

    /// <summary>An empty <paramref name="list"/> asks for the size only, returned in <paramref name="length"/>.</summary>
    Errno ListXattr(in FuseInHeader header, Span<byte> list, out int length)
    {
        length = 0;
        return Errno.ENOSYS;
    }

    Errno RemoveXattr(in FuseInHeader header, FuseName name) => Errno.ENOSYS;

    Errno Access(in FuseInHeader header, in FuseAccessIn input) => Errno.ENOSYS;

    Errno OpenDir(in FuseInHeader header, in FuseOpenIn input, out FuseOpenOut output)
    {
        output = default;
        return Errno.ENOSYS;
    }

    /// <summary>READDIR and READDIRPLUS: fill <paramref name="entries"/> from input.Offset on.</summary>
    Errno ReadDir(in FuseInHeader header, in FuseReadIn input, ref DirEntryWriter entries) => Errno.ENOSYS;

    Errno ReleaseDir(in FuseInHeader header, in FuseReleaseIn input) => Errno.OK;

    Errno FsyncDir(in FuseInHeader header, in FuseFsyncIn input) => Errno.ENOSYS;

    Errno GetLk(in FuseInHeader header, in FuseLkIn input, out FuseFileLock conflict)
    {
        conflict = default;
        return Errno.ENOSYS;
    }

    /// <summary>
    /// SETLK and SETLKW. A waiting call (<paramref name="wait"/>) runs off the reader threads
    /// and must give up with EINTR when <paramref name="cancel"/> fires (FUSE_INTERRUPT).
    /// </summary>
    Errno SetLk(in FuseInHeader header, in FuseLkIn input, bool wait, CancellationToken cancel) => Errno.ENOSYS;

    Errno Fallocate(in FuseInHeader header, in FuseFallocateIn input) => Errno.ENOSYS;

    Errno Lseek(in FuseInHeader header, in FuseLseekIn input, out long offset)
    {
        offset = 0;
        return Errno.ENOSYS;
    }

    Errno CopyFileRange(in FuseInHeader header, in FuseCopyFileRangeIn input, out ulong copied)
    {
        copied = 0;
        return Errno.ENOSYS;
    }
}
