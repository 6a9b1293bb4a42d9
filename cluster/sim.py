"""Deterministic simulation: the OSD and failure-detector cores under a seeded driver.

One seed fixes everything: the cluster shape, the workload, the message order (every
message gets a seeded latency; per link delivery stays FIFO, as a TCP session does) and the
fault schedule. Time is virtual, so a run that covers minutes of cluster time takes
milliseconds to seconds. A failing run prints its seed first; `python -m cluster.sim
--seed N` (or `pytest tests/sim --seed N`) replays it exactly.

What runs here is what runs on Ray: OSDService with peering (osd/service.py, peering.py,
recovery.py), heartbeats (osd/heartbeat.py), the monitor core (cluster/monitor.py) and its
failure detector (cluster/failure_detector.py) over the real OSDMap and CRUSH. The driver
plays the hosts: `SimOSD` does what osd/actor.py must do (see the module docstring of
osd/service.py), `SimMon` keeps every epoch, publishes it and applies the detector's
decisions and OSD boots through MonitorCore.set_osd_state.

Faults: kill (memstore: the restarted OSD comes back empty; lmdb: with its data), revive,
mark down (the OSD is alive and re-asserts itself), mark out / in, isolate (every link of an
OSD blocked: OSD-to-OSD and map messages are held, as a lossless session would, client
messages and heartbeats are dropped), heal, per-link delay spikes, client message drops.
The thrasher keeps the faults within what the pools promise to survive: at most
size - min_size OSDs that may hold the only copy of something are dead, isolated or wiped
(memstore) at once; lmdb OSDs keep their data, so more of them may be down (writes then
block below min_size, which the run also exercises).

History check (Jepsen / ceph_test_rados style): each client owns its objects and runs one
op per object at a time, resending (same reqid) until it is answered, so every object has a
linear history. Every read must equal the model (a dict of data/xattrs/omap per object); an
acknowledged write never disappears. After the heal phase every PG must be active+clean
within a bound and every acting member must hold byte-identical copies equal to the model.
"""
from __future__ import annotations

import argparse
import errno
import heapq
import itertools
import logging
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field

from cluster.failure_detector import FailureDetector
from cluster.osdmap import OSDMap, OsdInfo, Pool
from osd.heartbeat import Heartbeat
from osd.messages import OSDOpReply, OSDOpRequest, RepOp, SNAP_HEAD
from osd.object_store import MemStore
from osd.service import OSDService

log = logging.getLogger("rayceph.sim")

MON = ("mon", 0)
DIRECT = ("client", -1)         # Sim.request's one-off client


class SimFailure(AssertionError):
    """A run broke a promise; the message starts with the seed that reproduces it."""


@dataclass
class SimConfig:
    num_osds: int = 6
    pool_size: int = 3
    min_size: int = 2
    pg_num: int = 16
    objectstore: str = "memstore"       # or "lmdb"
    data_dir: str | None = None
    log_max_entries: int = 40           # small, so long outages fall back to backfill
    num_clients: int = 3
    objects_per_client: int = 12
    concurrency: int = 6                # ops in flight per client
    ops: int = 400
    fault_time_s: float = 120.0         # virtual seconds of thrashing
    heal_bound_s: float = 600.0         # virtual seconds to reach active+clean after heal
    latency_s: tuple = (0.0002, 0.01)
    client_drop: float = 0.01
    thrash: bool = True
    heartbeat_interval_s: float = 1.0
    heartbeat_grace_s: float = 4.0
    down_out_interval_s: float = 30.0
    client_retry_s: float = 3.0
    osd_tick_s: float = 0.2
    osd_config: dict = field(default_factory=lambda: {"osd_recovery_max_active": 3,
                                                      "osd_max_backfills": 1,
                                                      "osd_backfill_scan_max": 8,
                                                      "osd_op_queue_wait_s": 5.0})


# -- the simulated network -----------------------------------------------------------------------
class Net:
    """Seeded latency, FIFO per link, partitions, drops, and a virtual clock."""

    def __init__(self, rng: random.Random, cfg: SimConfig):
        self.rng = rng
        self.cfg = cfg
        self.now = 0.0
        self._heap: list = []
        self._seq = itertools.count()
        self._link_last: dict = {}
        self.isolated: set = set()          # node names cut off from everyone
        self.held: list = []                # (src, dst, fn, args) held by an isolation
        self.spikes: dict = {}              # (src, dst) -> extra delay until heal
        self.alive: dict = {}               # node -> incarnation (absent: dead)
        self.events = 0

    def at(self, t: float, fn, *args) -> None:
        heapq.heappush(self._heap, (t, next(self._seq), fn, args))

    def after(self, dt: float, fn, *args) -> None:
        self.at(self.now + dt, fn, *args)

    def cut(self, src, dst) -> bool:
        return src in self.isolated or dst in self.isolated

    def send(self, src, dst, fn, *args, lossy: bool = False) -> None:
        """Deliver fn(*args) at dst after a seeded latency; FIFO per (src, dst)."""
        if self.cut(src, dst):
            if not lossy:
                self.held.append((src, dst, fn, args))
            return
        if lossy and self.cfg.client_drop and self.rng.random() < self.cfg.client_drop:
            return
        lo, hi = self.cfg.latency_s
        t = self.now + self.rng.uniform(lo, hi) + self.spikes.get((src, dst), 0.0)
        key = (src, dst)
        t = max(t, self._link_last.get(key, 0.0) + 1e-7)
        self._link_last[key] = t
        inc = self.alive.get(dst)
        self.at(t, self._deliver, src, self.alive.get(src), dst, inc, fn, args)

    def _deliver(self, src, src_inc, dst, inc, fn, args) -> None:
        if self.alive.get(dst) != inc or inc is None:
            return      # the receiver died (or restarted) meanwhile: the session is gone
        if self.alive.get(src) != src_inc:
            return      # the sender died before this left its socket buffer
        fn(*args)

    def release(self) -> None:
        """Deliver what isolations held (in the order it was sent)."""
        held, self.held = self.held, []
        for src, dst, fn, args in held:
            self.send(src, dst, fn, *args)

    def run_until(self, t_end: float, stop=None) -> None:
        heap = self._heap
        while heap and heap[0][0] <= t_end:
            t, _, fn, args = heapq.heappop(heap)
            self.now = t
            fn(*args)
            self.events += 1
            if stop is not None and self.events % 64 == 0 and stop():
                return
        self.now = max(self.now, t_end)


