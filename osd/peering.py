"""Peering: how a PG's members agree on its history after every interval change.

An *interval* is a run of map epochs during which a PG's up set, acting set, primary, pool
size and min_size stay the same. On every interval change the new primary peers
(Ceph's PeeringState, much simplified; the PG is a pure state machine: messages in,
messages out, see osd/messages.py):

  GetInfo   query every OSD that may hold what the PG acknowledged: the current up and
            acting sets and the members, still up, of every past interval since the newest
            last_epoch_started (les) anyone reports that may have accepted writes
            (maybe_rw: its acting set reached min_size). Replies carry info, the whole log
            and the past intervals the peer knows, so a primary new to the PG learns them.
  Down      some maybe_rw interval since that les has no member we heard from that still
            holds its data, and one of them is down: writes acknowledged then may exist
            only there, so the PG waits (re-peers when one of them comes up).
  choose    authoritative log = among complete peers (not mid-backfill) whose les is the
            newest, the one with the newest last_update (eversion), then the longest log,
            then ourselves. None: `incomplete` (waits for a map change).
  missing   for each peer: entries it lacks or that diverge from the authoritative log name
            the families it must get (log-based recovery); a peer whose log does not reach
            the authoritative log's tail gets a full copy instead (backfill).
  pull      the primary itself must be complete before it serves: it pulls its missing
            families (or, with no usable log, the whole PG in object order) from peers
            that hold them.
  Activate  peers adopt the authoritative log, their missing sets, les = this interval;
            when every acting peer acked, the PG is active: queued client ops run, and
            recovery pushes missing families and backfills new members, throttled.
  clean     nothing missing anywhere and the acting set is full: strays drop their copies.

Safety argument (why no acknowledged write is lost while a member of its acting set that
held it survives): a write is acknowledged only after every acting member applied it, and
only in an active interval, whose activation gave every member les = that interval. The
newest les among the peers we heard from is therefore the last interval that could have
accepted writes unless a later maybe_rw interval exists; for every such interval we hear
from a member that held its data (its store was born before the interval began) or we wait.
Among the les-newest complete peers each holds every write acknowledged up to then, and the
one with the newest last_update holds every later one. A member that received entries the
authoritative log lacks (divergent, never acknowledged) gets those families overwritten by
recovery. Writes count only complete members against min_size (a backfill target holds
only the families backfill has reached).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import NamedTuple

from osd.messages import (
    PGActivate, PGActivateAck, PGNotify, PGPull, PGPush, PGPushAck, PGQuery, PGRemove,
)
from osd.messages import SNAP_HEAD
from osd.pg_log import LogEntry
from osd.recovery import read_family

log = logging.getLogger("rayceph.osd")

CRUSH_ITEM_NONE = 0x7FFFFFFF
MAX_INTERVALS_PER_PG = 256


def _valid(osd) -> bool:
    return 0 <= osd != CRUSH_ITEM_NONE


def _head_version(states) -> int:
    """Object version of a family's head in a pushed family (-1: no copy at all)."""
    for st in states:
        if st.hobj[4] == SNAP_HEAD:
            return st.version
    return -1 if not states else 0


# -- values exchanged ------------------------------------------------------------------------
@dataclass
class PGInfo:
    """What a peer tells the primary about its copy of a PG (Ceph's pg_info_t)."""
    pool: int
    pgid: int
    exists: bool = True             # False: this OSD holds no copy at all
    last_update: tuple = (0, 0)     # eversion (epoch, version) of the log head
    log_tail: int = 0               # version just before the oldest entry held
    les: int = 0                    # last_epoch_started: interval this copy last activated in
    lec: int = 0                    # last_epoch_clean
    last_backfill: tuple | None = None  # None: complete; else families <= this are present
    missing: dict = field(default_factory=dict)     # family -> version it must get
    birth: int = 0                  # epoch this OSD's store began (0 = at cluster creation)
    purged_snaps: frozenset = frozenset()

    @property
    def complete(self) -> bool:
        return self.last_backfill is None


class Interval(NamedTuple):
    """A past interval [first, last] of one PG, as the maps define it."""
    first: int
    last: int
    acting: tuple
    primary: int
    up: tuple
    maybe_rw: bool


class Mapping(NamedTuple):
    up: tuple
    up_primary: int
    acting: tuple
    primary: int
    size: int
    min_size: int


