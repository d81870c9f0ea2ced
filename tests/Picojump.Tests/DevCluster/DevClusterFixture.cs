using System.Text.Json;
using Picojump.Tests.Infrastructure;

namespace Picojump.Tests.DevCluster;

/// <summary>
/// One 3-host dev cluster for a whole test class, brought up by the first test that needs
/// it (after its prerequisites, so a machine without them skips instead of failing here)
/// and taken down at the end whatever happened.
/// </summary>
public sealed class DevClusterFixture : IDisposable
{
    private readonly Lazy<TestProcess.Result> _up;

    public DevClusterFixture()
    {
        Pjctl = new Pjctl(Pjctl.NewRoot());
        _up = new Lazy<TestProcess.Result>(() => Pjctl.Run(["devcluster", "up", "--hosts", "3"]));
    }

    public Pjctl Pjctl { get; }

    public string Root => Pjctl.Root;

    public void EnsureUp()
    {
        Pjctl.RequireMachine();
        Assert.True(_up.Value.ExitCode == 0, $"pjctl devcluster up: {_up.Value}");
    }

    public string HostDirectory(string host) => Path.Combine(Root, host);

    /// <summary>The host's address, from the cluster facts that `up` wrote for it.</summary>
    public string Address(string host)
        => JsonDocument.Parse(File.ReadAllText(Path.Combine(HostDirectory(host), "etc", "cluster.json"))).RootElement.GetProperty("address").GetString()!;

    public void Dispose()
    {
        if (_up.IsValueCreated)
            Pjctl.Run(["devcluster", "down"]);
    }
}
