"""Recovery and backfill: moving whole object families from one OSD's store to another's.

A *family* is a head object and its clones: every HObject of a PG with the same
(nspace, oid, key). Its key `(nspace, oid, key)` orders families the way the store lists
objects (osd.object_store.sort_key), so "backfilled up to family F" is a prefix of the PG.

Invariants:
- A push carries the complete state of each family it names (data, xattrs, omap, omap header,
  object info incl. SnapSet and whiteout of every member), or no objects at all, meaning the
  family does not exist. Installing it first removes whatever the receiver had under that
  family, so the receiver ends byte-identical to the sender for that family whatever it held
  before (stale, divergent or nothing).
- The transaction that installs a push is built by the receiver against its own store
  (`install_txn`): only the receiver knows which of its objects must go.
- Throttles are per OSD (Ceph's `osd recovery max active`: pushes in flight; `osd max
  backfills`: PGs this OSD backfills at once). The primary's PG state machine
  (osd/peering.py) decides what to push; this module only reads, builds and counts.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from osd.messages import SNAP_HEAD
from osd.transaction import Transaction

DEFAULT_RECOVERY_MAX_ACTIVE = 3     # osd_recovery_max_active (Ceph default 3 for HDD)
DEFAULT_MAX_BACKFILLS = 1           # osd_max_backfills
DEFAULT_BACKFILL_CHUNK = 16         # families per backfill pull reply (primary backfill)


class ObjectState(NamedTuple):
    """One object of a family as a push carries it."""
    hobj: tuple
    data: bytes
    xattrs: dict
    omap: dict
    header: bytes
    version: int
    mtime: float
    snapset: object
    whiteout: bool


def family_of(hobj) -> tuple:
    """(nspace, oid, key): the family an HObject belongs to, in listing order."""
    return (hobj[1], hobj[3], hobj[2])


def family_hobjs(store, pool: int, pgid: int, fam: tuple) -> list:
    """Every HObject of family `fam` that `store` holds in this PG (clones first, head last)."""
    nspace, oid, key = fam
    out = []
    for hobj in store.list_pg(pool, pgid, (nspace, oid, key, -1)):
        if hobj[1] != nspace or hobj[3] != oid or hobj[2] != key:
            break
        out.append(hobj)
    return out


def read_family(store, pool: int, pgid: int, fam: tuple) -> list[ObjectState]:
    """The complete state of a family in `store` ([] if it has none of it)."""
    states = []
    for hobj in family_hobjs(store, pool, pgid, fam):
        meta = store.get_meta(hobj)
        states.append(ObjectState(
            hobj, store.read(hobj) or b"", store.getattrs(hobj), dict(store.omap_iter(hobj)),
            store.omap_get_header(hobj), meta.version, meta.mtime, meta.snapset, meta.whiteout))
    return states


def family_bytes(states) -> int:
    return sum(len(s.data) for s in states)


def install_txn(store, pool: int, pgid: int, families) -> Transaction:
    """The transaction that makes `store` hold exactly the pushed families:
    `families` is [(fam, [ObjectState, ...]), ...] (an empty list removes the family)."""
    txn = Transaction(pgid)
    for fam, states in families:
        for hobj in family_hobjs(store, pool, pgid, fam):
            txn.remove(hobj)
        for s in states:
            txn.touch(s.hobj)
            if s.data:
                txn.write(s.hobj, 0, s.data)
            if s.xattrs:
                txn.setattrs(s.hobj, dict(s.xattrs))
            if s.omap:
                txn.omap_setkeys(s.hobj, dict(s.omap))
            if s.header:
                txn.omap_setheader(s.hobj, s.header)
            txn.set_meta(s.hobj, s.version, s.mtime, s.snapset, s.whiteout)
    return txn


def iter_families(store, pool: int, pgid: int, after: tuple | None):
    """Family keys of a PG in order, strictly after family `after` (None: from the start)."""
    start = None if after is None else (after[0], after[1], after[2], SNAP_HEAD + 1)
    last = None
    for hobj in store.list_pg(pool, pgid, start):
        fam = family_of(hobj)
        if fam != last:
            last = fam
            yield fam


def filter_ops_for_peer(ops: list, skip) -> list:
    """Drop the primitives of a transaction that touch a family `skip(fam)` says the peer
    must not get as a delta (it is missing it, or backfill has not reached it)."""
    return [op for op in ops if not skip(family_of(op[1]))]


@dataclass
class RecoveryStats:
    """What one OSD recovered as a primary (and pulled for itself), for `pg dump`/bench."""
    objects_recovered: int = 0      # families pushed to a peer missing them (log-based)
    bytes_recovered: int = 0
    objects_backfilled: int = 0     # families copied by backfill
    bytes_backfilled: int = 0
    objects_pulled: int = 0         # families a primary pulled for itself
    bytes_pulled: int = 0
    objects_lost_reverted: int = 0  # unfound, never-acknowledged versions given up
    degraded_writes: int = 0        # writes that pushed a whole missing family to a replica
    recoveries_started: int = 0     # PG activations that found work to do
    recoveries_finished: int = 0    # ... that reached clean
    recovery_time_s: float = 0.0    # sum over finished ones of activation -> clean

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Throttle:
    """Per-OSD recovery limits: pushes in flight and PGs backfilling."""
    max_active: int = DEFAULT_RECOVERY_MAX_ACTIVE
    max_backfills: int = DEFAULT_MAX_BACKFILLS
    inflight: int = 0
    backfilling: set = field(default_factory=set)

    def can_push(self) -> bool:
        return self.inflight < self.max_active

    def try_reserve_backfill(self, pgkey) -> bool:
        if pgkey in self.backfilling:
            return True
        if len(self.backfilling) >= self.max_backfills:
            return False
        self.backfilling.add(pgkey)
        return True

    def release_backfill(self, pgkey) -> None:
        self.backfilling.discard(pgkey)
