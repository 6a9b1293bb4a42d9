"""The OSDMap: the cluster map value the monitor publishes to OSDs and clients.

Invariants:

* immutable by convention: a published map is never changed. The monitor mutates the
  result of `copy_for_next_epoch()` (epoch + 1, empty placement cache) and publishes that;
* placement goes through `cluster.placement` only. The first lookup in a pool maps the
  whole pool with `map_pool` and caches the result on this map object, so the data path
  never runs CRUSH twice for the same PG and epoch. The cache is not pickled;
* `OsdInfo.in_` is `weight > 0` (out == reweight 0), kept so by the monitor;
* pool ids start at 1 and are never reused (`pool_max`); `pool_names` mirrors `pools`.
"""
from __future__ import annotations

import copy
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

from .crush import CrushMap, build_default_map
from .placement import (OsdStates, PgMapping, PoolPlacement, map_pg, map_pool, object_ps,
                        pg_seed)

__all__ = [
    "Pool", "OsdInfo", "OSDMap", "build_initial_osdmap", "pool_flag_names", "parse_pool_flags",
    "POOL_FLAGS", "OSDMAP_FLAGS", "SETTABLE_OSDMAP_FLAGS", "WARN_OSDMAP_FLAGS",
    "FLAG_HASHPSPOOL", "FLAG_SELFMANAGED_SNAPS", "FLAG_POOL_SNAPS", "DEFAULT_OSDMAP_FLAGS",
]

# pg_pool_t flag bits (osd_types.h), in the order Ceph prints them
POOL_FLAGS = {
    "hashpspool": 1 << 0, "full": 1 << 1, "ec_overwrites": 1 << 2, "incomplete_clones": 1 << 3,
    "nodelete": 1 << 4, "nopgchange": 1 << 5, "nosizechange": 1 << 6,
    "write_fadvise_dontneed": 1 << 7, "noscrub": 1 << 8, "nodeep-scrub": 1 << 9,
    "full_quota": 1 << 10, "nearfull": 1 << 11, "backfillfull": 1 << 12,
    "selfmanaged_snaps": 1 << 13, "pool_snaps": 1 << 14, "creating": 1 << 15, "eio": 1 << 16,
    "bulk": 1 << 17,
}
FLAG_HASHPSPOOL = POOL_FLAGS["hashpspool"]
FLAG_SELFMANAGED_SNAPS = POOL_FLAGS["selfmanaged_snaps"]
FLAG_POOL_SNAPS = POOL_FLAGS["pool_snaps"]

# CEPH_OSDMAP_* bits (rados.h), in the order OSDMap::get_flag_string prints them
OSDMAP_FLAGS = {
    "nearfull": 1 << 0, "full": 1 << 1, "pauserd": 1 << 2, "pausewr": 1 << 3,
    "pauserec": 1 << 4, "noup": 1 << 5, "nodown": 1 << 6, "noout": 1 << 7, "noin": 1 << 8,
    "nobackfill": 1 << 9, "norebalance": 1 << 14, "norecover": 1 << 10, "noscrub": 1 << 11,
    "nodeep-scrub": 1 << 12, "notieragent": 1 << 13, "nosnaptrim": 1 << 21,
    "sortbitwise": 1 << 15, "require_jewel_osds": 1 << 16, "require_kraken_osds": 1 << 17,
    "require_luminous_osds": 1 << 18, "recovery_deletes": 1 << 19, "purged_snapdirs": 1 << 20,
    "pglog_hardlimit": 1 << 22,
}
# what `ceph osd set/unset` accepts ('pause' is pauserd + pausewr)
SETTABLE_OSDMAP_FLAGS = ("full", "pause", "noup", "nodown", "noout", "noin", "nobackfill",
                         "norebalance", "norecover", "noscrub", "nodeep-scrub", "notieragent",
                         "nosnaptrim", "pglog_hardlimit")
# flags that raise the OSDMAP_FLAGS health warning
WARN_OSDMAP_FLAGS = ("full", "pauserd", "pausewr", "noup", "nodown", "noout", "noin",
                     "nobackfill", "norebalance", "norecover", "noscrub", "nodeep-scrub",
                     "notieragent", "nosnaptrim")
