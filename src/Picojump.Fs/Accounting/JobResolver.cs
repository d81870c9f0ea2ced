using System.Collections.Concurrent;
using System.Globalization;

namespace Picojump.Fs.Accounting;

/// <summary>
/// Maps the pid of a FUSE request (as the daemon's PID namespace sees it) to its job: the
/// process tree of one PID namespace other than the daemon's, else the process's session.
/// Runs on every request, so answers are cached per pid for <see cref="CacheTime"/>: short,
/// because pids are reused, and long enough that a busy job costs one /proc walk a while.
/// </summary>
public sealed class JobResolver
{
    public static readonly TimeSpan CacheTime = TimeSpan.FromSeconds(2);

    /// <summary>Past this many cached pids, expired entries go; past twice as many, all go.</summary>
    public const int MaxCachedPids = 4096;

    /// <summary>Parents walked at most to find a namespace's init (a deep tree is not worth more).</summary>
    private const int MaxAncestors = 64;

    private readonly ConcurrentDictionary<int, Cached> _byPid = new();
    private readonly ConcurrentDictionary<ulong, string> _namespaceLabels = new();
    private readonly TimeProvider _time;
    private readonly string _proc;
    private readonly ulong? _ownNamespace;
    private readonly long _cacheTicks;

    public JobResolver(TimeProvider? time = null, string proc = "/proc")
    {
        _time = time ?? TimeProvider.System;
        _proc = proc;
        _ownNamespace = PidNamespace("self");
        _cacheTicks = (long)(CacheTime.TotalSeconds * _time.TimestampFrequency);
    }

    public JobId Resolve(int pid)
    {
        if (pid <= 0)
            return JobId.Unknown;
        var now = _time.GetTimestamp();
        if (_byPid.TryGetValue(pid, out var cached) && cached.Expires > now)
            return cached.Job;
        var job = Lookup(pid);
        if (_byPid.Count >= MaxCachedPids)
            Trim(now);
        _byPid[pid] = new Cached(job, now + _cacheTicks);
        return job;
    }

    private JobId Lookup(int pid)
    {
        var pidText = pid.ToString(CultureInfo.InvariantCulture);
        var ns = PidNamespace(pidText);
        var stat = Stat(pidText);
        if (ns == null || stat == null)
            return JobId.Unknown; // gone (ESRCH) or not ours to see
        if (ns != _ownNamespace)
            return new JobId(JobId.PidNamespaceKey(ns.Value), _namespaceLabels.GetOrAdd(ns.Value, inode => NamespaceLabel(inode, pid, stat.Value.Parent)));
        var session = stat.Value.Session;
        if (session <= 0)
            return JobId.Unknown;
        var leader = Comm(session.ToString(CultureInfo.InvariantCulture));
        return new JobId($"session:{session}", leader == null ? $"session {session}" : $"{leader} (session {session})");
    }

    /// <summary>"sleep (pid 4242, pidns 4026532201)": the namespace's init as the daemon sees it, found by walking up.</summary>
    private string NamespaceLabel(ulong inode, int pid, int parent)
    {
        var init = pid;
        for (var i = 0; i < MaxAncestors && parent > 1; i++)
        {
            var parentText = parent.ToString(CultureInfo.InvariantCulture);
            if (PidNamespace(parentText) != inode || Stat(parentText) is not { } parentStat)
                break;
            init = parent;
            parent = parentStat.Parent;
        }
        var comm = Comm(init.ToString(CultureInfo.InvariantCulture)) ?? "?";
        return $"{comm} (pid {init}, pidns {inode})";
    }

    private void Trim(long now)
    {
        foreach (var (pid, entry) in _byPid)
            if (entry.Expires <= now)
                _byPid.TryRemove(pid, out _);
        if (_byPid.Count >= 2 * MaxCachedPids)
            _byPid.Clear();
        // Namespace labels live as long as the namespace; a bound keeps dead ones from piling up.
        if (_namespaceLabels.Count >= MaxCachedPids)
            _namespaceLabels.Clear();
    }

    private ulong? PidNamespace(string pid) => PidNamespaceOf(_proc, pid);

    /// <summary>The inode of /proc/PID/ns/pid, from its link text "pid:[4026531836]"; null if unreadable.</summary>
    internal static ulong? PidNamespaceOf(string proc, string pid)
    {
        try
        {
            var target = new FileInfo($"{proc}/{pid}/ns/pid").LinkTarget;
            return target != null && target.StartsWith("pid:[", StringComparison.Ordinal) && target.EndsWith(']')
                && ulong.TryParse(target.AsSpan(5, target.Length - 6), CultureInfo.InvariantCulture, out var inode)
                ? inode
                : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// Parent and session from /proc/PID/stat (fields 4 and 6). They follow the last ')':
    /// the command name before it may hold spaces and parentheses.
    /// </summary>
    private (int Parent, int Session)? Stat(string pid)
    {
        var text = ReadSmall($"{_proc}/{pid}/stat");
        var end = text?.LastIndexOf(')') ?? -1;
        if (end < 0)
            return null;
        var fields = text![(end + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return fields.Length > 3
            && int.TryParse(fields[1], CultureInfo.InvariantCulture, out var parent)
            && int.TryParse(fields[3], CultureInfo.InvariantCulture, out var session)
            ? (parent, session)
            : null;
    }

    private string? Comm(string pid) => ReadSmall($"{_proc}/{pid}/comm")?.TrimEnd('\n');

    private static string? ReadSmall(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null; // the process exited (ESRCH shows up as a missing file)
        }
    }

    private readonly record struct Cached(JobId Job, long Expires);
}
