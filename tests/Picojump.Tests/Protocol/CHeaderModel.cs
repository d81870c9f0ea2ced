using System.Text.RegularExpressions;

namespace Picojump.Tests.Protocol;

/// <summary>One member of a C struct as the header declares it.</summary>
internal sealed record CField(string Name, bool IsFlexibleArray);

/// <summary>
/// What a preprocessed header (gcc -E -dD -P) declares: struct members, enum members and
/// object-like macros. Enough C for the flat uapi headers; nothing like a C parser.
/// </summary>
internal sealed partial class CHeaderModel
{
    private CHeaderModel(Dictionary<string, List<CField>> structs, Dictionary<string, List<string>> enums, HashSet<string> defines)
    {
        Structs = structs;
        Enums = enums;
        Defines = defines;
    }

    public IReadOnlyDictionary<string, List<CField>> Structs { get; }

    public IReadOnlyDictionary<string, List<string>> Enums { get; }

    public IReadOnlySet<string> Defines { get; }

    public static CHeaderModel Parse(string preprocessed)
    {
        var structs = new Dictionary<string, List<CField>>(StringComparer.Ordinal);
        foreach (Match m in StructRegex().Matches(preprocessed))
        {
            var fields = new List<CField>();
            foreach (var declaration in m.Groups["body"].Value.Split(';'))
            {
                var member = MemberRegex().Match(declaration.Trim());
                if (member.Success)
                    fields.Add(new CField(member.Groups["name"].Value, member.Groups["array"].Value == "[]"));
            }
            structs[m.Groups["name"].Value] = fields;
        }

        var enums = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (Match m in EnumRegex().Matches(preprocessed))
        {
            enums[m.Groups["name"].Value] = m.Groups["body"].Value
                .Split(',')
                .Select(item => item.Split('=')[0].Trim())
                .Where(item => item.Length > 0)
                .ToList();
        }

        var defines = new HashSet<string>(StringComparer.Ordinal);
        foreach (Match m in DefineRegex().Matches(preprocessed))
            defines.Add(m.Groups["name"].Value);
        return new CHeaderModel(structs, enums, defines);
    }

    [GeneratedRegex(@"\bstruct\s+(?<name>\w+)\s*\{(?<body>[^{}]*)\}\s*;")]
    private static partial Regex StructRegex();

    // The last identifier of a declaration is the member; "[N]" or "[]" may follow it.
    [GeneratedRegex(@"(?<name>\w+)\s*(?<array>\[[^\]]*\])?$")]
    private static partial Regex MemberRegex();

    [GeneratedRegex(@"\benum\s+(?<name>\w+)\s*\{(?<body>[^{}]*)\}")]
    private static partial Regex EnumRegex();

    // Object-like macros only: a function-like macro has "(" right after its name.
    [GeneratedRegex(@"^#define\s+(?<name>\w+)(?=\s)", RegexOptions.Multiline)]
    private static partial Regex DefineRegex();
}
