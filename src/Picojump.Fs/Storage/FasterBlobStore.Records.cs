using System.Buffers;
using System.Buffers.Binary;
using FASTER.core;
using Microsoft.Extensions.Logging;
using Picojump.Fs.Storage.Internal;

namespace Picojump.Fs.Storage;

// Reads, presence lookups, writes and eviction. Every write appends a record at the tail, so a
// record's address orders it against every other write; users compare addresses with
// TailAddress to tell what came first or how close a record is to eviction.
public sealed partial class FasterBlobStore
{
    private readonly Lock _evictionLock = new();
    private long _evictions;
    private long _evictedBytes;

    /// <summary>
    /// Copies the value stored under <paramref name="key"/> into <paramref name="destination"/>;
    /// returns the record's log address, or -1 if there is none or it fails its checksum (logged).
    /// A value longer than the destination is neither copied nor checked: the caller sees
    /// <paramref name="length"/> and decides.
    /// </summary>
    public long Read(ReadOnlySpan<byte> key, Span<byte> destination, out int length)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        var session = _sessions.Rent();
        try
        {
            var address = ReadRecord(session, key, destination, out length, out var checksum);
            if (address < 0 || !_options.ChecksumValues || length > destination.Length)
            {
                return address;
            }
            if (length < 0 || checksum != ValueChecksum.Compute(key, destination[..length]))
            {
                _logger.LogWarning("{Store} record at {Address} in {Directory} fails its checksum; treated as absent", _options.Name, address, _options.Directory);
                length = 0;
                return -1;
            }
            return address;
        }
        finally
        {
            _sessions.Return(session);
        }
    }

    /// <summary>
    /// Presence of many keys, each <paramref name="keyLength"/> bytes, laid end to end in
    /// <paramref name="keys"/>: every read is issued first, then the disk reads are awaited
    /// together. Gives each key's record address (-1 if absent) and value length; the values are
    /// neither read nor checked.
    /// </summary>
    public unsafe void LookUp(ReadOnlySpan<byte> keys, int keyLength, Span<long> addresses, Span<int> lengths)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(keyLength);
        var count = keys.Length / keyLength;
        if (keys.Length != count * keyLength || addresses.Length < count || lengths.Length < count)
        {
            throw new ArgumentException($"{keys.Length} bytes of keys are not whole keys of {keyLength} bytes, or the outputs are too short.", nameof(keys));
        }
        addresses[..count].Fill(-1);
        lengths[..count].Clear();
        var session = _sessions.Rent();
        try
        {
            fixed (byte* keysPointer = keys)
            {
                for (var i = 0; i < count; i++)
                {
                    var key = SpanByte.FromPointer(keysPointer + (i * keyLength), keyLength);
                    // No destination: presence only. A pending read keeps its own copy of the key.
                    var output = new ReadOutput();
                    var status = session.Read(ref key, ref output, i);
                    if (!status.IsPending && status.Found)
                    {
                        addresses[i] = output.Address;
                        lengths[i] = output.Length;
                    }
                }
            }
            session.CompletePendingWithOutputs(out var completed, wait: true);
            using (completed)
            {
                while (completed.Next())
                {
                    if (completed.Current.Status.Found)
                    {
                        var index = (int)completed.Current.Context;
                        addresses[index] = completed.Current.RecordMetadata.Address;
                        lengths[index] = completed.Current.Output.Length;
                    }
                }
            }
        }
        finally
        {
            _sessions.Return(session);
        }
    }

    /// <summary>
    /// <see cref="Read"/> of many keys, each <paramref name="keyLength"/> bytes, laid end to end in
    /// <paramref name="keys"/>: every read is issued first, then the disk reads are awaited
    /// together (one wait for the batch, not one per record). Key i's value goes to
    /// <paramref name="destination"/> at i x <paramref name="valueCapacity"/>; its record address
    /// (-1 if absent or failing its checksum) and length come back as <see cref="Read"/> gives them.
    /// </summary>
    public unsafe void ReadMany(ReadOnlySpan<byte> keys, int keyLength, Span<byte> destination, int valueCapacity, Span<long> addresses, Span<int> lengths)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(keyLength);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(valueCapacity);
        var count = keys.Length / keyLength;
        if (keys.Length != count * keyLength || addresses.Length < count || lengths.Length < count || destination.Length < (long)count * valueCapacity)
        {
            throw new ArgumentException($"{keys.Length} bytes of keys are not whole keys of {keyLength} bytes, or the outputs are too short.", nameof(keys));
        }
        addresses[..count].Fill(-1);
        lengths[..count].Clear();
        Span<ulong> checksums = count <= 1024 ? stackalloc ulong[count] : new ulong[count];
        var session = _sessions.Rent();
        try
        {
            // Pinned until every pending read has landed.
            fixed (byte* keysPointer = keys)
            fixed (byte* destinationPointer = destination)
            {
                for (var i = 0; i < count; i++)
                {
                    var key = SpanByte.FromPointer(keysPointer + (i * keyLength), keyLength);
                    var output = new ReadOutput { Destination = destinationPointer + ((long)i * valueCapacity), Capacity = valueCapacity };
                    var status = session.Read(ref key, ref output, i);
                    if (!status.IsPending && status.Found)
                    {
                        addresses[i] = output.Address;
                        lengths[i] = output.Length;
                        checksums[i] = output.Checksum;
                    }
                }
                session.CompletePendingWithOutputs(out var completed, wait: true);
                using (completed)
                {
                    while (completed.Next())
                    {
                        if (completed.Current.Status.Found)
                        {
                            var index = (int)completed.Current.Context;
                            addresses[index] = completed.Current.RecordMetadata.Address;
                            lengths[index] = completed.Current.Output.Length;
                            checksums[index] = completed.Current.Output.Checksum;
                        }
                    }
                }
            }
        }
        finally
        {
            _sessions.Return(session);
        }
        if (!_options.ChecksumValues)
        {
            return;
        }
        for (var i = 0; i < count; i++)
        {
            if (addresses[i] < 0 || lengths[i] > valueCapacity)
            {
                continue;
            }
            var value = destination.Slice(i * valueCapacity, Math.Max(lengths[i], 0));
            if (lengths[i] < 0 || checksums[i] != ValueChecksum.Compute(keys.Slice(i * keyLength, keyLength), value))
            {
                _logger.LogWarning("{Store} record at {Address} in {Directory} fails its checksum; treated as absent", _options.Name, addresses[i], _options.Directory);
                addresses[i] = -1;
                lengths[i] = 0;
            }
        }
    }

    /// <summary>
    /// Stores the value under the key, superseding any earlier record of it, then evicts if the
    /// log is over its bound. Returns the new record's log address (every write appends).
    /// </summary>
    public unsafe long Upsert(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        byte[]? framed = null;
        var stored = value;
        if (_options.ChecksumValues)
        {
            // The checksum followed by the payload, contiguous: one copy into a pooled buffer.
            var framedLength = ValueChecksum.Length + value.Length;
            framed = ArrayPool<byte>.Shared.Rent(framedLength);
            BinaryPrimitives.WriteUInt64LittleEndian(framed, ValueChecksum.Compute(key, value));
            value.CopyTo(framed.AsSpan(ValueChecksum.Length));
            stored = framed.AsSpan(0, framedLength);
        }
        var session = _sessions.Rent();
        long address;
        try
        {
            fixed (byte* keyPointer = key)
            fixed (byte* valuePointer = stored)
            {
                var keyBytes = SpanByte.FromPointer(keyPointer, key.Length);
                var valueBytes = SpanByte.FromPointer(valuePointer, stored.Length);
                var input = default(SpanByte);
                var output = default(ReadOutput);
                session.Upsert(ref keyBytes, ref input, ref valueBytes, ref output, out var metadata);
                address = metadata.Address;
            }
        }
        finally
        {
            _sessions.Return(session);
            if (framed is not null)
            {
                ArrayPool<byte>.Shared.Return(framed);
            }
        }
        EvictIfOverBudget();
        return address;
    }

    /// <summary>Reads one record into the buffer; returns its log address, or -1 if there is none.</summary>
    private static unsafe long ReadRecord(
        ClientSession<SpanByte, SpanByte, SpanByte, ReadOutput, long, RecordFunctions> session,
        ReadOnlySpan<byte> keyBytes, Span<byte> destination, out int length, out ulong checksum)
    {
        fixed (byte* keyPointer = keyBytes)
        fixed (byte* destinationPointer = destination)
        {
            var key = SpanByte.FromPointer(keyPointer, keyBytes.Length);
            var output = new ReadOutput { Destination = destinationPointer, Capacity = destination.Length };
            var status = session.Read(ref key, ref output, 0);
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

    /// <summary>
    /// FIFO eviction: once the log exceeds MaxBytes, move its begin address up and let FASTER
    /// delete the segment files wholly below it; reads of dropped records find nothing. Shrinks
    /// to a segment below MaxBytes so this runs once per segment, not once per write.
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
            // Only what is already on disk: MaxBytes >= 2 x memory keeps this from binding in practice.
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
}
