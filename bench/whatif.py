"""What would move: a CRUSH map and pool settings, a change, and the PGs and bytes it moves.

Pure (no cluster, no Ray): the map is crushtool text (`crushtool -d` output), pools come
from `ceph osd pool ls detail -f json` and, optionally, stored bytes from `ceph df -f json`
(or a `stored_bytes` key per pool). PGs are mapped with the same pipeline the OSDMap uses
(`cluster.placement.map_pool`), before and after the change.

Changes (strings, as on the command line):
  add-host PARENT COUNT WEIGHT   a new host with COUNT OSDs of crush weight WEIGHT under PARENT
  fail BUCKET | osd.N           every OSD under BUCKET (a rack, host...) down and out
  out osd.N                     `ceph osd out`: reweight 0, still up
  reweight osd.N W              `ceph osd reweight` override in [0, 1]
  crush-reweight osd.N W        `ceph osd crush reweight`: the OSD's crush weight

Two references: `min_shards`, a hard lower bound (each shard an OSD gains is a copy,
so moves >= the sum of per-OSD count increases), and `optimum_shards`, the expected least
data any placement could move to reach the new weights: the total-variation distance
between the old and new effective-weight shares (adding Δw to W: Δw / (W + Δw); failing
Δw of W: Δw / W), times the shards.
CRUSH moves more than that (straw2 only moves what changed, but the hierarchy and the
failure-domain rules add collateral moves); the ratio says how much more.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field

import numpy as np

from cluster.crush import Bucket, CrushMap, Device, weight_to_fixed
from cluster.crush_text import format_crush_text, parse_crush_text
from cluster.placement import CRUSH_ITEM_NONE, DEFAULT_PRIMARY_AFFINITY, OsdStates, \
    PoolPlacement, map_pool

FULL_WEIGHT = 0x10000


@dataclass
class PoolSpec:
    placement: PoolPlacement
    name: str
    stored_bytes: int = 0
    ec_data_chunks: int = 0          # k of an erasure pool (0 for replicated)

    def shard_bytes(self) -> float:
        """Bytes one PG shard holds, assuming the pool's data spreads evenly over its PGs."""
        per_pg = self.stored_bytes / max(self.placement.pg_num, 1)
        if self.placement.erasure:
            return per_pg / max(self.ec_data_chunks or self.placement.size - 1, 1)
        return per_pg


@dataclass
class ClusterState:
    """A CRUSH map plus the per-OSD state CRUSH reads (up, reweight)."""
    crush: CrushMap
    up: dict[int, bool] = field(default_factory=dict)
    reweight: dict[int, int] = field(default_factory=dict)

    @classmethod
    def from_crush(cls, crush: CrushMap) -> "ClusterState":
        held = {i for b in crush.buckets.values() for i in b.items if i >= 0}
        return cls(crush, {d: True for d in crush.devices},
                   {d: FULL_WEIGHT if d in held else 0 for d in crush.devices})

    def osd_states(self) -> OsdStates:
        n = self.crush.max_devices
        exists = [d in self.crush.devices for d in range(n)]
        return OsdStates(exists, [self.up.get(d, False) for d in range(n)],
                         [self.reweight.get(d, 0) for d in range(n)],
                         [DEFAULT_PRIMARY_AFFINITY] * n)

    def crush_weights(self) -> dict[int, int]:
        """16.16 crush weight of every device, as its (non-shadow) host bucket stores it."""
        out: dict[int, int] = {}
        for b in self.crush.buckets.values():
            if b.is_shadow:
                continue
            for item, w in zip(b.items, b.weights):
                if item >= 0:
                    out[item] = w
        return out

    def effective_weights(self) -> dict[int, float]:
        """Share-determining weight: crush weight x reweight, 0 when down."""
        cw = self.crush_weights()
        return {d: cw.get(d, 0) / FULL_WEIGHT * self.reweight.get(d, 0) / FULL_WEIGHT
                if self.up.get(d, False) else 0.0 for d in self.crush.devices}


