"""The OSD as a Ray actor: a thin async shell that moves messages to and from OSDService.

Invariants:
- Requests of one batch are handled in order with no await in between, so the PG order is
  the client's order; their replica transactions are queued per replica in that same order.
- Per replica there is at most one repop call in flight (`_ReplicaPipe`), so replicas apply
  transactions in the order the primary produced them even though Ray may start an async
  actor's calls out of order.
- A reply leaves only after every replica in the acting set has applied the batch.
- A request stamped with a newer epoch than ours waits (bounded) for that map first.
"""
from __future__ import annotations

import asyncio
import logging
import time

import ray

from osd.host import apply_repops, run_batch
from osd.messenger import AsyncPeer

log = logging.getLogger("rayceph.osd")

MAP_WAIT_S = 10.0
TICK_S = 0.05
EVENT_POLL_MAX_S = 5.0


class _RayPeer:
    """The same `call` interface over Ray actor calls (messenger = ray)."""

    closed = False

    def __init__(self, handle):
        self.handle = handle

    async def call(self, method: str, *args):
        return await getattr(self.handle, method).remote(*args)


class _ReplicaPipe:
    """Ordered, batched delivery of one primary's transactions to one replica."""

    def __init__(self, owner: "OSDActor", osd_id: int):
        self.owner = owner
        self.osd_id = osd_id
        self.queue: list = []
        self.waiters: list[asyncio.Future] = []
        self.sending = False

    async def send(self, repops: list) -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self.queue.extend(repops)
        self.waiters.append(done)
        if not self.sending:
            self.sending = True
            asyncio.ensure_future(self._drain())
        await done

    async def _drain(self) -> None:
        try:
            while self.queue:
                batch, self.queue = self.queue, []
                waiters, self.waiters = self.waiters, []
                try:
                    channel = await self.owner.peer(self.osd_id)
                    await channel.call("rep_ops", batch)
                    error = None
                except Exception as exc:  # replica died: the map change will re-peer the PG
                    error = exc
                    self.owner.forget_peer(self.osd_id)
                for waiter in waiters:
                    if not waiter.done():
                        if error is None:
                            waiter.set_result(None)
                        else:
                            waiter.set_exception(error)
        finally:
            self.sending = False


