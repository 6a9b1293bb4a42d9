"""OSDService: the core of one OSD, a pure state machine its host drives.

The host (osd/actor.py on Ray, cluster/local_cluster.py in process) feeds it maps, client
requests, replica transactions, acks and clock ticks, and acts on what comes back:

    handle_op(req) -> OpOutcome   the write is already applied here; send `repops` to each
                                  replica, wait for every ack, then send `reply`
    handle_repop(msg) -> 0|-errno apply a primary's transaction + log entry
    set_osdmap(map) -> {osd: [RepOp]}  new map; the repops (snap trimming) must be sent
                                  like handle_op's (no client waits for them)

Request admission, in order (the exact retry rule of docs/interfaces.md section 2):
 1. malformed request (types)                       -> -EINVAL
 2. no map yet, or req.epoch > our epoch            -> retry_epoch = max(req.epoch, our+1)
    (the host should first fetch a map >= req.epoch and call handle_op again; if it still
    cannot, the client waits for that epoch and resends)
 3. pool not in our map                             -> -ENOENT
 4. pgid outside [0, pg_num), or we are not the PG's primary
        req.epoch < our epoch                       -> retry_epoch = our epoch
        req.epoch == our epoch                      -> retry_epoch = our epoch + 1
    (same map, different answer: the op was misdirected around a map change; a newer map
    will settle it, so the client waits for the next epoch, as Ceph drops misdirected ops)
 5. reqid already in the PG log                     -> the logged reply, nothing re-applied
 6. a write while the acting set is below min_size  -> retry_epoch = our epoch + 1 (blocked
    until the map changes; reads are still served). Peering mode: any request while fewer
    than min_size acting members are complete waits (Ceph's `peered` state), and so does
    every request while the PG is not active
 7. a write to a pool at/over its quota             -> -EDQUOT (deletes still allowed)
then the ops run (osd/ops.py). No input makes handle_op raise.

No clock, thread or randomness of its own: time comes from the injected `clock` (or the
`now` passed to tick), so tests drive watch/notify expiry with a fake clock.

Peering mode (`OSDService(..., peering=True)`; osd/peering.py, osd/recovery.py). The host
then drives the PGs' failure handling and acts on the Ready values that come back
(osd.messages.Ready: persist is done, send `messages` in order, then handle `outcomes`):

    advance_map(map) -> Ready        every map epoch, in order (intervals are computed from
                                     consecutive maps); replaces set_osdmap
    handle_peering_message(msg) -> Ready   a PG* message from another OSD
    peering_tick(now) -> Ready       periodically (~0.1-1 s): throttled recovery/backfill,
                                     expiry of client ops waiting longer than the bounded wait
    handle_op(req)                   as above, but rule 6 and a PG that is not active yet
                                     hold the request (outcome.waiting); it comes back in a
                                     later Ready's `outcomes`
    handle_repop(msg)                also -ESTALE for a repop of an interval that is over or
                                     a copy not activated in it, -EAGAIN if msg.epoch is newer
                                     than our map (fetch the map, call again)
    pg_stats() -> [dict]             `pg dump` rows of the PGs we lead (osd/pg_stats.py)
"""
from __future__ import annotations

import errno
import json
import logging
import time

from collections import deque

from osd.messages import (
    ALL_NSPACES, OSDOpReply, OSDOpRequest, OpOutcome, PGActivate, PGActivateAck, PGNotify,
    PGPull, PGPush, PGPushAck, PGQuery, PGRemove, Ready, RepOp, SNAP_HEAD,
)
from osd.caps import check_listing, check_request
from osd.object_store import MemStore, ObjectStore
from osd.ops import DEFAULT_WATCH_TIMEOUT_S, OpError, classify
from osd.peering import CRUSH_ITEM_NONE, IntervalTracker, Peering
from osd.pg import PG
from osd.pg_log import DEFAULT_MAX_ENTRIES
from osd.recovery import (
    DEFAULT_BACKFILL_CHUNK, DEFAULT_MAX_BACKFILLS, DEFAULT_RECOVERY_MAX_ACTIVE, RecoveryStats,
    Throttle, family_of, read_family,
)
from osd.watch import WatchNotify

log = logging.getLogger("rayceph.osd")

# write ops that never add data: allowed on a pool over quota, as Ceph lets deletes through
_QUOTA_EXEMPT_OPS = frozenset({
    "remove", "truncate", "zero", "rmxattr", "omap_rm_keys", "omap_rm_range", "omap_clear",
    "watch", "unwatch", "assert_exists", "assert_version", "cmpext", "cmpxattr", "omap_cmp",
    "read", "sparse_read", "stat", "getxattr", "getxattrs", "omap_get_vals", "omap_get_keys",
    "omap_get_vals_by_keys", "omap_get_header", "list_snaps", "list_watchers",
})

_STAT_KEYS = ("num_bytes", "num_kb", "num_objects", "num_object_clones", "num_object_copies",
              "num_objects_missing_on_primary", "num_objects_unfound", "num_objects_degraded",
              "num_rd", "num_rd_kb", "num_wr", "num_wr_kb")


DEFAULT_OP_QUEUE_WAIT_S = 5.0       # how long a request waits for its PG before a retry reply

