using Picojump.Fs.Fuse;
using static Picojump.Tests.Protocol.FuseHeaderFacts;
using static Picojump.Tests.Protocol.LayoutInspection;

namespace Picojump.Tests.Protocol;

/// <summary>
/// Every wire struct in Picojump.Fs.Fuse against the installed &lt;linux/fuse.h&gt;, as gcc lays it
/// out: total size, and offset and size of every member, both ways (no C member without a
/// C# field, no C# field without a C member).
/// </summary>
public sealed class FuseWireLayoutTests
{
    /// <summary>
    /// Members a newer protocol carved out of older padding. When the installed header is
    /// older than the marker member, the C# fields must exactly tile the old member instead.
    /// </summary>
    private static readonly (string CStruct, string NewMember, string OldMember, string[] CsFields)[] CarvedFromPadding =
    [
        // 7.40 (Linux 6.9) renamed fuse_open_out.padding to backing_id.
        ("fuse_open_out", "backing_id", "padding", [nameof(FuseOpenOut.BackingId)]),
        // 7.40 took max_stack_depth out of fuse_init_out.unused[7], 7.43 (Linux 6.14)
        // request_timeout (u16), leaving u16 unused[11].
        ("fuse_init_out", "max_stack_depth", "unused", [nameof(FuseInitOut.MaxStackDepth), nameof(FuseInitOut.RequestTimeout), nameof(FuseInitOut.Unused)]),
        ("fuse_init_out", "request_timeout", "unused", [nameof(FuseInitOut.RequestTimeout), nameof(FuseInitOut.Unused)]),
    ];

    /// <summary>Structs with no counterpart in a 6.1 header; <see cref="Backing_map_and_ioctls_match_the_6_9_header"/> checks them.</summary>
    private static readonly HashSet<Type> NewerThanInstalledHeader = [typeof(FuseBackingMap)];

    public static TheoryData<string> WireStructs
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var type in WireStructTypes().Where(t => !NewerThanInstalledHeader.Contains(t)))
                data.Add(type.Name);
            return data;
        }
    }

    [SkippableTheory]
    [MemberData(nameof(WireStructs))]
    public void Wire_struct_matches_linux_fuse_h(string csName)
    {
        var facts = Get();
        var type = WireStructTypes().Single(t => t.Name == csName);
        var cStruct = facts.Header.Structs.Keys.SingleOrDefault(c => Normalise(c) == Normalise(csName));
        Assert.True(cStruct != null, $"{csName} has no struct in {facts} (name it after the C struct)");

        var problems = new List<string>(BlittabilityProblems(type));
        var cSize = facts.Values[SizeKey(cStruct)];
        if (SizeOf(type) != cSize)
            problems.Add($"size: C# {SizeOf(type)}, C {cSize}");

        var csFields = Fields(type).ToDictionary(f => f.Name);
        var matched = new HashSet<string>();
        var cMembers = facts.Header.Structs[cStruct];
        var carving = CarvedFromPadding.FirstOrDefault(c => c.CStruct == cStruct && cMembers.All(m => m.Name != c.NewMember));
        foreach (var member in cMembers.Where(m => !m.IsFlexibleArray))
        {
            var cOffset = facts.Values[OffsetKey(cStruct, member.Name)];
            var cFieldSize = facts.Values[FieldSizeKey(cStruct, member.Name)];
            if (carving.OldMember == member.Name)
            {
                problems.AddRange(CheckTiling(type, carving.CsFields, member.Name, cOffset, cFieldSize));
                matched.UnionWith(carving.CsFields);
                continue;
            }
            var field = csFields.Values.SingleOrDefault(f => Normalise(f.Name) == Normalise(member.Name));
            if (field == null)
            {
                problems.Add($"C member {member.Name} has no C# field");
                continue;
            }
            matched.Add(field.Name);
            var offset = OffsetOf(type, field.Name);
            var size = SizeOf(field.FieldType);
            if (offset != cOffset || size != cFieldSize)
                problems.Add($"{field.Name}: C# offset {offset} size {size}, C {member.Name} offset {cOffset} size {cFieldSize}");
        }
        problems.AddRange(csFields.Keys.Except(matched).Select(f => $"C# field {f} has no member in struct {cStruct}"));
        Assert.True(problems.Count == 0, $"{csName} vs struct {cStruct} in {facts}:\n  " + string.Join("\n  ", problems));
    }

    /// <summary>
    /// fuse_backing_map and the passthrough ioctls came with 7.40 (Linux 6.9); the installed
    /// 6.1 header lacks them, so the expectations are written out from the 6.9+ header:
    ///   struct fuse_backing_map { int32_t fd; uint32_t flags; uint64_t padding; };
    ///   #define FUSE_DEV_IOC_BACKING_OPEN  _IOW(FUSE_DEV_IOC_MAGIC, 1, struct fuse_backing_map)
    ///   #define FUSE_DEV_IOC_BACKING_CLOSE _IOW(FUSE_DEV_IOC_MAGIC, 2, uint32_t)
    /// with FUSE_DEV_IOC_MAGIC 229 and _IOW(type, nr, T) = 1 &lt;&lt; 30 | sizeof(T) &lt;&lt; 16 | type &lt;&lt; 8 | nr.
    /// </summary>
    [Fact]
    public void Backing_map_and_ioctls_match_the_6_9_header()
    {
        var type = typeof(FuseBackingMap);
        Assert.Empty(BlittabilityProblems(type));
        Assert.Equal(16, SizeOf(type));
        Assert.Equal(
            [("Fd", 0, 4), ("Flags", 4, 4), ("Padding", 8, 8)],
            Fields(type).Select(f => (f.Name, OffsetOf(type, f.Name), SizeOf(f.FieldType))).ToArray());
        Assert.Equal(typeof(int), type.GetField("Fd")!.FieldType); // the kernel reads an int32_t fd

        static uint Iow(uint type, uint nr, uint size) => 1u << 30 | size << 16 | type << 8 | nr;
        Assert.Equal(0x4010e501u, Iow(229, 1, 16));
        Assert.Equal(0x4004e502u, Iow(229, 2, sizeof(uint)));
        // What FuseConnection sends, computed from our struct's size.
        Assert.Equal(FuseConnection.BackingOpenIoctl, Iow(229, 1, (uint)SizeOf(type)));
        Assert.Equal(FuseConnection.BackingCloseIoctl, Iow(229, 2, sizeof(uint)));
    }

    /// <summary>Every struct the protocol layer puts on the wire (not the ref structs that build messages).</summary>
    private static IEnumerable<Type> WireStructTypes()
        => typeof(FuseInHeader).Assembly.GetTypes()
            .Where(t => t.Namespace == typeof(FuseInHeader).Namespace && t.IsValueType && !t.IsEnum && !t.IsByRefLike && !t.IsNested)
            .OrderBy(t => t.Name, StringComparer.Ordinal);

    /// <summary>The C# fields must fill the old C member exactly, one after the other.</summary>
    private static IEnumerable<string> CheckTiling(Type type, string[] fields, string oldMember, long cOffset, long cSize)
    {
        var at = cOffset;
        foreach (var name in fields)
        {
            var offset = OffsetOf(type, name);
            if (offset != at)
                yield return $"{name}: offset {offset}, but it should follow on at {at} inside old {oldMember} ({cOffset}..{cOffset + cSize})";
            at = offset + SizeOf(type.GetField(name)!.FieldType);
        }
        if (at != cOffset + cSize)
            yield return $"{string.Join('+', fields)} end at {at}, old {oldMember} ends at {cOffset + cSize}";
    }
}
