using Grpc.Core;
using Picojump.Migrator.Jobs;
using Picojump.Protos.Migration;
using MigrationGrpc = Picojump.Protos.Migration.Migration;

namespace Picojump.Migrator.Migration;

/// <summary>The Migration API on the peer port (protos/migration.proto): both sides of a migration, and MigrateJob for the job's host.</summary>
public sealed class MigrationPeerService(MigrationCoordinator coordinator) : MigrationGrpc.MigrationBase
{
    public override Task<MigrateReply> MigrateJob(MigrateJobRequest request, ServerCallContext context)
        => Guard(() => coordinator.MigrateAsync(request.JobId, request.ToHost, request.Mode, context.CancellationToken));

    public override Task<OfferReply> Offer(IAsyncStreamReader<OfferChunk> requestStream, ServerCallContext context)
        => Guard(() => coordinator.OfferAsync(requestStream, context.CancellationToken));

    public override Task<TransferReply> Transfer(IAsyncStreamReader<TransferChunk> requestStream, ServerCallContext context)
        => Guard(() => coordinator.TransferAsync(requestStream, context.CancellationToken));

    public override Task<PrepareReply> Prepare(PrepareRequest request, ServerCallContext context)
        => Guard(() => coordinator.PrepareAsync(request.MigrationId, context.CancellationToken));

    public override Task<CommitReply> Commit(CommitRequest request, ServerCallContext context)
        => Guard(() => coordinator.CommitAsync(request.MigrationId, MigrationCoordinator.FromWire(request.Entry), context.CancellationToken));

    public override Task<PrepareReply> HybridPrepare(IAsyncStreamReader<HybridChunk> requestStream, ServerCallContext context)
        => Guard(() => coordinator.HybridPrepareAsync(requestStream, context.CancellationToken));

    public override Task<HybridHashesReply> HybridHashes(IAsyncStreamReader<HybridChunk> requestStream, ServerCallContext context)
        => Guard(() => coordinator.HybridHashesAsync(requestStream, context.CancellationToken));

    public override Task<ReleaseReply> Release(ReleaseRequest request, ServerCallContext context)
        => Guard(() => coordinator.ReleaseAsync(request, context.CancellationToken));

    public override Task<WorkingSetReport> WorkingSet(WorkingSetOffer request, ServerCallContext context)
        => Guard(() => coordinator.WorkingSetAsync(request, context.CancellationToken));

    public override Task<PagesHeldReply> PagesHeld(PagesHeldRequest request, ServerCallContext context)
        => Guard(() => Task.FromResult(coordinator.PagesHeld(request)));

    public override Task<AbortReply> Abort(AbortRequest request, ServerCallContext context)
        => Guard(async () =>
        {
            await coordinator.AbortAsync(request.MigrationId, context.CancellationToken);
            return new AbortReply();
        });

    public override Task<DecisionReply> Decision(DecisionRequest request, ServerCallContext context)
        => Guard(() => Task.FromResult(coordinator.Decide(request.MigrationId)));

    /// <summary>Refusals become statuses with their message; anything else stays an internal error.</summary>
    public static async Task<T> Guard<T>(Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (MigrationException ex)
        {
            throw new RpcException(new Status(ex.Status, ex.Message));
        }
        catch (JobException ex)
        {
            throw new RpcException(new Status(ex.Kind switch
            {
                JobError.NotFound => StatusCode.NotFound,
                JobError.Invalid => StatusCode.InvalidArgument,
                _ => StatusCode.FailedPrecondition,
            }, ex.Message));
        }
        catch (InvalidDataException ex)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, ex.Message));
        }
    }
}