_WAIT = OpOutcome(reply=None, waiting=True)    # sentinel: the request must wait


def _is_blocklisted(blocklist: dict, gid: int) -> bool:
    """Whether the client `gid` (whose address we report as 127.0.0.1:0/<gid>) is listed."""
    from osd.cls import client_addr

    return client_addr(gid) in blocklist


def _reply(result: int, retry_epoch: int = 0) -> OpOutcome:
    return OpOutcome(reply=OSDOpReply(result=result, retry_epoch=retry_epoch))


def _conf(config: dict, name: str, default):
    """A Ceph option from a config dict, under its spaced or underscored name."""
    for key in (name, name.replace("_", " ")):
        if key in config and config[key] not in (None, ""):
            return type(default)(config[key])
    return default


def _valid_request(req) -> bool:
    return (isinstance(req, OSDOpRequest)
            and isinstance(req.reqid, tuple) and len(req.reqid) == 2
            and all(type(x) is int for x in req.reqid)
            and type(req.pool) is int and type(req.pgid) is int
            and type(req.oid) is str and type(req.nspace) is str and type(req.key) is str
            and type(req.epoch) is int and type(req.snapid) is int
            and type(req.flags) is int and isinstance(req.ops, (list, tuple)))


def _valid_snapc(snapc) -> tuple | None:
    """(seq, [snaps newest first]) as Ceph's SnapContext::is_valid checks it, else None."""
    if not isinstance(snapc, (tuple, list)) or len(snapc) != 2:
        return None
    seq, snaps = snapc
    if type(seq) is not int or seq < 0 or not isinstance(snaps, (list, tuple)):
        return None
    prev = seq + 1
    for s in snaps:
        if type(s) is not int or s <= 0 or s >= prev:
            return None
        prev = s
    return (seq, list(snaps))


