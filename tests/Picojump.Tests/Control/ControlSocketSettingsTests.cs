using Picojump.Host;

namespace Picojump.Tests.Control;

/// <summary>The "controlSocket" key: a path a Unix socket can bind, else one line naming the key.</summary>
public sealed class ControlSocketSettingsTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("pj-control-settings-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void The_default_is_under_run_picojump_and_the_key_sets_it()
    {
        Assert.Equal("/run/picojump/control.sock", new DaemonSettings().ControlSocket);
        Assert.Equal("/srv/pj/control.sock", DaemonSettings.Load(Write("""{ "controlSocket": "/srv/pj/control.sock" }""")).ControlSocket);
    }

    [Theory]
    [InlineData("5")]
    [InlineData("\"\"")]
    [InlineData("\"relative/control.sock\"")]
    [InlineData("\"/run/picojump/\"")]
    [InlineData("\"/a-path-longer-than-sun-path-holds/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.sock\"")]
    public void A_bad_value_is_one_line_naming_the_key(string value)
    {
        var path = Write($$"""{ "controlSocket": {{value}} }""");

        var error = Assert.Throws<SettingsException>(() => DaemonSettings.Load(path));

        Assert.Equal($"config file {path}: key \"controlSocket\" must be an absolute path of at most 107 bytes", error.Message);
    }

    [Fact]
    public void A_bad_command_line_value_fails_validation()
    {
        var settings = new DaemonSettings { Export = _dir.FullName, Mountpoint = "/pj", ControlSocket = "control.sock" };

        var error = Assert.Throws<SettingsException>(settings.Validate);

        Assert.Equal("control socket control.sock must be an absolute path of at most 107 bytes", error.Message);
    }

    private string Write(string json)
    {
        var path = Path.Combine(_dir.FullName, $"{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }
}