def mapping_of(osdmap, pool_id: int, seed: int) -> Mapping:
    pool = osdmap.pools[pool_id]
    fn = getattr(osdmap, "pg_to_up_acting", None)
    if fn is not None:
        m = fn(pool_id, seed)
        up, up_primary, acting, primary = m.up, m.up_primary, m.acting, m.acting_primary
    else:
        acting, primary = osdmap.pg_to_acting(pool_id, seed)
        up, up_primary = acting, primary
    return Mapping(tuple(up), up_primary, tuple(acting), primary, pool.size, pool.min_size)


def pool_mappings_of(osdmap, pool_id: int) -> list[Mapping]:
    """Every PG's Mapping in the pool, index = seed; derived once per map object when the
    map caches (the OSDs of one process share the maps they install)."""
    def compute():
        return [mapping_of(osdmap, pool_id, seed)
                for seed in range(osdmap.pools[pool_id].pg_num)]
    derived = getattr(osdmap, "derived", None)
    return compute() if derived is None else derived(("peering", pool_id), compute)


class IntervalTracker:
    """Every PG's current mapping and its past intervals, from the maps an OSD has seen.

    `advance(osdmap)` must see every epoch in order (a skipped epoch may hide an interval);
    intervals before the first map seen are unknown here and learned from peers' notifies
    (`merge`). At most MAX_INTERVALS_PER_PG past intervals are kept per PG."""

    def __init__(self):
        self.current: dict[tuple, tuple[Mapping, int]] = {}    # pgkey -> (mapping, since)
        self.past: dict[tuple, list[Interval]] = {}
        self.known_from: dict[tuple, int] = {}     # first epoch whose mapping we know
        self._pools: set = set()

    def advance(self, osdmap, prev_epoch: int) -> list[tuple]:
        """Install `osdmap`; returns the PG keys whose interval changed (new PGs included)."""
        changed = []
        epoch = osdmap.epoch
        seen = set()
        for pool_id in osdmap.pools:
            for seed, m in enumerate(pool_mappings_of(osdmap, pool_id)):
                key = (pool_id, seed)
                seen.add(key)
                cur = self.current.get(key)
                if cur is None:
                    self.current[key] = (m, epoch)
                    # A PG we see for the first time has no history before this epoch if
                    # the cluster starts here or its pool was created now (we saw the
                    # previous map without it); otherwise its earlier intervals are unknown.
                    new = epoch == 1 or (prev_epoch > 0 and pool_id not in self._pools)
                    self.known_from[key] = 0 if new else epoch
                    changed.append(key)
                elif cur[0] is not m and cur[0] != m:
                    old, since = cur
                    acting_n = sum(1 for o in old.acting if _valid(o))
                    iv = Interval(since, epoch - 1, old.acting, old.primary, old.up,
                                  old.primary >= 0 and acting_n >= old.min_size)
                    past = self.past.setdefault(key, [])
                    past.append(iv)
                    if len(past) > MAX_INTERVALS_PER_PG:
                        del past[0]
                        self.known_from[key] = past[0].first
                    self.current[key] = (m, epoch)
                    changed.append(key)
        self._pools = set(osdmap.pools)
        for key in list(self.current):
            if key not in seen:
                del self.current[key]
                self.past.pop(key, None)
                self.known_from.pop(key, None)
        return changed

    def since(self, key) -> int:
        cur = self.current.get(key)
        return cur[1] if cur else 0

    def mapping(self, key) -> Mapping | None:
        cur = self.current.get(key)
        return cur[0] if cur else None

    def intervals(self, key) -> list[Interval]:
        return list(self.past.get(key, ()))

    def merge(self, key, intervals) -> bool:
        """Add intervals a peer knows that we do not (earlier than our knowledge).
        Returns True if anything was added."""
        mine = self.past.setdefault(key, [])
        have = {iv.first for iv in mine}
        start = self.known_from.get(key, 0)
        added = False
        for iv in intervals:
            iv = Interval(*iv)
            if iv.first not in have and iv.last < start:
                mine.append(iv)
                have.add(iv.first)
                added = True
        if added:
            mine.sort()
            self.known_from[key] = min(start, mine[0].first)
        return added

    def trim(self, key, before: int) -> None:
        """Forget intervals that ended before `before` (the PG went clean after them)."""
        past = self.past.get(key)
        if past:
            self.past[key] = [iv for iv in past if iv.last >= before]


