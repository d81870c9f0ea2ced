using Microsoft.Extensions.Logging;
using Picojump.Fs.Cache;
using Picojump.Fs.Cluster;
using Picojump.Fs.Native;
using Picojump.Fs.Union.Internal;
using Picojump.Protos.Peer;

namespace Picojump.Fs.Union;

// Coherence. Changes made here to this host's files are announced (LocalChanged) for peers
// that cache them; a peer's announcements drop our cached blocks and the kernel's caches.
// The kernel is told from a worker thread: a notification sent from inside a request
// handler can deadlock against the very request it serves.
public sealed partial class UnionFileSystem
{
    private static readonly TimeSpan NoticeWait = TimeSpan.FromSeconds(2);

    private readonly record struct KernelNotice(ulong NodeId, ulong Parent, byte[]? Name, ManualResetEventSlim? Done = null);

    /// <summary>Announces a change of a local object (peers own and announce theirs).</summary>
    private void Changed(UnionNode node, ulong ino, bool entry)
    {
        if (node.LocalId == 0 || LocalChanged is not { } changed)
            return;
        changed(_nodes.PathOf(node), ino, entry);
    }

    private void OnInvalidation(RemotePeer peer, Invalidation invalidation)
    {
        var node = _nodes.Walk(invalidation.Path, out var parent);
        if (node != null && !node.IsDirectory && node.Owner == peer.Name)
        {
            _cache?.Invalidate(BlockKey.HashHost(peer.Name), node.RemoteIno);
            Notify(new KernelNotice(node.Id, 0, null));
        }
        if (invalidation.Entry && parent != null)
        {
            var name = invalidation.Path[(invalidation.Path.LastIndexOf('/') + 1)..];
            Notify(new KernelNotice(0, parent.Id, NameBytes(name)));
            Notify(new KernelNotice(parent.Id, 0, null)); // its listing and link count changed
        }
    }

    private void OnPeerReset(RemotePeer peer)
    {
        // What changed while we did not listen is unknown: every node of that peer is suspect.
        foreach (var node in _nodes.OfPeer(peer.Name))
        {
            Notify(new KernelNotice(node.Id, 0, null));
            if (node.Parent != null)
                Notify(new KernelNotice(0, node.Parent.Id, NameBytes(node.Name)));
        }
    }

    /// <summary>The local file system changed a node's attributes behind the kernel's back.</summary>
    private void OnLocalAttributesChanged(ulong localId)
    {
        foreach (var node in _nodes.WithLocalId(localId))
            Notify(new KernelNotice(node.Id, 0, null));
    }

    private void Notify(KernelNotice notice) => _notices.Writer.TryWrite(notice);

    /// <summary>Has the worker tell the kernel, and waits (bounded) until it has.</summary>
    private void NotifyAndWait(KernelNotice notice)
    {
        using var done = new ManualResetEventSlim();
        if (_notices.Writer.TryWrite(notice with { Done = done }))
            done.Wait(NoticeWait);
    }

    private void NoticeLoop()
    {
        var reader = _notices.Reader;
        while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            while (reader.TryRead(out var notice))
            {
                if (_connection is not { } connection)
                {
                    notice.Done?.Set();
                    continue;
                }
                // ENOENT: the kernel no longer has it cached, which is just as good.
                var error = notice.Name == null
                    ? connection.NotifyInvalInode(notice.NodeId, 0, -1)
                    : connection.NotifyInvalEntry(notice.Parent, notice.Name.AsSpan(0, notice.Name.Length - 1));
                if (error is not (Errno.OK or Errno.ENOENT))
                    _logger.LogDebug("Kernel cache notification failed: {Errno}", error);
                notice.Done?.Set();
            }
        }
    }
}