# a fresh Pacific cluster's flags
DEFAULT_OSDMAP_FLAGS = frozenset({"sortbitwise", "recovery_deletes", "purged_snapdirs",
                                  "pglog_hardlimit"})


def pool_flag_names(flags: int) -> str:
    """Ceph's `flags_names`: the set pool flags, comma separated, in bit order."""
    return ",".join(name for name, bit in POOL_FLAGS.items() if flags & bit)


def parse_pool_flags(names) -> int:
    """The bit mask of an iterable of pool flag names; KeyError for an unknown one."""
    value = 0
    for name in names:
        value |= POOL_FLAGS[name]
    return value


@dataclass
class Pool:
    """A pool (pg_pool_t). `flags` is the pg_pool_t bit mask (POOL_FLAGS);
    `snap_mode` is '' until the first snapshot, then 'pool' or 'selfmanaged' for good;
    `snaps` holds the pool snapshots {snapid: (name, stamp)}; `removed_snaps` the removed
    snap ids of either kind (what the OSDs trim); quotas 0 = none; `last_change` is the
    epoch of the last change; stamps are seconds since the epoch."""
    id: int
    name: str
    type: str = "replicated"
    size: int = 3
    min_size: int = 2
    pg_num: int = 32
    pgp_num: int = 32
    pg_num_target: int = 32
    pgp_num_target: int = 32
    crush_rule: int = 0
    flags: int = FLAG_HASHPSPOOL
    application_metadata: dict[str, dict[str, str]] = field(default_factory=dict)
    snap_mode: str = ""
    snap_seq: int = 0
    snap_epoch: int = 0
    snaps: dict[int, tuple[str, float]] = field(default_factory=dict)
    removed_snaps: set[int] = field(default_factory=set)
    quota_max_bytes: int = 0
    quota_max_objects: int = 0
    last_change: int = 0
    auid: int = 0
    object_hash: int = 2
    create_time: float = 0.0
    pg_autoscale_mode: str = "off"

    @property
    def hashpspool(self) -> bool:
        return bool(self.flags & FLAG_HASHPSPOOL)

    @property
    def erasure(self) -> bool:
        return self.type == "erasure"

    def has_flag(self, name: str) -> bool:
        return bool(self.flags & POOL_FLAGS[name])

    def flag_names(self) -> str:
        return pool_flag_names(self.flags)

    def snap_by_name(self, name: str) -> Optional[int]:
        """The id of the pool snapshot called `name`, or None."""
        for snapid, (snap_name, _) in self.snaps.items():
            if snap_name == name:
                return snapid
        return None

    def placement(self) -> PoolPlacement:
        return PoolPlacement(self.id, self.pg_num, self.pgp_num, self.size, self.crush_rule,
                             erasure=self.erasure, hashpspool=self.hashpspool)


@dataclass
class OsdInfo:
    """One OSD's state. `weight` is the reweight in 0..1 (0 = out; `ceph osd reweight` may
    store more than 1, as Ceph does), `primary_affinity` 0..1; `up_from`/`up_thru`/`down_at`
    are epochs, `down_stamp` the time it went down (0 if up), `host` its CRUSH host."""
    exists: bool = True
    up: bool = True
    in_: bool = True
    weight: float = 1.0
    primary_affinity: float = 1.0
    host: Optional[str] = None
    up_from: int = 0
    up_thru: int = 0
    down_at: int = 0
    down_stamp: float = 0.0
    addr: str = ""
    uuid: str = ""


def _fixed(value: float) -> int:
    """A 0..1 float as a 16.16 int, truncated like Ceph's `(unsigned)(w * 0x10000)`."""
    return max(0, int(value * 0x10000))


