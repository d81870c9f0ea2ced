using Microsoft.Extensions.Logging;
using Picojump.Protos.Migration;

namespace Picojump.Migrator.Migration;

// Hybrid migrations that a restart of this daemon cut. Its page proxy (source) or page server
// (destination) died with it, so no page stream survives a restart:
// - source before the decision: the proxy's connection to CRIU was abortive, so CRIU resumed the
//   job here with its memory intact (a criu dump still waiting for that connection is killed,
//   which also resumes it): the migration is aborted and the destination told so;
// - source after the decision: the proxy's connection ended cleanly and CRIU killed the frozen
//   copy (anything left of it is killed): the commit is still sent, the destination finds its
//   stream gone and reports the job lost unless every page was already in;
// - destination, committed and not yet resident: the lazy-pages daemon lost its server, and the
//   kernel fills missing pages with zeros: the job is killed (lost) and the source released;
// - destination, prepared: the source's decision is asked as in eager mode; a commit then finds
//   no page server and refuses (lost), an abort kills the stopped copy.
public sealed partial class MigrationCoordinator
{
    private void RecoverHybridAfterStart(MigrationRecord record)
    {
        HybridCriu.KillLeftovers(record.Directory);
        switch (record.Role, record.Phase)
        {
            case (MigrationRole.Source, MigrationPhase.Dumping or MigrationPhase.Transferring or MigrationPhase.Aborted):
            {
                var saved = _records.Save(record with { Phase = MigrationPhase.Aborted });
                if (_jobs.Get(record.JobId) is { } job && job.MigrationId == record.Id)
                {
                    var outcome = ResumeLocally(saved, job);
                    _logger.LogWarning("Migration {Id} (hybrid) was cut by a restart before its decision: aborted; {Outcome}", record.Id, outcome.Text);
                }
                break;
            }
            case (MigrationRole.Source, MigrationPhase.Committed):
                if (record.Pid > 0)
                    KillCopy(record.Pid, record.PidStartTicks, record.PidNamespace);
                if (_jobs.Get(record.JobId) is { MigrationId: { } mid } && mid == record.Id)
                    _jobs.Forget(record.JobId);
                _records.DeleteWork(record.Id);
                if (record.Acknowledged)
                    _records.Delete(record.Id);
                _logger.LogError("Migration {Id} (hybrid): a restart of {Host} ended the frozen copy of job {Job}; pages {To} had not got yet are lost",
                    record.Id, HostName, record.JobId, record.Peer);
                break;
            case (MigrationRole.Destination, MigrationPhase.Committed) when !record.Acknowledged:
                KillCopy(record.Pid, record.PidStartTicks, record.PidNamespace);
                _records.DeleteWork(record.Id);
                _records.Save(record with { Acknowledged = true });
                _logger.LogError("Migration {Id} (hybrid): job {Job} was still receiving its pages when {Host} restarted; its memory cannot be completed: killed, the job is lost",
                    record.Id, record.JobId, HostName);
                _ = TellReleaseAsync(new ReleaseRequest { MigrationId = record.Id, Resident = false, Error = $"{HostName} restarted during the page stream" }, record.Peer);
                break;
            case (MigrationRole.Destination, MigrationPhase.Receiving):
                if (record.Pid > 0)
                    KillCopy(record.Pid, record.PidStartTicks, record.PidNamespace);
                _records.DeleteWork(record.Id);
                _records.Save(record with { Phase = MigrationPhase.Aborted });
                break;
        }
    }
}
