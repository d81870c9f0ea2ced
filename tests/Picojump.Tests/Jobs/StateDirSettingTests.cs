using Picojump.Host;

namespace Picojump.Tests.Jobs;

/// <summary>The "stateDir" key (where a daemon keeps its jobs): an absolute path, else one line naming the key.</summary>
public sealed class StateDirSettingTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("pj-state-settings-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void The_default_is_var_lib_picojump_and_the_key_sets_it()
    {
        Assert.Equal("/var/lib/picojump", new DaemonSettings().StateDir);
        Assert.Equal("/srv/pj/state", DaemonSettings.Load(Write("""{ "stateDir": "/srv/pj/state" }""")).StateDir);
    }

    [Theory]
    [InlineData("5")]
    [InlineData("\"\"")]
    [InlineData("\"relative/state\"")]
    [InlineData("null")]
    public void A_bad_value_is_one_line_naming_the_key(string value)
    {
        var path = Write($$"""{ "stateDir": {{value}} }""");

        var error = Assert.Throws<SettingsException>(() => DaemonSettings.Load(path));

        Assert.Equal($"config file {path}: key \"stateDir\" must be an absolute path", error.Message);
    }

    private string Write(string json)
    {
        var path = Path.Combine(_dir.FullName, "picojumpd.json");
        File.WriteAllText(path, json);
        return path;
    }
}
