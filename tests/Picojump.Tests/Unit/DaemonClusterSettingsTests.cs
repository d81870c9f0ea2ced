using System.Net;
using Picojump.Host;

namespace Picojump.Tests.Unit;

/// <summary>picojumpd's cluster keys (hostName, listen, peers, tls): one line naming the key on error.</summary>
public sealed class DaemonClusterSettingsTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("pj-settings-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void Cluster_keys_are_read()
    {
        var settings = DaemonSettings.Load(Write("""
            {
              "hostName": "h1",
              "listen": "10.1.2.1:7070",
              "peers": [ { "name": "h2", "address": "10.1.2.2" } ],
              "tls": { "ca": "/t/ca.crt", "cert": "/t/h1.crt", "key": "/t/h1.key" }
            }
            """));
        Assert.Equal("h1", settings.HostName);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.1.2.1"), 7070), settings.Listen);
        Assert.Equal([new PeerSetting("h2", "10.1.2.2")], settings.Peers);
        Assert.Equal(new TlsSettings("/t/ca.crt", "/t/h1.crt", "/t/h1.key"), settings.Tls);
    }

    [Theory]
    [InlineData("\"hostName\": \"\"", "key \"hostName\" must be a non-empty string")]
    [InlineData("\"listen\": \"10.1.2.1\"", "key \"listen\" must be \"ADDRESS:PORT\" with an IP address and a port from 1 to 65535")]
    [InlineData("\"listen\": \"h1:7070\"", "key \"listen\" must be \"ADDRESS:PORT\" with an IP address and a port from 1 to 65535")]
    [InlineData("\"listen\": \"10.1.2.1:0\"", "key \"listen\" must be \"ADDRESS:PORT\" with an IP address and a port from 1 to 65535")]
    [InlineData("\"peers\": {}", "key \"peers\" must be an array of {\"name\", \"address\"} objects")]
    [InlineData("\"peers\": [ { \"name\": \"h2\" } ]", "key \"peers[0].address\" is missing")]
    [InlineData("\"peers\": [ { \"name\": \"h2\", \"address\": 5 } ]", "key \"peers[0].address\" must be a non-empty string")]
    [InlineData("\"tls\": \"/t\"", "key \"tls\" must be an object with \"ca\", \"cert\", \"key\"")]
    [InlineData("\"tls\": { \"ca\": \"a\", \"cert\": \"b\", \"key\": \"c\", \"pin\": \"d\" }", "key \"tls.pin\" is not a known setting")]
    public void A_wrong_cluster_value_is_named(string json, string problem)
    {
        var path = Write($$"""{ {{json}} }""");
        Assert.Equal($"config file {path}: {problem}", Assert.Throws<SettingsException>(() => DaemonSettings.Load(path)).Message);
    }

    [Fact]
    public void Listen_needs_a_host_name_and_existing_tls_files()
    {
        var export = _dir.CreateSubdirectory("export").FullName;
        var listening = new DaemonSettings { Export = export, Mountpoint = "/pj", Listen = new IPEndPoint(IPAddress.Loopback, 7070) };
        Assert.Equal("\"listen\" needs \"hostName\" in the config file", Assert.Throws<SettingsException>(listening.Validate).Message);
        Assert.Equal("\"listen\" needs \"tls\" (ca, cert, key) in the config file", Assert.Throws<SettingsException>((listening with { HostName = "h1" }).Validate).Message);
        var missing = Path.Combine(_dir.FullName, "ca.crt");
        var withTls = listening with { HostName = "h1", Tls = new TlsSettings(missing, missing, missing) };
        Assert.Equal($"key \"tls.ca\": {missing} does not exist", Assert.Throws<SettingsException>(withTls.Validate).Message);
    }

    private string Write(string text)
    {
        var path = Path.Combine(_dir.FullName, $"picojumpd-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, text);
        return path;
    }
}