# -- monitor -------------------------------------------------------------------------------------
class SimMon:
    """The monitor: the real MonitorCore holds the map and applies state changes; the
    failure detector decides them; every epoch is kept and published to every OSD."""

    def __init__(self, sim: "Sim", osdmap: OSDMap):
        from cluster.monitor import MonitorCore
        self.sim = sim
        self.core = MonitorCore(osdmap, clock=lambda: sim.net.now)
        self.osdmap = self.core.get_osdmap()
        self.maps = {self.osdmap.epoch: self.osdmap}
        cfg = sim.cfg
        self.fd = FailureDetector(grace_s=cfg.heartbeat_grace_s, min_reporters=2,
                                  down_out_interval_s=cfg.down_out_interval_s,
                                  report_timeout_s=1e9)
        self.pending: list = []             # kept for all_clean(): changes not yet published
        self.booted: dict = {}              # osd -> incarnation last marked up

    def _set(self, osd: int, **state) -> bool:
        before = self.core.get_osdmap().epoch
        self.core.set_osd_state(osd, **state)
        new = self.core.get_osdmap()
        if new.epoch == before:
            return False
        self.osdmap = new
        self.maps[new.epoch] = new
        self.sim.stats["epochs"] += 1
        for osd_id in self.sim.osd_ids:
            self.sim.net.send(MON, ("osd", osd_id), self.sim.deliver_map, osd_id, new.epoch)
        return True

    # -- state changes ----------------------------------------------------------------------
    def mark_down(self, osd: int) -> None:
        if self._set(osd, up=False):
            self.fd.marked_down(osd, self.sim.net.now)

    def mark_out(self, osd: int, auto: bool = False) -> None:
        if self._set(osd, in_=False):
            self.fd.marked_out(osd, auto)

    def mark_in(self, osd: int) -> None:
        if self._set(osd, in_=True):
            self.fd.marked_in(osd)

    def boot(self, osd: int, incarnation: int) -> None:
        if self.osdmap.osds[osd].up:
            if self.booted.get(osd) == incarnation:
                return      # already up as this incarnation
            # a restart the detector did not notice: a new incarnation needs a new interval
            self.mark_down(osd)
            self.sim.net.after(0.01, self.boot, osd, incarnation)
            return
        self.booted[osd] = incarnation
        decision = self.fd.boot(osd, self.osdmap, self.sim.net.now)
        if not decision.mark_up:
            return
        if self._set(osd, up=True, in_=True if decision.mark_in else None):
            self.fd.marked_up(osd, self.sim.net.now)
            if decision.mark_in:
                self.fd.marked_in(osd)

    def failure_report(self, reporter: int, target: int, since: float) -> None:
        self.fd.report_failure(reporter, target, since, self.sim.net.now)

    def failure_cancel(self, reporter: int, target: int) -> None:
        self.fd.cancel_failure(reporter, target)

    def tick(self) -> None:
        decision = self.fd.tick(self.osdmap, self.sim.net.now)
        for osd in decision.mark_down:
            self.mark_down(osd)
        for osd in decision.mark_out:
            self.mark_out(osd, auto=True)
        self.sim.net.after(1.0, self.tick)


# -- an OSD host ---------------------------------------------------------------------------------
@dataclass
class _Write:
    req: OSDOpRequest
    reply: OSDOpReply
    clients: list
    waiting: set
    failed: bool = False
    pgkey: tuple = (0, 0)
    interval: int = 0


