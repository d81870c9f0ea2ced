using System.Buffers.Binary;
using Picojump.Fs.Storage.Internal;

namespace Picojump.Fs.Storage;

/// <summary>What <see cref="FasterBlobStore.Scan"/> hands over for each record: false stops the scan.</summary>
public delegate bool RecordVisitor(long address, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value);

// Reading the log in address order: a record on disk costs a share of one large sequential read
// (a log page at a time) instead of a read of its own. What users that know their records'
// addresses (an index of their own) use to read many records that were written together.
public sealed partial class FasterBlobStore
{
    /// <summary>The oldest address still held: records below it were evicted.</summary>
    public long BeginAddress => _store.Log.BeginAddress;

    /// <summary>
    /// Visits every record from <paramref name="beginAddress"/> (a record's address, or the
    /// begin of the log) up to <paramref name="endAddress"/> (exclusive), oldest first, superseded
    /// records included; with checksums on, a record that fails its checksum is skipped. The spans
    /// are valid only during the call.
    /// </summary>
    public void Scan(long beginAddress, long endAddress, RecordVisitor visit)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        ArgumentNullException.ThrowIfNull(visit);
        beginAddress = Math.Max(beginAddress, _store.Log.BeginAddress);
        endAddress = Math.Min(endAddress, _store.Log.TailAddress);
        if (beginAddress >= endAddress)
        {
            return;
        }
        using var iterator = _store.Log.Scan(beginAddress, endAddress);
        while (iterator.GetNext(out var info))
        {
            if (info.Tombstone)
            {
                continue;
            }
            var key = iterator.GetKey().AsReadOnlySpan();
            var value = iterator.GetValue().AsReadOnlySpan();
            if (_options.ChecksumValues)
            {
                if (value.Length < ValueChecksum.Length
                    || BinaryPrimitives.ReadUInt64LittleEndian(value) != ValueChecksum.Compute(key, value[ValueChecksum.Length..]))
                {
                    continue;
                }
                value = value[ValueChecksum.Length..];
            }
            if (!visit(iterator.CurrentAddress, key, value))
            {
                return;
            }
        }
    }
}
