using System.Buffers.Binary;
using Picojump.Fs.Cache.Internal;

namespace Picojump.Fs.Cache;

// Reads, writes and invalidation.
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

    private readonly Lock _invalidationLock = new();
    private long _hits;
    private long _misses;

    public CacheStats Stats => new(
        Interlocked.Read(ref _hits),
        Interlocked.Read(ref _misses),
        _store.BytesStored,
        _store.Evictions,
        _store.EvictedBytes);

    /// <summary>
    /// Copies the block into <paramref name="destination"/> and gives its length, or returns false
    /// if the cache does not hold it (the destination's bytes are then unspecified). Throws if the
    /// block is longer than the destination.
    /// </summary>
    public bool TryRead(in BlockKey key, Span<byte> destination, out int length)
    {
        ObjectDisposedException.ThrowIf(_store.IsDisposed, this);
        Span<byte> blockKey = stackalloc byte[BlockKeyLength];
        EncodeBlockKey(key, blockKey);
        Span<byte> markerKey = stackalloc byte[MarkerKeyLength];
        EncodeMarkerKey(key.OwnerHost, key.FileId, markerKey);
        Span<byte> marker = stackalloc byte[sizeof(long)];

        var blockAddress = _store.Read(blockKey, destination, out length);
        if (blockAddress >= 0 && length > destination.Length)
        {
            throw new ArgumentException($"The block is {length} bytes; the destination holds {destination.Length}.", nameof(destination));
        }
        if (blockAddress >= 0 && _store.Read(markerKey, marker, out _) >= 0
            && blockAddress < BinaryPrimitives.ReadInt64LittleEndian(marker))
        {
            blockAddress = -1;
        }
        if (blockAddress < 0)
        {
            length = 0;
            Interlocked.Increment(ref _misses);
            CacheMetrics.Miss();
            return false;
        }
        Interlocked.Increment(ref _hits);
        CacheMetrics.Hit();
        return true;
    }

    /// <summary>Stores a block (at most BlockSize bytes), replacing any block under the same key.</summary>
    public void Write(in BlockKey key, ReadOnlySpan<byte> data)
    {
        ObjectDisposedException.ThrowIf(_store.IsDisposed, this);
        if (data.Length > _options.BlockSize)
        {
            throw new ArgumentException($"A block is at most {_options.BlockSize} bytes, not {data.Length}.", nameof(data));
        }
        Span<byte> blockKey = stackalloc byte[BlockKeyLength];
        EncodeBlockKey(key, blockKey);
        _store.Upsert(blockKey, data);
    }

    /// <summary>Hides every cached version and block of the file from later reads, also after a restart.</summary>
    public void Invalidate(ulong ownerHost, ulong fileId)
    {
        ObjectDisposedException.ThrowIf(_store.IsDisposed, this);
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
        BinaryPrimitives.WriteInt64LittleEndian(marker, _store.TailAddress);
        _store.Upsert(markerKey, marker);
    }

    private long JournalLengthCoveredByNextCheckpoint()
    {
        lock (_invalidationLock)
        {
            return _journal.Length;
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
