using Picojump.Fs.Cache;

namespace Picojump.Fs.WorkingSet;

/// <summary>
/// One block of a remote file that a job read: the file on its owner (host name, path in its
/// export, inode number) and the block's cache key there (version, index).
/// </summary>
public readonly record struct WorkingSetBlock(string Owner, string Path, ulong Ino, long Version, ulong BlockIndex)
{
    public BlockKey Key => new(BlockKey.HashHost(Owner), Ino, Version, BlockIndex);
}