class SimOSD:
    """Does what the Ray actor must do around an OSDService in peering mode."""

    def __init__(self, sim: "Sim", osd_id: int, store):
        self.sim = sim
        self.osd_id = osd_id
        self.node = ("osd", osd_id)
        cfg = sim.cfg
        self.svc = OSDService(osd_id, store, clock=lambda: sim.net.now,
                              log_max_entries=cfg.log_max_entries, peering=True,
                              config=dict(cfg.osd_config))
        self.hb = Heartbeat(osd_id, cfg.heartbeat_interval_s, cfg.heartbeat_grace_s)
        self.inflight: dict = {}            # reqid -> _Write
        self.waiting_clients: dict = {}     # reqid -> [client node]
        self.booting = False

    # -- maps ---------------------------------------------------------------------------------
    def catch_up(self, epoch: int) -> None:
        """Install every map up to `epoch` (a host fetches them from the monitor)."""
        mon = self.sim.mon
        last = min(epoch, mon.osdmap.epoch)
        if self.svc.epoch >= last:
            return
        ready = self.svc.advance_maps([mon.maps[e] for e in range(self.svc.epoch + 1, last + 1)])
        self.after_map()
        self.process(ready)

    def after_map(self) -> None:
        svc = self.svc
        for reqid, w in list(self.inflight.items()):
            pg = svc.pgs.get(w.pgkey)
            if pg is None or pg.interval_start != w.interval or pg.primary != self.osd_id:
                del self.inflight[reqid]
                self.reply(w.clients, w.req, OSDOpReply(0, retry_epoch=svc.epoch + 1))
        m = svc.osdmap
        self.hb.set_peers([o for o, i in m.osds.items() if i.up], self.sim.net.now)
        me = m.osds.get(self.osd_id)
        if me is not None and not me.up and not self.booting:
            self.booting = True     # wrongly marked down (or just restarted): boot again
            self.sim.net.send(self.node, MON, self.sim.mon.boot, self.osd_id,
                              self.sim.net.alive.get(self.node))
        elif me is not None and me.up:
            self.booting = False

    def on_map(self, epoch: int) -> None:
        self.catch_up(epoch)

    # -- client ops ---------------------------------------------------------------------------
    def on_client_op(self, client, req: OSDOpRequest) -> None:
        self.catch_up(req.epoch)
        w = self.inflight.get(req.reqid)
        if w is not None:
            w.clients.append(client)        # a resend while the original awaits its acks
            return
        self.handle_outcome([client], req, self.svc.handle_op(req))

    def handle_outcome(self, clients, req, outcome) -> None:
        if outcome.waiting:
            self.waiting_clients.setdefault(req.reqid, []).extend(clients)
            return
        w = self.inflight.get(req.reqid)
        if w is not None:
            w.clients.extend(clients)
            return
        if outcome.repops:
            pgkey = (req.pool, req.pgid)
            pg = self.svc.pgs.get(pgkey)
            w = _Write(req, outcome.reply, list(clients), set(outcome.repops), pgkey=pgkey,
                       interval=pg.interval_start if pg else 0)
            self.inflight[req.reqid] = w
            for osd, repop in sorted(outcome.repops.items()):
                self.sim.net.send(self.node, ("osd", osd), self.sim.osd_call, osd,
                                  "on_repop", self.osd_id, repop, req.reqid)
            self.sim.thrasher.repop_sent(self.osd_id)
            return
        self.reply(clients, req, outcome.reply)

    def reply(self, clients, req, reply) -> None:
        for client in clients:
            self.sim.net.send(self.node, client, self.sim.client_reply, client, req, reply,
                              lossy=True)

    # -- replication --------------------------------------------------------------------------
    def on_repop(self, src: int, repop: RepOp, tag) -> None:
        self.catch_up(repop.epoch)
        result = self.svc.handle_repop(repop)
        if tag is not None:
            self.sim.net.send(self.node, ("osd", src), self.sim.osd_call, src, "on_repop_ack",
                              self.osd_id, tag, result)

    def on_repop_ack(self, src: int, tag, result: int) -> None:
        w = self.inflight.get(tag)
        if w is None or src not in w.waiting:
            return
        w.waiting.discard(src)
        if result != 0:
            w.failed = True
        if not w.waiting:
            del self.inflight[tag]
            reply = OSDOpReply(0, retry_epoch=self.svc.epoch + 1) if w.failed else w.reply
            self.reply(w.clients, w.req, reply)

    # -- peering ------------------------------------------------------------------------------
    def on_peer(self, msg) -> None:
        self.catch_up(msg.epoch)
        self.process(self.svc.handle_peering_message(msg))

    def process(self, ready) -> None:
        net, sim = self.sim.net, self.sim
        for dest, msg in ready.messages:
            if isinstance(msg, RepOp):
                net.send(self.node, ("osd", dest), sim.osd_call, dest, "on_repop",
                         self.osd_id, msg, None)
            else:
                sim.stats["peering_msgs"] += 1
                net.send(self.node, ("osd", dest), sim.osd_call, dest, "on_peer", msg)
        for req, outcome in ready.outcomes:
            clients = self.waiting_clients.pop(req.reqid, [])
            self.handle_outcome(clients, req, outcome)

    # -- time ---------------------------------------------------------------------------------
    def tick(self) -> None:
        net, sim = self.sim.net, self.sim
        now = net.now
        self.svc.tick(now)
        self.process(self.svc.peering_tick(now))
        for peer in self.hb.due(now):
            net.send(self.node, ("osd", peer), sim.osd_call, peer, "on_ping", self.osd_id,
                     lossy=True)
        for peer, since in self.hb.failures(now):
            net.send(self.node, MON, sim.mon.failure_report, self.osd_id, peer, since)
        for peer in self.hb.recovered():
            net.send(self.node, MON, sim.mon.failure_cancel, self.osd_id, peer)

    def on_ping(self, src: int) -> None:
        self.sim.net.send(self.node, ("osd", src), self.sim.osd_call, src, "on_pong",
                          self.osd_id, lossy=True)

    def on_pong(self, src: int) -> None:
        self.hb.pong(src, self.sim.net.now)


# -- clients and the model -----------------------------------------------------------------------
@dataclass
class _Obj:
    data: bytes = b""
    xattrs: dict = field(default_factory=dict)
    omap: dict = field(default_factory=dict)
    exists: bool = False


@dataclass
class _Op:
    oid: str
    kind: str
    ops: list
    req: OSDOpRequest | None = None
    sent_at: float = 0.0
    invoked_at: float = 0.0
    attempts: int = 0
    snapc: tuple | None = None


