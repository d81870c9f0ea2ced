using System.Buffers;
using System.Buffers.Binary;
using FASTER.core;
using Microsoft.Extensions.Logging;
using Picojump.Fs.Cache.Internal;

namespace Picojump.Fs.Cache;

// Reads, writes, invalidation and eviction.
//
// Invalidation is lazy: Invalidate(owner, file) upserts a marker record keyed by (owner, file)
// whose value is the log's tail address at that moment. A block counts only if its own record
// lies at or after its file's marker value. The marker lives in the same log as the blocks, so
// a checkpoint saves it together with them (no side file to keep consistent), and FIFO eviction
// cannot drop a marker while keeping a block it hides: every such block is older in the log.
// Markers not yet checkpointed are also in a small journal file, replayed on open.
public sealed partial class BlockCache
{
    private const int BlockKeyLength = 32;
    private const int MarkerKeyLength = 16;

    private readonly Lock _evictionLock = new();
    private readonly Lock _invalidationLock = new();
    private long _hits;
    private long _misses;
    private long _evictions;
    private long _evictedBytes;

    public CacheStats Stats => new(
        Interlocked.Read(ref _hits),
        Interlocked.Read(ref _misses),
        _store.Log.TailAddress - _store.Log.BeginAddress,
        Interlocked.Read(ref _evictions),
        Interlocked.Read(ref _evictedBytes));

    /// <summary>
    /// Copies the block into <paramref name="destination"/> and gives its length, or returns false
    /// if the cache does not hold it (the destination's bytes are then unspecified). Throws if the
    /// block is longer than the destination.
    /// </summary>
    public bool TryRead(in BlockKey key, Span<byte> destination, out int length)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        Span<byte> blockKey = stackalloc byte[BlockKeyLength];
        EncodeBlockKey(key, blockKey);
        Span<byte> markerKey = stackalloc byte[MarkerKeyLength];
        EncodeMarkerKey(key.OwnerHost, key.FileId, markerKey);
        Span<byte> marker = stackalloc byte[sizeof(long)];

