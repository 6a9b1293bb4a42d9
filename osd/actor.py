"""The OSD as a Ray actor: an async shell that moves messages to and from OSDService in
peering mode (cluster/sim.py's `SimOSD` is the reference for everything it does).

Invariants:
- Requests of one batch are handled in order with no await in between, so the PG order is
  the client's order; their RepOps are queued on the per-replica pipes in that same order.
- Every message to a peer (RepOp or peering message) travels over one `OrderedPipe` per
  destination (osd/actor_links.py): ordered, lossless while the peer is up in our map.
- A write is acknowledged only when every replica's handle_repop returned 0; a nonzero
  result, or a map that changed the PG's interval (or its primary) while the write waited,
  answers it with `retry_epoch = epoch + 1`, and the client resends. A resend whose reqid
  is in flight joins the existing waiter: it never goes back through handle_op, whose
  logged reply would acknowledge it before the replicas did.
- Every map epoch is delivered in order (advance_maps), fetched from the monitor's history
  when a newer one shows up; a message stamped with a newer epoch than ours waits
  (bounded) until we have that map.
- The OSD boots with its process incarnation at start, and again whenever a map shows it
  down while it is alive (a wrong mark-down), unless the map has `noup`.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import time

import ray

from osd.actor_faults import FaultState
from osd.actor_links import OrderedPipe, RayChannel
from osd.actor_mon import MonitorAndTimers
from osd.heartbeat import Heartbeat, choose_peers
from osd.messages import OpOutcome, OSDOpReply, RepOp
from osd.messenger import AsyncPeer
from osd.mon_client import MonClient

log = logging.getLogger("rayceph.osd")

MAP_WAIT_S = 10.0
# A busy process (a host actor starting dozens of OSDs on a loaded machine) may take
# seconds to answer; a peer slower than the heartbeat grace is reported failed anyway.
PEER_CHECK_S = 20.0
EVENT_POLL_MAX_S = 5.0
DEFAULT_RECOVERY_MAX_ACTIVE = 3     # Ceph's osd_recovery_max_active_hdd, for "0 = by device"


class _Write:
    """A replicated write waiting for its replicas' acks (the futures of every sender)."""

    __slots__ = ("actor", "reqid", "outcome", "futures", "waiting", "failed", "pgkey",
                 "interval", "done")

    def __init__(self, actor, req, outcome, futures, pgkey, interval):
        self.actor = actor
        self.reqid = req.reqid
        self.outcome = outcome
        self.futures = futures
        self.waiting = set(outcome.repops)
        self.failed = False
        self.pgkey = pgkey
        self.interval = interval
        self.done = False

    def acked(self, osd: int, result) -> None:
        if self.done or osd not in self.waiting:
            return
        self.waiting.discard(osd)
        if result != 0:
            self.failed = True
        if not self.waiting:
            self.finish(self.actor.retry_outcome() if self.failed else self.outcome)

    def finish(self, outcome: OpOutcome) -> None:
        self.done = True
        self.actor.inflight.pop(self.reqid, None)
        for future in self.futures:
            if not future.done():
                future.set_result(outcome)


def map_addr(osdmap, osd_id: int):
    """(host, port) of `osd_id` as the map shows it ('host:port/nonce'), or None."""
    info = osdmap.osds.get(osd_id) if osdmap is not None else None
    host, sep, rest = (info.addr if info is not None else "").rpartition(":")
    port = rest.split("/", 1)[0]
    if not sep or not host or not port.isdigit():
        return None
    return host, int(port)


def make_store(objectstore: str, data_root: str, osd_id: int):
    if objectstore == "lmdb":
        from osd.lmdb_store import LmdbStore

        # sync=False: a killed actor process loses nothing (the pages are in the kernel's
        # cache); only a machine crash could, which a simulation on one machine never sees.
        return LmdbStore(os.path.join(data_root, f"osd.{osd_id}"), sync=False)
    if objectstore != "memstore":
        raise ValueError(f"objectstore must be memstore or lmdb, not {objectstore!r}")
    from osd.object_store import MemStore

    return MemStore()


def service_config(config: dict) -> dict:
    """The options OSDService reads, with Ceph's '0 = by device type' resolved."""
    out = dict(config or {})
    if int(out.get("osd_recovery_max_active") or 0) <= 0:
        out["osd_recovery_max_active"] = DEFAULT_RECOVERY_MAX_ACTIVE
    return out


