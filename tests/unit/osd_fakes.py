"""Stand-ins for the OSD core's unit tests: an OSDMap/Pool with the attributes OSDService
reads, a fake clock, a request builder, and an in-process cluster of OSDServices that
delivers replica transactions synchronously (primary applies, then every replica)."""
from __future__ import annotations

import copy
import zlib
from dataclasses import dataclass, field

from osd.messages import OSDOpRequest, SNAP_HEAD
from osd.service import OSDService


@dataclass
class FakePool:
    id: int
    name: str = "rbd"
    size: int = 3
    min_size: int = 1
    pg_num: int = 8
    pgp_num: int = 8
    snap_mode: str = ""
    snap_seq: int = 0
    snaps: dict = field(default_factory=dict)
    removed_snaps: set = field(default_factory=set)
    quota_max_bytes: int = 0
    quota_max_objects: int = 0
    flags: int = 0


class FakeOSDMap:
    """pg_to_acting: explicit overrides, else the OSDs rotated by the seed."""

    def __init__(self, epoch: int = 1, pools=None, osds=(0, 1, 2), acting=None):
        self.epoch = epoch
        self.pools = {p.id: p for p in (pools or [FakePool(1)])}
        self.osds = list(osds)
        self.acting = dict(acting or {})

    def pg_to_acting(self, pool_id: int, seed: int):
        if (pool_id, seed) in self.acting:
            acting = list(self.acting[(pool_id, seed)])
            return acting, (acting[0] if acting else -1)
        pool = self.pools[pool_id]
        n = len(self.osds)
        acting = [self.osds[(seed + i) % n] for i in range(min(pool.size, n))]
        return acting, (acting[0] if acting else -1)

    def next(self, **changes) -> "FakeOSDMap":
        """A copy with epoch + 1 (pools copied so the old map stays unchanged)."""
        new = copy.deepcopy(self)
        new.epoch += 1
        for name, value in changes.items():
            setattr(new, name, value)
        return new


class FakeClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def pg_of(oid: str, pg_num: int, nspace: str = "", key: str = "") -> int:
    return zlib.crc32(f"{nspace}\0{key or oid}".encode()) % pg_num


class Client:
    """Builds requests with unique reqids for one client gid."""

    def __init__(self, gid: int = 4100, pool: int = 1, pg_num: int = 8):
        self.gid = gid
        self.pool = pool
        self.pg_num = pg_num
        self.tid = 0

    def req(self, oid: str, ops, epoch: int = 1, pgid: int | None = None, **kw) -> OSDOpRequest:
        self.tid += 1
        nspace, key = kw.get("nspace", ""), kw.get("key", "")
        if pgid is None:
            pgid = pg_of(oid, self.pg_num, nspace, key)
        return OSDOpRequest(reqid=(self.gid, self.tid), pool=self.pool, pgid=pgid, oid=oid,
                            epoch=epoch, ops=list(ops), **kw)


class SingleOSD:
    """One OSD leading every PG of pool 1; call it with (oid, *ops) to run a request."""

    def __init__(self, **pool_kw):
        self.clock = FakeClock(5000.0)
        self.map = FakeOSDMap(pools=[FakePool(1, size=1, **pool_kw)], osds=[0])
        self.svc = OSDService(0, clock=self.clock)
        self.svc.set_osdmap(self.map)
        self.client = Client()
        self.clients = {self.client.gid: self.client}

    def as_client(self, gid: int) -> Client:
        if gid not in self.clients:
            self.clients[gid] = Client(gid)
        return self.clients[gid]

    def outcome(self, oid, *ops, gid: int | None = None, **kw):
        client = self.client if gid is None else self.as_client(gid)
        return self.svc.handle_op(client.req(oid, ops, epoch=self.svc.epoch, **kw))

    def __call__(self, oid, *ops, **kw):
        outcome = self.outcome(oid, *ops, **kw)
        assert outcome.repops == {}
        return outcome.reply

    def ok(self, oid, *ops, **kw) -> list:
        reply = self(oid, *ops, **kw)
        assert reply.result == 0, reply
        return [out for _, out in reply.outs]

    def err(self, oid, *ops, **kw) -> int:
        reply = self(oid, *ops, **kw)
        assert reply.result < 0, reply
        return -reply.result


class MiniCluster:
    """OSDServices in one process; ops go to the primary, repops to the replicas at once."""

    def __init__(self, osdmap: FakeOSDMap, clock=None):
        self.clock = clock or FakeClock()
        self.osdmap = osdmap
        self.osds = {i: OSDService(i, clock=self.clock) for i in osdmap.osds}
        self.push_map(osdmap)

    def push_map(self, osdmap: FakeOSDMap) -> None:
        self.osdmap = osdmap
        for service in self.osds.values():
            self.deliver(service.set_osdmap(osdmap))

    def deliver(self, repops: dict) -> None:
        for osd_id, batch in repops.items():
            batch = batch if isinstance(batch, list) else [batch]
            for repop in batch:
                assert self.osds[osd_id].handle_repop(repop) == 0

    def primary(self, pool: int, pgid: int) -> int:
        return self.osdmap.pg_to_acting(pool, pgid)[1]

    def op(self, req: OSDOpRequest, to: int | None = None):
        service = self.osds[self.primary(req.pool, req.pgid) if to is None else to]
        outcome = service.handle_op(req)
        self.deliver(outcome.repops)
        return outcome.reply


def dump_store(store, pool: int | None = None) -> dict:
    """Everything observable in a MemStore, for byte-for-byte replica comparisons."""
    out = {}
    for pool_id, pgid in store.list_pgs():
        if pool is not None and pool_id != pool:
            continue
        for hobj in store.list_pg(pool_id, pgid):
            meta = store.get_meta(hobj)
            out[hobj] = (store.read(hobj), store.getattrs(hobj),
                         list(store.omap_iter(hobj)), store.omap_get_header(hobj),
                         meta.version, meta.mtime, meta.snapset, meta.whiteout, pgid)
    return out


def head(oid: str, pool: int = 1, nspace: str = "", key: str = "") -> tuple:
    return (pool, nspace, key, oid, SNAP_HEAD)
