using System.Globalization;
using System.Text;

namespace Picojump.Cli.Demo;

/// <summary>Where the demo job is, from what it prints: "phase A pass 2/3 file 5/16", "phase A crc 1a2b3c4d seconds 9.1".</summary>
public sealed record JobProgress(string Phase, int Pass, int Passes, int File, int Files)
{
    /// <summary>How far the job is through the current dataset, from 0 to 1.</summary>
    public double Fraction => ((Pass - 1) * (double)Files + File - 1) / (Passes * (double)Files);
}

/// <summary>The demo job's stdout, read as it grows.</summary>
public sealed class JobOutput(string path)
{
    private readonly Dictionary<string, string> _checksums = new(StringComparer.Ordinal);
    private long _offset;
    private string _partial = "";

    public JobProgress? Progress { get; private set; }

    /// <summary>The CRC-32 of each dataset's passes, by dataset name.</summary>
    public IReadOnlyDictionary<string, string> Checksums => _checksums;

    public void Read()
    {
        if (!System.IO.File.Exists(path))
            return;
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        stream.Seek(_offset, SeekOrigin.Begin);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var text = _partial + reader.ReadToEnd();
        _offset = stream.Position;
        var lines = text.Split('\n');
        _partial = lines[^1];
        foreach (var line in lines[..^1])
            Parse(line.Split(' '));
    }

    private void Parse(string[] words)
    {
        switch (words)
        {
            case ["phase", var phase, "pass", var pass, "file", var file]
                when Fraction(pass) is ( > 0, > 0) and var (p, passes) && Fraction(file) is ( > 0, > 0) and var (f, files):
                Progress = new JobProgress(phase, p, passes, f, files);
                break;
            case ["phase", var phase, "crc", var crc, "seconds", _]:
                _checksums[phase] = crc;
                break;
        }
    }

    /// <summary>"2/3" as (2, 3); (0, 0) when it is not one.</summary>
    private static (int, int) Fraction(string text)
    {
        var parts = text.Split('/');
        return parts.Length == 2 && int.TryParse(parts[0], CultureInfo.InvariantCulture, out var a) && int.TryParse(parts[1], CultureInfo.InvariantCulture, out var b) && b > 0
            ? (a, b)
            : (0, 0);
    }
}