class SimClient:
    """Runs its share of the workload, one op per object at a time, resending until answered."""

    def __init__(self, sim: "Sim", n: int):
        self.sim = sim
        self.n = n
        self.node = ("client", n)
        self.gid = 5000 + n
        self.tids = itertools.count(1)
        self.rng = random.Random(sim.rng.random())
        cfg = sim.cfg
        self.objects = [f"c{n}.obj{i}" for i in range(cfg.objects_per_client)]
        self.model = {oid: _Obj() for oid in self.objects}
        self.busy: dict = {}                # oid -> _Op
        self.remaining = 0
        self.done = 0
        self.snap_seq = 0
        self.snaps: list = []
        # pace the ops so that the workload spans the fault phase
        self.think_s = cfg.fault_time_s * cfg.concurrency * cfg.num_clients / max(1, cfg.ops) \
            if cfg.thrash else 0.01

    # -- workload -----------------------------------------------------------------------------
    def start(self, nops: int) -> None:
        self.remaining = nops
        for _ in range(self.sim.cfg.concurrency):
            self.sim.net.after(self.rng.uniform(0, 0.05), self.next_op)

    def next_op(self) -> None:
        if self.remaining <= 0:
            return
        free = [o for o in self.objects if o not in self.busy]
        if not free:
            self.sim.net.after(0.01, self.next_op)
            return
        oid = self.rng.choice(free)
        self.remaining -= 1
        op = self._gen(oid)
        op.invoked_at = self.sim.net.now
        self.busy[oid] = op
        self.sim.history.append((self.sim.net.now, self.n, oid, op.kind, "invoke", None))
        self.send(op)

    def _gen(self, oid: str) -> _Op:
        rng = self.rng
        r = rng.random()
        obj = self.model[oid]
        if r < 0.30:
            return _Op(oid, "read", [("read", 0, 0), ("getxattrs",),
                                     ("omap_get_vals", "", "", 1000)])
        if r < 0.45:
            data = rng.randbytes(rng.randint(1, 6000))
            return _Op(oid, "write_full", [("write_full", data)])
        if r < 0.60:
            off = rng.randrange(0, 8192)
            return _Op(oid, "write", [("write", off, rng.randbytes(rng.randint(1, 3000)))])
        if r < 0.67:
            return _Op(oid, "append", [("append", rng.randbytes(rng.randint(1, 500)))])
        if r < 0.72 and obj.exists:
            return _Op(oid, "truncate", [("truncate", rng.randrange(0, len(obj.data) + 100))])
        if r < 0.80:
            return _Op(oid, "attrs", [("setxattr", rng.choice("abc"), rng.randbytes(8)),
                                      ("omap_set", {f"k{rng.randrange(30):02d}": rng.randbytes(6)
                                                    for _ in range(rng.randint(1, 4))})])
        if r < 0.84 and obj.exists:
            return _Op(oid, "omap_rm", [("omap_rm_keys", [f"k{rng.randrange(30):02d}"
                                                          for _ in range(3)])])
        if r < 0.89 and obj.exists:
            return _Op(oid, "remove", [("remove",)])
        # a write under a new self-managed snapshot: clones must recover too
        self.snap_seq += 1
        self.snaps.insert(0, self.snap_seq)
        op = _Op(oid, "snap_write", [("write", rng.randrange(0, 4096),
                                      rng.randbytes(rng.randint(1, 2000)))])
        op.snapc = (self.snap_seq, list(self.snaps[:8]))
        return op

    # -- transport ----------------------------------------------------------------------------
    def send(self, op: _Op) -> None:
        sim = self.sim
        osdmap = sim.mon.osdmap
        seed = osdmap.object_locator_to_pg(1, op.oid)
        primary = osdmap.pg_to_acting(1, seed)[1]
        if op.req is None:
            op.req = OSDOpRequest(reqid=(self.gid, next(self.tids)), pool=1, pgid=seed,
                                  oid=op.oid, epoch=osdmap.epoch, ops=op.ops, snapc=op.snapc,
                                  mtime=1000.0)
        op.req.pgid, op.req.epoch = seed, osdmap.epoch
        op.attempts += 1
        op.sent_at = sim.net.now
        attempt = op.attempts
        sim.net.after(sim.cfg.client_retry_s, self.check_timeout, op, attempt)
        if primary < 0:
            return
        sim.stats["client_msgs"] += 1
        sim.net.send(self.node, ("osd", primary), sim.osd_call, primary, "on_client_op",
                     self.node, op.req, lossy=True)

    def check_timeout(self, op: _Op, attempt: int) -> None:
        if self.busy.get(op.oid) is op and op.attempts == attempt:
            self.sim.stats["client_resends"] += 1
            self.send(op)

    def on_reply(self, req: OSDOpRequest, reply: OSDOpReply) -> None:
        op = self.busy.get(req.oid)
        if op is None or op.req is None or op.req.reqid != req.reqid:
            return      # an answer to an attempt we already had an answer for
        if reply.retry_epoch:
            self.sim.stats["client_retries"] += 1
            op.attempts += 1        # the pending timeout of the last attempt is void
            attempt = op.attempts
            self.sim.net.after(0.05 if self.sim.mon.osdmap.epoch >= reply.retry_epoch else 0.5,
                               self._resend_if, op, attempt)
            return
        del self.busy[req.oid]
        self.check(op, reply)
        self.done += 1
        self.sim.net.after(self.rng.uniform(0, 2 * self.think_s), self.next_op)

    def _resend_if(self, op: _Op, attempt: int) -> None:
        if self.busy.get(op.oid) is op and op.attempts == attempt:
            self.send(op)

    # -- the model ----------------------------------------------------------------------------
    def check(self, op: _Op, reply: OSDOpReply) -> None:
        sim = self.sim
        obj = self.model[op.oid]
        sim.history.append((sim.net.now, self.n, op.oid, op.kind, "ok", reply.result))
        if op.kind == "read":
            if not obj.exists:
                if reply.result != -errno.ENOENT:
                    sim.fail(f"read of absent {op.oid} returned {reply.result}")
                return
            if reply.result != 0:
                sim.fail(f"read of {op.oid} failed: {reply.result}")
            data = reply.outs[0][1]
            xattrs = reply.outs[1][1]
            omap = reply.outs[2][1][0]
            if data != obj.data:
                sim.fail(f"read of {op.oid}: {len(data)} bytes differ from the model's "
                         f"{len(obj.data)} (lost or phantom write)")
            if dict(xattrs) != obj.xattrs or dict(omap) != obj.omap:
                sim.fail(f"read of {op.oid}: xattrs/omap differ from the model")
            return
        expect_ok = True
        if op.kind in ("truncate", "omap_rm", "remove") and not obj.exists:
            expect_ok = False
        if reply.result != 0:
            if expect_ok:
                sim.fail(f"{op.kind} on {op.oid} failed: {reply.result}")
            return
        if not expect_ok:
            sim.fail(f"{op.kind} on absent {op.oid} succeeded")
        apply_model(obj, op.ops)