        var session = _sessions.Rent();
        try
        {
            var blockAddress = ReadVerified(session, blockKey, destination, out length);
            if (blockAddress >= 0 && length > destination.Length)
            {
                throw new ArgumentException($"The block is {length} bytes; the destination holds {destination.Length}.", nameof(destination));
            }
            if (blockAddress >= 0 && ReadVerified(session, markerKey, marker, out _) >= 0
                && blockAddress < BinaryPrimitives.ReadInt64LittleEndian(marker))
            {
                blockAddress = -1;
            }
            if (blockAddress < 0)
            {
                length = 0;
                Interlocked.Increment(ref _misses);
                return false;
            }
            Interlocked.Increment(ref _hits);
            return true;
        }
        finally
        {
            _sessions.Return(session);
        }
    }

    /// <summary>Stores a block (at most BlockSize bytes), replacing any block under the same key.</summary>
    public void Write(in BlockKey key, ReadOnlySpan<byte> data)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (data.Length > _options.BlockSize)
        {
            throw new ArgumentException($"A block is at most {_options.BlockSize} bytes, not {data.Length}.", nameof(data));
        }
        Span<byte> blockKey = stackalloc byte[BlockKeyLength];
        EncodeBlockKey(key, blockKey);
        Upsert(blockKey, data);
        EvictIfOverBudget();
    }

    /// <summary>Hides every cached version and block of the file from later reads, also after a restart.</summary>
    public void Invalidate(ulong ownerHost, ulong fileId)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        // Journal and marker together: a checkpoint that covers the journal entry holds the marker.
        lock (_invalidationLock)
        {
            _journal.Append(ownerHost, fileId);
            UpsertMarker(ownerHost, fileId);
        }
    }

    private void UpsertMarker(ulong ownerHost, ulong fileId)
    {
        Span<byte> markerKey = stackalloc byte[MarkerKeyLength];
        EncodeMarkerKey(ownerHost, fileId, markerKey);
        Span<byte> marker = stackalloc byte[sizeof(long)];
        // Every block written so far lies below the tail; a block written from now on lies above it.
        BinaryPrimitives.WriteInt64LittleEndian(marker, _store.Log.TailAddress);
        Upsert(markerKey, marker);
    }

    private long JournalLengthCoveredByNextCheckpoint()
    {
        lock (_invalidationLock)
        {
            return _journal.Length;
        }
    }

    /// <summary>
    /// Reads one record's payload into the buffer; returns its log address, or -1 if there is
    /// none or its checksum does not match (that record is then as good as absent).
    /// </summary>
    private long ReadVerified(
        ClientSession<SpanByte, SpanByte, SpanByte, BlockReadOutput, Empty, BlockFunctions> session,
        ReadOnlySpan<byte> keyBytes, Span<byte> destination, out int length)
    {
        var address = ReadRecord(session, keyBytes, destination, out length, out var checksum);
        if (address < 0 || length > destination.Length)
        {
            return address;
        }
        if (length < 0 || checksum != BlockChecksum.Compute(keyBytes, destination[..length]))
        {
            _logger.LogWarning("Block cache record at {Address} in {Directory} fails its checksum; treated as a miss", address, _options.Directory);
            length = 0;
            return -1;
        }
        return address;
    }

    /// <summary>Reads one record into the buffer; returns its log address, or -1 if there is none.</summary>
    private static unsafe long ReadRecord(
        ClientSession<SpanByte, SpanByte, SpanByte, BlockReadOutput, Empty, BlockFunctions> session,
        ReadOnlySpan<byte> keyBytes, Span<byte> destination, out int length, out ulong checksum)
    {
        fixed (byte* keyPointer = keyBytes)
        fixed (byte* destinationPointer = destination)
        {
            var key = SpanByte.FromPointer(keyPointer, keyBytes.Length);
            var output = new BlockReadOutput { Destination = destinationPointer, Capacity = destination.Length };
            var status = session.Read(ref key, ref output);
            var address = output.Address;
            if (status.IsPending)
            {
                // The record is on disk: wait for the I/O; the buffer stays pinned until it lands.
                session.CompletePendingWithOutputs(out var completed, wait: true);
                using (completed)
                {
                    if (!completed.Next())
                    {
                        length = 0;
                        checksum = 0;
                        return -1;
                    }
                    status = completed.Current.Status;
                    output = completed.Current.Output;
                    address = completed.Current.RecordMetadata.Address;
                }
            }
            length = status.Found ? output.Length : 0;
            checksum = output.Checksum;
            return status.Found ? address : -1;
        }
    }

    private unsafe void Upsert(ReadOnlySpan<byte> keyBytes, ReadOnlySpan<byte> payload)
    {
        // The value is the checksum followed by the payload, contiguous: one copy into a pooled buffer.
        var valueLength = BlockChecksum.Length + payload.Length;
        var valueBuffer = ArrayPool<byte>.Shared.Rent(valueLength);
        var session = _sessions.Rent();
        try
        {
            var valueBytes = valueBuffer.AsSpan(0, valueLength);
            BinaryPrimitives.WriteUInt64LittleEndian(valueBytes, BlockChecksum.Compute(keyBytes, payload));
            payload.CopyTo(valueBytes[BlockChecksum.Length..]);
            fixed (byte* keyPointer = keyBytes)
            fixed (byte* valuePointer = valueBytes)
            {
                var key = SpanByte.FromPointer(keyPointer, keyBytes.Length);
                var value = SpanByte.FromPointer(valuePointer, valueLength);
                session.Upsert(ref key, ref value);
            }
        }
        finally
        {
            _sessions.Return(session);
            ArrayPool<byte>.Shared.Return(valueBuffer);
        }
    }

    /// <summary>
    /// FIFO eviction: once the log exceeds MaxBytes, move its begin address up and let FASTER
    /// delete the segment files wholly below it. Reads of dropped blocks are misses. The log
    /// is shrunk to a segment below MaxBytes so this runs once per segment, not once per write.
    /// </summary>
    private void EvictIfOverBudget()
    {
        var log = _store.Log;
        if (log.TailAddress - log.BeginAddress <= _options.MaxBytes)
        {
            return;
        }
        lock (_evictionLock)
        {
            var begin = log.BeginAddress;
            var target = log.TailAddress - _options.MaxBytes + (1L << _layout.SegmentSizeBits);
            // Only what is already on disk: MaxBytes >= 2 x MemoryBytes keeps this from binding in practice.
            target = Math.Min(target, log.HeadAddress);
            if (target <= begin)
            {
                return;
            }
            log.ShiftBeginAddress(target, truncateLog: true);
            Interlocked.Increment(ref _evictions);
            Interlocked.Add(ref _evictedBytes, target - begin);
        }
    }

    private static void EncodeBlockKey(in BlockKey key, Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(destination, key.OwnerHost);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], key.FileId);
        BinaryPrimitives.WriteInt64LittleEndian(destination[16..], key.Version);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[24..], key.BlockIndex);
    }

    private static void EncodeMarkerKey(ulong ownerHost, ulong fileId, Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(destination, ownerHost);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], fileId);
    }
}