# -- pure decisions ---------------------------------------------------------------------------
def find_divergence(auth_log: list, auth_tail: int, auth_lu: tuple, info: PGInfo, peer_log: list):
    """Compare a peer's log with the authoritative one.

    Returns (common_version, divergent_entries) where common_version is the newest version
    both logs agree on, or None when they cannot be lined up (the peer needs backfill)."""
    by_version = {e.version: e for e in auth_log}
    divergent = []
    for e in reversed(peer_log):
        a = by_version.get(e.version)
        if a is not None:
            if a.epoch == e.epoch:
                return e.version, divergent
            divergent.append(e)
        elif e.version > auth_lu[1]:
            divergent.append(e)
        else:   # at or below the authoritative tail: cannot be checked entry by entry
            return (e.version, divergent) if e.version == auth_tail else None
    # the peer's log held nothing we could line up: judge by its head
    lu = info.last_update
    if lu == auth_lu:
        return lu[1], divergent
    a = by_version.get(lu[1])
    if a is not None and a.epoch == lu[0]:
        return lu[1], divergent
    if lu[1] == auth_tail and not divergent:
        return lu[1], divergent
    if lu[1] == 0 and auth_tail == 0 and not divergent:
        return 0, divergent
    return None


def compute_missing(auth_log: list, auth_tail: int, auth_lu: tuple, info: PGInfo,
                    peer_log: list) -> dict | None:
    """Families (-> version needed) a peer must get to match the authoritative log, or None
    if it needs a full copy (no usable log, or mid-backfill)."""
    if not info.complete:
        return None
    found = find_divergence(auth_log, auth_tail, auth_lu, info, peer_log)
    if found is None:
        return None
    common, divergent = found
    missing = dict(info.missing)
    for e in divergent:
        for fam in e.families():
            missing.setdefault(fam, 0)
    for e in auth_log:
        if e.version > common:
            for fam in e.families():
                missing[fam] = e.version
    return missing


def choose_auth(infos: dict, les_star: int, me: int):
    """The peer whose log becomes authoritative, or None (incomplete)."""
    best = None
    best_key = None
    for osd, info in infos.items():
        if not info.complete or info.les != les_star:
            continue
        if les_star > 0 and not info.exists:
            continue
        key = (info.last_update, -info.log_tail, osd == me, -osd)
        if best_key is None or key > best_key:
            best, best_key = osd, key
    return best


# -- per-interval primary state ---------------------------------------------------------------
@dataclass
class PrimaryState:
    """What the primary learns and decides during one interval."""
    interval: int
    phase: str = "getinfo"          # getinfo | down | incomplete | pulling | activating | active
    queried: set = field(default_factory=set)
    infos: dict = field(default_factory=dict)       # osd -> PGInfo
    logs: dict = field(default_factory=dict)        # osd -> [LogEntry]
    blocked_by: set = field(default_factory=set)
    auth: int = -1
    peer_missing: dict = field(default_factory=dict)    # acting peer -> {family: version}
    backfill: dict = field(default_factory=dict)        # backfill target -> last family sent
    backfill_waiting: set = field(default_factory=set)  # targets whose backfill may not start
    backfill_ending: set = field(default_factory=set)   # final push sent, ack pending
    sources: dict = field(default_factory=dict)         # osd -> {family: version} it lacks
    acks_pending: set = field(default_factory=set)
    pulls_pending: dict = field(default_factory=dict)   # family -> source osd
    pull_backfill_from: int = -1
    pull_cursor: object = None
    inflight: dict = field(default_factory=dict)        # osd -> set of families pushed
    strays: set = field(default_factory=set)
    unfound: set = field(default_factory=set)
    revert_pending: set = field(default_factory=set)
    revert_copies: dict = field(default_factory=dict)
    activated_at: float = 0.0
    recovery_needed: bool = False
    clean: bool = False
    strays_removed: bool = False

    def degraded_families(self, osd) -> dict:
        return self.peer_missing.get(osd, {})