def apply_model(obj: _Obj, ops) -> None:
    for op in ops:
        name = op[0]
        if name == "write_full":
            obj.data, obj.exists = op[1], True
        elif name == "write":
            off, data = op[1], op[2]
            buf = bytearray(obj.data)
            if off > len(buf):
                buf.extend(bytes(off - len(buf)))
            buf[off:off + len(data)] = data
            obj.data, obj.exists = bytes(buf), True
        elif name == "append":
            obj.data, obj.exists = obj.data + op[1], True
        elif name == "truncate":
            size = op[1]
            obj.data = obj.data[:size] + bytes(max(0, size - len(obj.data)))
        elif name == "setxattr":
            obj.xattrs[op[1]] = op[2]
            obj.exists = True
        elif name == "omap_set":
            obj.omap.update(op[1])
            obj.exists = True
        elif name == "omap_rm_keys":
            for k in op[1]:
                obj.omap.pop(k, None)
        elif name == "remove":
            obj.data, obj.xattrs, obj.omap, obj.exists = b"", {}, {}, False


# -- the thrasher --------------------------------------------------------------------------------
class Thrasher:
    """Seeded faults within the pool's limits (see the module docstring)."""

    def __init__(self, sim: "Sim"):
        self.sim = sim
        self.rng = random.Random(sim.rng.random())
        self.dead: set = set()
        self.isolated: set = set()
        self.wiped: set = set()         # memstore OSDs revived empty, until the next clean
        self.active = True
        self.armed = False

    def repop_sent(self, osd_id: int) -> None:
        """A primary just sent repops: an armed kill takes it down mid-write."""
        if not self.armed or not self.active:
            return
        self.armed = False
        self.sim.net.after(self.rng.uniform(0.0, 0.01), self._kill_if_allowed, osd_id)

    def _kill_if_allowed(self, osd_id: int) -> None:
        sim = self.sim
        if not self.active or osd_id in self.dead or osd_id in self.isolated:
            return
        lmdb = sim.cfg.objectstore == "lmdb"
        if len(self.impaired()) < self.budget() or \
                (lmdb and len(self.dead) < sim.cfg.pool_size - 1 and not self.isolated):
            self.dead.add(osd_id)
            sim.stats["fault_kill_mid_write"] += 1
            sim.kill(osd_id)

    def impaired(self) -> set:
        return self.dead | self.isolated | self.wiped

    def budget(self) -> int:
        cfg = self.sim.cfg
        return cfg.pool_size - cfg.min_size

    def start(self) -> None:
        self.sim.net.after(self.rng.uniform(1, 4), self.step)

    def step(self) -> None:
        sim = self.sim
        if not self.active:
            return
        if self.wiped and sim.all_clean():
            self.wiped.clear()
        lmdb = sim.cfg.objectstore == "lmdb"
        osdmap = sim.mon.osdmap
        ins = [o for o, i in osdmap.osds.items() if i.in_]
        choices = []
        if len(self.impaired()) < self.budget():
            choices += ["kill", "kill", "kill", "isolate", "mark_down"]
        elif lmdb and len(self.dead) < sim.cfg.pool_size - 1 and not self.isolated:
            choices += ["kill", "kill"]     # lmdb keeps data: writes may block below min_size
        if self.dead:
            choices += ["revive", "revive"]
        if self.isolated:
            choices += ["heal_isolation", "heal_isolation"]
        if len(ins) > sim.cfg.pool_size + 1:
            choices.append("out")
        if len(ins) < len(osdmap.osds):
            choices.append("in")
        choices.append("spike")
        action = self.rng.choice(choices)
        alive = [o for o in sim.osd_ids if o not in self.dead and o not in self.isolated]
        if action in ("kill", "isolate", "mark_down", "out") and not alive:
            action = "spike"
        if action == "kill":
            if self.rng.random() < 0.5:
                # kill the next OSD that replicates a write, while its repops are in
                # flight: the kills that find lost acknowledgements
                self.armed = True
            else:
                victim = self.rng.choice(alive)
                self.dead.add(victim)
                sim.kill(victim)
        elif action == "isolate":
            victim = self.rng.choice(alive)
            self.isolated.add(victim)
            sim.isolate(victim)
        elif action == "mark_down":
            sim.mon.mark_down(self.rng.choice(alive))
        elif action == "revive":
            osd = self.rng.choice(sorted(self.dead))
            self.dead.discard(osd)
            if not lmdb:
                self.wiped.add(osd)
            sim.revive(osd)
        elif action == "heal_isolation":
            osd = self.rng.choice(sorted(self.isolated))
            self.isolated.discard(osd)
            sim.unisolate(osd)
        elif action == "out":
            sim.mon.mark_out(self.rng.choice([o for o in ins]))
        elif action == "in":
            sim.mon.mark_in(self.rng.choice([o for o, i in osdmap.osds.items() if not i.in_]))
        elif action == "spike":
            a, b = self.rng.sample(sim.osd_ids, 2)
            sim.net.spikes[(("osd", a), ("osd", b))] = self.rng.uniform(0.05, 1.0)
        sim.stats["faults"] += 1
        sim.stats["fault_" + action] += 1
        sim.net.after(self.rng.uniform(0.5, 6.0), self.step)