class OSDService:
    """The PGs of one OSD plus its watch/notify state. Not thread-safe: one caller at a time."""

    def __init__(self, osd_id: int, store: ObjectStore | None = None, clock=time.time,
                 log_max_entries: int = DEFAULT_MAX_ENTRIES, peering: bool = False,
                 config: dict | None = None):
        self.osd_id = osd_id
        self.store = store if store is not None else MemStore()
        self.clock = clock
        self.osdmap = None
        self.epoch = 0
        self.pgs: dict[tuple[int, int], PG] = {}
        self.watch = WatchNotify()
        self._log_max = log_max_entries
        self._pool_usage: dict[int, tuple[int, int]] = {}
        # peering mode
        config = config or {}
        self.peering_enabled = peering
        self.tracker = IntervalTracker()
        self.peering = Peering(self)
        self.throttle = Throttle(_conf(config, "osd_recovery_max_active",
                                       DEFAULT_RECOVERY_MAX_ACTIVE),
                                 _conf(config, "osd_max_backfills", DEFAULT_MAX_BACKFILLS))
        self.backfill_chunk = _conf(config, "osd_backfill_scan_max", DEFAULT_BACKFILL_CHUNK)
        self.op_queue_wait_s = _conf(config, "osd_op_queue_wait_s", DEFAULT_OP_QUEUE_WAIT_S)
        self.rstats = RecoveryStats()
        self.birth = self.store.get_store_meta("birth")     # epoch the store began in
        self._held: list = []       # peering messages stamped with a newer epoch than ours
        self._recovering: set = set()   # PGs we lead that still have recovery work
        if self.store.durable:
            self._load_pgs()

    def _load_pgs(self) -> None:
        """An OSD restarted on a durable store: its PGs, logs and peering info come back."""
        for (pool_id, seed), meta in sorted(self.store.load_pg_meta().items()):
            pg = self.pgs[(pool_id, seed)] = PG(pool_id, seed, self.store, self._log_max)
            entries = [v for k, v in meta.items() if k.startswith("log/")]
            pg.load_info(meta.get("info", {}), entries)

    # -- maps ----------------------------------------------------------------------------------
    def set_osdmap(self, osdmap) -> dict[int, list[RepOp]]:
        """Install a newer map: PGs learn their acting sets, PGs of deleted pools are dropped
        with their objects, watches on PGs we no longer lead are disconnected, and PGs we lead
        trim newly removed snaps. Returns the trim repops per replica (send them in order)."""
        if self.osdmap is not None and osdmap.epoch <= self.epoch:
            return {}
        if self.peering_enabled:
            raise RuntimeError("peering mode: call advance_map(), not set_osdmap()")
        self.osdmap = osdmap
        self.epoch = osdmap.epoch
        for pgkey, pg in list(self.pgs.items()):
            pool_id, seed = pgkey
            pool = osdmap.pools.get(pool_id)
            if pool is None:
                self.store.remove_pg(pool_id, seed)
                del self.pgs[pgkey]
                self.watch.disconnect_pool(pool_id)
                continue
            acting, primary = osdmap.pg_to_acting(pool_id, seed)
            was_primary = pg.primary == self.osd_id
            pg.set_acting(acting, primary, self.epoch)
            if was_primary and primary != self.osd_id:
                self.watch.disconnect_pg(pgkey)
        for pool_id in list(self._pool_usage):
            if pool_id not in osdmap.pools:
                del self._pool_usage[pool_id]
        self._drop_blocklisted_watches(osdmap)
        return self.trim_snaps()

    def _drop_blocklisted_watches(self, osdmap) -> None:
        """A blocklisted client loses its watches at once, as Ceph's OSDs do on the new map."""
        blocklist = getattr(osdmap, "blocklist", None)
        if not blocklist:
            return
        for gid in {g for g, _ in self.watch.by_client}:
            if _is_blocklisted(blocklist, gid):
                self.watch.disconnect_client(gid, -errno.ESHUTDOWN)

    def trim_snaps(self) -> dict[int, list[RepOp]]:
        """Trim the pools' removed snaps from the PGs we lead; returns repops per replica."""
        out: dict[int, list[RepOp]] = {}
        if self.osdmap is None:
            return out
        for (pool_id, seed), pg in self.pgs.items():
            if pg.primary != self.osd_id:
                continue
            if self.peering_enabled and not pg.is_active():
                continue    # trimmed once the PG is active again
            pool = self.osdmap.pools.get(pool_id)
            removed = getattr(pool, "removed_snaps", None)
            if not removed or len(pg.purged_snaps) >= len(removed):
                continue    # purged_snaps only ever holds removed ids: nothing new
            todo = set(removed) - pg.purged_snaps
            if not todo:
                continue
            done = pg.trim_snaps(todo, self.epoch)
            if done is None:
                continue
            txn, entry = done
            for osd in pg.replicas(self.osd_id):
                ops = txn.ops
                if self.peering_enabled and not pg.fast:
                    skip = pg.peer_skip(osd)
                    if skip is not None:
                        ops = [op for op in ops if not skip(family_of(op[1]))]
                out.setdefault(osd, []).append(
                    RepOp(pool_id, seed, self.epoch, ops, entry, interval=pg.interval_start))
        return out

    def _pg(self, pool_id: int, seed: int) -> PG:
        pg = self.pgs.get((pool_id, seed))
        if pg is None:
            pg = self.pgs[(pool_id, seed)] = PG(pool_id, seed, self.store, self._log_max)
            if self.osdmap is not None and pool_id in self.osdmap.pools:
                acting, primary = self.osdmap.pg_to_acting(pool_id, seed)
                pg.set_acting(acting, primary, self.epoch)
        return pg

    # -- client requests -----------------------------------------------------------------------
    def handle_op(self, req: OSDOpRequest) -> OpOutcome:
        """Execute one client request as the PG's primary (see the module docstring for the
        admission rules). Never raises: an internal error becomes -EIO.

        A write is applied here before this returns; `outcome.repops` maps each replica to
        the RepOp it must apply before `outcome.reply` may leave. A notify with watchers
        returns `outcome.notify` and no reply (see finish_notify). In peering mode a request
        may have to wait (`outcome.waiting`, see OpOutcome)."""
        try:
            outcome = self._handle_op(req)
            if outcome is _WAIT:
                pg = self.pgs[(req.pool, req.pgid)]
                if pg.waiting is None:
                    pg.waiting = deque()
                pg.waiting.append((self.clock(), req))
                return OpOutcome(reply=None, waiting=True)
            return outcome
        except Exception:
            log.exception("osd.%d: handle_op failed", self.osd_id)
            return _reply(-errno.EIO)

    def _handle_op(self, req, draining: bool = False) -> OpOutcome:
        if not _valid_request(req):
            return _reply(-errno.EINVAL)
        osdmap = self.osdmap
        if osdmap is None or req.epoch > self.epoch:
            return _reply(0, retry_epoch=max(req.epoch, self.epoch + 1))
        blocklist = getattr(osdmap, "blocklist", None)
        if blocklist and _is_blocklisted(blocklist, req.reqid[0]):
            # A fenced client may never act again (Ceph answers -EBLOCKLISTED = ESHUTDOWN).
            return _reply(-errno.ESHUTDOWN)
        pool = osdmap.pools.get(req.pool)
        if pool is None:
            return _reply(-errno.ENOENT)
        denied = check_request(osdmap, req, self.clock())     # cephx session and OSD caps
        if denied:
            return _reply(denied)
        misdirected_retry = self.epoch if req.epoch < self.epoch else self.epoch + 1
        if not 0 <= req.pgid < pool.pg_num:
            return _reply(0, retry_epoch=misdirected_retry)
        pg = self.pgs.get((req.pool, req.pgid))
        if pg is None:
            if self.peering_enabled:
                return _reply(0, retry_epoch=misdirected_retry)
            acting, primary = osdmap.pg_to_acting(req.pool, req.pgid)
            if primary != self.osd_id:
                return _reply(0, retry_epoch=misdirected_retry)
            pg = self._pg(req.pool, req.pgid)
        elif pg.primary != self.osd_id:
            return _reply(0, retry_epoch=misdirected_retry)
        if self.peering_enabled:
            ps = pg.ps
            if (pg.waiting and not draining) or ps is None or ps.phase != "active":
                return _WAIT    # in order behind earlier requests, or until the PG is active
            if (pg.fast_size if pg.fast else pg.complete_size()) < pool.min_size:
                # Ceph's `peered`: below min_size complete copies nothing is served, not
                # even a resent write's logged reply (that would acknowledge a write that
                # fewer than min_size copies hold) nor a read (it could return a write
                # that is not acknowledged yet and may be lost)
                return _WAIT

        dup = pg.dup_reply(req.reqid)
        if dup is not None:
            if dup.result == 0:
                self._rewatch(req, pg)
            outcome = OpOutcome(reply=dup)
            if self.peering_enabled and not pg.fast:
                self._push_degraded(pg, req, None, outcome)
            return outcome

        try:
            is_write = classify(req.ops)
        except OpError as exc:
            return _reply(-exc.errno)
        snapc = None
        if is_write:
            if self.peering_enabled:
                pass            # min_size checked above
            elif pg.active_size() < pool.min_size:
                return _reply(0, retry_epoch=self.epoch + 1)
            if self._over_quota(pool) and not all(op[0] in _QUOTA_EXEMPT_OPS for op in req.ops):
                return _reply(-errno.EDQUOT)
            snapc = self._snapc(pool, req.snapc)
            if snapc is False:
                return _reply(-errno.EINVAL)

        now = self.clock()
        objkey = (req.pool, req.nspace, req.key, req.oid)
        res, entry = pg.do_op(req, epoch=self.epoch, now=now, snapc=snapc,
                              watchers=self.watch.watchers_of(objkey), is_write=is_write)
        reply = OSDOpReply(result=res.result, outs=res.outs, version=res.version)
        outcome = OpOutcome(reply=reply)
        if res.result < 0:
            return outcome
        if entry is not None:
            if not self.peering_enabled:
                for osd in pg.replicas(self.osd_id):
                    outcome.repops[osd] = RepOp(req.pool, req.pgid, self.epoch, res.txn.ops,
                                                entry)
            elif pg.fast:
                interval = pg.interval_start
                for osd in pg.replicas(self.osd_id):
                    outcome.repops[osd] = RepOp(req.pool, req.pgid, self.epoch, res.txn.ops,
                                                entry, interval=interval)
            else:
                self._push_degraded(pg, req, entry, outcome, res.txn.ops)
            if res.op_kind == "delete":
                self.watch.disconnect_object(objkey)
        for effect in res.effects:
            kind = effect[0]
            if kind == "watch":
                self.watch.watch(objkey, (req.pool, req.pgid), req.reqid[0], effect[1],
                                 effect[2], now)
            elif kind == "unwatch":
                self.watch.unwatch(objkey, req.reqid[0], effect[1])
            elif kind == "notify":
                _, op_index, _cookie, payload, timeout_s = effect
                pending = self.watch.start_notify(objkey, req.reqid[0], payload, timeout_s,
                                                  now, reply, op_index)
                if pending is None:
                    reply.outs[op_index] = (0, ([], []))
                else:
                    outcome.notify = pending
                    outcome.reply = None    # finish_notify(pending.notify_id) gives it
        return outcome

    def _rewatch(self, req, pg: PG) -> None:
        """A resent watch request is answered from the log, but its watch must exist here:
        after a primary change the new primary has the log entry and not the watch."""
        for op in req.ops:
            if op[0] == "watch" and len(op) >= 2 and type(op[1]) is int:
                timeout_s = op[2] if len(op) > 2 and isinstance(op[2], (int, float)) else 0
                self.watch.watch((req.pool, req.nspace, req.key, req.oid), (req.pool, pg.seed),
                                 req.reqid[0], op[1], float(timeout_s) or DEFAULT_WATCH_TIMEOUT_S,
                                 self.clock())

    def _snapc(self, pool, req_snapc):
        """The snap context a write runs under: the pool's in pool-snaps mode, else the
        request's; removed snaps are filtered out. False if the request's is invalid."""
        if getattr(pool, "snap_mode", "") == "pool":
            snapc = (pool.snap_seq, sorted(pool.snaps, reverse=True))
        elif req_snapc is None:
            return None
        else:
            snapc = _valid_snapc(req_snapc)
            if snapc is None:
                return False
        removed = getattr(pool, "removed_snaps", None)
        if removed and snapc[1]:
            snapc = (snapc[0], [s for s in snapc[1] if s not in removed])
        return snapc

    def _over_quota(self, pool) -> bool:
        max_bytes = getattr(pool, "quota_max_bytes", 0) or 0
        max_objects = getattr(pool, "quota_max_objects", 0) or 0
        if max_bytes <= 0 and max_objects <= 0:
            return False
        num_bytes, num_objects = self.pool_usage(pool.id)
        return (max_bytes > 0 and num_bytes >= max_bytes) or \
            (max_objects > 0 and num_objects >= max_objects)

    def set_pool_usage(self, pool: int, num_bytes: int, num_objects: int) -> None:
        """Cluster-wide usage of a pool (from the monitor/mgr), used for quota checks
        instead of this OSD's own view."""
        self._pool_usage[pool] = (num_bytes, num_objects)

    def pool_usage(self, pool: int) -> tuple[int, int]:
        """(num_bytes, num_objects) for quota checks: what the host told us, else the sum
        over the PGs this OSD leads (exact on a one-OSD cluster, a lower bound otherwise)."""
        known = self._pool_usage.get(pool)
        if known is not None:
            return known
        stats = self.pool_stats(pool)
        return stats["num_bytes"], stats["num_objects"]

    def _push_degraded(self, pg: PG, req, entry, outcome: OpOutcome, ops=None) -> None:
        """Repops of a write (or of a resent write answered from the log: entry None) on a
        degraded PG: a peer missing the object gets the whole family instead of the delta
        (so it is never acknowledged while a replica lacks it); a backfill target that has
        not reached it gets the log entry only."""
        fam = (req.nspace, req.oid, req.key)
        states = None
        for osd in pg.replicas(self.osd_id):
            skip = pg.peer_skip(osd)
            if skip is None or not skip(fam):
                if entry is not None:
                    outcome.repops[osd] = RepOp(req.pool, req.pgid, self.epoch, ops, entry,
                                                interval=pg.interval_start)
                continue
            if osd in pg.ps.backfill:
                if entry is not None:
                    outcome.repops[osd] = RepOp(req.pool, req.pgid, self.epoch, [], entry,
                                                interval=pg.interval_start)
                continue
            if states is None:
                states = read_family(self.store, pg.pool, pg.seed, fam)
            outcome.repops[osd] = RepOp(req.pool, req.pgid, self.epoch, [], entry,
                                        push=[(fam, states)], interval=pg.interval_start)
            pg.ps.peer_missing[osd].pop(fam, None)
            self.rstats.degraded_writes += 1
        pg.refresh_fast_path()

    # -- peering mode ----------------------------------------------------------------------------
    def advance_map(self, osdmap) -> Ready:
        """Install the next map; see advance_maps."""
        return self.advance_maps([osdmap])

    def advance_maps(self, osdmaps) -> Ready:
        """Install the next maps, oldest first (hosts pass every epoch, in order: intervals
        are computed from consecutive maps). Only the newest one starts peering: a PG of an
        interval that is already over must not peer, least of all activate alone (an OSD
        catching up after a restart replays many). PGs whose interval changed start peering
        (we lead them) or wait to be queried; requests waiting on a PG we no longer lead are
        answered with a retry; held messages of these epochs are handled."""
        osdmaps = [m for m in osdmaps if self.osdmap is None or m.epoch > self.epoch]
        if not osdmaps:
            return Ready()
        if not self.peering_enabled:
            ready = Ready()
            for osdmap in osdmaps:
                repops = self.set_osdmap(osdmap)
                ready.messages.extend((osd, r) for batch in [repops] for osd, lst in
                                      batch.items() for r in lst)
            return ready
        changed: set = set()
        if self.birth is None:
            # A new store witnessed none of the history these maps replay: it was born at
            # the newest of them (peering must not count it as holding older intervals).
            self.birth = osdmaps[-1].epoch
            self.store.set_store_meta("birth", self.birth)
        for osdmap in osdmaps:
            prev = self.epoch
            if prev and osdmap.epoch != prev + 1:
                log.warning("osd.%d: map epochs %d..%d skipped; intervals in between are "
                            "unknown", self.osd_id, prev + 1, osdmap.epoch - 1)
            self.osdmap = osdmap
            self.epoch = osdmap.epoch
            changed.update(self.tracker.advance(osdmap, prev))
        osdmap = self.osdmap
        ready = Ready()
        for pgkey, pg in list(self.pgs.items()):
            if pgkey[0] not in osdmap.pools:
                self._fail_waiting(pg, ready, retry_epoch=self.epoch)
                self.drop_pg(pg)
                self.watch.disconnect_pool(pgkey[0])
        for pool_id in list(self._pool_usage):
            if pool_id not in osdmap.pools:
                del self._pool_usage[pool_id]
        self._drop_blocklisted_watches(osdmap)
        for key in changed:
            m = self.tracker.mapping(key)
            if m is not None and m.primary == self.osd_id and key not in self.pgs:
                self.pgs[key] = PG(key[0], key[1], self.store, self._log_max)
        for key, pg in sorted(self.pgs.items()):
            m = self.tracker.mapping(key)
            since = self.tracker.since(key)
            if since != pg.interval_start or pg.primary != m.primary or \
                    (key in changed and pg.ps is None and m.primary == self.osd_id):
                was_primary = pg.primary == self.osd_id
                pg.set_mapping(m, since)
                if pg.ps is not None and pg.primary != self.osd_id:
                    self.peering._release(pg, pg.ps)
                    pg.ps = None
                pg.fast = False
                self._recovering.discard(key)
                if pg.primary == self.osd_id:
                    ready.messages.extend(self.peering.start(pg))
                else:
                    if was_primary:
                        self.watch.disconnect_pg(key)
                    self._fail_waiting(pg, ready, retry_epoch=self.epoch)
            elif pg.primary == self.osd_id:
                ready.messages.extend(self.peering.restart_if_blocked(pg))
        for osd, batch in self.trim_snaps().items():
            ready.messages.extend((osd, r) for r in batch)
        held, self._held = self._held, []
        for msg in held:
            ready.extend(self.handle_peering_message(msg))
        self._drain(ready)
        return ready

    def _fail_waiting(self, pg: PG, ready: Ready, retry_epoch: int) -> None:
        """Requests held by a PG we no longer lead: the client must resend elsewhere."""
        if pg.waiting:
            for _t, req in pg.waiting:
                ready.outcomes.append((req, _reply(0, retry_epoch=retry_epoch)))
            pg.waiting.clear()

    def drop_pg(self, pg: PG) -> None:
        """Delete our copy of a PG (pool deleted, or a stray after the PG went clean)."""
        key = (pg.pool, pg.seed)
        if pg.ps is not None:
            self.peering._release(pg, pg.ps)
            pg.ps = None
        self.store.remove_pg(pg.pool, pg.seed)
        if self.store.durable:
            self.store.remove_pg_meta(pg.pool, pg.seed)
        self.pgs.pop(key, None)
        self._recovering.discard(key)

    def handle_peering_message(self, msg) -> Ready:
        """A message from another OSD's PG (osd/messages.py PG*). Never raises."""
        ready = Ready()
        try:
            if msg.epoch > self.epoch:
                self._held.append(msg)      # handled once advance_map reaches its epoch
                return ready
            if self.osdmap is None or msg.pool not in self.osdmap.pools:
                return ready
            key = (msg.pool, msg.pgid)
            pg = self.pgs.get(key)
            peering = self.peering
            if isinstance(msg, PGQuery):
                out = peering.handle_query(pg, msg)
            elif isinstance(msg, PGPull):
                out = peering.handle_pull(pg, msg)
            elif isinstance(msg, PGActivate):
                if pg is None:
                    if self.tracker.since(key) != msg.interval:
                        return ready
                    pg = self.pgs[key] = PG(key[0], key[1], self.store, self._log_max)
                    pg.set_mapping(self.tracker.mapping(key), self.tracker.since(key))
                out = peering.handle_activate(pg, msg)
            elif pg is None:
                return ready
            elif isinstance(msg, PGNotify):
                out = peering.handle_notify(pg, msg)
            elif isinstance(msg, PGActivateAck):
                out = peering.handle_activate_ack(pg, msg)
            elif isinstance(msg, PGPush):
                out = peering.handle_pull_reply(pg, msg) if msg.pull else \
                    peering.handle_push(pg, msg)
            elif isinstance(msg, PGPushAck):
                out = peering.handle_push_ack(pg, msg)
            elif isinstance(msg, PGRemove):
                out = peering.handle_remove(pg, msg)
            else:
                log.error("osd.%d: unknown peering message %r", self.osd_id, type(msg))
                return ready
            ready.messages.extend(out)
            if pg is not None and pg.ps is not None and pg.ps.phase == "active" \
                    and not pg.ps.clean:
                self._recovering.add(key)
            self._drain(ready)
        except Exception:
            log.exception("osd.%d: peering message %r failed", self.osd_id, type(msg).__name__)
        return ready

    def recover_all(self) -> list:
        """Start whatever recovery the throttles now allow, on every PG that has some."""
        out = []
        for key in sorted(self._recovering):
            pg = self.pgs.get(key)
            if pg is None or not pg.is_active() or pg.ps.clean:
                self._recovering.discard(key)
                continue
            out.extend(self.peering.recover(pg))
            if pg.ps.clean:
                self._recovering.discard(key)
        return out

    def peering_tick(self, now: float | None = None) -> Ready:
        """Periodic work: recovery the throttles allow, and requests that waited longer than
        osd_op_queue_wait_s get a retry reply (the client waits for a newer map, resends,
        and gives up at its own op timeout)."""
        ready = Ready()
        if not self.peering_enabled:
            return ready
        now = self.clock() if now is None else now
        for key, pg in self.pgs.items():
            if pg.primary == self.osd_id and pg.is_active() and not pg.ps.clean:
                self._recovering.add(key)
            waiting = pg.waiting
            while waiting and now - waiting[0][0] >= self.op_queue_wait_s:
                _t, req = waiting.popleft()
                ready.outcomes.append((req, _reply(0, retry_epoch=self.epoch + 1)))
        ready.messages.extend(self.recover_all())
        self._drain(ready)
        return ready

    def _drain(self, ready: Ready) -> None:
        """Run the held requests of PGs that can take them now, in arrival order."""
        for pg in self.pgs.values():
            waiting = pg.waiting
            if not waiting or pg.primary != self.osd_id or not pg.is_active():
                continue
            while waiting:
                t, req = waiting.popleft()
                try:
                    outcome = self._handle_op(req, draining=True)
                except Exception:
                    log.exception("osd.%d: queued op failed", self.osd_id)
                    outcome = _reply(-errno.EIO)
                if outcome is _WAIT:
                    waiting.appendleft((t, req))
                    break
                ready.outcomes.append((req, outcome))

    def pg_state(self, pool: int, pgid: int) -> str:
        """Ceph's state string of a PG we lead ('' if we do not lead it)."""
        pg = self.pgs.get((pool, pgid))
        if pg is None or pg.primary != self.osd_id:
            return ""
        if not self.peering_enabled:
            n = pg.active_size()
            size = self.osdmap.pools[pool].size if self.osdmap else n
            return "active+clean" if n >= size else "active+undersized+degraded"
        return self.peering.state_string(pg)

    def pg_stats(self) -> list[dict]:
        """One `pg dump` row per PG we lead (see osd/pg_stats.py for the fields)."""
        rows = []
        for (pool, seed), pg in sorted(self.pgs.items()):
            if pg.primary != self.osd_id:
                continue
            stats = pg.stat_sum()
            ps = pg.ps
            missing = degraded = misplaced = 0
            if ps is not None:
                missing = len(pg.missing)
                for osd, fams in ps.peer_missing.items():
                    degraded += len(fams)
                for osd in ps.backfill:
                    degraded += stats["num_objects"]
            acting = [o for o in pg.acting if 0 <= o != CRUSH_ITEM_NONE]
            size = pg.pool_size or (self.osdmap.pools[pool].size if self.osdmap else 0)
            degraded += max(0, size - len(acting)) * stats["num_objects"]
            e, v = pg.log.head_eversion
            rows.append({
                "pgid": pg.pgid_str, "state": self.pg_state(pool, seed),
                "up": list(pg.up or pg.acting), "acting": list(pg.acting),
                "up_primary": pg.up_primary if pg.up else pg.primary,
                "acting_primary": pg.primary, "reported_epoch": self.epoch,
                "last_update": f"{e}'{v}", "log_size": len(pg.log),
                "same_interval_since": pg.interval_start, "last_epoch_started": pg.les,
                "last_epoch_clean": pg.lec,
                "blocked_by": sorted(ps.blocked_by) if ps is not None else [],
                "num_objects": stats["num_objects"], "num_bytes": stats["num_bytes"],
                "num_object_clones": stats["num_object_clones"],
                "num_objects_missing_on_primary": missing,
                "num_objects_degraded": degraded, "num_objects_misplaced": misplaced,
                "num_objects_unfound": len(ps.unfound) if ps is not None else 0,
                "num_rd": stats["num_rd"], "num_wr": stats["num_wr"],
            })
        return rows

    def recovery_stats(self) -> dict:
        """What this OSD recovered (objects/bytes pushed, backfilled, pulled; time to clean)."""
        return self.rstats.as_dict()

    # -- replicas ------------------------------------------------------------------------------
    def handle_repop(self, msg: RepOp) -> int:
        """Apply a primary's transaction and log entry (idempotent for resends); 0 or -errno
        when this replica cannot apply it (it diverged; nothing was applied)."""
        try:
            if self.peering_enabled:
                if msg.epoch > self.epoch:
                    return -errno.EAGAIN
                pg = self.pgs.get((msg.pool, msg.pgid))
                if pg is None or msg.interval != pg.interval_start \
                        or pg.activated != pg.interval_start:
                    return -errno.ESTALE
                return pg.apply_repop(msg.transaction, msg.log_entry, msg.push)
            return self._pg(msg.pool, msg.pgid).apply_repop(msg.transaction, msg.log_entry)
        except Exception:
            log.exception("osd.%d: repop for %d.%x failed", self.osd_id, msg.pool, msg.pgid)
            return -errno.EIO

    # -- listing and stats ---------------------------------------------------------------------
    def pgls(self, pool: int, pgid: int, nspace: str = "", cursor=None,
             max_entries: int = 1024, gid: int | None = None) -> tuple[list, tuple | None]:
        """Heads (whiteouts skipped) of one PG in (nspace, oid, key) order: entries
        [(nspace, oid, key)] and the cursor to continue from, or None at the end.
        `nspace` ALL_NSPACES lists every namespace; the cursor is opaque to callers.
        With cephx, client `gid` needs read caps there, else -EACCES / -EPERM (an int)."""
        denied = check_listing(self.osdmap, gid, pool, nspace, self.clock())
        if denied:
            return denied
        if type(max_entries) is not int or max_entries <= 0:
            max_entries = 1024
        all_ns = nspace == ALL_NSPACES
        start = tuple(cursor) if cursor else None
        if not all_ns and (start is None or start < (nspace,)):
            start = (nspace,)
        entries: list = []
        last = None
        for hobj in self.store.list_pg(pool, pgid, start):
            if not all_ns and hobj[1] != nspace:
                break
            if hobj[4] != SNAP_HEAD:
                continue
            meta = self.store.get_meta(hobj)
            if meta is None or meta.whiteout:
                continue
            if len(entries) == max_entries:
                return entries, last
            entries.append((hobj[1], hobj[3], hobj[2]))
            last = (hobj[1], hobj[3], hobj[2], hobj[4])
        return entries, None

    def pool_stats(self, pool: int) -> dict:
        """Ioctx.get_stats() numbers over the PGs of `pool` this OSD leads."""
        total = dict.fromkeys(_STAT_KEYS, 0)
        size = 1
        if self.osdmap is not None and pool in self.osdmap.pools:
            size = self.osdmap.pools[pool].size
        rd_bytes = wr_bytes = 0
        for (pool_id, _), pg in self.pgs.items():
            if pool_id != pool or pg.primary != self.osd_id:
                continue
            stats = pg.stat_sum()
            total["num_bytes"] += stats["num_bytes"]
            total["num_objects"] += stats["num_objects"]
            total["num_object_clones"] += stats["num_object_clones"]
            total["num_rd"] += stats["num_rd"]
            total["num_wr"] += stats["num_wr"]
            rd_bytes += stats["rd_bytes"]
            wr_bytes += stats["wr_bytes"]
        total["num_kb"] = (total["num_bytes"] + 1023) // 1024
        total["num_rd_kb"] = (rd_bytes + 1023) // 1024
        total["num_wr_kb"] = (wr_bytes + 1023) // 1024
        total["num_object_copies"] = total["num_objects"] * size
        return total

    # -- watch / notify ------------------------------------------------------------------------
    def pop_events(self, gid: int) -> list:
        """Events queued for a client since its last poll (see osd/watch.py for shapes)."""
        return self.watch.pop_events(gid)

    def has_pending_events(self) -> bool:
        return self.watch.has_events()

    def watch_ping(self, gid: int, cookie: int) -> bool:
        """A client's watch is alive; False if the OSD no longer has it (re-watch)."""
        return self.watch.ping(gid, cookie, self.clock())

    def client_ping(self, gid: int) -> int:
        """Refresh every watch of a client; returns how many."""
        return self.watch.ping_client(gid, self.clock())

    def notify_ack(self, notify_id: int, gid: int, cookie: int, reply: bytes = b"") -> bool:
        """A watcher answered a notify; True once every watcher has (call finish_notify)."""
        return self.watch.ack(notify_id, gid, cookie, reply)

    def notify_done(self, notify_id: int) -> bool:
        """Every watcher answered (or went away), or the notify's deadline passed."""
        return self.watch.is_done(notify_id, self.clock())

    def finish_notify(self, notify_id: int) -> OSDOpReply | None:
        """Complete a notify: outs of the notify op = (acks [(gid, cookie, bytes)],
        timeouts [(gid, cookie)]), result -ETIMEDOUT if any watcher did not answer.
        None for an unknown (or already finished) notify id."""
        pending = self.watch.finish(notify_id)
        if pending is None:
            return None
        acks = [(gid, cookie, data) for (gid, cookie), data in sorted(pending.acks.items())]
        timeouts = sorted(pending.waiting)
        rval = -errno.ETIMEDOUT if timeouts else 0
        reply = pending.reply
        reply.outs[pending.op_index] = (rval, (acks, timeouts))
        if rval:
            reply.result = rval
        return reply

    def tick(self, now: float | None = None) -> list[int]:
        """Advance time: expire watches whose client stopped pinging; returns the notify ids
        that are ready for finish_notify (all answered or timed out)."""
        return self.watch.tick(self.clock() if now is None else now)

    # -- admin ---------------------------------------------------------------------------------
    def object_digests(self, pool: int) -> dict:
        """{(nspace, key, oid): sha256 hex} of every object copy this OSD holds in `pool`
        (data, xattrs, omap header and omap, and each clone), primary or replica alike:
        the check that replicas are byte-identical."""
        import hashlib

        digests: dict = {}
        for pg_pool, pgid in self.store.list_pgs():
            if pg_pool != pool:
                continue
            for hobj in self.store.list_pg(pool, pgid):
                meta = self.store.get_meta(hobj)
                h = hashlib.sha256()
                h.update(repr((hobj[4], meta.size if meta else None,
                               getattr(meta, "whiteout", False))).encode())
                h.update(self.store.read(hobj) or b"")
                for name, value in sorted(self.store.getattrs(hobj).items()):
                    h.update(name.encode() + b"\0" + value)
                h.update(self.store.omap_get_header(hobj) or b"")
                for k, v in self.store.omap_iter(hobj):
                    h.update(k.encode() + b"\0" + v)
                key = (hobj[1], hobj[2], hobj[3])
                previous = digests.get(key)
                digests[key] = h.hexdigest() if previous is None else \
                    hashlib.sha256((previous + h.hexdigest()).encode()).hexdigest()
        return digests

    def command(self, cmd, inbuf: bytes = b"") -> tuple[int, bytes, str]:
        """`ceph tell osd.N ...`: a few read-only commands; -EINVAL for the rest."""
        try:
            if isinstance(cmd, (list, tuple)):
                cmd = cmd[0] if cmd else "{}"
            if isinstance(cmd, (str, bytes)):
                cmd = json.loads(cmd)
            prefix = cmd.get("prefix", "")
        except Exception:
            return -errno.EINVAL, b"", "invalid command"
        if prefix == "version":
            out = {"version": "rayceph"}
        elif prefix == "status":
            out = {"osd": self.osd_id, "epoch": self.epoch, "num_pgs": len(self.pgs),
                   "num_primary_pgs": sum(pg.primary == self.osd_id for pg in self.pgs.values()),
                   "used_bytes": self.store.used_bytes()}
        elif prefix in ("pg ls", "dump_pgs"):
            out = [{"pgid": pg.pgid_str, "acting": pg.acting, "primary": pg.primary,
                    "last_update": pg.last_update, "stats": pg.stat_sum(),
                    "state": self.pg_state(*key) or ("replica" if self.osd_id in pg.acting
                                                     else "stray")}
                   for key, pg in sorted(self.pgs.items())]
        elif prefix in ("dump_recovery_stats", "recovery stats"):
            out = self.recovery_stats()
        else:
            return -errno.EINVAL, b"", f"unrecognized command {prefix!r}"
        return 0, json.dumps(out).encode(), ""
