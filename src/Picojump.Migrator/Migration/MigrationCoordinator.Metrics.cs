using Picojump.Protos.Migration;

namespace Picojump.Migrator.Migration;

// The source side's entry point, counted: every migration attempted from this host, by outcome.
public sealed partial class MigrationCoordinator
{
    /// <summary>Migrates job <paramref name="jobId"/> of this host to <paramref name="toHost"/>; a failed migration is a reply with Moved false.</summary>
    public async Task<MigrateReply> MigrateAsync(string jobId, string toHost, Mode mode, CancellationToken cancel)
    {
        try
        {
            var reply = await MigrateFromHereAsync(jobId, toHost, mode, cancel);
            MigrationMetrics.Finished(reply);
            return reply;
        }
        catch (Exception ex) when (ex is not MigrationException)
        {
            // A refusal (no such job, unknown host) is no migration; anything else broke one.
            MigrationMetrics.Broke(mode == Mode.Hybrid ? HybridMode : "eager");
            throw;
        }
    }
}
