using System.Text.Json;
using System.Text.Json.Serialization;

namespace Picojump.Migrator.Migration;

[JsonConverter(typeof(JsonStringEnumConverter<MigrationRole>))]
public enum MigrationRole
{
    Source,
    Destination,
}

[JsonConverter(typeof(JsonStringEnumConverter<MigrationPhase>))]
public enum MigrationPhase
{
    /// <summary>Source: freezing and dumping the job (its record says it is migrating).</summary>
    Dumping,

    /// <summary>Source: offering, transferring, waiting for the destination to prepare. No decision yet.</summary>
    Transferring,

    /// <summary>Destination: receiving the images; nothing restored.</summary>
    Receiving,

    /// <summary>Destination: the job is restored and stopped; only the source's decision resumes or kills it.</summary>
    Prepared,

    /// <summary>The decision (source) or its execution (destination): the job belongs to the destination.</summary>
    Committed,

    /// <summary>The decision (source) or its execution (destination): the job stays with the source.</summary>
    Aborted,
}

/// <summary>
/// One migration as one side keeps it in STATE/migrations/ID.json, so that a daemon that
/// restarts mid-way finishes it: a source that decided "committed" sends Commit again; a
/// destination that holds a prepared job asks the source for its decision.
/// </summary>
public sealed record MigrationRecord
{
    public required string Id { get; init; }

    /// <summary>"eager" (also when absent, as in records of older daemons) or "hybrid".</summary>
    public string Mode { get; init; } = "eager";

    [JsonIgnore]
    public bool IsHybrid => Mode == "hybrid";

    public required MigrationRole Role { get; init; }

    public required MigrationPhase Phase { get; init; }

    public required string JobId { get; init; }

    /// <summary>The other side: the destination for a source, the source for a destination.</summary>
    public required string Peer { get; init; }

    /// <summary>The dump (source) or the received images (destination).</summary>
    public required string Directory { get; init; }

    /// <summary>Destination: the restored, stopped copy's init (host pid, start ticks, PID namespace). Hybrid source: the frozen job's.</summary>
    public int Pid { get; init; }

    public long PidStartTicks { get; init; }

    public ulong PidNamespace { get; init; }

    /// <summary>Destination: the job as the source kept it (JSON of its job record).</summary>
    public string? JobJson { get; init; }

    /// <summary>Committed: the history entry (source: as measured until the Commit).</summary>
    public Jobs.JobMigration? Entry { get; init; }

    /// <summary>Source, after an abort or a commit: the destination acknowledged it; only cleanup is left.</summary>
    public bool Acknowledged { get; init; }

    public long StartedUnixMs { get; init; }

    public long UpdatedUnixMs { get; init; }
}

/// <summary>Migration records, one JSON file each, written whole and renamed into place (fsync'd: they hold decisions).</summary>
internal sealed class MigrationStore(string directory)
{
    internal static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public string Directory { get; } = directory;

    public string WorkDirectory(string id) => Path.Combine(Directory, id);

    public MigrationRecord Save(MigrationRecord record)
    {
        record = record with { UpdatedUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() };
        System.IO.Directory.CreateDirectory(Directory);
        var path = Path.Combine(Directory, record.Id + ".json");
        var temporary = path + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write))
        {
            JsonSerializer.Serialize(file, record, Json);
            file.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
        return record;
    }

    public MigrationRecord? Load(string id)
    {
        if (!IsId(id))
            return null;
        var path = Path.Combine(Directory, id + ".json");
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize<MigrationRecord>(File.ReadAllText(path), Json) : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public List<MigrationRecord> LoadAll()
    {
        if (!System.IO.Directory.Exists(Directory))
            return [];
        return [.. System.IO.Directory.EnumerateFiles(Directory, "*.json")
            .Select(p => Load(Path.GetFileNameWithoutExtension(p)))
            .OfType<MigrationRecord>()];
    }

    /// <summary>The record and its work directory go.</summary>
    public void Delete(string id)
    {
        DeleteWork(id);
        File.Delete(Path.Combine(Directory, id + ".json"));
    }

    public void DeleteWork(string id)
    {
        var work = WorkDirectory(id);
        try
        {
            if (System.IO.Directory.Exists(work))
                System.IO.Directory.Delete(work, recursive: true);
        }
        catch (IOException)
        {
            // Retried by the next cleanup.
        }
    }

    /// <summary>Ids are 16 hex digits: they name files, so nothing else is accepted from a peer.</summary>
    public static bool IsId(string id) => id.Length == 16 && id.All(char.IsAsciiHexDigitLower);
}
