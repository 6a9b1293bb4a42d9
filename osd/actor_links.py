"""OSD-to-OSD links of the Ray OSD actor: one channel and one ordered pipe per peer.

`OrderedPipe` is the lossless, ordered session Ceph's messenger gives OSD peers: RepOps and
peering messages for one destination leave in the order the core produced them, at most one
delivery is in flight (Ray may start an async actor's calls out of order, a socket server
starts them in arrival order; one in flight is what makes both keep the order), and a
delivery that fails is retried until it arrives, unless the destination is down in our
map (its session is gone: the new interval the mark-down started supersedes every message
of the old one, and the receiver would drop them anyway).

The receiver answers a delivery with one result per message it handled, in order; a
shorter list means "handle the rest again later" (it could not take them now: no newer map
yet, or its store fails), and the pipe resends that rest after a pause. Each message may
carry a tag whose `acked(osd, result)` is called with the receiver's result.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque

log = logging.getLogger("rayceph.osd")

RETRY_S = 0.2               # pause before resending what a peer could not take
MAX_DELIVERY = 512          # messages per delivery call


class RayChannel:
    """The `call(method, *args)` interface over Ray actor calls (messenger = ray)."""

    closed = False

    def __init__(self, handle):
        self.handle = handle

    async def call(self, method: str, *args):
        return await getattr(self.handle, method).remote(*args)


class OrderedPipe:
    """Ordered, lossless delivery of one OSD's messages to one peer (see module docstring).

    `owner` provides: `async deliver(dest, messages) -> list` (raises when the peer is
    unreachable), `forget_peer(dest)`, and `peer_gone(dest) -> bool`.
    """

    def __init__(self, owner, dest: int):
        self.owner = owner
        self.dest = dest
        self.queue: deque = deque()     # (message, tag or None)
        self.sending = False
        self.generation = 0             # bumped by drop(): a delivery in flight is stale

    def push(self, message, tag=None) -> None:
        """Queue one message; synchronous, so callers keep their order without awaiting."""
        self.queue.append((message, tag))
        if not self.sending:
            self.sending = True
            asyncio.ensure_future(self._drain())

    def drop(self) -> None:
        self.queue.clear()
        self.generation += 1

    async def _drain(self) -> None:
        queue = self.queue
        try:
            while queue:
                batch = [queue[i] for i in range(min(len(queue), MAX_DELIVERY))]
                generation = self.generation
                try:
                    results = await self.owner.deliver(self.dest, [m for m, _ in batch])
                except Exception as exc:
                    self.owner.forget_peer(self.dest)
                    if self.owner.peer_gone(self.dest):
                        log.debug("osd.%d gone: dropping %d messages", self.dest, len(queue))
                        self.drop()
                        return
                    log.debug("delivery to osd.%d failed (%r); retrying", self.dest, exc)
                    await asyncio.sleep(RETRY_S)
                    continue
                for (_message, tag), result in zip(batch, results):
                    if generation == self.generation:
                        queue.popleft()     # still this message: pushes only append
                    if tag is not None:
                        tag.acked(self.dest, result)
                if len(results) < len(batch):
                    await asyncio.sleep(RETRY_S)
        finally:
            self.sending = False