def load_pools(ls_detail_json: str, df_json: str = "") -> list[PoolSpec]:
    """Pools from `ceph osd pool ls detail -f json` text (and `ceph df -f json` text)."""
    stored: dict[int, int] = {}
    if df_json:
        for p in json.loads(df_json).get("pools", []):
            stored[int(p["id"])] = int(p.get("stats", {}).get("stored", 0))
    pools = []
    for p in json.loads(ls_detail_json):
        pid = int(p["pool_id"])
        erasure = int(p.get("type", 1)) == 3
        hashpspool = "hashpspool" in str(p.get("flags_names", "hashpspool"))
        placement = PoolPlacement(pid, int(p["pg_num"]),
                                  int(p.get("pg_placement_num", p.get("pgp_num", p["pg_num"]))),
                                  int(p["size"]), int(p.get("crush_rule", 0)), erasure,
                                  hashpspool)
        pools.append(PoolSpec(placement, p.get("pool_name", str(pid)),
                              int(p.get("stored_bytes", stored.get(pid, 0))),
                              int(p.get("ec_k", 0))))
    return pools


def load_crush(text: str) -> CrushMap:
    return parse_crush_text(text)


def _osd_id(token: str) -> int:
    if not token.startswith("osd."):
        raise ValueError(f"expected osd.N, got {token!r}")
    return int(token[4:])


def _parent_chain(crush: CrushMap, item: int) -> list[Bucket]:
    """The non-shadow buckets from `item`'s parent up to the root."""
    chain = []
    while True:
        parent = next((b for b in crush.buckets.values()
                       if not b.is_shadow and item in b.items), None)
        if parent is None:
            return chain
        chain.append(parent)
        item = parent.id


def _set_item_weight(crush: CrushMap, item: int, weight: int) -> None:
    """Set `item`'s weight in its parent and carry the difference up to the root."""
    for parent in _parent_chain(crush, item):
        pos = parent.items.index(item)
        delta = weight - parent.weights[pos]
        parent.weights[pos] = weight
        weight, item = parent.weight, parent.id
        if delta == 0:
            return


def apply_change(state: ClusterState, change: str) -> ClusterState:
    """A new state with `change` applied (see the module docstring); ValueError if bad."""
    words = change.split()
    if not words:
        raise ValueError("empty change")
    new = ClusterState(copy.deepcopy(state.crush), dict(state.up), dict(state.reweight))
    crush = new.crush
    kind, args = words[0], words[1:]
    try:
        if kind == "add-host" and len(args) == 3:
            parent = crush.bucket_by_name(args[0])
            count, weight = int(args[1]), weight_to_fixed(float(args[2]))
            bid = -crush.max_buckets - 1
            n = sum(1 for b in crush.buckets.values() if b.name.startswith("whatif-host"))
            host = Bucket(bid, f"whatif-host{n}", crush.type_id("host"))
            first = crush.max_devices
            cls = next((d.device_class for d in crush.devices.values()), None)
            for osd in range(first, first + count):
                crush.devices[osd] = Device(osd, f"osd.{osd}", cls)
                host.items.append(osd)
                host.weights.append(weight)
                new.up[osd], new.reweight[osd] = True, FULL_WEIGHT
            crush.buckets[bid] = host
            parent.items.append(bid)
            parent.weights.append(0)
            _set_item_weight(crush, bid, host.weight)
        elif kind == "fail" and len(args) == 1:
            target = args[0]
            osds = [_osd_id(target)] if target.startswith("osd.") else \
                crush.subtree_devices(crush.bucket_by_name(target).id)
            for osd in osds:
                new.up[osd], new.reweight[osd] = False, 0
        elif kind == "out" and len(args) == 1:
            new.reweight[_osd_id(args[0])] = 0
        elif kind == "reweight" and len(args) == 2:
            value = float(args[1])
            if not 0.0 <= value <= 1.0:
                raise ValueError("reweight must be in [0, 1]")
            new.reweight[_osd_id(args[0])] = weight_to_fixed(value)
        elif kind == "crush-reweight" and len(args) == 2:
            _set_item_weight(crush, _osd_id(args[0]), weight_to_fixed(float(args[1])))
        else:
            raise ValueError(f"unknown change {change!r}")
    except KeyError as e:
        raise ValueError(f"{change!r}: {e.args[0]}") from None
    if kind in ("add-host", "crush-reweight") and any(b.is_shadow for b in crush.buckets.values()):
        # device-class rules take shadow trees; crushtool rebuilds them from the text
        new.crush = parse_crush_text(format_crush_text(crush))
    return new


def optimum_fraction(before: ClusterState, after: ClusterState) -> float:
    """Least fraction of shards that must change OSD: total-variation distance of shares."""
    wb, wa = before.effective_weights(), after.effective_weights()
    tb, ta = sum(wb.values()), sum(wa.values())
    if tb <= 0 or ta <= 0:
        return 1.0
    devices = set(wb) | set(wa)
    return sum(max(0.0, wa.get(d, 0) / ta - wb.get(d, 0) / tb) for d in devices)