# -- the whole run -------------------------------------------------------------------------------
class Sim:
    def __init__(self, seed: int, cfg: SimConfig | None = None):
        self.seed = seed
        self.cfg = cfg = cfg or SimConfig()
        self.rng = random.Random(seed)
        self.net = Net(random.Random(self.rng.random()), cfg)
        self.stats: dict = _Counter()
        self.history: list = []
        self.osd_ids = list(range(cfg.num_osds))
        self.incarnation = itertools.count(1)
        self._tmp = None
        if cfg.objectstore == "lmdb" and cfg.data_dir is None:
            self._tmp = tempfile.mkdtemp(prefix=f"rayceph-sim-{seed}-")
        self.mon = SimMon(self, self._initial_map())
        self.net.alive[MON] = 0
        self.osds: dict[int, SimOSD] = {}
        for osd_id in self.osd_ids:
            self._start_osd(osd_id, boot=False)
        for osd in self.osds.values():
            osd.catch_up(self.mon.osdmap.epoch)
        self.clients = [SimClient(self, n) for n in range(cfg.num_clients)]
        for c in self.clients:
            self.net.alive[c.node] = 0
        self.thrasher = Thrasher(self)
        self.net.alive[DIRECT] = 0
        self._direct: dict = {}
        self._direct_tids = itertools.count(1)
        self._started = False

    # -- scenario helpers (tests read like stories) --------------------------------------------
    def start(self) -> "Sim":
        """Start the monitor's clock and let the PGs peer for the first time."""
        if not self._started:
            self._started = True
            self.net.after(1.0, self.mon.tick)
            self.net.run_until(self.net.now + 2.0)
        return self

    def run_for(self, seconds: float) -> None:
        self.net.run_until(self.net.now + seconds)

    def request(self, oid: str, ops, timeout_s: float = 30.0, snapc=None):
        """One client request, resent (same reqid) on retries and every 3 s, until it is
        answered or `timeout_s` of virtual time passed (then None)."""
        self.start()
        req = OSDOpRequest(reqid=(4999, next(self._direct_tids)), pool=1, pgid=0, oid=oid,
                           ops=list(ops), snapc=snapc, mtime=1000.0)
        deadline = self.net.now + timeout_s
        while self.net.now < deadline:
            osdmap = self.mon.osdmap
            req.pgid = osdmap.object_locator_to_pg(1, oid)
            req.epoch = osdmap.epoch
            primary = osdmap.pg_to_acting(1, req.pgid)[1]
            if primary >= 0:
                self.net.send(DIRECT, ("osd", primary), self.osd_call, primary, "on_client_op",
                              DIRECT, req)
            until = min(deadline, self.net.now + 3.0)
            self.net.run_until(until, stop=lambda: req.reqid in self._direct)
            reply = self._direct.pop(req.reqid, None)
            if reply is not None and not reply.retry_epoch:
                return reply
            if reply is not None:
                self.net.run_until(min(deadline, self.net.now + 0.05))
        return None

    def wait_clean(self, bound_s: float = 300.0) -> float:
        """Run until every PG is active+clean; the virtual seconds it took. SimFailure after
        `bound_s`."""
        self.start()
        t0 = self.net.now
        while not self.all_clean():
            if self.net.now - t0 > bound_s:
                states = {k: v for k, v in self.pg_states().items() if v != "active+clean"}
                self.fail(f"not active+clean after {bound_s}s: {states}")
            self.net.run_until(self.net.now + 0.5, stop=self.all_clean)
        return self.net.now - t0

    def pg_of(self, oid: str) -> tuple:
        """(seed, acting, primary) of an object's PG in the monitor's map."""
        m = self.mon.osdmap
        seed = m.object_locator_to_pg(1, oid)
        acting, primary = m.pg_to_acting(1, seed)
        return seed, list(acting), primary

    def recovery_totals(self) -> dict:
        rec = _Counter()
        for osd in self.osds.values():
            for k, v in osd.svc.recovery_stats().items():
                rec[k] += v
        return dict(rec)

    # -- setup --------------------------------------------------------------------------------
    def _initial_map(self) -> OSDMap:
        from cluster.crush import build_default_map
        cfg = self.cfg
        crush = build_default_map([(f"host{o}", [(o, 1.0)]) for o in range(cfg.num_osds)])
        m = OSDMap(epoch=1, fsid=f"sim-{self.seed}", crush=crush)
        for o in range(cfg.num_osds):
            m.osds[o] = OsdInfo(host=f"host{o}", up_from=1)
        m.pools[1] = Pool(id=1, name="sim", size=cfg.pool_size, min_size=cfg.min_size,
                          pg_num=cfg.pg_num, pgp_num=cfg.pg_num, pg_num_target=cfg.pg_num,
                          pgp_num_target=cfg.pg_num, last_change=1)
        m.pool_names["sim"] = 1
        m.pool_max = 1
        return m

    def _store(self, osd_id: int, fresh: bool):
        if self.cfg.objectstore == "lmdb":
            from osd.lmdb_store import LmdbStore
            root = self.cfg.data_dir or self._tmp
            return LmdbStore(os.path.join(root, f"osd.{osd_id}"), sync=False)
        return MemStore()

    def _start_osd(self, osd_id: int, boot: bool = True) -> None:
        node = ("osd", osd_id)
        self.net.alive[node] = next(self.incarnation)
        osd = self.osds[osd_id] = SimOSD(self, osd_id, self._store(osd_id, fresh=True))
        if not boot:
            self.mon.booted[osd_id] = self.net.alive[node]
        else:
            # a (re)started OSD boots: the monitor marks it up in a new epoch, after marking
            # it down first if it never noticed the restart
            osd.booting = True
            self.net.send(osd.node, MON, self.mon.boot, osd_id, self.net.alive[node])
            osd.catch_up(self.mon.osdmap.epoch)
        self.net.after(self.net.rng.uniform(0, self.cfg.osd_tick_s), self._tick_osd, osd_id,
                       self.net.alive[node])

    def _tick_osd(self, osd_id: int, inc: int) -> None:
        if self.net.alive.get(("osd", osd_id)) != inc:
            return
        self.osds[osd_id].tick()
        self.net.after(self.cfg.osd_tick_s, self._tick_osd, osd_id, inc)

    # -- message entry points (by id: the receiving incarnation may have changed) -------------
    def osd_call(self, osd_id: int, method: str, *args) -> None:
        osd = self.osds.get(osd_id)
        if osd is not None:
            getattr(osd, method)(*args)

    def deliver_map(self, osd_id: int, epoch: int) -> None:
        osd = self.osds.get(osd_id)
        if osd is not None:
            osd.on_map(epoch)

    def client_reply(self, client, req, reply) -> None:
        if client == DIRECT:
            self._direct[req.reqid] = reply
            return
        self.clients[client[1]].on_reply(req, reply)

    # -- faults -------------------------------------------------------------------------------
    def kill(self, osd_id: int) -> None:
        osd = self.osds.pop(osd_id, None)
        if osd is None:
            return
        self.net.alive.pop(("osd", osd_id), None)
        osd.svc.store.close()
        log.info("t=%.2f kill osd.%d", self.net.now, osd_id)

    def revive(self, osd_id: int) -> None:
        if osd_id in self.osds:
            return
        self._start_osd(osd_id)
        log.info("t=%.2f revive osd.%d", self.net.now, osd_id)

    def isolate(self, osd_id: int) -> None:
        self.net.isolated.add(("osd", osd_id))

    def unisolate(self, osd_id: int) -> None:
        self.net.isolated.discard(("osd", osd_id))
        self.net.release()

    def heal(self) -> None:
        """End the fault phase: everyone alive, connected and in."""
        self.thrasher.active = False
        for osd_id in self.osd_ids:
            self.revive(osd_id)
        self.net.isolated.clear()
        self.net.spikes.clear()
        self.net.release()
        for o, info in self.mon.osdmap.osds.items():
            if not info.in_:
                self.mon.mark_in(o)

    def fail(self, what: str) -> None:
        tail = "\n".join(f"  t={t:.3f} client{c} {oid} {kind} {ev} {res}"
                         for t, c, oid, kind, ev, res in self.history[-15:])
        raise SimFailure(f"seed={self.seed}: {what}\nlast events:\n{tail}")

    # -- observation --------------------------------------------------------------------------
    def pg_states(self) -> dict:
        """pgid -> state as the acting primary reports it ('stale' if it is down/dead)."""
        out = {}
        m = self.mon.osdmap
        for seed in range(self.cfg.pg_num):
            primary = m.pg_to_acting(1, seed)[1]
            osd = self.osds.get(primary)
            if primary < 0 or osd is None or ("osd", primary) in self.net.isolated:
                out[f"1.{seed:x}"] = "stale"
                continue
            state = osd.svc.pg_state(1, seed) if osd.svc.epoch == m.epoch else "peering"
            out[f"1.{seed:x}"] = state or "peering"
        return out

    def all_clean(self) -> bool:
        m = self.mon.osdmap
        if self.mon.pending:
            return False
        for osd in self.osds.values():
            if osd.svc.epoch != m.epoch and m.osds[osd.osd_id].up:
                return False
        return all(s == "active+clean" for s in self.pg_states().values())

    # -- running ------------------------------------------------------------------------------
    def run(self) -> dict:
        """The whole run: workload + thrashing, heal, converge, verify. Returns stats."""
        cfg = self.cfg
        wall = time.perf_counter()
        net = self.net
        per_client = cfg.ops // cfg.num_clients
        self.start()            # the PGs peer for the first time
        for c in self.clients:
            c.start(per_client)
        if cfg.thrash:
            self.thrasher.start()
        net.run_until(cfg.fault_time_s)
        self.heal()
        t_heal = net.now
        deadline = t_heal + cfg.heal_bound_s

        first_clean = []

        def settled():
            if not first_clean and self.all_clean():
                first_clean.append(net.now)
            return all(not c.busy and c.remaining <= 0 for c in self.clients) and \
                self.all_clean()
        while net.now < deadline and not settled():
            net.run_until(min(deadline, net.now + 1.0), stop=settled)
        if not settled():
            busy = {c.n: sorted(c.busy) for c in self.clients if c.busy}
            states = {k: v for k, v in self.pg_states().items() if v != "active+clean"}
            self.fail(f"not converged {cfg.heal_bound_s}s after heal: pgs {states}, "
                      f"clients still waiting {busy}, remaining "
                      f"{[c.remaining for c in self.clients]}")
        # heal -> every PG active+clean (the workload may still be finishing then)
        self.stats["time_to_clean_s"] = round((first_clean or [net.now])[0] - t_heal, 3)
        self.stats["time_to_done_s"] = round(net.now - t_heal, 3)
        self.verify()
        self.stats["ops"] = sum(c.done for c in self.clients)
        self.stats["virtual_s"] = round(net.now, 3)
        self.stats["events"] = net.events
        self.stats["wall_s"] = round(time.perf_counter() - wall, 3)
        rec = self.recovery_totals()
        self.stats.update({k: (round(v, 3) if isinstance(v, float) else v)
                           for k, v in rec.items()})
        self.close()
        return dict(self.stats)

    def close(self) -> None:
        for osd in self.osds.values():
            osd.svc.store.close()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)


