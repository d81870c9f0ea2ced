using System.Reflection;
using Picojump.Fs.Fuse;

namespace Picojump.Tests.Protocol;

/// <summary>
/// Opcode numbers, flag bits and small constants against the installed &lt;linux/fuse.h&gt;
/// (and &lt;linux/fs.h&gt; for RENAME_*), as the compiled probe program prints them.
/// </summary>
public sealed class FuseWireConstantTests
{
    /// <summary>
    /// Members newer than the installed 6.1 header (protocol 7.38), written out from the
    /// header that introduced them; used only while the installed header lacks them.
    /// </summary>
    private static readonly Dictionary<string, (ulong Value, int Minor, string Source)> NewerThanInstalledHeader = new()
    {
        ["FuseOpcode.Statx"] = (52, 39, "FUSE_STATX = 52, 7.39 (Linux 6.6)"),
        ["FuseOpcode.CopyFileRange64"] = (53, 45, "FUSE_COPY_FILE_RANGE_64 = 53, 7.45 (Linux 6.18)"),
        ["FuseInitFlags.Passthrough"] = (1UL << 37, 40, "FUSE_PASSTHROUGH (1ULL << 37), 7.40 (Linux 6.9)"),
        ["FuseOpenOutFlags.Passthrough"] = (1UL << 7, 40, "FOPEN_PASSTHROUGH (1 << 7), 7.40 (Linux 6.9)"),
    };

    public static TheoryData<string> WireEnums
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var (type, _, _) in FuseHeaderFacts.EnumSources)
                data.Add(type.Name);
            return data;
        }
    }

    [SkippableTheory]
    [MemberData(nameof(WireEnums))]
    public void Enum_values_match_linux_fuse_h(string enumName)
    {
        var facts = FuseHeaderFacts.Get();
        var type = FuseHeaderFacts.EnumSources.Single(s => s.Enum.Name == enumName).Enum;
        var problems = new List<string>();
        foreach (var member in Enum.GetNames(type))
        {
            var value = Convert.ToUInt64(Enum.Parse(type, member), System.Globalization.CultureInfo.InvariantCulture);
            if (value == 0)
                continue; // "None"
            if (facts.CIdentifierFor(type, member) is { } id)
            {
                if ((ulong)facts.Values[id] != value)
                    problems.Add($"{member} = 0x{value:x}, but {id} = 0x{facts.Values[id]:x}");
            }
            else if (NewerThanInstalledHeader.TryGetValue($"{type.Name}.{member}", out var newer))
            {
                if (facts.KernelMinor >= newer.Minor)
                    problems.Add($"{member}: the header is 7.{facts.KernelMinor} and should declare {newer.Source}; is it named differently?");
                else if (newer.Value != value)
                    problems.Add($"{member} = 0x{value:x}, but {newer.Source}");
            }
            else
            {
                problems.Add($"{member} has no counterpart in {facts} and no entry in {nameof(NewerThanInstalledHeader)}");
            }
        }
        Assert.True(problems.Count == 0, $"{enumName} vs {facts}:\n  " + string.Join("\n  ", problems));
    }

    [SkippableFact]
    public void Constants_match_linux_fuse_h()
    {
        var facts = FuseHeaderFacts.Get();
        var constants = typeof(FuseConstants).GetFields(BindingFlags.Public | BindingFlags.Static).Where(f => f.IsLiteral);
        foreach (var constant in constants)
        {
            Assert.True(FuseHeaderFacts.ConstantMacros.TryGetValue(constant.Name, out var macro), $"FuseConstants.{constant.Name}: name the macro it copies");
            Assert.True(facts.Header.Defines.Contains(macro), $"{macro} is not defined in {facts}");
            Assert.Equal(facts.Values[macro], Convert.ToInt64(constant.GetRawConstantValue(), System.Globalization.CultureInfo.InvariantCulture));
        }
        Assert.Equal(7, facts.Values["FUSE_KERNEL_VERSION"]);
    }

    [SkippableFact]
    public void Dir_entry_records_are_sized_as_the_header_macros_say()
    {
        var facts = FuseHeaderFacts.Get();
        for (var n = 1; n <= FuseHeaderFacts.DirentNameLengths; n++)
        {
            var name = new byte[n];
            Array.Fill(name, (byte)'x');
            var plain = new DirEntryWriter(new byte[4096], plus: false);
            Assert.True(plain.Add(name, 1, 8, 1));
            Assert.Equal(facts.Values[FuseHeaderFacts.DirentSizeKey(false, n)], plain.Length);
            var plus = new DirEntryWriter(new byte[4096], plus: true);
            Assert.True(plus.AddPlus(name, 8, 1, default));
            Assert.Equal(facts.Values[FuseHeaderFacts.DirentSizeKey(true, n)], plus.Length);
        }
    }
}