class OSDActor(MonitorAndTimers):
    def __init__(self, cluster_name: str, namespace: str, osd_id: int, options: dict | None = None):
        from osd.service import OSDService

        options = dict(options or {})
        self.options = options
        self.cluster_name = cluster_name
        self.namespace = namespace
        self.osd_id = osd_id
        config = service_config(options.get("config", {}))
        store = make_store(options.get("objectstore", "memstore"), options.get("osd_data", ""),
                           osd_id)
        if options.get("born_with_cluster") and store.get_store_meta("birth") is None:
            # created with the cluster: it witnessed every interval there is (nothing
            # happened before it), like the OSDs of a freshly deployed Ceph cluster
            store.set_store_meta("birth", 0)
        self.service = OSDService(osd_id, store, peering=True, config=config)
        self.incarnation = time.time_ns()
        self.faults = FaultState()
        self.heartbeat = Heartbeat(osd_id, float(config.get("osd_heartbeat_interval", 6)),
                                   float(config.get("osd_heartbeat_grace", 20)))
        self.messenger = options.get("messenger", "socket")
        self.bind_host = options.get("bind", "127.0.0.1")
        self.addr: tuple[str, int] | None = None
        self._server = None
        self._peers: dict[int, object] = {}
        self._connecting: dict[int, asyncio.Future] = {}     # osd id -> connection being made
        self._pipes: dict[int, OrderedPipe] = {}
        self.inflight: dict = {}        # reqid -> _Write
        self._parked: dict = {}         # reqid -> [future]: requests the core holds
        self._mon: MonClient | None = None     # set before start() by a host actor
        self._map_lock: asyncio.Lock | None = None
        self._map_changed: asyncio.Condition | None = None
        self._events_changed: asyncio.Condition | None = None
        self._boot_sent_at = 0.0
        self._started = False

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> int:
        """Serve, install every map the monitor keeps, boot, and wait (bounded) to be up."""
        if self._started:
            return self.service.epoch
        self._started = True
        self._map_lock = asyncio.Lock()
        self._map_changed = asyncio.Condition()
        self._events_changed = asyncio.Condition()
        if self._mon is None:   # a host actor running several OSDs gives them one session
            self._mon = MonClient(ray.get_actor(f"{self.cluster_name}.mon",
                                                namespace=self.namespace))
        if self.messenger == "socket":
            from osd.messenger import serve

            self._server, self.addr = await serve(self, self.bind_host)
        newest = await self._mon.newest()
        await self._catch_up_to(newest.epoch, newest)
        epoch = await self._boot()
        if epoch > 0:
            await self._wait_for_map(epoch)
        asyncio.ensure_future(self._follow_maps())
        asyncio.ensure_future(self._ticker())
        asyncio.ensure_future(self._peering_ticker())
        return self.service.epoch

    async def ping(self) -> int:
        return self.osd_id

    async def msgr_addr(self):
        """Where this OSD's messenger listens, or None when it talks over Ray only."""
        return self.addr

    async def spawn_options(self) -> dict:
        """The options this OSD was started with (cluster/bootstrap.py restarts peers)."""
        options = dict(self.options)
        options.pop("born_with_cluster", None)     # a restarted OSD is born when it starts
        return options

    # -- faults -------------------------------------------------------------------------------
    async def fault_set(self, spec: dict) -> dict:
        return self.faults.set(spec)

    async def fault_clear(self) -> dict:
        return self.faults.clear()

    # -- maps ---------------------------------------------------------------------------------
    async def _catch_up_to(self, epoch: int, newest=None) -> None:
        """Install every epoch up to (at least) `epoch`, in order, from the monitor's history."""
        async with self._map_lock:
            if self.service.epoch >= epoch:
                return
            maps = await self._mon.maps_since(self.service.epoch, epoch)
            if not maps and newest is not None and newest.epoch > self.service.epoch:
                maps = [newest]
            if maps:    # a gap before the oldest kept map reads like a fresh full map
                self._install(maps)

    def _install(self, maps: list) -> None:
        ready = self.service.advance_maps(maps)
        self._after_map()
        self._process(ready)
        asyncio.ensure_future(self._announce_map())

    async def _announce_map(self) -> None:
        async with self._map_changed:
            self._map_changed.notify_all()

    def _after_map(self) -> None:
        svc = self.service
        for w in list(self.inflight.values()):
            pg = svc.pgs.get(w.pgkey)
            if pg is None or pg.interval_start != w.interval or pg.primary != self.osd_id:
                w.finish(self.retry_outcome())
        m = svc.osdmap
        for osd, pipe in self._pipes.items():
            if self.peer_gone(osd):
                pipe.drop()
        pg_peers = {o for pg in svc.pgs.values() for o in pg.acting}
        up = [o for o, i in m.osds.items() if i.up]
        self.heartbeat.set_peers(choose_peers(self.osd_id, up, pg_peers), time.time())
        self._maybe_reboot()

    async def _wait_for_map(self, epoch: int) -> None:
        """Wait (bounded) until our map reaches `epoch`, fetching it if needed."""
        if self.service.epoch >= epoch:
            return
        if self.faults.mon_reachable():
            try:
                await self._catch_up_to(epoch)
            except Exception:
                log.exception("osd.%d: map catch-up failed", self.osd_id)
        deadline = time.monotonic() + MAP_WAIT_S
        async with self._map_changed:
            while self.service.epoch < epoch and time.monotonic() < deadline:
                try:
                    await asyncio.wait_for(self._map_changed.wait(), deadline - time.monotonic())
                except asyncio.TimeoutError:
                    break

    # -- outgoing messages --------------------------------------------------------------------
    def retry_outcome(self) -> OpOutcome:
        return OpOutcome(reply=OSDOpReply(result=0, retry_epoch=self.service.epoch + 1))

    def _pipe(self, osd_id: int) -> OrderedPipe:
        pipe = self._pipes.get(osd_id)
        if pipe is None:
            pipe = self._pipes[osd_id] = OrderedPipe(self, osd_id)
        return pipe

    def _process(self, ready) -> None:
        """Act on a Ready: send its messages in order, then handle its outcomes."""
        for dest, msg in ready.messages:
            self._pipe(dest).push(msg)
        for req, outcome in ready.outcomes:
            self._handle_outcome(self._parked.pop(req.reqid, []), req, outcome)

    def _handle_outcome(self, futures: list, req, outcome: OpOutcome) -> None:
        """Park, replicate or answer one request's outcome (futures get an OpOutcome)."""
        if outcome.waiting:
            self._parked.setdefault(req.reqid, []).extend(futures)
            return
        w = self.inflight.get(req.reqid)
        if w is not None:
            w.futures.extend(futures)
            return
        if outcome.repops:
            pgkey = (req.pool, req.pgid)
            pg = self.service.pgs.get(pgkey)
            w = _Write(self, req, outcome, futures, pgkey, pg.interval_start if pg else 0)
            self.inflight[req.reqid] = w
            for osd, repop in sorted(outcome.repops.items()):
                self._pipe(osd).push(repop, w)
            return
        for future in futures:
            if not future.done():
                future.set_result(outcome)

    async def peer(self, osd_id: int):
        """A channel to another OSD with an awaitable `call(method, *args)`; callers that
        ask while a connection is being made share it."""
        channel = self._peers.get(osd_id)
        if channel is not None and not getattr(channel, "closed", False):
            return channel
        connecting = self._connecting.get(osd_id)
        if connecting is None:
            connecting = asyncio.ensure_future(self._connect_peer(osd_id))
            self._connecting[osd_id] = connecting
            connecting.add_done_callback(lambda _: self._connecting.pop(osd_id, None))
        return await asyncio.shield(connecting)

    async def _connect_peer(self, osd_id: int):
        channel = None
        if self.messenger == "socket":
            channel = await self._peer_at_map_addr(osd_id)
        if channel is None:
            channel = await self._peer_through_ray(osd_id)
        self._peers[osd_id] = channel
        return channel

    async def _peer_at_map_addr(self, osd_id: int):
        """A connection to the address the map gives `osd_id`, checked to be that OSD (a
        stale address may be closed, or reused by another OSD); None if it is not. Ceph's
        OSDs find each other this way; asking Ray costs an actor call per connection,
        thousands of them while a large cluster boots."""
        addr = map_addr(self.service.osdmap, osd_id)
        if addr is None:
            return None
        channel = AsyncPeer(addr)
        try:
            who = await asyncio.wait_for(channel.call("ping"), PEER_CHECK_S)
        except asyncio.TimeoutError:
            channel.close()
            raise ConnectionError(f"osd.{osd_id} at {addr} does not answer") from None
        except (ConnectionError, OSError):
            return None
        if who != osd_id:
            channel.close()
            return None
        return channel

    async def _peer_through_ray(self, osd_id: int):
        from cluster.bootstrap import osd_handle

        handle = osd_handle(self.cluster_name, osd_id)
        if handle is None:
            raise ConnectionError(f"osd.{osd_id} has no actor")
        if self.messenger != "socket":
            return RayChannel(handle)
        addr = await handle.msgr_addr.remote()
        if not addr:    # still starting: the pipe retries (never fall back to Ray)
            raise ConnectionError(f"osd.{osd_id} does not serve yet")
        return AsyncPeer(tuple(addr))

    def forget_peer(self, osd_id: int) -> None:
        self._peers.pop(osd_id, None)

    def peer_gone(self, osd_id: int) -> bool:
        m = self.service.osdmap
        info = m.osds.get(osd_id) if m is not None else None
        return info is None or not info.up

    async def deliver(self, dest: int, messages: list) -> list:
        """One OrderedPipe delivery (raises as an unreachable peer would when blocked)."""
        if self.faults.active:
            await self.faults.wait_until(self.faults.may_act)
            if self.faults.is_blocked(f"osd.{dest}"):
                raise ConnectionError(f"osd.{dest} is blocked")
        channel = await self.peer(dest)
        return await channel.call("peer_messages", self.osd_id, messages)

    # -- incoming OSD messages ----------------------------------------------------------------
    async def peer_messages(self, from_osd: int, messages: list) -> list:
        """A peer's ordered delivery: RepOps to handle_repop, the rest to
        handle_peering_message. One result per handled message (a RepOp's 0/-errno, None
        for the others); a shorter list asks the sender to resend the rest later."""
        if self.faults.active:
            if self.faults.is_blocked(f"osd.{from_osd}"):
                raise ConnectionError(f"osd.{from_osd} is blocked")
            await self.faults.admit(f"osd.{from_osd}")
            if self.faults.eio:
                return []
        newest = max(m.epoch for m in messages)
        if newest > self.service.epoch:
            await self._wait_for_map(newest)
        svc = self.service
        results: list = []
        for msg in messages:
            if isinstance(msg, RepOp):
                result = svc.handle_repop(msg)
                if result == -errno.EAGAIN:
                    break           # no map that new yet: resent later
                results.append(result)
            else:
                if msg.epoch > svc.epoch:
                    break           # keep the order: this one and the rest come again
                self._process(svc.handle_peering_message(msg))
                results.append(None)
        return results

    # -- client ops ---------------------------------------------------------------------------
    async def _admit_client(self, requests: list) -> bool:
        """Apply the faults to a client call; False when the store fails (-EIO replies)."""
        gids = {f"client.{r.reqid[0]}" for r in requests if isinstance(r.reqid, tuple)}
        await self.faults.wait_until(lambda: not self.faults.paused and
                                     not any(self.faults.is_blocked(g) for g in gids))
        if self.faults.delay_s:
            await asyncio.sleep(self.faults.delay_s)
        return not self.faults.eio

    async def osd_ops(self, requests: list) -> list:
        if self.faults.active and not await self._admit_client(requests):
            return [OSDOpReply(result=-errno.EIO) for _ in requests]
        newest = max((r.epoch for r in requests), default=0)
        if newest > self.service.epoch:
            await self._wait_for_map(newest)
        svc = self.service
        loop = asyncio.get_running_loop()
        out: list = []
        waits = False
        for req in requests:
            joined = self.inflight.get(req.reqid)
            parked = self._parked.get(req.reqid) if joined is None else None
            if joined is not None or parked is not None:
                future = loop.create_future()   # a resend joins the original's waiter
                (joined.futures if joined is not None else parked).append(future)
                out.append(future)
                waits = True
                continue
            outcome = svc.handle_op(req)
            if not outcome.waiting and not outcome.repops:
                out.append(outcome.reply)
                continue
            future = loop.create_future()
            self._handle_outcome([future], req, outcome)
            out.append(future)
            waits = True
        if svc.has_pending_events():
            asyncio.ensure_future(self._announce_events())
        if waits:
            for i, item in enumerate(out):
                if isinstance(item, asyncio.Future):
                    out[i] = (await item).reply
        return out

    async def _announce_events(self) -> None:
        async with self._events_changed:
            self._events_changed.notify_all()

    async def osd_notify(self, request):
        if self.faults.active and not await self._admit_client([request]):
            return OSDOpReply(result=-errno.EIO)
        if request.epoch > self.service.epoch:
            await self._wait_for_map(request.epoch)
        outcome = self.service.handle_op(request)
        if outcome.waiting or outcome.repops:
            future = asyncio.get_running_loop().create_future()
            self._handle_outcome([future], request, outcome)
            outcome = await future
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
        if self.faults.active:
            await self.faults.wait_until(self.faults.may_act)
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

    # -- everything else (pgls, stats, acks, pings, admin commands) ---------------------------
    async def call(self, method: str, *args):
        if self.faults.active:
            await self.faults.wait_until(self.faults.may_act)
        result = getattr(self.service, method)(*args)
        async with self._events_changed:
            self._events_changed.notify_all()
        return result

    async def pgls(self, *args):
        if self.faults.active:
            await self.faults.wait_until(self.faults.may_act)
        return self.service.pgls(*args)

    async def pool_stats(self, *args):
        if self.faults.active:
            await self.faults.wait_until(self.faults.may_act)
        return self.service.pool_stats(*args)

    async def notify_ack(self, *args):
        if self.faults.active:
            await self.faults.wait_until(self.faults.may_act)
        done = self.service.notify_ack(*args)
        async with self._events_changed:
            self._events_changed.notify_all()
        return done

    async def watch_ping(self, *args):
        if self.faults.active:
            await self.faults.wait_until(self.faults.may_act)
        return self.service.watch_ping(*args)


RemoteOSD = ray.remote(num_cpus=0, max_concurrency=10000)(OSDActor)
