namespace Picojump.Migrator.Images;

/// <summary>CRIU's pagemap entry flags (criu/include/pagemap.h).</summary>
[Flags]
public enum PagemapFlags : uint
{
    None = 0,

    /// <summary>PE_PARENT: the pages are in a parent (pre-dump) snapshot, not in this image.</summary>
    Parent = 1 << 0,

    /// <summary>PE_LAZY: restore may leave the pages to lazy-pages (userfaultfd).</summary>
    Lazy = 1 << 1,

    /// <summary>PE_PRESENT: the pages are in this dump's pages image, in pagemap order.</summary>
    Present = 1 << 2,
}
