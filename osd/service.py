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
    until the map changes; reads are still served)
 7. a write to a pool at/over its quota             -> -EDQUOT (deletes still allowed)
then the ops run (osd/ops.py). No input makes handle_op raise.

No clock, thread or randomness of its own: time comes from the injected `clock` (or the
`now` passed to tick), so tests drive watch/notify expiry with a fake clock.
"""
from __future__ import annotations

import errno
import json
import logging
import time

from osd.messages import ALL_NSPACES, OSDOpReply, OSDOpRequest, OpOutcome, RepOp, SNAP_HEAD
from osd.object_store import MemStore, ObjectStore
from osd.ops import DEFAULT_WATCH_TIMEOUT_S, OpError, classify
from osd.pg import PG
from osd.pg_log import DEFAULT_MAX_ENTRIES
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


def _reply(result: int, retry_epoch: int = 0) -> OpOutcome:
    return OpOutcome(reply=OSDOpReply(result=result, retry_epoch=retry_epoch))


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
                 log_max_entries: int = DEFAULT_MAX_ENTRIES):
        self.osd_id = osd_id
        self.store = store if store is not None else MemStore()
        self.clock = clock
        self.osdmap = None
        self.epoch = 0
        self.pgs: dict[tuple[int, int], PG] = {}
        self.watch = WatchNotify()
        self._log_max = log_max_entries
        self._pool_usage: dict[int, tuple[int, int]] = {}

    # -- maps ----------------------------------------------------------------------------------
    def set_osdmap(self, osdmap) -> dict[int, list[RepOp]]:
        """Install a newer map: PGs learn their acting sets, PGs of deleted pools are dropped
        with their objects, watches on PGs we no longer lead are disconnected, and PGs we lead
        trim newly removed snaps. Returns the trim repops per replica (send them in order)."""
        if self.osdmap is not None and osdmap.epoch <= self.epoch:
            return {}
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
        return self.trim_snaps()

    def trim_snaps(self) -> dict[int, list[RepOp]]:
        """Trim the pools' removed snaps from the PGs we lead; returns repops per replica."""
        out: dict[int, list[RepOp]] = {}
        if self.osdmap is None:
            return out
        for (pool_id, seed), pg in self.pgs.items():
            if pg.primary != self.osd_id:
                continue
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
                out.setdefault(osd, []).append(RepOp(pool_id, seed, self.epoch, txn.ops, entry))
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
        returns `outcome.notify` and no reply (see finish_notify)."""
        try:
            return self._handle_op(req)
        except Exception:
            log.exception("osd.%d: handle_op failed", self.osd_id)
            return _reply(-errno.EIO)

    def _handle_op(self, req) -> OpOutcome:
        if not _valid_request(req):
            return _reply(-errno.EINVAL)
        osdmap = self.osdmap
        if osdmap is None or req.epoch > self.epoch:
            return _reply(0, retry_epoch=max(req.epoch, self.epoch + 1))
        pool = osdmap.pools.get(req.pool)
        if pool is None:
            return _reply(-errno.ENOENT)
        misdirected_retry = self.epoch if req.epoch < self.epoch else self.epoch + 1
        if not 0 <= req.pgid < pool.pg_num:
            return _reply(0, retry_epoch=misdirected_retry)
        pg = self.pgs.get((req.pool, req.pgid))
        if pg is None:
            acting, primary = osdmap.pg_to_acting(req.pool, req.pgid)
            if primary != self.osd_id:
                return _reply(0, retry_epoch=misdirected_retry)
            pg = self._pg(req.pool, req.pgid)
        elif pg.primary != self.osd_id:
            return _reply(0, retry_epoch=misdirected_retry)

        dup = pg.dup_reply(req.reqid)
        if dup is not None:
            if dup.result == 0:
                self._rewatch(req, pg)
            return OpOutcome(reply=dup)

        try:
            is_write = classify(req.ops)
        except OpError as exc:
            return _reply(-exc.errno)
        snapc = None
        if is_write:
            if pg.active_size() < pool.min_size:
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
            for osd in pg.replicas(self.osd_id):
                outcome.repops[osd] = RepOp(req.pool, req.pgid, self.epoch, res.txn.ops, entry)
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

    # -- replicas ------------------------------------------------------------------------------
    def handle_repop(self, msg: RepOp) -> int:
        """Apply a primary's transaction and log entry (idempotent for resends); 0 or -errno
        when this replica cannot apply it (it diverged; nothing was applied)."""
        try:
            return self._pg(msg.pool, msg.pgid).apply_repop(msg.transaction, msg.log_entry)
        except Exception:
            log.exception("osd.%d: repop for %d.%x failed", self.osd_id, msg.pool, msg.pgid)
            return -errno.EIO

    # -- listing and stats ---------------------------------------------------------------------
    def pgls(self, pool: int, pgid: int, nspace: str = "", cursor=None,
             max_entries: int = 1024) -> tuple[list, tuple | None]:
        """Heads (whiteouts skipped) of one PG in (nspace, oid, key) order: entries
        [(nspace, oid, key)] and the cursor to continue from, or None at the end.
        `nspace` ALL_NSPACES lists every namespace; the cursor is opaque to callers."""
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
                    "last_update": pg.last_update, "stats": pg.stat_sum()}
                   for _, pg in sorted(self.pgs.items())]
        else:
            return -errno.EINVAL, b"", f"unrecognized command {prefix!r}"
        return 0, json.dumps(out).encode(), ""
