using System.Text.Json.Nodes;
using Google.Protobuf;

namespace Picojump.Cli.Control;

/// <summary>What pjctl prints with --json: the daemon's messages with every field, defaults included.</summary>
public static class JsonOutput
{
    private static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true).WithIndentation());

    public static string Format(IMessage message) => Formatter.Format(message);

    /// <summary>A message as a JSON node, to put together with others in one object.</summary>
    public static JsonNode Node(IMessage message) => JsonNode.Parse(Formatter.Format(message))!;

    public static string Format(JsonObject value) => value.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
}