@dataclass
class OSDMap:
    """The cluster map of one epoch (see the module docstring for the rules)."""
    epoch: int = 1
    fsid: str = ""
    created: float = 0.0
    modified: float = 0.0
    flags: set[str] = field(default_factory=lambda: set(DEFAULT_OSDMAP_FLAGS))
    pools: dict[int, Pool] = field(default_factory=dict)
    pool_names: dict[str, int] = field(default_factory=dict)
    pool_max: int = 0
    osds: dict[int, OsdInfo] = field(default_factory=dict)
    crush: CrushMap = field(default_factory=CrushMap)
    crush_version: int = 1
    namespaces: dict[int, set[str]] = field(default_factory=dict)
    pg_upmap: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    pg_upmap_items: dict[tuple[int, int], list[tuple[int, int]]] = field(default_factory=dict)
    pg_temp: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    primary_temp: dict[tuple[int, int], int] = field(default_factory=dict)
    blocklist: dict[str, float] = field(default_factory=dict)   # addr -> expiry stamp
    last_up_change: float = 0.0
    last_in_change: float = 0.0
    full_ratio: float = 0.95
    backfillfull_ratio: float = 0.9
    nearfull_ratio: float = 0.85
    # per map object, never pickled nor copied: pool id -> [PgMapping by seed], and the
    # values of `derived(key, ...)` under their tuple keys
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)
    _states: Optional[OsdStates] = field(default=None, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    # -- pickling: no cache, no lock --------------------------------------------------------
    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_cache"] = {}
        state["_states"] = None
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- lookups ------------------------------------------------------------------------
    def get_pool(self, name_or_id: Union[str, int]) -> Optional[Pool]:
        """The pool with this name (str) or id (int), or None."""
        if isinstance(name_or_id, str):
            pool_id = self.pool_names.get(name_or_id)
            return None if pool_id is None else self.pools.get(pool_id)
        if isinstance(name_or_id, int) and not isinstance(name_or_id, bool):
            return self.pools.get(name_or_id)
        return None

    @property
    def max_osd(self) -> int:
        return max(self.osds, default=-1) + 1

    @property
    def num_osds(self) -> int:
        return sum(1 for o in self.osds.values() if o.exists)

    @property
    def num_up_osds(self) -> int:
        return sum(1 for o in self.osds.values() if o.exists and o.up)

    @property
    def num_in_osds(self) -> int:
        return sum(1 for o in self.osds.values() if o.exists and o.in_)

    def is_up(self, osd: int) -> bool:
        info = self.osds.get(osd)
        return bool(info and info.exists and info.up)

    def osd_states(self) -> OsdStates:
        """The placement view of the OSDs (16.16 weights), indexed by OSD id; cached."""
        states = self._states
        if states is None:
            n = self.max_osd
            exists, up = [False] * n, [False] * n
            weight, affinity = [0] * n, [0x10000] * n
            for osd, info in self.osds.items():
                exists[osd] = info.exists
                up[osd] = info.exists and info.up
                weight[osd] = _fixed(info.weight) if info.exists else 0
                affinity[osd] = min(_fixed(info.primary_affinity), 0xFFFFFFFF)
            states = OsdStates(exists, up, weight, affinity, dict(self.pg_upmap),
                               dict(self.pg_upmap_items), dict(self.pg_temp),
                               dict(self.primary_temp))
            self._states = states
        return states

    # -- placement ----------------------------------------------------------------------
    def object_locator_to_pg(self, pool_id: int, oid: Union[str, bytes], nspace: str = "",
                             key: str = "") -> int:
        """The PG seed of an object (locator `key` hashed instead of `oid` if non-empty).
        KeyError for an unknown pool."""
        pool = self.pools[pool_id]
        return pg_seed(object_ps(oid, nspace, key), pool.pg_num)

    def _pool_mappings(self, pool_id: int) -> list[PgMapping]:
        rows = self._cache.get(pool_id)
        if rows is None:
            pool = self.pools[pool_id]
            with self._lock:
                rows = self._cache.get(pool_id)
                if rows is None:
                    rows = map_pool(self.crush, pool.placement(), self.osd_states())
                    self._cache[pool_id] = rows
        return rows

    def pg_to_up_acting(self, pool_id: int, seed: int) -> PgMapping:
        """Raw, up and acting sets of PG `pool_id.seed` in this epoch (cached per pool).
        KeyError for an unknown pool, IndexError for a seed outside 0..pg_num-1."""
        rows = self._pool_mappings(pool_id)
        if not 0 <= seed < len(rows):
            raise IndexError(f"pg {pool_id}.{seed:x} does not exist")
        return rows[seed]

    def pg_to_acting(self, pool_id: int, seed: int) -> tuple[list[int], int]:
        """(acting set, acting primary) of PG `pool_id.seed`; same errors as pg_to_up_acting."""
        m = self.pg_to_up_acting(pool_id, seed)
        return m.acting, m.acting_primary

    def map_pg_uncached(self, pool_id: int, seed: int) -> PgMapping:
        """One PG through `cluster.placement.map_pg`, bypassing the cache (for checks)."""
        return map_pg(self.crush, self.pools[pool_id].placement(), seed, self.osd_states())

    def pool_mappings(self, pool_id: int) -> list[PgMapping]:
        """Every PG of the pool, index = seed (cached). KeyError for an unknown pool."""
        return list(self._pool_mappings(pool_id))

    def derived(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """`compute()`, once per map object and `key`: a view of this epoch that many
        readers share (OSDs of one process deriving their PG mappings), cached beside the
        placement rows and, like them, not pickled."""
        value = self._cache.get(key)
        if value is None:
            value = compute()
            self._cache[key] = value
        return value

    # -- epochs -------------------------------------------------------------------------
    def copy_for_next_epoch(self, stamp: Optional[float] = None) -> "OSDMap":
        """A deep copy with epoch + 1 (and `modified` = stamp if given) and an empty
        placement cache: mutate it, then publish it. The CRUSH map is shared, so replace
        `crush` rather than change it in place."""
        new = OSDMap.__new__(OSDMap)
        state = {k: v for k, v in self.__dict__.items()
                 if k not in ("_cache", "_states", "_lock", "crush", "bootstrap_options")}
        new.__dict__.update(copy.deepcopy(state))
        new.crush = self.crush
        new._cache = {}
        new._states = None
        new._lock = threading.Lock()
        new.epoch = self.epoch + 1
        if stamp is not None:
            new.modified = stamp
        return new

    def invalidate_placement(self) -> None:
        """Drop cached placement (only for a map that is still being built)."""
        self._cache = {}
        self._states = None

    def crush_location(self, item: int) -> list[tuple[str, str]]:
        """[(type name, bucket name)] from the root down to the parent of `item`
        (non-shadow buckets; the first parent found at each level)."""
        path: list[tuple[str, str]] = []
        current = item
        for _ in range(len(self.crush.buckets) + 1):
            parent = None
            for b in self.crush.buckets.values():
                if not b.is_shadow and current in b.items:
                    parent = b
                    break
            if parent is None:
                break
            path.append((self.crush.types.get(parent.type_id, str(parent.type_id)), parent.name))
            current = parent.id
        return list(reversed(path))


# --- bootstrap -----------------------------------------------------------------------------


def _pool_defaults(conf) -> dict:
    size = conf.get_typed("osd_pool_default_size")
    min_size = conf.get_typed("osd_pool_default_min_size") or size - size // 2
    pg_num = conf.get_typed("osd_pool_default_pg_num")
    pgp_num = conf.get_typed("osd_pool_default_pgp_num") or pg_num
    return {"size": size, "min_size": min(min_size, size), "pg_num": pg_num,
            "pgp_num": min(pgp_num, pg_num),
            "hashpspool": conf.get_typed("osd_pool_default_flag_hashpspool")}


def mon_options_from_conf(conf) -> dict:
    """The config values the monitor needs after bootstrap (typed)."""
    names = ("osd_pool_default_size", "osd_pool_default_min_size", "osd_pool_default_pg_num",
             "osd_pool_default_pgp_num", "osd_pool_default_flag_hashpspool",
             "osd_pool_default_crush_rule", "mon_allow_pool_delete", "mon_allow_pool_size_one",
             "mon_max_pool_pg_num", "mon_max_pg_per_osd", "mon_warn_on_pool_no_redundancy",
             "mon_osd_down_out_interval", "memstore_device_bytes")
    return {name: conf.get_typed(name) for name in names}


def _resolve_path(conf, path: str) -> str:
    path = os.path.expanduser(path)
    if os.path.isabs(path):
        return path
    for source in reversed(getattr(conf, "source_files", [])):
        candidate = os.path.join(os.path.dirname(source), path)
        if os.path.exists(candidate):
            return candidate
    return os.path.abspath(path)


def _load_crush(conf) -> CrushMap:
    path = conf.get("rayceph_crush_map")
    if path:
        from .crush_text import parse_crush_text

        full = _resolve_path(conf, path)
        try:
            with open(full, encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise ValueError(f"crush map: cannot read {full!r}: {exc.strerror}") from None
        try:
            crush = parse_crush_text(text)
        except ValueError as exc:
            raise ValueError(f"crush map: {full}: {exc}") from None
        if not crush.devices:
            raise ValueError(f"crush map: {full} has no devices")
        return crush
    hosts = conf.get_typed("rayceph_hosts")
    per_host = conf.get_typed("rayceph_osds_per_host")
    layout = [(f"host{h}", [(h * per_host + i, 1.0) for i in range(per_host)])
              for h in range(hosts)]
    leaf_type_id = conf.get_typed("osd_crush_chooseleaf_type")
    from .crush import DEFAULT_TYPES

    leaf_type = DEFAULT_TYPES.get(leaf_type_id)
    if leaf_type is None:
        raise ValueError(f"osd_crush_chooseleaf_type: unknown type id {leaf_type_id}")
    return build_default_map(layout, chooseleaf_type=leaf_type)


def first_replicated_rule(crush: CrushMap) -> int:
    """Pacific's default for a new replicated pool: the lowest replicated rule id (-1 if none)."""
    ids = [r.id for r in crush.rules.values() if r.type == "replicated"]
    return min(ids) if ids else -1


def build_initial_osdmap(conf, fsid: str, stamp: Optional[float] = None) -> OSDMap:
    """The epoch-1 map of a new cluster described by `conf` (a CephConfig).

    OSDs: `hosts` hosts `host0..` with `osds per host` OSDs each (ids in host order, CRUSH
    weight 1.0) or, with `crush map`, that text map's devices and host buckets. All OSDs up
    and in. The `pools` are created with the config's pool defaults; pool `rbd` gets
    application `rbd`. Raises ValueError naming the key for an invalid config.
    The monitor-side options are left in `map.bootstrap_options` (not part of later epochs).
    """
    import time

    conf.validate()
    now = time.time() if stamp is None else stamp
    crush = _load_crush(conf)
    osdmap = OSDMap(epoch=1, fsid=fsid, created=now, modified=now, crush=crush,
                    last_up_change=now, last_in_change=now)
    for osd in sorted(crush.devices):
        osdmap.osds[osd] = OsdInfo(host=crush.host_of(osd), up_from=1,
                                   addr=f"127.0.0.1:{6800 + osd}/{osd + 1}",
                                   uuid=f"00000000-0000-4000-8000-{osd:012x}")
    defaults = _pool_defaults(conf)
    rule = conf.get_typed("osd_pool_default_crush_rule")
    if rule < 0:
        rule = first_replicated_rule(crush)
    elif rule not in crush.rules:
        raise ValueError(f"osd_pool_default_crush_rule: rule {rule} does not exist")
    for name in conf.pool_names():
        osdmap.pool_max += 1
        pool = Pool(id=osdmap.pool_max, name=name, size=defaults["size"],
                    min_size=defaults["min_size"], pg_num=defaults["pg_num"],
                    pgp_num=defaults["pgp_num"], pg_num_target=defaults["pg_num"],
                    pgp_num_target=defaults["pgp_num"], crush_rule=rule,
                    flags=FLAG_HASHPSPOOL if defaults["hashpspool"] else 0,
                    last_change=1, create_time=now)
        if name == "rbd":
            pool.application_metadata["rbd"] = {}
        osdmap.pools[pool.id] = pool
        osdmap.pool_names[name] = pool.id
    osdmap.bootstrap_options = mon_options_from_conf(conf)
    return osdmap
