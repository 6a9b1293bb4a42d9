"""A placement group on one OSD: acting set, log, stats, op execution and snap trimming.

A PG (pool, seed) executes the client requests its OSD hands it in order (the host calls
`do_op` serially, so the PG needs no locks) and applies what its primary sends when this OSD
is a replica.

Invariants:
- A write is executed (osd/ops.py), applied to the local store, logged and only then
  replicated: `do_op` returns the transaction and log entry the OSD ships to every replica
  in the acting set, and a replica applies exactly that (`apply_repop`), never the ops.
- Every logged entry has version last_update + 1; the object's user_version is that number.
- A resent request (same reqid) still in the log is answered from its entry, never re-run.
- Counters: object/byte/clone counts are the store's per-PG counters (so replicas have them
  without messages); rd/wr op and byte counters are kept here, wr ones replicated through
  the log entry.
- Peering state (osd/peering.py): `interval_start` and the mapping of the current interval,
  `les`/`lec` (last epoch started/clean), `last_backfill` (None = complete), `missing`
  (families this copy must be pushed), `activated` (the interval this copy activated in; a
  replica applies repops only of that interval). On a durable store every change of these
  and every log entry is persisted in the same store transaction as the data it goes with.
"""
from __future__ import annotations

import errno
import logging

from osd.messages import OSDOpReply, SNAP_HEAD
from osd.object_store import ObjectStore, TransactionError
from osd.ops import ExecResult, OpEnv, execute
from osd.pg_log import DEFAULT_MAX_ENTRIES, LogEntry, PGLog
from osd.recovery import family_of, install_txn
from osd.snaps import trim
from osd.transaction import Transaction

log = logging.getLogger("rayceph.osd")

CRUSH_ITEM_NONE = 0x7FFFFFFF


