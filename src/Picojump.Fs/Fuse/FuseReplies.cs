namespace Picojump.Fs.Fuse;

/// <summary>Entry and attribute replies with the kernel's cache validity split into seconds and nanoseconds.</summary>
public static class FuseReplies
{
    public static FuseEntryOut Entry(ulong nodeId, in FuseAttr attr, TimeSpan entryTimeout, TimeSpan attrTimeout) => new()
    {
        NodeId = nodeId,
        EntryValid = Seconds(entryTimeout),
        EntryValidNsec = Nanoseconds(entryTimeout),
        AttrValid = Seconds(attrTimeout),
        AttrValidNsec = Nanoseconds(attrTimeout),
        Attr = attr,
    };

    public static FuseAttrOut Attr(in FuseAttr attr, TimeSpan timeout) => new()
    {
        AttrValid = Seconds(timeout),
        AttrValidNsec = Nanoseconds(timeout),
        Attr = attr,
    };

    private static ulong Seconds(TimeSpan timeout) => (ulong)timeout.TotalSeconds;

    private static uint Nanoseconds(TimeSpan timeout) => (uint)(timeout.Ticks % TimeSpan.TicksPerSecond * 100);
}
