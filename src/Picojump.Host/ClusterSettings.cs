using System.Text.Json;

namespace Picojump.Host;

/// <summary>Another host of the cluster: its name and the address of its peer API.</summary>
public sealed record PeerSetting(string Name, string Address)
{
    public static IReadOnlyList<PeerSetting> Parse(JsonElement value, string file, string key)
    {
        if (value.ValueKind != JsonValueKind.Array)
            throw new SettingsException($"{file}: key \"{key}\" must be an array of {{\"name\", \"address\"}} objects");
        return [.. value.EnumerateArray().Select((peer, i) =>
        {
            var fields = Strings.Parse(peer, file, $"{key}[{i}]", ["name", "address"]);
            return new PeerSetting(fields["name"], fields["address"]);
        })];
    }
}

/// <summary>The cluster CA and this host's certificate and key, as PEM file paths.</summary>
public sealed record TlsSettings(string Ca, string Cert, string Key)
{
    public static TlsSettings Parse(JsonElement value, string file, string key)
    {
        var fields = Strings.Parse(value, file, key, ["ca", "cert", "key"]);
        return new TlsSettings(fields["ca"], fields["cert"], fields["key"]);
    }
}

/// <summary>A JSON object of exactly the given non-empty string keys; errors name the key as "tls.ca" or "peers[1].name".</summary>
internal static class Strings
{
    public static Dictionary<string, string> Parse(JsonElement value, string file, string key, string[] keys)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new SettingsException($"{file}: key \"{key}\" must be an object with {string.Join(", ", keys.Select(k => $"\"{k}\""))}");
        var fields = new Dictionary<string, string>();
        foreach (var property in value.EnumerateObject())
        {
            if (!keys.Contains(property.Name))
                throw new SettingsException($"{file}: key \"{key}.{property.Name}\" is not a known setting");
            if (property.Value.ValueKind != JsonValueKind.String || property.Value.GetString() is not { Length: > 0 } text)
                throw new SettingsException($"{file}: key \"{key}.{property.Name}\" must be a non-empty string");
            fields[property.Name] = text;
        }
        foreach (var name in keys)
            if (!fields.ContainsKey(name))
                throw new SettingsException($"{file}: key \"{key}.{name}\" is missing");
        return fields;
    }
}
