using System.Text.Json;
using Picojump.Cli.Infrastructure;

namespace Picojump.Cli.DevCluster;

/// <summary>
/// ROOT/cluster.json: what `up` made, written before anything else so that a crashed or
/// partial `up` can still be taken down. Its presence marks ROOT as a dev cluster's.
/// </summary>
public sealed record ClusterState(string Id, string Root, string Subnet, int Hosts, string[] Daemon)
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static ClusterState? Load(ClusterLayout layout)
    {
        if (!File.Exists(layout.StateFile))
            return null;
        try
        {
            return JsonSerializer.Deserialize<ClusterState>(File.ReadAllText(layout.StateFile), Json)
                ?? throw new CliException($"{layout.StateFile} is empty");
        }
        catch (JsonException ex)
        {
            throw new CliException($"{layout.StateFile} is not valid: {ex.Message}", ex);
        }
    }

    public void Save(ClusterLayout layout) => File.WriteAllText(layout.StateFile, JsonSerializer.Serialize(this, Json) + "\n");
}
