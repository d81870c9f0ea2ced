namespace Picojump.Fs.Accounting;

/// <summary>
/// The job a request belongs to. <see cref="Key"/> is stable for the job's life
/// ("pidns:4026532201", "session:1234", "unknown"); <see cref="Label"/> is for people.
/// </summary>
public readonly record struct JobId(string Key, string Label)
{
    public static readonly JobId Unknown = new("unknown", "unknown (kernel or vanished process)");

    /// <summary>The key of the job that is the process tree of PID namespace <paramref name="inode"/>.</summary>
    public static string PidNamespaceKey(ulong inode) => $"pidns:{inode}";
}
