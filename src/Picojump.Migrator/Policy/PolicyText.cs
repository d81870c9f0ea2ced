using System.Globalization;

namespace Picojump.Migrator.Policy;

/// <summary>Numbers as people read them in a reason: 91%, 1.2 GiB, 3.1 s.</summary>
internal static class PolicyText
{
    private static readonly string[] Units = ["B", "KiB", "MiB", "GiB", "TiB"];

    public static string Percent(double share)
        => string.Create(CultureInfo.InvariantCulture, $"{Math.Round(share * 100):0}%");

    public static string Bytes(long bytes)
    {
        double value = bytes;
        var unit = 0;
        while (Math.Abs(value) >= 1023.95 && unit < Units.Length - 1) // 1023.96 MiB reads 1.0 GiB, not 1024.0 MiB
        {
            value /= 1024;
            unit++;
        }
        return unit == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{bytes} B")
            : string.Create(CultureInfo.InvariantCulture, $"{value:0.0} {Units[unit]}");
    }

    public static string Seconds(TimeSpan time)
    {
        var s = time.TotalSeconds;
        var format = Math.Abs(s) switch
        {
            0 => "0",
            < 0.1 => "0.00",
            >= 100 => "0",
            _ when s == Math.Round(s) => "0", // a setting such as 30 s or 1 s reads as written
            _ => "0.0",
        };
        return s.ToString(format, CultureInfo.InvariantCulture) + " s";
    }

    /// <summary>A time left, rounded up to whole seconds: "12 s left" never undersells a wait.</summary>
    public static string SecondsLeft(TimeSpan time)
        => string.Create(CultureInfo.InvariantCulture, $"{Math.Ceiling(time.TotalSeconds):0} s");

    public static string Factor(double factor)
        => double.IsPositiveInfinity(factor) ? "inf" : factor.ToString("0.##", CultureInfo.InvariantCulture);
}
