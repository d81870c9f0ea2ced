using System.Text;

namespace Picojump.Fs.Fuse;

/// <summary>
/// A name from a request, pointing into the request buffer. It is never empty and the byte
/// after <see cref="Bytes"/> is always NUL, so the name can go to a syscall without a copy.
/// </summary>
public readonly ref struct FuseName
{
    public FuseName(ReadOnlySpan<byte> bytes) => Bytes = bytes;

    public ReadOnlySpan<byte> Bytes { get; }

    public int Length => Bytes.Length;

    /// <summary>True for "." and "..", which a file system must never resolve itself.</summary>
    public bool IsDotOrDotDot => Bytes.SequenceEqual("."u8) || Bytes.SequenceEqual(".."u8);

    public override string ToString() => Encoding.UTF8.GetString(Bytes);
}
