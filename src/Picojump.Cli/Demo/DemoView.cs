using System.Globalization;
using System.Text;

namespace Picojump.Cli.Demo;

/// <summary>One host's share of the job's recent bytes; <see cref="IsLocal"/> when the job runs there.</summary>
public sealed record HostShare(string Host, double Share, bool IsLocal);

/// <summary>What the demo shows of a running job at one moment.</summary>
public sealed record JobSample(TimeSpan Elapsed, string Host, JobProgress? Progress, IReadOnlyList<HostShare> Locality, IReadOnlyList<Move> Moves);

/// <summary>The live view of a run: redrawn lines on a terminal, a line per change otherwise.</summary>
public abstract class DemoView(TextWriter output)
{
    protected TextWriter Output => output;

    public static DemoView Create(TextWriter output, bool interactive) => interactive ? new TerminalView(output) : new LineView(output);

    public abstract void Show(JobSample sample);

    public abstract void End();

    protected static string Time(TimeSpan elapsed) => string.Create(CultureInfo.InvariantCulture, $"[{elapsed.TotalSeconds,6:0.0} s]");

    protected static string Where(JobSample sample)
    {
        if (sample.Progress is not { } progress)
            return "starting";
        var owner = DemoRun.Datasets.FirstOrDefault(d => d.Name == progress.Phase)?.Host ?? "?";
        return $"dataset {progress.Phase} (on {owner}) pass {progress.Pass}/{progress.Passes}";
    }

    protected static string LocalityText(JobSample sample)
        => sample.Locality.Count == 0
            ? "-"
            : string.Join(", ", sample.Locality.Take(3).Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.Host} {s.Share * 100:0}%{(s.IsLocal ? " local" : "")}")));

    protected static string MoveText(Move move)
        => string.Create(CultureInfo.InvariantCulture, $"{move.From} -> {move.To} (freeze {move.Freeze.TotalMilliseconds:0} ms)");
}

/// <summary>Three lines redrawn in place (ANSI cursor movement), for a person watching.</summary>
public sealed class TerminalView(TextWriter output) : DemoView(output)
{
    private const int BarWidth = 20;
    private int _drawn;

    public override void Show(JobSample sample)
    {
        var bar = new StringBuilder("[");
        var filled = (int)Math.Round((sample.Progress?.Fraction ?? 0) * BarWidth);
        bar.Append('#', filled).Append('.', BarWidth - filled).Append(']');
        string[] lines =
        [
            $"  {Time(sample.Elapsed)} job on {sample.Host,-3} {Where(sample)} {bar}",
            $"             bytes, last 5 s: {LocalityText(sample)}",
            $"             moves: {(sample.Moves.Count == 0 ? "none" : string.Join("; ", sample.Moves.Select(m => string.Create(CultureInfo.InvariantCulture, $"{m.At.TotalSeconds:0}s {MoveText(m)}"))))}",
        ];
        var text = new StringBuilder();
        if (_drawn > 0)
            text.Append(CultureInfo.InvariantCulture, $"\u001b[{_drawn}F");
        foreach (var line in lines)
            text.Append("\u001b[2K").Append(line.Length > 79 ? line[..79] : line).Append('\n');
        Output.Write(text.ToString());
        Output.Flush();
        _drawn = lines.Length;
    }

    public override void End() => _drawn = 0;
}

/// <summary>A line when the job starts a pass or moves, for logs and pipes.</summary>
public sealed class LineView(TextWriter output) : DemoView(output)
{
    private string _lastWhere = "";
    private int _moves;

    public override void Show(JobSample sample)
    {
        foreach (var move in sample.Moves.Skip(_moves))
            Output.WriteLine($"  {Time(move.At)} moved {MoveText(move)}");
        _moves = sample.Moves.Count;
        var where = Where(sample);
        if (where == _lastWhere)
            return;
        _lastWhere = where;
        Output.WriteLine($"  {Time(sample.Elapsed)} {where}, job on {sample.Host}; bytes, last 5 s: {LocalityText(sample)}");
        Output.Flush();
    }

    public override void End()
    {
    }
}