class Peering:
    """The peering and recovery state machine of the PGs of one OSD. Stateless itself: the
    state lives on each PG (`pg.ps` on a primary) and the OSD (`svc`): id, epoch, map,
    store, store birth epoch, interval tracker, throttle, recovery stats, clock."""

    def __init__(self, svc):
        self.svc = svc

    # -- helpers -----------------------------------------------------------------------------
    def _up(self, osd) -> bool:
        info = self.svc.osdmap.osds.get(osd) if _valid(osd) else None
        return bool(info is not None and getattr(info, "up", False))

    def _hdr(self, pg):
        return dict(pool=pg.pool, pgid=pg.seed, epoch=self.svc.epoch,
                    interval=pg.interval_start, from_osd=self.svc.osd_id)

    def _now(self) -> float:
        return self.svc.clock()

    # -- primary: GetInfo ----------------------------------------------------------------------
    def start(self, pg) -> list:
        """A new interval with us as primary: forget the last one's state and query."""
        svc = self.svc
        old = pg.ps
        if old is not None:
            self._release(pg, old)
        ps = pg.ps = PrimaryState(pg.interval_start)
        ps.infos[svc.osd_id] = pg.info(svc.birth)
        ps.logs[svc.osd_id] = list(pg.log.entries)
        return self._probe(pg)

    def restart_if_blocked(self, pg) -> list:
        """Called on a map change that kept the interval: re-peer a PG waiting on OSDs whose
        state changed (came up, or went down while we waited for their answer)."""
        ps = pg.ps
        if ps is None:
            return []
        if ps.phase in ("down", "incomplete"):
            return self.start(pg)
        if ps.phase == "getinfo":
            if any(not self._up(o) for o in ps.queried - set(ps.infos)):
                return self.start(pg)
            return self._probe(pg)
        if ps.phase == "reverting":
            if any(not self._up(o) for o in ps.revert_pending):
                return self.start(pg)
        if ps.phase == "pulling":
            sources = set(ps.pulls_pending.values())
            if ps.pull_backfill_from >= 0:
                sources.add(ps.pull_backfill_from)
            if any(not self._up(o) for o in sources):
                return self.start(pg)
        return []

    def _relevant(self, pg, les: int) -> list[Interval]:
        key = (pg.pool, pg.seed)
        return [iv for iv in self.svc.tracker.intervals(key) if iv.last >= les and iv.maybe_rw]

    def _probe(self, pg) -> list:
        svc, ps = self.svc, pg.ps
        les = max((i.les for i in ps.infos.values() if i.complete), default=0)
        want = {o for o in pg.acting if _valid(o)} | {o for o in pg.up if _valid(o)}
        for iv in self._relevant(pg, les):
            want.update(o for o in iv.acting if _valid(o) and self._up(o))
        key = (pg.pool, pg.seed)
        if svc.tracker.known_from.get(key, 0) > les:
            # we do not know the intervals between les and our first map: ask everyone up
            want.update(o for o, i in svc.osdmap.osds.items() if getattr(i, "up", False))
        want.discard(svc.osd_id)
        out = []
        for osd in sorted(want - ps.queried):
            if not self._up(osd):
                continue
            ps.queried.add(osd)
            out.append((osd, PGQuery(**self._hdr(pg))))
        if not (ps.queried - set(ps.infos)):
            out.extend(self._choose(pg))
        return out

    def handle_notify(self, pg, msg: PGNotify) -> list:
        ps = pg.ps
        if ps is None or ps.phase != "getinfo" or msg.interval != pg.interval_start:
            return []
        ps.infos[msg.from_osd] = msg.info
        ps.logs[msg.from_osd] = list(msg.log)
        if msg.intervals:
            self.svc.tracker.merge((pg.pool, pg.seed), msg.intervals)
        return self._probe(pg)

    # -- primary: choose, missing ---------------------------------------------------------------
    def _choose(self, pg) -> list:
        svc, ps = self.svc, pg.ps
        me = svc.osd_id
        # Ceph's max_last_epoch_started_found: a copy mid-backfill activated in an interval
        # does not show that the interval went active (its complete members may not have
        # activated); intervals after the complete copies' les are checked below instead.
        les_star = max((i.les for i in ps.infos.values() if i.complete), default=0)
        blocked: set = set()
        for iv in self._relevant(pg, les_star):
            heard = [o for o in iv.acting if o in ps.infos
                     and ps.infos[o].birth <= iv.first and ps.infos[o].complete]
            if heard:
                continue
            down = {o for o in iv.acting if _valid(o) and not self._up(o)}
            if down:
                blocked |= down
            else:
                wiped = [o for o in iv.acting if o in ps.infos and ps.infos[o].birth > iv.first]
                if wiped:
                    log.error("pg %s: every member of interval %d-%d %s lost its data",
                              pg.pgid_str, iv.first, iv.last, list(iv.acting))
        if blocked:
            ps.phase = "down"
            ps.blocked_by = blocked
            return []
        auth = choose_auth(ps.infos, les_star, me)
        if auth is None:
            ps.phase = "incomplete"
            return []
        ps.auth = auth
        auth_info, auth_log = ps.infos[auth], ps.logs[auth]
        for osd, info in ps.infos.items():
            ps.sources[osd] = compute_missing(auth_log, auth_info.log_tail,
                                              auth_info.last_update, info, ps.logs[osd])
        acting = [o for o in pg.acting if _valid(o)]
        ps.strays = {o for o, i in ps.infos.items() if i.exists and o not in acting}
        for osd in acting:
            if osd == me:
                continue
            m = ps.sources.get(osd)
            if m is None:
                ps.backfill[osd] = None
                ps.backfill_waiting.add(osd)
            else:
                ps.peer_missing[osd] = dict(m)
        # adopt the authoritative log (a no-op when it is ours)
        mine = ps.sources.get(me)
        if auth != me:
            pg.adopt_log(auth_log, auth_info)
        if mine is None:
            return self._pull_backfill(pg)
        pg.set_missing(mine)
        return self._pull_missing(pg)

    # -- primary: make itself complete -------------------------------------------------------
    def _source_for(self, pg, fam, exclude=()) -> int:
        ps = self.svc and pg.ps
        for osd in sorted(ps.sources, key=lambda o: (o != ps.auth, o)):
            if osd == self.svc.osd_id or osd in exclude or not self._up(osd):
                continue
            lacks = ps.sources[osd]
            info = ps.infos[osd]
            if lacks is None or fam in lacks or not info.exists:
                continue
            return osd
        return -1

    def _pull_missing(self, pg) -> list:
        ps = pg.ps
        if not pg.missing:
            return self._activate(pg)
        ps.phase = "pulling"
        per_source: dict[int, list] = {}
        ps.unfound = set()
        for fam in sorted(pg.missing):
            src = self._source_for(pg, fam)
            if src < 0:
                ps.unfound.add(fam)
                continue
            ps.pulls_pending[fam] = src
            per_source.setdefault(src, []).append(fam)
        if ps.unfound:
            ps.pulls_pending.clear()
            return self._unfound(pg)
        return [(src, PGPull(**self._hdr(pg), families=fams))
                for src, fams in sorted(per_source.items())]

    def _unfound(self, pg) -> list:
        """No peer we heard from holds the authoritative version of some families. If an
        OSD that may hold them is down, wait for it (down+recovery_unfound). Otherwise the
        version is gone: it was never acknowledged (an acknowledged write is on min_size
        complete copies, one of which we would have heard from). Revert each such family to
        the newest copy any peer still has (Ceph's mark_unfound_lost revert, done
        automatically): ask every peer for its copy, then `_revert`."""
        ps = pg.ps
        les = max((i.les for i in ps.infos.values() if i.complete), default=0)
        maybe = set()
        for iv in self.svc.tracker.intervals((pg.pool, pg.seed)):
            if iv.last >= les:
                maybe.update(o for o in iv.acting if _valid(o))
        down = {o for o in maybe if not self._up(o)}
        if down:
            log.warning("pg %s: %d objects unfound; waiting for osds %s", pg.pgid_str,
                        len(ps.unfound), sorted(down))
            ps.phase = "down"
            ps.blocked_by = down
            return []
        ps.phase = "reverting"
        ps.revert_pending = {o for o, i in ps.infos.items()
                             if o != self.svc.osd_id and i.exists and self._up(o)}
        ps.revert_copies = {fam: read_family(self.svc.store, pg.pool, pg.seed, fam)
                            for fam in ps.unfound}
        out = [(o, PGPull(**self._hdr(pg), families=sorted(ps.unfound)))
               for o in sorted(ps.revert_pending)]
        if not ps.revert_pending:
            out.extend(self._revert(pg))
        return out

    def _handle_revert_reply(self, pg, msg: PGPush) -> list:
        ps = pg.ps
        for fam, states in msg.objects:
            best = ps.revert_copies.get(fam, [])
            if _head_version(states) > _head_version(best):
                ps.revert_copies[fam] = states
        ps.revert_pending.discard(msg.from_osd)
        if ps.revert_pending:
            return []
        return self._revert(pg)

    def _revert(self, pg) -> list:
        svc, ps = self.svc, pg.ps
        log.error("pg %s: marking %d unfound objects lost, reverting to the newest copy: %s",
                  pg.pgid_str, len(ps.unfound), sorted(ps.unfound)[:5])
        pg.install_push(sorted(ps.revert_copies.items()))
        pg.forget_requests_of(ps.unfound)
        svc.rstats.objects_lost_reverted += len(ps.unfound)
        ps.unfound = set()
        ps.revert_copies = {}
        ps.phase = "pulling"
        if pg.missing:
            return self._pull_missing(pg)
        return self._activate(pg)

    def _pull_backfill(self, pg) -> list:
        svc, ps = self.svc, pg.ps
        best = -1
        for osd in sorted(ps.sources, key=lambda o: (o != ps.auth, len(ps.sources[o] or ()), o)):
            if osd != svc.osd_id and ps.sources[osd] is not None and ps.infos[osd].exists \
                    and self._up(osd):
                best = osd
                break
        if best < 0:
            ps.phase = "incomplete"
            return []
        ps.phase = "pulling"
        ps.pull_backfill_from = best
        ps.pull_cursor = None
        pg.start_backfill_self()
        return [(best, PGPull(**self._hdr(pg), cursor=None, whole_pg=True,
                              max_families=svc.backfill_chunk))]

    def handle_pull_reply(self, pg, msg: PGPush) -> list:
        """A peer answered our PGPull: install, then pull more or activate."""
        svc, ps = self.svc, pg.ps
        if ps is not None and ps.phase == "reverting" and msg.interval == pg.interval_start:
            return self._handle_revert_reply(pg, msg)
        if ps is None or ps.phase != "pulling" or msg.interval != pg.interval_start:
            return []
        nbytes = pg.install_push(msg.objects, backfill_to=msg.backfill_to)
        svc.rstats.objects_pulled += len(msg.objects)
        svc.rstats.bytes_pulled += nbytes
        if msg.from_osd == ps.pull_backfill_from and ps.pull_backfill_from >= 0 and \
                not ps.pulls_pending:
            if msg.next_cursor is not None:
                ps.pull_cursor = msg.next_cursor
                return [(msg.from_osd, PGPull(**self._hdr(pg), cursor=msg.next_cursor,
                                              whole_pg=True, max_families=svc.backfill_chunk))]
            pg.finish_backfill_self()
            src = ps.pull_backfill_from
            ps.pull_backfill_from = -1
            pg.set_missing(dict(ps.sources.get(src) or {}))
            return self._pull_missing_excluding(pg, src)
        for fam, _states in msg.objects:
            ps.pulls_pending.pop(fam, None)
            pg.missing.pop(fam, None)
        pg.persist_info()
        if ps.pulls_pending:
            return []
        if pg.missing:
            return self._pull_missing(pg)
        return self._activate(pg)

    def _pull_missing_excluding(self, pg, src) -> list:
        return self._pull_missing(pg)

    # -- primary: Activate ---------------------------------------------------------------------
    def _activate(self, pg) -> list:
        svc, ps = self.svc, pg.ps
        ps.phase = "activating"
        pg.activate(pg.interval_start)
        info = pg.info(svc.birth)
        entries = list(pg.log.entries)
        out = []
        for osd in pg.acting:
            if not _valid(osd) or osd == svc.osd_id:
                continue
            backfill = osd in ps.backfill
            out.append((osd, PGActivate(**self._hdr(pg), info=info, log=entries,
                                        missing={} if backfill else ps.peer_missing.get(osd, {}),
                                        backfill=backfill)))
            ps.acks_pending.add(osd)
        if not ps.acks_pending:
            out.extend(self._activated(pg))
        return out

    def handle_activate_ack(self, pg, msg: PGActivateAck) -> list:
        ps = pg.ps
        if ps is None or ps.phase != "activating" or msg.interval != pg.interval_start:
            return []
        ps.acks_pending.discard(msg.from_osd)
        if ps.acks_pending:
            return []
        return self._activated(pg)

    def _activated(self, pg) -> list:
        svc, ps = self.svc, pg.ps
        ps.phase = "active"
        ps.activated_at = self._now()
        ps.recovery_needed = bool(ps.backfill or any(ps.peer_missing.values()))
        if ps.recovery_needed:
            svc.rstats.recoveries_started += 1
        pg.refresh_fast_path()
        return self.recover(pg)

    # -- replica side --------------------------------------------------------------------------
    def handle_query(self, pg, msg: PGQuery) -> list:
        """Answer with what we hold (pg may be None: we hold nothing)."""
        svc = self.svc
        key = (msg.pool, msg.pgid)
        if svc.tracker.since(key) > msg.interval:
            return []       # the primary's interval is over; it will re-peer
        if pg is None:
            info = PGInfo(msg.pool, msg.pgid, exists=False, birth=svc.birth)
            entries = []
        else:
            info = pg.info(svc.birth)
            entries = list(pg.log.entries)
        return [(msg.from_osd, PGNotify(pool=msg.pool, pgid=msg.pgid, epoch=svc.epoch,
                                        interval=msg.interval, from_osd=svc.osd_id, info=info,
                                        log=entries,
                                        intervals=svc.tracker.intervals(key)))]

    def handle_activate(self, pg, msg: PGActivate) -> list:
        if msg.interval != pg.interval_start or msg.from_osd != pg.primary:
            return []
        pg.adopt_log(msg.log, msg.info)
        if msg.backfill:
            pg.start_backfill_self()
        else:
            pg.set_missing(dict(msg.missing))
        pg.activate(msg.interval)
        return [(msg.from_osd, PGActivateAck(**self._hdr(pg)))]

    def handle_push(self, pg, msg: PGPush) -> list:
        """Install pushed families (recovery or backfill) and ack them."""
        if msg.interval != pg.interval_start or msg.from_osd != pg.primary:
            return []
        nbytes = pg.install_push(msg.objects, backfill_to=msg.backfill_to)
        if msg.backfill_done:
            pg.finish_backfill_self()
        fams = [fam for fam, _ in msg.objects]
        return [(msg.from_osd, PGPushAck(**self._hdr(pg), families=fams, num_bytes=nbytes))]

    def handle_pull(self, pg, msg: PGPull) -> list:
        """A primary wants families (or a range of the whole PG) from us."""
        from osd.recovery import iter_families, read_family
        svc = self.svc
        if pg is None or svc.tracker.since((msg.pool, msg.pgid)) > msg.interval:
            return []
        hdr = dict(pool=msg.pool, pgid=msg.pgid, epoch=svc.epoch, interval=msg.interval,
                   from_osd=svc.osd_id)
        if msg.whole_pg:
            fams = []
            it = iter_families(svc.store, pg.pool, pg.seed, msg.cursor)
            for fam in it:
                fams.append(fam)
                if len(fams) >= max(1, msg.max_families):
                    break
            more = next(it, None) is not None
            objects = [(f, read_family(svc.store, pg.pool, pg.seed, f)) for f in fams]
            nxt = fams[-1] if (more and fams) else None
            return [(msg.from_osd, PGPush(**hdr, objects=objects,
                                          backfill_to=fams[-1] if fams else None, pull=True,
                                          next_cursor=nxt))]
        objects = [(f, read_family(svc.store, pg.pool, pg.seed, f)) for f in msg.families]
        return [(msg.from_osd, PGPush(**hdr, objects=objects, pull=True))]

    def handle_remove(self, pg, msg: PGRemove) -> list:
        svc = self.svc
        if svc.tracker.since((msg.pool, msg.pgid)) > msg.interval:
            return []
        mapping = svc.tracker.mapping((msg.pool, msg.pgid))
        if mapping is not None and (svc.osd_id in mapping.acting or svc.osd_id in mapping.up):
            return []
        svc.drop_pg(pg)
        return []

    # -- primary: recovery and backfill ----------------------------------------------------------
    def recover(self, pg) -> list:
        """Start as much recovery as the throttles allow; note clean when nothing is left."""
        from osd.recovery import family_bytes, iter_families, read_family
        svc, ps = self.svc, pg.ps
        if ps is None or ps.phase != "active":
            return []
        out = []
        throttle = svc.throttle
        store = svc.store
        # log-based recovery first (degraded objects), then backfill
        for osd in sorted(ps.peer_missing):
            missing = ps.peer_missing[osd]
            inflight = ps.inflight.setdefault(osd, set())
            for fam in sorted(missing):
                if not throttle.can_push():
                    break
                if fam in inflight:
                    continue
                states = read_family(store, pg.pool, pg.seed, fam)
                inflight.add(fam)
                throttle.inflight += 1
                svc.rstats.objects_recovered += 1
                svc.rstats.bytes_recovered += family_bytes(states)
                out.append((osd, PGPush(**self._hdr(pg), objects=[(fam, states)])))
        for osd in sorted(ps.backfill):
            if osd in ps.backfill_ending:
                continue
            if not throttle.try_reserve_backfill((pg.pool, pg.seed)):
                break
            ps.backfill_waiting.discard(osd)
            inflight = ps.inflight.setdefault(osd, set())
            pos = ps.backfill[osd]
            it = iter_families(store, pg.pool, pg.seed, pos)
            while throttle.can_push():
                fam = next(it, None)
                if fam is None:
                    ps.backfill_ending.add(osd)
                    inflight.add(("__end__",))
                    throttle.inflight += 1
                    out.append((osd, PGPush(**self._hdr(pg), objects=[], backfill_to=None,
                                            backfill_done=True)))
                    break
                states = read_family(store, pg.pool, pg.seed, fam)
                ps.backfill[osd] = fam
                inflight.add(fam)
                throttle.inflight += 1
                svc.rstats.objects_backfilled += 1
                svc.rstats.bytes_backfilled += family_bytes(states)
                out.append((osd, PGPush(**self._hdr(pg), objects=[(fam, states)],
                                        backfill_to=fam)))
        out.extend(self._maybe_clean(pg))
        return out

    def handle_push_ack(self, pg, msg) -> list:
        svc, ps = self.svc, pg.ps
        if ps is None or msg.interval != pg.interval_start:
            return []
        inflight = ps.inflight.get(msg.from_osd, set())
        fams = msg.families or [("__end__",)]
        for fam in fams:
            if fam in inflight:
                inflight.discard(fam)
                svc.throttle.inflight = max(0, svc.throttle.inflight - 1)
            missing = ps.peer_missing.get(msg.from_osd)
            if missing is not None:
                missing.pop(fam, None)
        if not msg.families and msg.from_osd in ps.backfill_ending:
            ps.backfill_ending.discard(msg.from_osd)
            ps.backfill.pop(msg.from_osd, None)
            ps.peer_missing[msg.from_osd] = {}
            if not ps.backfill:
                svc.throttle.release_backfill((pg.pool, pg.seed))
        pg.refresh_fast_path()
        return svc.recover_all()

    def _maybe_clean(self, pg) -> list:
        svc, ps = self.svc, pg.ps
        if ps.clean or ps.backfill or any(ps.peer_missing.values()) or pg.missing:
            return []
        if any(ps.inflight.values()):
            return []
        acting = [o for o in pg.acting if _valid(o)]
        if len(acting) < pg.pool_size:
            return []
        ps.clean = True
        if ps.recovery_needed:
            svc.rstats.recoveries_finished += 1
            svc.rstats.recovery_time_s += max(0.0, self._now() - ps.activated_at)
        pg.mark_clean(pg.interval_start)
        svc.tracker.trim((pg.pool, pg.seed), pg.interval_start)
        out = []
        if not ps.strays_removed:
            ps.strays_removed = True
            for osd in sorted(ps.strays):
                if self._up(osd):
                    out.append((osd, PGRemove(**self._hdr(pg))))
        return out

    def _release(self, pg, ps: PrimaryState) -> None:
        """An interval ended: give back its throttle slots."""
        svc = self.svc
        n = sum(len(s) for s in ps.inflight.values())
        svc.throttle.inflight = max(0, svc.throttle.inflight - n)
        svc.throttle.release_backfill((pg.pool, pg.seed))

    # -- state as Ceph reports it ---------------------------------------------------------------
    def state_string(self, pg) -> str:
        ps = pg.ps
        flags = []
        acting = [o for o in pg.acting if _valid(o)]
        undersized = len(acting) < pg.pool_size
        remapped = tuple(pg.acting) != tuple(pg.up)
        if ps is None:
            return "unknown"
        phase = ps.phase
        if phase == "active":
            complete = len(acting) - len(ps.backfill)
            if complete >= pg.min_size:
                flags.append("active")
            degraded = undersized or bool(ps.backfill) or any(ps.peer_missing.values())
            if ps.clean:
                flags.append("clean")
            recovering = any(ps.peer_missing.values())
            if recovering:
                flags.append("recovering" if any(ps.inflight.get(o) for o in ps.peer_missing)
                             else "recovery_wait")
            if undersized:
                flags.append("undersized")
            if degraded:
                flags.append("degraded")
            if remapped:
                flags.append("remapped")
            if ps.backfill:
                waiting = all(o in ps.backfill_waiting for o in ps.backfill)
                flags.append("backfill_wait" if waiting else "backfilling")
            if complete < pg.min_size:
                flags.append("peered")
        elif phase == "down":
            flags.append("down")
            if ps.unfound:
                flags.append("recovery_unfound")
        elif phase == "incomplete":
            flags.append("incomplete")
        elif phase == "activating":
            flags.append("activating")
            if undersized:
                flags.append("undersized")
        else:
            flags.append("peering")
            if phase == "pulling":
                flags.append("recovering" if not ps.pull_backfill_from >= 0 else "backfilling")
        return "+".join(flags)


__all__ = ["Interval", "IntervalTracker", "LogEntry", "Mapping", "PGInfo", "Peering",
           "PrimaryState", "choose_auth", "compute_missing", "find_divergence", "mapping_of"]
