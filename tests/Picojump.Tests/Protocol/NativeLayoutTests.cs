using System.Globalization;
using System.Reflection;
using Picojump.Fs.Native;
using Picojump.Tests.Infrastructure;
using static Picojump.Tests.Protocol.LayoutInspection;

namespace Picojump.Tests.Protocol;

/// <summary>
/// Our libc structs and constants (Picojump.Fs.Native) against glibc's headers as gcc
/// compiles them on this machine: struct stat, statvfs, flock, timespec, iovec, errno
/// values, open/at/lock/mount flags and the raw syscall numbers.
/// </summary>
public sealed class NativeLayoutTests
{
    private static readonly string[] Includes =
    [
        "sys/stat.h", "sys/statvfs.h", "fcntl.h", "errno.h", "sys/uio.h", "time.h",
        "sys/file.h", "sys/mount.h", "sys/syscall.h", "linux/openat2.h",
    ];

    /// <summary>C# type, its C type, and the C member each field copies (glibc's private names for padding).</summary>
    private static readonly (Type Type, string CType, int Size, (string Field, string CMember)[] Fields)[] Structs =
    [
        (typeof(Stat), "struct stat", 144,
        [
            ("Dev", "st_dev"), ("Ino", "st_ino"), ("Nlink", "st_nlink"), ("Mode", "st_mode"), ("Uid", "st_uid"),
            ("Gid", "st_gid"), ("_pad0", "__pad0"), ("Rdev", "st_rdev"), ("Size", "st_size"), ("BlkSize", "st_blksize"),
            ("Blocks", "st_blocks"), ("Atime", "st_atim.tv_sec"), ("AtimeNsec", "st_atim.tv_nsec"),
            ("Mtime", "st_mtim.tv_sec"), ("MtimeNsec", "st_mtim.tv_nsec"), ("Ctime", "st_ctim.tv_sec"),
            ("CtimeNsec", "st_ctim.tv_nsec"), ("_reserved0", "__glibc_reserved[0]"),
            ("_reserved1", "__glibc_reserved[1]"), ("_reserved2", "__glibc_reserved[2]"),
        ]),
        (typeof(StatVfs), "struct statvfs", 112,
        [
            ("BlockSize", "f_bsize"), ("FragmentSize", "f_frsize"), ("Blocks", "f_blocks"), ("BlocksFree", "f_bfree"),
            ("BlocksAvailable", "f_bavail"), ("Files", "f_files"), ("FilesFree", "f_ffree"),
            ("FilesAvailable", "f_favail"), ("FsId", "f_fsid"), ("Flags", "f_flag"), ("NameMax", "f_namemax"),
            ("_spare", "__f_spare"),
        ]),
        (typeof(Flock), "struct flock", 32,
        [
            ("Type", "l_type"), ("Whence", "l_whence"), ("Start", "l_start"), ("Length", "l_len"), ("Pid", "l_pid"),
        ]),
        (typeof(TimeSpec), "struct timespec", 16, [("Seconds", "tv_sec"), ("Nanoseconds", "tv_nsec")]),
        (typeof(IoVec), "struct iovec", 16, [("Base", "iov_base"), ("Length", "iov_len")]),
    ];

    /// <summary>Classes whose integer constants are named after the C macro they copy.</summary>
    private static readonly Type[] ConstantHolders = [typeof(LibC), typeof(OpenFlags), typeof(Stat), typeof(TimeSpec)];

    private static readonly Lazy<IReadOnlyDictionary<string, long>> Probe = new(RunProbe);

    public static TheoryData<string> StructNames
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var s in Structs)
                data.Add(s.Type.Name);
            return data;
        }
    }

    [SkippableTheory]
    [MemberData(nameof(StructNames))]
    public void Native_struct_matches_glibc(string csName)
    {
        var values = Values();
        var (type, cType, size, fields) = Structs.Single(s => s.Type.Name == csName);
        var problems = new List<string>(BlittabilityProblems(type));
        if (SizeOf(type) != size || values[$"sizeof {cType}"] != size)
            problems.Add($"size: C# {SizeOf(type)}, C {values[$"sizeof {cType}"]}, expected {size} on x86_64");
        foreach (var field in Fields(type))
        {
            var mapping = fields.SingleOrDefault(f => f.Field == field.Name);
            if (mapping.CMember == null)
            {
                problems.Add($"C# field {field.Name} has no C member in this test's table");
                continue;
            }
            var (offset, fieldSize) = (OffsetOf(type, field.Name), SizeOf(field.FieldType));
            var (cOffset, cSize) = (values[$"offsetof {cType}.{mapping.CMember}"], values[$"sizeof {cType}.{mapping.CMember}"]);
            if (offset != cOffset || fieldSize != cSize)
                problems.Add($"{field.Name}: C# offset {offset} size {fieldSize}, C {mapping.CMember} offset {cOffset} size {cSize}");
        }
        Assert.True(problems.Count == 0, $"{csName} vs {cType}:\n  " + string.Join("\n  ", problems));
    }

    [SkippableFact]
    public void Errno_values_match_errno_h()
    {
        var values = Values();
        foreach (var errno in Enum.GetValues<Errno>().Where(e => e != Errno.OK))
            Assert.True(values[errno.ToString()] == (long)errno, $"Errno.{errno} = {(int)errno}, <errno.h> says {values[errno.ToString()]}");
    }

    [SkippableFact]
    public void Libc_constants_match_the_headers()
    {
        var values = Values();
        var checkedAny = false;
        foreach (var (holder, constant) in IntegerConstants())
        {
            var ours = Convert.ToInt64(constant.GetRawConstantValue(), CultureInfo.InvariantCulture);
            Assert.True(values[constant.Name] == ours, $"{holder.Name}.{constant.Name} = {ours}, the header says {values[constant.Name]}");
            checkedAny = true;
        }
        Assert.True(checkedAny);
    }

    private static IReadOnlyDictionary<string, long> Values()
    {
        Prerequisites.RequireCommand("gcc");
        return Probe.Value;
    }

    private static IEnumerable<(Type Holder, FieldInfo Constant)> IntegerConstants()
        => ConstantHolders.SelectMany(holder => holder
            .GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)
            .Where(f => f.IsLiteral && f.FieldType != typeof(string))
            .Select(f => (holder, f)));

    private static IReadOnlyDictionary<string, long> RunProbe()
    {
        var expressions = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (_, cType, _, fields) in Structs)
        {
            expressions[$"sizeof {cType}"] = $"sizeof({cType})";
            foreach (var (_, member) in fields)
            {
                expressions[$"offsetof {cType}.{member}"] = $"offsetof({cType}, {member})";
                expressions[$"sizeof {cType}.{member}"] = $"sizeof((({cType} *)0)->{member})";
            }
        }
        foreach (var errno in Enum.GetValues<Errno>().Where(e => e != Errno.OK))
            expressions[errno.ToString()] = errno.ToString();
        foreach (var (_, constant) in IntegerConstants())
            expressions[constant.Name] = constant.Name;
        return CProbe.Evaluate(Includes, expressions);
    }
}