def up_sets(state: ClusterState, pool: PoolPlacement) -> list[list[int]]:
    return [m.up for m in map_pool(state.crush, pool, state.osd_states())]


def count_moves(before: list[list[int]], after: list[list[int]], positional: bool) -> tuple:
    """(PGs whose up set changed, shards that must be copied to a new OSD)."""
    pgs = shards = 0
    for old, new in zip(before, after):
        if positional:
            moved = sum(1 for i, o in enumerate(new)
                        if o != CRUSH_ITEM_NONE and (i >= len(old) or old[i] != o))
        else:
            moved = sum(1 for o in new if o not in old)
        pgs += old != new
        shards += moved
    return pgs, shards


def min_moves(before: list[list[int]], after: list[list[int]]) -> int:
    """A hard lower bound on the shards moved: every shard an OSD gains had to be copied,
    so moves >= the sum of the per-OSD count increases between the two placements."""
    gain: dict[int, int] = {}
    for sets, sign in ((before, -1), (after, 1)):
        for up in sets:
            for o in up:
                if o != CRUSH_ITEM_NONE:
                    gain[o] = gain.get(o, 0) + sign
    return sum(v for v in gain.values() if v > 0)


def shards_per_osd(state: ClusterState, pool: PoolPlacement) -> np.ndarray:
    counts = np.zeros(state.crush.max_devices, dtype=np.int64)
    for up in up_sets(state, pool):
        for o in up:
            if o != CRUSH_ITEM_NONE:
                counts[o] += 1
    return counts


def what_if(state: ClusterState, pools: list[PoolSpec], change: str) -> list[dict]:
    """One row per pool (and a total row): PGs and shards moved, bytes moved, optimum."""
    after = apply_change(state, change)
    optimum = optimum_fraction(state, after)
    rows = []
    for spec in pools:
        pool = spec.placement
        before_sets, after_sets = up_sets(state, pool), up_sets(after, pool)
        pgs, shards = count_moves(before_sets, after_sets, pool.erasure)
        total = sum(len([o for o in s if o != CRUSH_ITEM_NONE]) for s in before_sets)
        rows.append({"change": change, "pool": spec.name, "pgs": pool.pg_num,
                     "pgs_moved": pgs, "shards": total, "shards_moved": shards,
                     "min_shards": min_moves(before_sets, after_sets),
                     "optimum_shards": round(optimum * total, 2),
                     "bytes_moved": round(shards * spec.shard_bytes()),
                     "optimum_bytes": round(optimum * total * spec.shard_bytes())})
    keys = ("pgs", "pgs_moved", "shards", "shards_moved", "min_shards", "optimum_shards",
            "bytes_moved",
            "optimum_bytes")
    total_row = {"change": change, "pool": "(all)"}
    total_row.update({k: sum(r[k] for r in rows) for k in keys})
    total_row["optimum_shards"] = round(total_row["optimum_shards"], 2)
    return rows + [total_row]


def build_racked_map(racks: int, hosts_per_rack: int, osds_per_host: int,
                     weight: float = 1.0, failure_domain: str = "host") -> CrushMap:
    """root default -> rack{r} -> host{r}-{h} -> OSDs, straw2, one replicated rule
    (chooseleaf firstn over `failure_domain`): a stand-in for a real cluster's map."""
    crush = CrushMap()
    root = Bucket(-1, "default", crush.type_id("root"))
    crush.buckets[-1] = root
    next_id, osd = -2, 0
    for r in range(racks):
        rack = Bucket(next_id, f"rack{r}", crush.type_id("rack"))
        crush.buckets[next_id] = rack
        next_id -= 1
        for h in range(hosts_per_rack):
            host = Bucket(next_id, f"host{r}-{h}", crush.type_id("host"))
            crush.buckets[next_id] = host
            next_id -= 1
            for _ in range(osds_per_host):
                crush.devices[osd] = Device(osd, f"osd.{osd}", "hdd")
                host.items.append(osd)
                host.weights.append(weight_to_fixed(weight))
                osd += 1
            rack.items.append(host.id)
            rack.weights.append(host.weight)
        root.items.append(rack.id)
        root.weights.append(rack.weight)
    from cluster.crush import Rule, Step
    crush.rules[0] = Rule(0, "replicated_rule", "replicated", 1, 10, [
        Step("take", -1), Step("chooseleaf_firstn", 0, crush.type_id(failure_domain)),
        Step("emit")])
    return crush
