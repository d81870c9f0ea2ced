using System.Buffers.Binary;

namespace Picojump.Fs.Cache;

// Presence without reading the bytes or counting hits: what a host would have to fetch to warm
// its cache with a set of blocks (a migrating job's working set).
public sealed partial class BlockCache
{
    private const int PresenceBatch = 256;

    /// <summary>
    /// Whether each block is cached and not hidden by its file's invalidation. The bytes are not
    /// checked: a block that later fails its checksum is a miss then, and is fetched again.
    /// </summary>
    public bool[] Holds(IReadOnlyList<BlockKey> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ObjectDisposedException.ThrowIf(_store.IsDisposed, this);
        var held = new bool[keys.Count];
        var markers = new Dictionary<(ulong, ulong), long>();
        var encoded = new byte[PresenceBatch * BlockKeyLength];
        Span<long> addresses = stackalloc long[PresenceBatch];
        Span<int> lengths = stackalloc int[PresenceBatch];
        for (var first = 0; first < keys.Count; first += PresenceBatch)
        {
            var count = Math.Min(PresenceBatch, keys.Count - first);
            for (var i = 0; i < count; i++)
                EncodeBlockKey(keys[first + i], encoded.AsSpan(i * BlockKeyLength, BlockKeyLength));
            _store.LookUp(encoded.AsSpan(0, count * BlockKeyLength), BlockKeyLength, addresses, lengths);
            for (var i = 0; i < count; i++)
            {
                var key = keys[first + i];
                held[first + i] = addresses[i] >= 0 && addresses[i] >= Marker(markers, key.OwnerHost, key.FileId);
            }
        }
        return held;
    }

    /// <summary>A file's invalidation marker (0 if none): its blocks below this log address are hidden.</summary>
    private long Marker(Dictionary<(ulong, ulong), long> known, ulong ownerHost, ulong fileId)
    {
        if (known.TryGetValue((ownerHost, fileId), out var address))
            return address;
        Span<byte> markerKey = stackalloc byte[MarkerKeyLength];
        EncodeMarkerKey(ownerHost, fileId, markerKey);
        Span<byte> marker = stackalloc byte[sizeof(long)];
        address = _store.Read(markerKey, marker, out _) >= 0 ? BinaryPrimitives.ReadInt64LittleEndian(marker) : 0;
        known[(ownerHost, fileId)] = address;
        return address;
    }
}