class _Counter(dict):
    def __missing__(self, key):
        return 0


def dump_pg(store, pool: int, pgid: int) -> dict:
    """Everything observable of one PG in a store (for replica comparison)."""
    out = {}
    for hobj in store.list_pg(pool, pgid):
        meta = store.get_meta(hobj)
        out[hobj] = (store.read(hobj), store.getattrs(hobj), list(store.omap_iter(hobj)),
                     store.omap_get_header(hobj), meta.version, meta.mtime, meta.snapset,
                     meta.whiteout)
    return out


def _verify_replicas(self: Sim) -> dict:
    """Every PG's acting members hold byte-identical copies and the same log head.
    Returns {seed: the primary's dump}."""
    m = self.mon.osdmap
    out = {}
    for seed in range(self.cfg.pg_num):
        acting, primary = m.pg_to_acting(1, seed)
        dumps = {o: dump_pg(self.osds[o].svc.store, 1, seed) for o in acting}
        ref = dumps[primary]
        for o, d in dumps.items():
            if d != ref:
                diff = [k for k in set(d) | set(ref) if d.get(k) != ref.get(k)][:3]
                self.fail(f"pg 1.{seed:x}: osd.{o} differs from primary osd.{primary}: {diff}")
        heads = self.osds[primary].svc.pgs[(1, seed)].log.head_eversion
        for o in acting:
            pg = self.osds[o].svc.pgs.get((1, seed))
            if pg is None or pg.log.head_eversion != heads:
                self.fail(f"pg 1.{seed:x}: osd.{o} log head differs from the primary's")
        out[seed] = ref
    return out


