using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Picojump.Tests.Protocol;

/// <summary>How our C# structs are laid out in memory, by reflection.</summary>
internal static class LayoutInspection
{
    private static readonly MethodInfo SizeOfMethod = typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!;
    private static readonly MethodInfo HasReferencesMethod = typeof(RuntimeHelpers).GetMethod(nameof(RuntimeHelpers.IsReferenceOrContainsReferences))!;

    /// <summary>Unsafe.SizeOf&lt;T&gt;(): the size the code's sizeof(T) and span casts use.</summary>
    public static int SizeOf(Type type)
        => type.IsPointer ? IntPtr.Size : (int)SizeOfMethod.MakeGenericMethod(type).Invoke(null, null)!; // a pointer is no generic argument

    /// <summary>Instance fields in declaration order, private ones included (they hold padding).</summary>
    public static FieldInfo[] Fields(Type type)
        => type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)
            .OrderBy(f => (int)Marshal.OffsetOf(type, f.Name))
            .ToArray();

    public static int OffsetOf(Type type, string field) => (int)Marshal.OffsetOf(type, field);

    /// <summary>
    /// A struct we hand to the kernel must hold no references and marshal to the very bytes
    /// it occupies, so that sizeof, MemoryMarshal casts and P/Invoke all agree.
    /// </summary>
    public static IEnumerable<string> BlittabilityProblems(Type type)
    {
        if ((bool)HasReferencesMethod.MakeGenericMethod(type).Invoke(null, null)!)
            yield return $"{type.Name} contains references";
        if (type.StructLayoutAttribute?.Value != LayoutKind.Sequential)
            yield return $"{type.Name} is not LayoutKind.Sequential";
        if (Marshal.SizeOf(type) != SizeOf(type))
            yield return $"{type.Name}: Marshal.SizeOf {Marshal.SizeOf(type)} != Unsafe.SizeOf {SizeOf(type)}";
    }
}
