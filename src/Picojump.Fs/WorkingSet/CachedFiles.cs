using Picojump.Protos.Peer;

namespace Picojump.Fs.WorkingSet;

/// <summary>Working-set blocks on the wire: grouped by file (owner, inode, version), in first-seen order.</summary>
public static class CachedFiles
{
    public static List<CachedFile> ToWire(IEnumerable<WorkingSetBlock> blocks)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        var files = new List<CachedFile>();
        var byFile = new Dictionary<(string, ulong, long), CachedFile>();
        foreach (var block in blocks)
        {
            if (!byFile.TryGetValue((block.Owner, block.Ino, block.Version), out var file))
            {
                file = new CachedFile { Owner = block.Owner, Path = block.Path, Ino = block.Ino, Version = block.Version };
                byFile[(block.Owner, block.Ino, block.Version)] = file;
                files.Add(file);
            }
            file.Blocks.Add(block.BlockIndex);
        }
        return files;
    }

    /// <summary>Every block of the files, files then their blocks in order (the order MissingBlocks answers in).</summary>
    public static List<WorkingSetBlock> FromWire(IEnumerable<CachedFile> files)
    {
        ArgumentNullException.ThrowIfNull(files);
        return [.. files.SelectMany(f => f.Blocks.Select(b => new WorkingSetBlock(f.Owner, f.Path, f.Ino, f.Version, b)))];
    }
}
