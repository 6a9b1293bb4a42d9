"""Fault injection into a running rayceph cluster on Ray: the public, typed API.

    faults = Faults.from_conffile("ceph.conf")     # or Faults("ceph") once Ray is joined
    faults.kill(3); faults.partition([["osd.0", "osd.1"], ["osd.2"]]); faults.slow(1, 0.2)
    print(faults.active()); faults.heal(); faults.wait_for_clean(60)

Invariants:
- every fault is bounded and reversible: `heal()` resumes paused OSDs, lifts every block,
  delay and disk error, restarts killed OSDs and marks in what a fault marked out;
- the fault records live in the monitor actor (`get_fault_records`/`set_fault_records`),
  so `rayceph fault ...` invocations see each other's faults; an OSD's injected state is
  always recomputed from all records and sent whole (`fault_set` with every key), so
  removing one record can never leave a stale block behind;
- a fault that could lose data or make a pool unavailable is refused (ValueError naming the
  pool and the PG) unless `force=True`; forced faults are labelled "may lose data".
  The check (`check_fault`) is pure: it looks at the current map and the OSDs the records
  already count as dead (killed, stopped, host down, out, disk errors, the minority side of a
  partition) or wiped (memstore OSDs restarted empty and not yet seen clean).

Targets: an OSD is `3`, `"3"` or `"osd.3"`; partition/drop members are entity names
"osd.N", "client.<gid>" or "mon". Unknown OSDs and hosts raise KeyError naming them.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Iterable, Optional

MAY_LOSE_DATA = "may lose data"
CALL_TIMEOUT_S = 30.0
CLEAN_POLL_S = 0.5
_CHOOSE_OPS = ("chooseleaf_firstn", "chooseleaf_indep", "choose_firstn", "choose_indep")


# -- pure parts: names, the dead set, the refusal check -------------------------------------
def osd_id(target, osdmap=None) -> int:
    """3, "3" or "osd.3" -> 3; KeyError if the map has no such OSD, ValueError if unparsable."""
    text = str(target).strip()
    m = re.fullmatch(r"(?:osd\.)?(\d+)", text)
    if not m or isinstance(target, bool):
        raise ValueError(f"not an OSD: {target!r} (expected N or osd.N)")
    osd = int(m.group(1))
    if osdmap is not None:
        info = osdmap.osds.get(osd)
        if info is None or not info.exists:
            raise KeyError(f"osd.{osd} does not exist")
    return osd


def entity_name(text: str, osdmap=None) -> str:
    """A partition member: 'osd.N' (checked against the map), 'client.<gid>' or 'mon'."""
    t = str(text).strip()
    if t == "mon" or re.fullmatch(r"client\.\w+", t):
        return t
    return f"osd.{osd_id(t, osdmap)}"


def host_osds(osdmap, host: str) -> list[int]:
    """The OSDs on CRUSH host `host`; KeyError if there is no such host."""
    osds = sorted(o for o, i in osdmap.osds.items() if i.exists and i.host == host)
    if not osds:
        raise KeyError(f"host {host!r} does not exist")
    return osds


def partition_dead(groups: list[list[str]]) -> set[int]:
    """The OSDs a partition is expected to cost: all but the group with the most OSDs
    (the lowest OSD id breaks ties), whose members keep the majority of reporters."""
    osd_groups = [sorted(int(e[4:]) for e in g if e.startswith("osd.")) for g in groups]
    keep = max(range(len(groups)), key=lambda i: (len(osd_groups[i]),
                                                  -min(osd_groups[i], default=1 << 30)))
    return {o for i, g in enumerate(osd_groups) if i != keep for o in g}


def _failure_domain(osdmap, pool, osd: int) -> str:
    rule = osdmap.crush.rules.get(pool.crush_rule)
    type_name = None
    for step in getattr(rule, "steps", ()):
        if step.op in _CHOOSE_OPS:
            type_name = osdmap.crush.types.get(step.arg2)
    for t, name in osdmap.crush_location(osd):
        if t == type_name:
            return f"{t}={name}"
    return f"osd={osd}"


def check_fault(osdmap, dead: set[int], wiped: set[int], what: str) -> Optional[str]:
    """None if every PG of every pool keeps at least min_size live acting members and at
    most size-1 dead or wiped failure domains once `dead` are gone; else the reason."""
    from .placement import CRUSH_ITEM_NONE

    for pool_id, pool in sorted(osdmap.pools.items()):
        for seed, mp in enumerate(osdmap.pool_mappings(pool_id)):
            acting = [o for o in mp.acting if o != CRUSH_ITEM_NONE]
            if not acting:
                continue
            live = [o for o in acting if osdmap.is_up(o) and o not in dead]
            pgid = f"{pool_id}.{seed:x}"
            if len(live) < pool.min_size:
                return (f"refusing to {what}: pool '{pool.name}' pg {pgid} would keep "
                        f"{len(live)} live of acting {acting} (min_size {pool.min_size})")
            lost = {_failure_domain(osdmap, pool, o) for o in acting
                    if o in dead or o in wiped or not osdmap.is_up(o)}
            if len(lost) > pool.size - 1:
                return (f"refusing to {what}: pool '{pool.name}' pg {pgid} would have "
                        f"{len(lost)} dead or wiped failure domains ({', '.join(sorted(lost))}"
                        f") of size {pool.size}")
    return None


@dataclass
class _Effect:
    """What the records ask of one OSD actor (sent whole with fault_set)."""
    paused: bool = False
    delay_s: float = 0.0
    blocked: tuple = ()
    eio: bool = False

    def spec(self) -> dict:
        return {"paused": self.paused, "delay_s": self.delay_s,
                "blocked": sorted(self.blocked), "eio": self.eio}


def effects(records: Iterable[dict], osd_ids: Iterable[int]) -> dict[int, _Effect]:
    """Per OSD, the merged injected state of every record (pure)."""
    out = {o: _Effect() for o in osd_ids}
    for r in records:
        kind, osds = r["kind"], r.get("osds", [])
        for o in osds:
            e = out.setdefault(o, _Effect())
            if kind == "stop":
                e.paused = True
            elif kind == "slow":
                e.delay_s = max(e.delay_s, float(r["delay_s"]))
            elif kind == "disk_errors":
                e.eio = True
        if kind in ("partition", "drop"):
            for o, blocked in r["blocks"].items():
                e = out.setdefault(int(o), _Effect())
                e.blocked = tuple(sorted(set(e.blocked) | set(blocked)))
    return out


def partition_blocks(groups: list[list[str]], all_osds: Iterable[int]) -> dict[int, list[str]]:
    """Per member OSD, the entities outside its group: every other OSD of the cluster,
    the clients and the monitor named in other groups."""
    universe = {f"osd.{o}" for o in all_osds} | {e for g in groups for e in g}
    blocks = {}
    for g in groups:
        outside = sorted(universe - set(g))
        for e in g:
            if e.startswith("osd."):
                blocks[int(e[4:])] = outside
    return blocks


def dead_and_wiped(records: Iterable[dict]) -> tuple[set[int], set[int]]:
    dead, wiped = set(), set()
    for r in records:
        if r["kind"] in ("kill", "host_down", "stop", "mark_out", "disk_errors"):
            dead |= set(r.get("osds", []))
        elif r["kind"] == "partition":
            dead |= set(r["expected_down"])
        elif r["kind"] == "restarted":
            wiped |= set(r.get("osds", []))
    return dead, wiped


# -- the API over Ray -------------------------------------------------------------------------
class Faults:
    """Faults of the named cluster (this process must already be joined to its Ray cluster:
    use `from_conffile`)."""

    def __init__(self, cluster_name: str = "ceph", objectstore: str = "memstore", mon=None):
        from .bootstrap import find_cluster

        self.cluster_name = cluster_name
        self.objectstore = objectstore
        self.mon = mon if mon is not None else find_cluster(cluster_name)
        if self.mon is None:
            raise ConnectionError(f"no rayceph cluster named {cluster_name!r} on this Ray "
                                  f"cluster")

    @classmethod
    def from_conffile(cls, path: Optional[str] = None) -> "Faults":
        """Join the Ray cluster `path` names (the embedded one for `ray address = local`,
        started if needed). ValueError for `inprocess`: its OSDs are not actors."""
        from .bootstrap import ensure_embedded, ensure_ray
        from .config import CephConfig, bundled_config_path

        conf = CephConfig()
        conf.read_file(path or bundled_config_path("default"))
        address = conf.get("rayceph_ray_address") or "local"
        name = conf.get("rayceph_cluster_name") or "ceph"
        if address == "inprocess":
            raise ValueError("fault injection needs a cluster on Ray (ray address = "
                             "inprocess has no OSD actors)")
        if address in ("", "local"):
            ensure_embedded(conf)
        else:
            ensure_ray(address)
        return cls(name, conf.get("rayceph_objectstore") or "memstore")

    # -- plumbing ---------------------------------------------------------------------------
    def _get(self, ref, timeout: float = CALL_TIMEOUT_S):
        import ray

        return ray.get(ref, timeout=timeout)

    def _osdmap(self):
        return self._get(self.mon.get_osdmap.remote())

    def _records(self) -> list[dict]:
        return self._get(self.mon.get_fault_records.remote())

    def _save(self, records: list[dict]) -> None:
        self._get(self.mon.set_fault_records.remote(records))

    def _osd(self, osd: int):
        from .bootstrap import osd_handle

        return osd_handle(self.cluster_name, osd)

    def _command(self, prefix: str, **args) -> str:
        ret, out, outs, _ = self._get(self.mon.command.remote({"prefix": prefix, **args}))
        if ret < 0:
            raise RuntimeError(f"{prefix}: {outs} ({ret})")
        return outs

    def _push(self, records: list[dict], osds: Iterable[int]) -> None:
        """Send the merged state of the records to every live OSD among `osds`."""
        killed = self._killed(records)
        wanted = effects(records, osds)
        refs = []
        for osd in sorted(set(osds)):
            handle = None if osd in killed else self._osd(osd)
            if handle is not None:
                refs.append(handle.fault_set.remote(wanted[osd].spec()))
        self._get(refs)

    @staticmethod
    def _killed(records: list[dict]) -> set[int]:
        return {o for r in records if r["kind"] in ("kill", "host_down") for o in r["osds"]}

    def _add(self, kind: str, text: str, osds: list[int], force: bool,
             dead: set[int] = frozenset(), **extra) -> str:
        """Check, record and return the record's text; raises ValueError if refused."""
        records = self._records()
        osdmap = self._osdmap()
        was_dead, wiped = dead_and_wiped(records)
        # a fault that takes no OSD away (slow, drop) cannot be what loses data
        reason = check_fault(osdmap, was_dead | set(dead), wiped, text) if dead else None
        may_lose = reason is not None
        if may_lose and not force:
            raise ValueError(reason + " (force=True to inject it anyway)")
        record = {"id": max((r["id"] for r in records), default=0) + 1, "kind": kind,
                  "text": text + (f" ({MAY_LOSE_DATA})" if may_lose else ""),
                  "osds": sorted(osds), "may_lose_data": may_lose, "since": time.time(),
                  **extra}
        records.append(record)
        self._save(records)
        return record["text"]

    # -- OSD processes ----------------------------------------------------------------------
    def kill(self, osd, force: bool = False) -> str:
        """Kill the OSD's actor (memstore loses its data). No-op if it is already dead."""
        o = osd_id(osd, self._osdmap())
        if o in self._killed(self._records()):
            return f"osd.{o} is already dead"
        text = self._add("kill", f"kill osd.{o}", [o], force, dead={o})
        from .bootstrap import kill_osd

        kill_osd(self.cluster_name, o)
        return text

    def restart(self, osd, force: bool = False) -> str:
        """Kill and start the OSD again (memstore comes back empty and is backfilled)."""
        o = osd_id(osd, self._osdmap())
        records = self._records()
        wiped = self.objectstore == "memstore"
        if wiped:
            text = self._add("restarted", f"restart osd.{o} (empty store until clean)", [o],
                             force, dead={o})
        else:
            reason = check_fault(self._osdmap(), dead_and_wiped(records)[0] | {o}, set(),
                                 f"restart osd.{o}")
            if reason and not force:
                raise ValueError(reason + " (force=True to inject it anyway)")
            text = f"restart osd.{o}"
        from .bootstrap import kill_osd, spawn_osd

        if o not in self._killed(records):
            kill_osd(self.cluster_name, o)
        records = []
        for r in self._records():
            if r["kind"] in ("kill", "host_down") and o in r["osds"]:
                r = dict(r, osds=[x for x in r["osds"] if x != o])
                if not r["osds"]:
                    continue        # the restart ended this fault
            records.append(r)
        self._save(records)
        spawn_osd(self.cluster_name, o)
        self._push(records, [o])
        return text

    def stop(self, osd, force: bool = False) -> str:
        """Pause the OSD (SIGSTOP-like: alive but silent). No-op if dead or stopped."""
        o = osd_id(osd, self._osdmap())
        records = self._records()
        if o in self._killed(records):
            return f"osd.{o} is dead"
        if any(r["kind"] == "stop" and o in r["osds"] for r in records):
            return f"osd.{o} is already stopped"
        text = self._add("stop", f"stop osd.{o}", [o], force, dead={o})
        self._push(self._records(), [o])
        return text

    def resume(self, osd) -> str:
        o = osd_id(osd, self._osdmap())
        return self._remove(lambda r: r["kind"] == "stop" and o in r["osds"], [o],
                            f"osd.{o} resumed", f"osd.{o} is not stopped")

    def host_down(self, host: str, force: bool = False) -> str:
        """Kill every OSD of CRUSH host `host`."""
        osds = host_osds(self._osdmap(), host)
        killed = self._killed(self._records())
        alive = [o for o in osds if o not in killed]
        if not alive:
            return f"host {host} is already down"
        text = self._add("host_down", f"host {host} down ({', '.join(f'osd.{o}' for o in alive)})",
                         alive, force, dead=set(alive), host=host)
        from .bootstrap import kill_osd

        for o in alive:
            kill_osd(self.cluster_name, o)
        return text

    def host_up(self, host: str) -> str:
        osds = host_osds(self._osdmap(), host)
        records = self._records()
        gone = [r for r in records if r["kind"] in ("host_down", "kill")
                and set(r["osds"]) & set(osds)]
        if not gone:
            return f"host {host} is not down"
        restart = sorted({o for r in gone for o in r["osds"] if o in osds})
        records = [r for r in records if r not in gone]
        self._save(records)
        self._spawn(restart, records)
        return f"host {host} up ({', '.join(f'osd.{o}' for o in restart)})"

    def _spawn(self, osds: list[int], records: list[dict]) -> None:
        from .bootstrap import spawn_osd

        for o in osds:
            spawn_osd(self.cluster_name, o)
        self._push(records, osds)

    # -- map states ---------------------------------------------------------------------------
    def mark_down(self, osd) -> str:
        """`ceph osd down`: the OSD, alive, boots again at once (a new interval)."""
        o = osd_id(osd, self._osdmap())
        return self._command("osd down", ids=[str(o)]).strip()

    def mark_out(self, osd, force: bool = False) -> str:
        o = osd_id(osd, self._osdmap())
        if not self._osdmap().osds[o].in_:
            return f"osd.{o} is already out"
        text = self._add("mark_out", f"mark out osd.{o}", [o], force, dead={o})
        self._command("osd out", ids=[str(o)])
        return text

    def mark_in(self, osd) -> str:
        o = osd_id(osd, self._osdmap())
        records = [r for r in self._records()
                   if not (r["kind"] == "mark_out" and o in r["osds"])]
        self._save(records)
        return self._command("osd in", ids=[str(o)]).strip()

    # -- network and disk -----------------------------------------------------------------
    def slow(self, osd, delay_s: float) -> str:
        """Add `delay_s` before the OSD handles each client op and replica batch."""
        o = osd_id(osd, self._osdmap())
        delay_s = float(delay_s)
        if not 0 < delay_s <= 60:
            raise ValueError(f"delay_s must be in (0, 60], not {delay_s}")
        if o in self._killed(self._records()):
            return f"osd.{o} is dead"
        text = self._add("slow", f"slow osd.{o} by {delay_s:g}s", [o], True, delay_s=delay_s)
        self._push(self._records(), [o])
        return text

    def partition(self, groups: list[list[str]], force: bool = False) -> str:
        """Split the cluster: each member blocks every entity outside its group (every
        OSD of the cluster, and the clients and `mon` named in other groups)."""
        osdmap = self._osdmap()
        groups = [[entity_name(e, osdmap) for e in g] for g in groups]
        if len(groups) < 2 or any(not g for g in groups):
            raise ValueError("a partition needs at least two non-empty groups")
        seen = [e for g in groups for e in g]
        if len(seen) != len(set(seen)):
            raise ValueError("an entity may be in one group only")
        blocks = partition_blocks(groups, [o for o, i in osdmap.osds.items() if i.exists])
        dead = partition_dead(groups)
        text = "partition " + " / ".join(",".join(g) for g in groups)
        result = self._add("partition", text, sorted(blocks), force, dead=dead,
                           groups=groups, blocks={str(o): b for o, b in blocks.items()},
                           expected_down=sorted(dead))
        self._push(self._records(), blocks)
        return result

    def drop(self, a: str, b: str) -> str:
        """Cut the link between two entities (both directions)."""
        osdmap = self._osdmap()
        a, b = entity_name(a, osdmap), entity_name(b, osdmap)
        if a == b:
            raise ValueError("drop needs two different entities")
        blocks = {int(x[4:]): [y] for x, y in ((a, b), (b, a)) if x.startswith("osd.")}
        if not blocks:
            raise ValueError("drop needs at least one OSD (only OSDs can drop messages)")
        text = self._add("drop", f"drop {a} <-> {b}", sorted(blocks), True,
                         blocks={str(o): v for o, v in blocks.items()})
        self._push(self._records(), blocks)
        return text

    def disk_errors(self, osd, force: bool = False) -> str:
        """Every read and write of the OSD's store fails with EIO."""
        o = osd_id(osd, self._osdmap())
        records = self._records()
        if o in self._killed(records):
            return f"osd.{o} is dead"
        if any(r["kind"] == "disk_errors" and o in r["osds"] for r in records):
            return f"osd.{o} already has disk errors"
        text = self._add("disk_errors", f"disk errors on osd.{o}", [o], force, dead={o})
        self._push(self._records(), [o])
        return text

    # -- listing and healing --------------------------------------------------------------
    def active(self) -> list[str]:
        """The injected faults, oldest first ('may lose data' marks forced ones)."""
        return [f"{r['id']}: {r['text']}" for r in self._records()]

    def _remove(self, match, osds: list[int], done: str, nothing: str) -> str:
        records = self._records()
        kept = [r for r in records if not match(r)]
        if len(kept) == len(records):
            return nothing
        self._save(kept)
        self._push(kept, osds)
        return done

    def heal(self) -> list[str]:
        """Undo every fault: restart killed OSDs, clear every OSD's injected state, mark in
        what a fault marked out. Returns what was done."""
        records = self._records()
        osdmap = self._osdmap()
        done = []
        killed = sorted(self._killed(records))
        self._save([r for r in records if r["kind"] == "restarted"])
        if killed:
            from .bootstrap import spawn_osd

            for o in killed:
                spawn_osd(self.cluster_name, o)
            done.append("restarted " + ", ".join(f"osd.{o}" for o in killed))
        refs = []
        for o, info in sorted(osdmap.osds.items()):
            handle = self._osd(o) if info.exists else None
            if handle is not None:
                refs.append(handle.fault_clear.remote())
        self._get(refs)
        out = sorted({o for r in records if r["kind"] == "mark_out" for o in r["osds"]})
        if out:
            self._command("osd in", ids=[str(o) for o in out])
            done.append("marked in " + ", ".join(f"osd.{o}" for o in out))
        cleared = [r["text"] for r in records if r["kind"] not in ("kill", "host_down",
                                                                     "mark_out", "restarted")]
        done += [f"cleared {t}" for t in cleared]
        return done or ["nothing to heal"]

    def pg_states(self) -> dict[str, int]:
        """`pg stat`: {state: number of PGs}."""
        ret, out, outs, _ = self._get(self.mon.command.remote(
            {"prefix": "pg stat", "format": "json"}))
        if ret < 0:
            raise RuntimeError(f"pg stat: {outs}")
        summary = json.loads(out)["pg_summary"]
        return {e["name"]: e["num"] for e in summary["num_pg_by_state"]}

    def wait_for_clean(self, timeout_s: float = 120.0) -> dict[str, int]:
        """Poll `pg stat` until every PG is active+clean; TimeoutError (with the last
        states) after `timeout_s`. Clears the 'restarted' records once clean."""
        deadline = time.monotonic() + timeout_s
        while True:
            states = self.pg_states()
            if set(states) == {"active+clean"}:
                records = self._records()
                kept = [r for r in records if r["kind"] != "restarted"]
                if len(kept) != len(records):
                    self._save(kept)
                return states
            if time.monotonic() >= deadline:
                raise TimeoutError(f"PGs not active+clean after {timeout_s:g}s: {states}")
            time.sleep(CLEAN_POLL_S)
