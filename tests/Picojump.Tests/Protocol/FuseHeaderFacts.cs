using System.Globalization;
using Picojump.Fs.Fuse;
using Picojump.Tests.Infrastructure;

namespace Picojump.Tests.Protocol;

/// <summary>
/// The installed &lt;linux/fuse.h&gt; as gcc sees it: its structs, enums and macros, and the
/// value of every sizeof/offsetof/constant the wire tests compare with, from one probe
/// program built once per test run.
/// </summary>
internal sealed class FuseHeaderFacts
{
    /// <summary>Largest name length whose record size the probe reports (DirEntryWriter tests).</summary>
    public const int DirentNameLengths = 24;

    private static readonly string[] Includes = ["linux/fuse.h", "linux/fs.h"];
    private static readonly Lazy<FuseHeaderFacts> Shared = new(Load);

    /// <summary>Where each C# enum's members are declared in the header, and their C prefix.</summary>
    public static readonly (Type Enum, string? CEnum, string Prefix)[] EnumSources =
    [
        (typeof(FuseOpcode), "fuse_opcode", "FUSE_"),
        (typeof(FuseNotifyCode), "fuse_notify_code", "FUSE_NOTIFY_"),
        (typeof(FuseInitFlags), null, "FUSE_"),
        (typeof(FuseOpenOutFlags), null, "FOPEN_"),
        (typeof(FuseSetAttrValid), null, "FATTR_"),
    ];

    /// <summary>FuseConstants members and the macro each one copies.</summary>
    public static readonly IReadOnlyDictionary<string, string> ConstantMacros = new Dictionary<string, string>
    {
        [nameof(FuseConstants.GetAttrFh)] = "FUSE_GETATTR_FH",
        [nameof(FuseConstants.ReleaseFlockUnlock)] = "FUSE_RELEASE_FLOCK_UNLOCK",
        [nameof(FuseConstants.LkFlock)] = "FUSE_LK_FLOCK",
        [nameof(FuseConstants.FsyncFdatasync)] = "FUSE_FSYNC_FDATASYNC",
        [nameof(FuseConstants.WriteKillSuidGid)] = "FUSE_WRITE_KILL_SUIDGID",
        [nameof(FuseConstants.OpenKillSuidGid)] = "FUSE_OPEN_KILL_SUIDGID",
        [nameof(FuseConstants.RenameNoReplace)] = "RENAME_NOREPLACE",
        [nameof(FuseConstants.RenameExchange)] = "RENAME_EXCHANGE",
        [nameof(FuseConstants.RenameWhiteout)] = "RENAME_WHITEOUT",
        [nameof(FuseConstants.RootNodeId)] = "FUSE_ROOT_ID",
        [nameof(FuseConstants.MinReadBuffer)] = "FUSE_MIN_READ_BUFFER",
    };

    private FuseHeaderFacts(CHeaderModel header, IReadOnlyDictionary<string, long> values)
    {
        Header = header;
        Values = values;
    }

    public CHeaderModel Header { get; }

    /// <summary>Probe results, keyed as <see cref="SizeKey"/>, <see cref="OffsetKey"/>, ... name them.</summary>
    public IReadOnlyDictionary<string, long> Values { get; }

    public long KernelMinor => Values["FUSE_KERNEL_MINOR_VERSION"];

    /// <summary>The facts, once per run; skips (or fails under CI) without gcc.</summary>
    public static FuseHeaderFacts Get()
    {
        Prerequisites.RequireCommand("gcc");
        Prerequisites.Require(File.Exists("/usr/include/linux/fuse.h"), "kernel headers: /usr/include/linux/fuse.h (linux-libc-dev)");
        return Shared.Value;
    }

    public static string SizeKey(string cStruct) => $"sizeof {cStruct}";

    public static string OffsetKey(string cStruct, string field) => $"offsetof {cStruct}.{field}";

    public static string FieldSizeKey(string cStruct, string field) => $"sizeof {cStruct}.{field}";

    public static string DirentSizeKey(bool plus, int nameLength) => $"{(plus ? "FUSE_DIRENTPLUS_SIZE" : "FUSE_DIRENT_SIZE")} {nameLength}";

    /// <summary>C and C# spell the same member differently: entry_valid_nsec and EntryValidNsec.</summary>
    public static string Normalise(string name) => name.Replace("_", "", StringComparison.Ordinal).ToLowerInvariant();

    /// <summary>The C identifier a C# enum member copies, or null if this header lacks it.</summary>
    public string? CIdentifierFor(Type csEnum, string member)
    {
        var (_, cEnum, prefix) = EnumSources.Single(s => s.Enum == csEnum);
        IEnumerable<string> candidates = cEnum != null ? Header.Enums[cEnum] : Header.Defines;
        return candidates.FirstOrDefault(id => id.StartsWith(prefix, StringComparison.Ordinal)
            && Normalise(id[prefix.Length..]) == Normalise(member));
    }

    private static FuseHeaderFacts Load()
    {
        var header = CHeaderModel.Parse(CProbe.Preprocess(Includes));
        Assert.True(header.Structs.ContainsKey("fuse_in_header"), "the preprocessed <linux/fuse.h> declares no struct fuse_in_header");
        var expressions = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["FUSE_KERNEL_VERSION"] = "FUSE_KERNEL_VERSION",
            ["FUSE_KERNEL_MINOR_VERSION"] = "FUSE_KERNEL_MINOR_VERSION",
        };
        foreach (var (name, fields) in header.Structs.Where(s => s.Key.StartsWith("fuse_", StringComparison.Ordinal)))
        {
            expressions[SizeKey(name)] = $"sizeof(struct {name})";
            foreach (var field in fields.Where(f => !f.IsFlexibleArray))
            {
                expressions[OffsetKey(name, field.Name)] = $"offsetof(struct {name}, {field.Name})";
                expressions[FieldSizeKey(name, field.Name)] = $"sizeof(((struct {name} *)0)->{field.Name})";
            }
        }
        for (var n = 0; n <= DirentNameLengths; n++)
        {
            expressions[DirentSizeKey(false, n)] = $"FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + {n})";
            expressions[DirentSizeKey(true, n)] = $"FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET_DIRENTPLUS + {n})";
        }
        var partial = new FuseHeaderFacts(header, new Dictionary<string, long>());
        foreach (var (csEnum, _, _) in EnumSources)
        {
            foreach (var member in Enum.GetNames(csEnum))
            {
                if (partial.CIdentifierFor(csEnum, member) is { } id)
                    expressions[id] = id;
            }
        }
        foreach (var macro in ConstantMacros.Values.Where(header.Defines.Contains))
            expressions[macro] = macro;
        return new FuseHeaderFacts(header, CProbe.Evaluate(Includes, expressions));
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"<linux/fuse.h> 7.{KernelMinor}");
}