class PG:
    def __init__(self, pool: int, seed: int, store: ObjectStore,
                 log_max_entries: int = DEFAULT_MAX_ENTRIES):
        self.pool = pool
        self.seed = seed
        self.store = store
        self.log = PGLog(log_max_entries)
        self.acting: list[int] = []
        self.primary = -1
        self.epoch = 0                      # epoch of the map the acting set comes from
        self.purged_snaps: set[int] = set()  # removed snaps already trimmed here
        self.num_rd = 0
        self.rd_bytes = 0
        self.num_wr = 0
        self.wr_bytes = 0
        # peering (used when the OSD runs with peering enabled)
        self.up: list[int] = []
        self.up_primary = -1
        self.interval_start = 0
        self.pool_size = 0
        self.min_size = 0
        self.les = 0
        self.lec = 0
        self.last_backfill: tuple | None = None
        self.missing: dict = {}
        self.activated = 0
        self.ps = None              # osd.peering.PrimaryState while we are primary
        self.waiting = None         # deque of (arrival time, request) held while not active
        self.fast = True            # active, nothing degraded: writes replicate as-is
        self.fast_size = 0          # complete acting members while `fast`

    def __repr__(self) -> str:
        return f"PG({self.pool}.{self.seed:x} acting={self.acting} primary={self.primary})"

    @property
    def pgid_str(self) -> str:
        return f"{self.pool}.{self.seed:x}"

    @property
    def last_update(self) -> int:
        return self.log.head

    def set_acting(self, acting, primary: int, epoch: int) -> None:
        self.acting = list(acting)
        self.primary = primary
        self.epoch = epoch

    def replicas(self, osd_id: int) -> list[int]:
        """Acting members other than `osd_id` (holes in the acting set skipped)."""
        return [o for o in self.acting if o != osd_id and 0 <= o != CRUSH_ITEM_NONE]

    def active_size(self) -> int:
        return sum(1 for o in self.acting if 0 <= o != CRUSH_ITEM_NONE)

    # -- primary side --------------------------------------------------------------------------
    def dup_reply(self, reqid) -> OSDOpReply | None:
        entry = self.log.dups.get(reqid)
        if entry is None:
            return None
        return OSDOpReply(result=entry.result, outs=list(entry.outs or []), version=entry.version)

    def do_op(self, req, *, epoch: int, now: float, snapc=None, watchers=None,
              is_write: bool | None = None) -> tuple[ExecResult, LogEntry | None]:
        """Execute `req`; for a successful write, apply its transaction locally and log it.
        Returns (result, log entry or None); result.txn is what the replicas must apply."""
        env = OpEnv(pgid=self.seed, now=now, version=self.log.head + 1, snapc=snapc,
                    watchers=watchers if watchers is not None else {})
        res = execute(self.store, req, env, is_write)
        self.num_rd += res.num_rd
        self.rd_bytes += res.rd_bytes
        if res.result < 0 or not res.is_write:
            res.txn = None
            return res, None
        entry = LogEntry(epoch, env.version, req.reqid,
                         (req.pool, req.nspace, req.key, req.oid, SNAP_HEAD), res.op_kind,
                         0, res.outs, res.num_wr, res.wr_bytes)
        try:
            if self.store.durable:
                self._apply(res.txn, entry)
            else:
                self.store.apply_transaction(res.txn)
        except TransactionError as exc:
            # The executor built the transaction against this very store, so this is a bug;
            # nothing was applied, so fail the request rather than the OSD.
            log.error("pg %s: transaction for %r rejected: %s", self.pgid_str, req.oid, exc)
            res.result, res.txn = -errno.EIO, None
            return res, None
        self.log.append(entry)
        self.num_wr += res.num_wr
        self.wr_bytes += res.wr_bytes
        return res, entry

    def _apply(self, txn: Transaction, entry: LogEntry | None = None, info: bool = False):
        """Apply `txn` to the store; on a durable store the log entry (and the info, when
        asked) are persisted in the same store transaction."""
        store = self.store
        if not store.durable:
            store.apply_transaction(txn)
            return
        meta = {}
        if entry is not None:
            meta["log/%016x" % entry.version] = entry
            log = self.log
            if len(log.entries) >= log.max_entries:
                meta["log/%016x" % log.entries[0].version] = None
        if info:
            meta["info"] = self._info_record()
        store.apply_transaction(txn, (self.pool, self.seed, meta))

    def trim_snaps(self, removed: set[int], epoch: int) -> tuple[Transaction, LogEntry] | None:
        """Drop `removed` snap ids from every clone of this PG; delete clones left with no
        snaps (and whiteout heads left with no clones). Applies locally and returns the
        transaction and log entry for the replicas, or None if there was nothing to trim."""
        removed = set(removed)
        txn = Transaction(self.seed)
        store = self.store
        heads = []
        for hobj in list(store.list_pg(self.pool, self.seed)):
            if hobj[4] != SNAP_HEAD:
                continue
            meta = store.get_meta(hobj)
            snapset = meta.snapset
            if snapset is None or not snapset.clones:
                continue
            if not any(s in removed for clone in snapset.clones for s in clone.snaps):
                continue
            heads.append(hobj)
            new_snapset, dead = trim(snapset, removed)
            for cloneid in dead:
                txn.remove(hobj[:4] + (cloneid,))
            if meta.whiteout and not new_snapset.clones:
                txn.remove(hobj)
            else:
                txn.set_meta(hobj, meta.version, meta.mtime, new_snapset, meta.whiteout)
        self.purged_snaps |= removed
        if not txn.ops:
            if store.durable:
                self.persist_info()
            return None
        entry = LogEntry(epoch, self.log.head + 1, None, None, "trim",
                         snaps=tuple(sorted(removed)), oids=tuple(heads))
        self._apply(txn, entry, info=True)
        self.log.append(entry)
        return txn, entry

    # -- replica side --------------------------------------------------------------------------
    def apply_repop(self, ops: list, entry: LogEntry | None, push=None) -> int:
        """Apply the primary's transaction and log entry; 0, or -errno if it cannot apply
        (this replica has diverged: nothing is applied and peering must repair it).
        `push` (degraded writes, peering mode) replaces `ops` by whole families to install;
        `entry` None: a push alone (a resent write answered from the log)."""
        if entry is not None and entry.version <= self.log.head:
            return 0            # a resent repop we already applied
        if entry is not None and self.activated and entry.version != self.log.head + 1:
            log.error("pg %s: repop v%d after v%d: a gap", self.pgid_str, entry.version,
                      self.log.head)
            return -errno.EAGAIN
        try:
            if push is not None:
                txn = install_txn(self.store, self.pool, self.seed, push)
                for fam, _states in push:
                    self.missing.pop(fam, None)
            else:
                txn = Transaction(self.seed, ops)
            self._apply(txn, entry, info=push is not None or
                        (entry is not None and entry.op == "trim"))
        except TransactionError as exc:
            log.error("pg %s: repop v%d rejected: %s", self.pgid_str,
                      entry.version if entry else 0, exc)
            return -exc.errno
        if entry is None:
            return 0
        self.log.append(entry)
        if entry.op == "trim":
            self.purged_snaps.update(entry.snaps)
        self.num_wr += entry.num_wr
        self.wr_bytes += entry.wr_bytes
        return 0

    # -- peering (osd/peering.py drives these) --------------------------------------------------
    def set_mapping(self, mapping, since: int) -> None:
        """The current interval's mapping (osd.peering.Mapping) began at epoch `since`."""
        self.up = list(mapping.up)
        self.up_primary = mapping.up_primary
        self.acting = list(mapping.acting)
        self.primary = mapping.primary
        self.pool_size = mapping.size
        self.min_size = mapping.min_size
        if since != self.interval_start:
            self.interval_start = since
            self.activated = 0
            self.fast = False
        self.epoch = since

    def info(self, birth: int):
        from osd.peering import PGInfo
        return PGInfo(self.pool, self.seed, True, self.log.head_eversion, self.log.tail,
                      self.les, self.lec, self.last_backfill, dict(self.missing), birth,
                      frozenset(self.purged_snaps))

    def _info_record(self) -> dict:
        return {"les": self.les, "lec": self.lec, "last_backfill": self.last_backfill,
                "missing": dict(self.missing), "purged_snaps": sorted(self.purged_snaps),
                "tail": self.log.tail, "tail_epoch": self.log.tail_epoch,
                "head": self.log.head_eversion, "num_wr": self.num_wr,
                "wr_bytes": self.wr_bytes}

    def load_info(self, record: dict, entries: list) -> None:
        """Rebuild from what a durable store kept (OSD restart)."""
        self.les, self.lec = record.get("les", 0), record.get("lec", 0)
        lb = record.get("last_backfill")
        self.last_backfill = tuple(lb) if lb is not None else None
        self.missing = {tuple(k): v for k, v in record.get("missing", {}).items()}
        self.purged_snaps = set(record.get("purged_snaps", ()))
        self.num_wr, self.wr_bytes = record.get("num_wr", 0), record.get("wr_bytes", 0)
        self.log.replace(sorted(entries, key=lambda e: e.version), record.get("tail", 0),
                         record.get("tail_epoch", 0), tuple(record.get("head", (0, 0))))

    def persist_info(self) -> None:
        if self.store.durable:
            self.store.apply_transaction(Transaction(self.seed),
                                         (self.pool, self.seed, {"info": self._info_record()}))

    def adopt_log(self, entries, info) -> None:
        """Make the authoritative log ours (activation, or a primary adopting a peer's)."""
        old = [e.version for e in self.log.entries]
        self.log.replace(list(entries), info.log_tail, 0, info.last_update)
        self.purged_snaps |= set(info.purged_snaps)
        if self.store.durable:
            meta = {"log/%016x" % v: None for v in old}
            for e in self.log.entries:
                meta["log/%016x" % e.version] = e
            meta["info"] = self._info_record()
            self.store.apply_transaction(Transaction(self.seed), (self.pool, self.seed, meta))

    def forget_requests_of(self, families) -> None:
        """Versions of these families were lost (never acknowledged): their log entries no
        longer answer resent requests, which run again instead."""
        import dataclasses
        families = set(families)
        entries = []
        for e in self.log.entries:
            if e.reqid is not None and families.intersection(e.families()):
                e = dataclasses.replace(e, reqid=None)
            entries.append(e)
        self.log.replace(entries, self.log.tail, self.log.tail_epoch, self.log.head_eversion)
        if self.store.durable:
            meta = {"log/%016x" % e.version: e for e in self.log.entries}
            self.store.apply_transaction(Transaction(self.seed), (self.pool, self.seed, meta))

    def set_missing(self, missing: dict) -> None:
        self.missing = dict(missing)
        self.persist_info()

    def start_backfill_self(self) -> None:
        """This copy has no usable log: drop its objects; a full copy follows in order."""
        self.store.remove_pg(self.pool, self.seed)
        self.last_backfill = ()
        self.missing = {}
        self.persist_info()

    def finish_backfill_self(self) -> None:
        self.last_backfill = None
        self.persist_info()

    def install_push(self, objects, backfill_to=None) -> int:
        """Install pushed families; returns their data bytes."""
        nbytes = 0
        if objects:
            txn = install_txn(self.store, self.pool, self.seed, objects)
            for fam, states in objects:
                self.missing.pop(fam, None)
                nbytes += sum(len(s.data) for s in states)
        else:
            txn = Transaction(self.seed)
        if backfill_to is not None and self.last_backfill is not None:
            self.last_backfill = max(self.last_backfill, tuple(backfill_to))
        self._apply(txn, None, info=True)
        return nbytes

    def activate(self, interval: int) -> None:
        if interval < self.les:
            raise AssertionError(f"pg {self.pgid_str}: activating in interval {interval} "
                                 f"older than last_epoch_started {self.les}")
        self.les = interval
        self.activated = interval
        self.persist_info()

    def mark_clean(self, interval: int) -> None:
        self.lec = interval
        self.persist_info()

    def refresh_fast_path(self) -> None:
        """`fast`: active primary copy with nothing degraded, so a write's transaction goes
        to every replica unchanged (the hot path skips per-peer checks)."""
        ps = self.ps
        self.fast = bool(ps is not None and ps.phase == "active" and not ps.backfill
                         and not any(ps.peer_missing.values()))
        self.fast_size = self.active_size()

    def is_active(self) -> bool:
        ps = self.ps
        return ps is not None and ps.phase == "active"

    def complete_size(self) -> int:
        """Acting members that hold every object (backfill targets do not count)."""
        ps = self.ps
        n = self.active_size()
        return n - len(ps.backfill) if ps is not None else n

    def peer_skip(self, osd: int):
        """For a degraded PG: a predicate telling which families `osd` must not get as a
        transaction delta (missing there, or beyond its backfill position); None if all."""
        ps = self.ps
        if ps is None:
            return None
        if osd in ps.backfill:
            pos = ps.backfill[osd]
            if pos is None:
                return lambda fam: True
            return lambda fam: fam > pos
        missing = ps.peer_missing.get(osd)
        if missing:
            return lambda fam: fam in missing
        return None

    # -- stats ---------------------------------------------------------------------------------
    def stat_sum(self) -> dict:
        stats = self.store.pg_stats(self.pool, self.seed)
        stats.update(num_rd=self.num_rd, rd_bytes=self.rd_bytes,
                     num_wr=self.num_wr, wr_bytes=self.wr_bytes)
        return stats