def _verify(self: Sim) -> None:
    """Byte-identical acting copies of every PG, equal to the model."""
    model = {}
    for c in self.clients:
        model.update(c.model)
    seen = set()
    for seed, ref in _verify_replicas(self).items():
        for hobj, (data, xattrs, omap, _h, _v, _m, _s, whiteout) in ref.items():
            if hobj[4] != SNAP_HEAD or whiteout:
                continue
            oid = hobj[3]
            if oid not in model:
                continue        # written by Sim.request, not by the workload
            seen.add(oid)
            obj = model[oid]
            if not obj.exists:
                self.fail(f"{oid} exists on pg 1.{seed:x} but not in the model")
            if data != obj.data or xattrs != obj.xattrs or dict(omap) != obj.omap:
                self.fail(f"{oid} on pg 1.{seed:x} differs from the model")
    for oid, obj in model.items():
        if obj.exists and oid not in seen:
            self.fail(f"{oid} was acknowledged but is gone after heal")


Sim.verify_replicas = _verify_replicas
Sim.verify = _verify


# -- command line --------------------------------------------------------------------------------
def run_seed(seed: int, cfg: SimConfig) -> dict:
    return Sim(seed, cfg).run()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m cluster.sim",
                                description="seeded OSD thrash runs under the simulator")
    p.add_argument("--seed", type=int, help="replay this one seed")
    p.add_argument("--seeds", type=int, default=5, help="run seeds 1..N")
    p.add_argument("--first-seed", type=int, default=1)
    p.add_argument("--ops", type=int, default=2000)
    p.add_argument("--osds", type=int, default=6)
    p.add_argument("--size", type=int, default=3)
    p.add_argument("--min-size", type=int, default=2)
    p.add_argument("--pg-num", type=int, default=16)
    p.add_argument("--objectstore", choices=("memstore", "lmdb"), default="memstore")
    p.add_argument("--fault-time", type=float, default=None,
                   help="virtual seconds of thrashing (default: scales with --ops)")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.CRITICAL)
    seeds = [args.seed] if args.seed is not None else \
        list(range(args.first_seed, args.first_seed + args.seeds))
    fault_time = args.fault_time or max(60.0, args.ops / 20.0)
    totals = _Counter()
    failed = 0
    for seed in seeds:
        cfg = SimConfig(num_osds=args.osds, pool_size=args.size, min_size=args.min_size,
                        pg_num=args.pg_num, objectstore=args.objectstore, ops=args.ops,
                        fault_time_s=fault_time)
        print(f"seed={seed} ...", flush=True)
        try:
            stats = run_seed(seed, cfg)
        except SimFailure as exc:
            failed += 1
            print(f"FAILED {exc}", flush=True)
            continue
        for k, v in stats.items():
            if isinstance(v, (int, float)):
                totals[k] += v
        print(f"seed={seed} ok: ops={stats['ops']} faults={stats['faults']} "
              f"epochs={stats['epochs']} recovered={stats['objects_recovered']} "
              f"backfilled={stats['objects_backfilled']} pulled={stats['objects_pulled']} "
              f"bytes={stats['bytes_recovered'] + stats['bytes_backfilled']} "
              f"lost_reverted={stats['objects_lost_reverted']} "
              f"time_to_clean={stats['time_to_clean_s']}s virtual={stats['virtual_s']}s "
              f"wall={stats['wall_s']}s", flush=True)
    print(f"{len(seeds) - failed} passed, {failed} failed; ops={totals['ops']} "
          f"faults={totals['faults']} recoveries={totals['recoveries_finished']} "
          f"objects_recovered={totals['objects_recovered']} "
          f"objects_backfilled={totals['objects_backfilled']} wall={totals['wall_s']:.2f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
