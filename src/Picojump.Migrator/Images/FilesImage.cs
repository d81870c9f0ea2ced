using System.Text;
using Picojump.Migrator.Images.Proto;

namespace Picojump.Migrator.Images;

/// <summary>
/// CRIU's files image (files.img). CRIU records the size of every regular file a job has open
/// and refuses to restore if the file's size differs. A file under /pj is shared: another job
/// or host may write it while this job is frozen (two jobs on one database), and restore then
/// failed on the destination and on the source alike, losing the job. Its size says nothing
/// about the job's own state, so it is taken out of the image; files elsewhere keep the check.
/// </summary>
public static class FilesImage
{
    public const string FileName = "files.img";

    /// <summary>FILES_MAGIC (criu/include/magic.h).</summary>
    public const uint Magic = 0x56303138;

    private const uint RegularFile = 1;

    /// <summary>
    /// Drops the recorded size of every regular file under <paramref name="sharedRoot"/> (an
    /// absolute path, e.g. "/pj"); returns how many it dropped. The image is replaced atomically,
    /// and only if something changed, so this can run before every restore of the same dump.
    /// </summary>
    public static int ForgetSizesUnder(string directory, string sharedRoot)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
            return 0;
        var prefix = Encoding.UTF8.GetBytes(sharedRoot.Trim('/') + "/");
        var entries = new List<FileEntry>();
        var dropped = 0;
        using (var input = File.OpenRead(path))
        {
            CriuImage.ReadHeader(input, Magic, path);
            while (CriuImage.ReadMessage(input, FileEntry.Parser, path) is { } entry)
            {
                if (entry.Type == RegularFile && entry.Reg is { HasSize: true } reg && reg.Name.Span.TrimStart((byte)'/').StartsWith(prefix))
                {
                    reg.ClearSize();
                    dropped++;
                }
                entries.Add(entry);
            }
        }
        if (dropped == 0)
            return 0;
        var partial = path + ".partial";
        using (var output = File.Create(partial))
        {
            CriuImage.WriteHeader(output, Magic);
            foreach (var entry in entries)
                CriuImage.WriteMessage(output, entry);
            output.Flush(flushToDisk: true);
        }
        File.Move(partial, path, overwrite: true);
        return dropped;
    }
}
