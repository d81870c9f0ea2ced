using Grpc.Core;
using Microsoft.Extensions.Logging;
using Picojump.Protos.Migration;

namespace Picojump.Migrator.Migration;

// Migrations left unfinished: by a lost reply, an unreachable peer or a restart of either
// daemon. The source's record is the decision; the destination never resumes or kills a
// prepared job without it.
public sealed partial class MigrationCoordinator
{
    private static readonly TimeSpan ReceiveIdle = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan TombstoneAge = TimeSpan.FromHours(1);

    /// <summary>At start, then every <see cref="MigrationOptions.RecoveryInterval"/> until <paramref name="cancel"/>.</summary>
    public async Task RunRecoveryAsync(CancellationToken cancel)
    {
        try
        {
            RecoverAfterStart();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _logger.LogError("Migrations: recovery at start failed: {Error}", ex.Message);
        }
        while (!cancel.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_options.RecoveryInterval, cancel);
                await RecoverOnceAsync(cancel);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or RpcException or MigrationException)
            {
                _logger.LogWarning("Migrations: recovery pass failed: {Error}", ex.Message);
            }
        }
    }

    /// <summary>What a previous daemon left: a source without a decision aborts (the job comes back here); a receive is dropped.</summary>
    private void RecoverAfterStart()
    {
        foreach (var record in _records.LoadAll())
        {
            if (record.IsHybrid)
            {
                RecoverHybridAfterStart(record);
                continue;
            }
            if (record.Role == MigrationRole.Source && record.Phase is MigrationPhase.Dumping or MigrationPhase.Transferring or MigrationPhase.Aborted)
            {
                var saved = _records.Save(record with { Phase = MigrationPhase.Aborted });
                if (_jobs.Get(record.JobId) is { } job && job.MigrationId == record.Id)
                {
                    var outcome = RestoreLocally(saved, job);
                    _logger.LogWarning("Migration {Id} was cut by a restart before its decision: aborted; {Outcome}", record.Id, outcome.Text);
                }
            }
            else if (record.Role == MigrationRole.Source && record.Phase == MigrationPhase.Committed && _jobs.Get(record.JobId) is { MigrationId: { } mid } && mid == record.Id)
            {
                _jobs.Forget(record.JobId); // the restart came between the decision and forgetting the job
            }
            else if (record.Role == MigrationRole.Destination && record.Phase == MigrationPhase.Receiving)
            {
                _records.DeleteWork(record.Id);
                _records.Save(record with { Phase = MigrationPhase.Aborted });
                _logger.LogInformation("Migration {Id}: the receive was cut by a restart; dropped", record.Id);
            }
        }
    }

    private async Task RecoverOnceAsync(CancellationToken cancel)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        foreach (var record in _records.LoadAll())
        {
            if (_active.ContainsKey(record.Id) || IsHybridLive(record.Id))
                continue;
            var age = TimeSpan.FromMilliseconds(now - record.UpdatedUnixMs);
            switch (record.Role, record.Phase)
            {
                case (MigrationRole.Source, MigrationPhase.Committed) when !record.Acknowledged:
                    if (Client(record.Peer) is { } client)
                    {
                        var commit = await CommitUntilAnsweredAsync(client, record, TimeSpan.Zero, cancel);
                        if (commit.Reply != null)
                        {
                            _logger.LogInformation("Migration {Id}: {To} acknowledged the commit", record.Id, record.Peer);
                            FinishSource(record);
                        }
                    }
                    break;
                case (MigrationRole.Source, MigrationPhase.Committed):
                    _records.Delete(record.Id);
                    break;
                case (MigrationRole.Source, MigrationPhase.Aborted):
                    await TellAbortAsync(record);
                    break;
                case (MigrationRole.Destination, MigrationPhase.Prepared) when age > _options.PeerTimeout:
                    await AskDecisionAsync(record, cancel);
                    break;
                case (MigrationRole.Destination, MigrationPhase.Receiving):
                    if (!_incoming.TryGetValue(record.Id, out var incoming)
                        || System.Diagnostics.Stopwatch.GetElapsedTime(incoming.LastActivity) > ReceiveIdle)
                    {
                        await Gate(record.Id).WaitAsync(cancel);
                        try
                        {
                            DoAbort(record.Id);
                        }
                        finally
                        {
                            Gate(record.Id).Release();
                        }
                    }
                    break;
                case (MigrationRole.Destination, MigrationPhase.Committed or MigrationPhase.Aborted) when age > TombstoneAge:
                    _records.Delete(record.Id);
                    break;
            }
        }
    }

    /// <summary>A prepared job whose Commit or Abort never came: the source says which.</summary>
    private async Task AskDecisionAsync(MigrationRecord record, CancellationToken cancel)
    {
        if (Client(record.Peer) is not { } client)
            return;
        DecisionReply decision;
        try
        {
            decision = await client.DecisionAsync(new DecisionRequest { MigrationId = record.Id }, Small(cancel));
        }
        catch (RpcException ex)
        {
            _logger.LogInformation("Migration {Id}: job {Job} waits (stopped) for {Source}'s decision: {Error}", record.Id, record.JobId, record.Peer, ex.Status.Detail);
            return;
        }
        if (decision.Decision == Decision.Pending)
            return;
        await Gate(record.Id).WaitAsync(cancel);
        try
        {
            if (decision.Decision == Decision.Committed)
            {
                _logger.LogInformation("Migration {Id}: {Source} decided commit", record.Id, record.Peer);
                DoCommit(record.Id, FromWire(decision.Entry));
            }
            else
            {
                _logger.LogInformation("Migration {Id}: {Source} decided abort", record.Id, record.Peer);
                DoAbort(record.Id);
            }
        }
        finally
        {
            Gate(record.Id).Release();
        }
    }
}
