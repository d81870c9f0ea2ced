using Picojump.Host;

namespace Picojump.Tests.Unit;

/// <summary>picojumpd's config file: every problem is one line that names the file and the key.</summary>
public sealed class DaemonSettingsTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("pj-settings-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void A_valid_file_sets_every_key_and_may_have_comments_and_trailing_commas()
    {
        var path = Write("""
            {
              // where the data is
              "export": "/srv/export",
              "mountpoint": "/pj",
              "passthrough": false,
              "readerThreads": 6,
              "cacheSeconds": 0.5,
            }
            """);
        var settings = DaemonSettings.Load(path);
        Assert.Equal(new DaemonSettings { Export = "/srv/export", Mountpoint = "/pj", Passthrough = false, ReaderThreads = 6, CacheSeconds = 0.5 }, settings);
    }

    [Fact]
    public void Metrics_are_off_unless_metricsListen_is_set()
    {
        Assert.Null(DaemonSettings.Load(Write("""{ "export": "/e" }""")).MetricsListen);
        Assert.Equal(System.Net.IPEndPoint.Parse("127.0.0.1:9464"), DaemonSettings.Load(Write("""{ "metricsListen": "127.0.0.1:9464" }""")).MetricsListen);
    }

    [Fact]
    public void Keys_left_out_keep_their_defaults()
    {
        var settings = DaemonSettings.Load(Write("""{ "export": "/e" }"""));
        Assert.Equal(new DaemonSettings { Export = "/e" }, settings);
        Assert.True(settings.Passthrough);
        Assert.Equal(0, settings.ReaderThreads);
        Assert.Equal(1.0, settings.CacheSeconds);
    }

    [Fact]
    public void An_explicit_file_that_does_not_exist_is_an_error()
    {
        var path = Path.Combine(_dir.FullName, "nope.json");
        var error = Assert.Throws<SettingsException>(() => DaemonSettings.Load(path));
        Assert.Equal($"config file {path} does not exist", error.Message);
    }

    [Theory]
    [InlineData("exprt")]
    [InlineData("Export")] // keys are case-sensitive
    [InlineData("reader_threads")]
    public void An_unknown_key_is_named_in_the_error(string key)
    {
        var path = Write($$"""{ "export": "/e", "{{key}}": 1 }""");
        var error = Assert.Throws<SettingsException>(() => DaemonSettings.Load(path));
        Assert.Equal($"config file {path}: key \"{key}\" is not a known setting", error.Message);
    }

    [Theory]
    [InlineData("export", "5", "must be a path string")]
    [InlineData("export", "null", "must be a path string")]
    [InlineData("mountpoint", "[\"/pj\"]", "must be a path string")]
    [InlineData("passthrough", "\"yes\"", "must be true or false")]
    [InlineData("passthrough", "1", "must be true or false")]
    [InlineData("readerThreads", "1.5", "must be an integer from 0 to 64")]
    [InlineData("readerThreads", "-1", "must be an integer from 0 to 64")]
    [InlineData("readerThreads", "65", "must be an integer from 0 to 64")]
    [InlineData("readerThreads", "\"4\"", "must be an integer from 0 to 64")]
    [InlineData("readerThreads", "true", "must be an integer from 0 to 64")]
    [InlineData("cacheSeconds", "-0.1", "must be a number of seconds from 0 to 3600")]
    [InlineData("cacheSeconds", "3601", "must be a number of seconds from 0 to 3600")]
    [InlineData("cacheSeconds", "\"1\"", "must be a number of seconds from 0 to 3600")]
    [InlineData("cacheSeconds", "{}", "must be a number of seconds from 0 to 3600")]
    [InlineData("metricsListen", "9464", "must be \"ADDRESS:PORT\" with an IP address and a port from 1 to 65535 (e.g. \"127.0.0.1:9464\")")]
    [InlineData("metricsListen", "\"localhost:9464\"", "must be \"ADDRESS:PORT\" with an IP address and a port from 1 to 65535 (e.g. \"127.0.0.1:9464\")")]
    [InlineData("metricsListen", "\"127.0.0.1\"", "must be \"ADDRESS:PORT\" with an IP address and a port from 1 to 65535 (e.g. \"127.0.0.1:9464\")")]
    public void A_value_of_the_wrong_type_or_range_is_named_with_what_it_must_be(string key, string json, string must)
    {
        var path = Write($$"""{ "{{key}}": {{json}} }""");
        var error = Assert.Throws<SettingsException>(() => DaemonSettings.Load(path));
        Assert.Equal($"config file {path}: key \"{key}\" {must}", error.Message);
    }

    [Fact]
    public void The_policy_object_sets_its_keys_and_the_others_keep_their_defaults()
    {
        var settings = DaemonSettings.Load(Write("""
            { "policy": { "enabled": false, "intervalSeconds": 0.5, "windowSeconds": 10, "marginFactor": 3,
                          "cooldownSeconds": 20, "mode": "hybrid", "bandwidthMiBps": 1000 } }
            """));
        Assert.Equal(new PolicySettings
        {
            Enabled = false, IntervalSeconds = 0.5, WindowSeconds = 10, MarginFactor = 3, CooldownSeconds = 20, Mode = "hybrid", BandwidthMiBps = 1000,
        }, settings.Policy);
        var options = settings.Policy.ToOptions();
        Assert.Equal(TimeSpan.FromSeconds(10), options.Window);
        Assert.Equal(TimeSpan.FromSeconds(20), options.Cooldown);
        Assert.Equal(new PolicySettings(), DaemonSettings.Load(Write("""{ "export": "/e" }""")).Policy);
        Assert.True(new PolicySettings().Enabled);
    }

    [Theory]
    [InlineData("\"on\"", "key \"policy\" must be an object (e.g. {\"enabled\": true, \"intervalSeconds\": 2})")]
    [InlineData("{ \"enable\": true }", "key \"policy.enable\" is not a known setting")]
    [InlineData("{ \"enabled\": 1 }", "key \"policy.enabled\" must be true or false")]
    [InlineData("{ \"mode\": \"lazy\" }", "key \"policy.mode\" must be \"eager\" or \"hybrid\"")]
    [InlineData("{ \"mode\": 1 }", "key \"policy.mode\" must be \"eager\" or \"hybrid\"")]
    [InlineData("{ \"intervalSeconds\": 0 }", "key \"policy.intervalSeconds\" must be a number of seconds from 0.1 to 3600")]
    [InlineData("{ \"windowSeconds\": 61 }", "key \"policy.windowSeconds\" must be a number of seconds from 1 to 60")]
    [InlineData("{ \"marginFactor\": 0.5 }", "key \"policy.marginFactor\" must be a number from 1 to 1000")]
    [InlineData("{ \"hysteresis\": 1.5 }", "key \"policy.hysteresis\" must be an integer from 1 to 100")]
    [InlineData("{ \"cooldownSeconds\": \"60\" }", "key \"policy.cooldownSeconds\" must be a number of seconds from 0 to 86400")]
    [InlineData("{ \"hysteresis\": 5 }", "key \"policy.returnHysteresis\" (4) must be at least \"policy.hysteresis\" (5)")]
    public void A_bad_policy_key_or_value_is_named_in_one_line(string json, string message)
    {
        var path = Write($$"""{ "policy": {{json}} }""");
        Assert.Equal($"config file {path}: {message}", Assert.Throws<SettingsException>(() => DaemonSettings.Load(path)).Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("{ \"export\": ")]
    [InlineData("export = /e")]
    public void A_file_that_is_not_JSON_says_so(string text)
    {
        var path = Write(text);
        var error = Assert.Throws<SettingsException>(() => DaemonSettings.Load(path));
        Assert.StartsWith($"config file {path}: not valid JSON", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("\"/e\"")]
    [InlineData("42")]
    public void A_file_that_is_not_a_JSON_object_says_so(string text)
    {
        var path = Write(text);
        Assert.Equal($"config file {path}: expected a JSON object", Assert.Throws<SettingsException>(() => DaemonSettings.Load(path)).Message);
    }

    [Fact]
    public void Validate_names_what_is_missing_or_wrong()
    {
        var export = _dir.CreateSubdirectory("export").FullName;
        Assert.Contains("no export directory", Validate(new DaemonSettings { Mountpoint = "/pj" }), StringComparison.Ordinal);
        Assert.Contains("no mountpoint", Validate(new DaemonSettings { Export = export }), StringComparison.Ordinal);
        var missing = Path.Combine(_dir.FullName, "missing");
        Assert.Equal($"export directory {missing} does not exist", Validate(new DaemonSettings { Export = missing, Mountpoint = "/pj" }));
        var inside = Path.Combine(export, "pj");
        Assert.Equal($"mountpoint {inside} lies inside the export {export}", Validate(new DaemonSettings { Export = export, Mountpoint = inside }));
        // A sibling whose name merely starts with the export's is not inside it.
        new DaemonSettings { Export = export, Mountpoint = export + "-pj" }.Validate();
    }

    private static string? Validate(DaemonSettings settings)
    {
        try
        {
            settings.Validate();
            return null;
        }
        catch (SettingsException ex)
        {
            return ex.Message;
        }
    }

    private string Write(string text)
    {
        var path = Path.Combine(_dir.FullName, $"picojumpd-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, text);
        return path;
    }
}
