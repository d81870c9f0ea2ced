using System.Text.Json;

namespace Picojump.Migrator.Jobs;

/// <summary>
/// Jobs on disk, one JSON file each (STATE/jobs/ID.json), written whole and renamed into
/// place so that a daemon killed mid-write leaves the previous version, never half of one.
/// </summary>
internal sealed class JobStore(string directory)
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public string Directory { get; } = directory;

    public void Save(JobRecord job)
    {
        System.IO.Directory.CreateDirectory(Directory);
        var path = Path.Combine(Directory, job.Id + ".json");
        var temporary = path + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write))
        {
            JsonSerializer.Serialize(file, job, Json);
            file.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
    }

    public void Delete(string id) => File.Delete(Path.Combine(Directory, id + ".json"));

    /// <summary>Every job saved; files that do not parse are reported through <paramref name="bad"/> and skipped.</summary>
    public List<JobRecord> Load(Action<string, string> bad)
    {
        var jobs = new List<JobRecord>();
        if (!System.IO.Directory.Exists(Directory))
            return jobs;
        foreach (var path in System.IO.Directory.EnumerateFiles(Directory, "*.json"))
        {
            try
            {
                var job = JsonSerializer.Deserialize<JobRecord>(File.ReadAllText(path), Json);
                if (job != null && job.Id + ".json" == Path.GetFileName(path))
                    jobs.Add(job);
                else
                    bad(path, "not a job record");
            }
            catch (Exception ex) when (ex is JsonException or IOException)
            {
                bad(path, ex.Message);
            }
        }
        return jobs;
    }
}