class OSDActor:
    def __init__(self, cluster_name: str, namespace: str, osd_id: int, options: dict | None = None):
        from osd.service import OSDService

        options = options or {}
        self.cluster_name = cluster_name
        self.namespace = namespace
        self.osd_id = osd_id
        self.service = OSDService(osd_id)
        self.messenger = options.get("messenger", "socket")
        self.bind_host = options.get("bind", "127.0.0.1")
        self.addr: tuple[str, int] | None = None
        self._server = None
        self._peers: dict[int, object] = {}
        self._pipes: dict[int, _ReplicaPipe] = {}
        self._mon = None
        self._map_changed: asyncio.Condition | None = None
        self._events_changed: asyncio.Condition | None = None
        self._started = False

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> int:
        if self._started:
            return self.service.epoch
        self._map_changed = asyncio.Condition()
        self._events_changed = asyncio.Condition()
        self._mon = ray.get_actor(f"{self.cluster_name}.mon", namespace=self.namespace)
        if self.messenger == "socket":
            from osd.messenger import serve

            self._server, self.addr = await serve(self, self.bind_host)
        self.service.set_osdmap(await self._mon.get_osdmap.remote())
        asyncio.ensure_future(self._follow_maps())
        asyncio.ensure_future(self._ticker())
        self._started = True
        return self.service.epoch

    async def ping(self) -> int:
        return self.osd_id

    async def msgr_addr(self):
        """Where this OSD's messenger listens, or None when it talks over Ray only."""
        return self.addr

    async def peer(self, osd_id: int):
        """A channel to another OSD with an awaitable `call(method, *args)`."""
        channel = self._peers.get(osd_id)
        if channel is None or getattr(channel, "closed", False):
            handle = ray.get_actor(f"{self.cluster_name}.osd.{osd_id}", namespace=self.namespace)
            addr = await handle.msgr_addr.remote() if self.messenger == "socket" else None
            channel = AsyncPeer(tuple(addr)) if addr else _RayPeer(handle)
            self._peers[osd_id] = channel
        return channel

    def forget_peer(self, osd_id: int) -> None:
        self._peers.pop(osd_id, None)

    async def _install_map(self, osdmap) -> None:
        if osdmap is not None and osdmap.epoch > self.service.epoch:
            repops = self.service.set_osdmap(osdmap)
            async with self._map_changed:
                self._map_changed.notify_all()
            if repops:  # snap trimming decided by the new map: replicas trim the same way
                asyncio.ensure_future(self._replicate(repops))

    async def _follow_maps(self) -> None:
        while True:
            try:
                newer = await self._mon.wait_for_epoch.remote(self.service.epoch, 5.0)
                await self._install_map(newer)
            except Exception:
                log.exception("osd.%d: map subscription failed", self.osd_id)
                await asyncio.sleep(0.5)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                self.service.tick(time.time())
            except Exception:
                log.exception("osd.%d: tick failed", self.osd_id)
            async with self._events_changed:
                self._events_changed.notify_all()

    async def _catch_up(self, requests) -> None:
        newest = max((r.epoch for r in requests), default=0)
        if newest <= self.service.epoch:
            return
        await self._install_map(await self._mon.get_osdmap.remote())
        deadline = time.monotonic() + MAP_WAIT_S
        async with self._map_changed:
            while self.service.epoch < newest and time.monotonic() < deadline:
                try:
                    await asyncio.wait_for(self._map_changed.wait(), deadline - time.monotonic())
                except asyncio.TimeoutError:
                    break

    async def _replicate(self, repops: dict) -> None:
        sends = []
        for osd_id, batch in repops.items():
            pipe = self._pipes.get(osd_id)
            if pipe is None:
                pipe = self._pipes[osd_id] = _ReplicaPipe(self, osd_id)
            sends.append(pipe.send(batch))
        if sends:
            await asyncio.gather(*sends, return_exceptions=True)

    # -- client ops ---------------------------------------------------------------------------
    async def osd_ops(self, requests: list) -> list:
        await self._catch_up(requests)
        replies, repops = run_batch(self.service, requests)
        await self._replicate(repops)
        if self.service.has_pending_events():
            async with self._events_changed:
                self._events_changed.notify_all()
        return replies

    async def osd_notify(self, request):
        await self._catch_up([request])
        outcome = self.service.handle_op(request)
        await self._replicate({k: [v] for k, v in outcome.repops.items()})
        pending = outcome.notify
        if pending is None:
            return outcome.reply
        deadline = time.monotonic() + pending.timeout_s + 1.0
        async with self._events_changed:
            self._events_changed.notify_all()
            while not self.service.notify_done(pending.notify_id):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    await asyncio.wait_for(self._events_changed.wait(), remaining)
                except asyncio.TimeoutError:
                    break
        self.service.tick(time.time())
        return self.service.finish_notify(pending.notify_id)

    async def wait_events(self, gid: int, timeout_s: float) -> list:
        deadline = time.monotonic() + min(timeout_s, EVENT_POLL_MAX_S)
        async with self._events_changed:
            while True:
                events = self.service.pop_events(gid)
                if events:
                    return events
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                try:
                    await asyncio.wait_for(self._events_changed.wait(), remaining)
                except asyncio.TimeoutError:
                    return []

    # -- replication --------------------------------------------------------------------------
    async def rep_ops(self, repops: list) -> int:
        return apply_repops(self.service, repops)

    # -- everything else (pgls, stats, acks, pings, admin commands) ---------------------------
    async def call(self, method: str, *args):
        result = getattr(self.service, method)(*args)
        async with self._events_changed:
            self._events_changed.notify_all()
        return result

    async def pgls(self, *args):
        return self.service.pgls(*args)

    async def pool_stats(self, *args):
        return self.service.pool_stats(*args)

    async def notify_ack(self, *args):
        done = self.service.notify_ack(*args)
        async with self._events_changed:
            self._events_changed.notify_all()
        return done

    async def watch_ping(self, *args):
        return self.service.watch_ping(*args)


RemoteOSD = ray.remote(num_cpus=0, max_concurrency=10000)(OSDActor)
