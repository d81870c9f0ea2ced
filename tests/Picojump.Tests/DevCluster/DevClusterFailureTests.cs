using Picojump.Tests.Infrastructure;

namespace Picojump.Tests.DevCluster;

/// <summary>`up` that fails part-way, and directories that are not a dev cluster's.</summary>
public sealed class DevClusterFailureTests : IDisposable
{
    private readonly Pjctl _pjctl = new(Pjctl.NewRoot());
    private readonly string _scratch = Directory.CreateTempSubdirectory("pjdc-scratch-").FullName;

    [SkippableFact]
    public void Failed_up_quotes_the_daemon_log_and_down_removes_what_was_made()
    {
        Pjctl.RequireMachine();
        var daemon = Path.Combine(_scratch, "refusing-daemon");
        File.WriteAllText(daemon, "#!/bin/sh\necho 'test double: picojumpd refuses to start' >&2\nexit 3\n");
        File.SetUnixFileMode(daemon, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        var up = _pjctl.Run(["devcluster", "up", "--hosts", "2", "--daemon", daemon]);

        Assert.Equal(1, up.ExitCode);
        Assert.Contains("picojumpd exited before /pj was served", up.Error, StringComparison.Ordinal);
        Assert.Contains("    test double: picojumpd refuses to start", up.Error, StringComparison.Ordinal);
        var id = Leftovers.ClusterId(_pjctl.Root);
        Assert.Contains($"pj{id}-h2", TestProcess.Run("ip", ["netns", "list"], TimeSpan.FromSeconds(10)).Output, StringComparison.Ordinal);

        _pjctl.Check("devcluster", "down");

        Leftovers.AssertNone(_pjctl.Root, id);
    }

    [SkippableFact]
    public void Up_and_down_leave_a_directory_that_is_not_a_dev_cluster_alone()
    {
        Pjctl.RequireMachine();
        var keep = Path.Combine(_scratch, "keep");
        File.WriteAllText(keep, "not a cluster");
        var other = new Pjctl(_scratch);

        var up = other.Run(["devcluster", "up", "--hosts", "1"]);
        var down = other.Run(["devcluster", "down"]);

        Assert.Equal(1, up.ExitCode);
        Assert.Contains("is not empty and holds no dev cluster", up.Error, StringComparison.Ordinal);
        Assert.Equal(1, down.ExitCode);
        Assert.Contains("it is not a dev cluster's, so it was left in place", down.Error, StringComparison.Ordinal);
        Assert.True(File.Exists(keep));
    }

    public void Dispose()
    {
        if (Directory.Exists(_pjctl.Root))
            _pjctl.Run(["devcluster", "down"]);
        Directory.Delete(_scratch, recursive: true);
    }
}
