"""Object -> PG -> OSDs as Pacific's OSDMap computes it (spec/crush.md §2 and §6).

Pure functions with explicit parameters; the OSDMap class calls them with its own state.

* `object_ps` (§2.1): the 32-bit object hash (rjenkins; namespace joined with 0x1F).
* `pg_mask`, `stable_mod`, `pg_seed`, `pps` (§2.2, §2.3): PG seed and CRUSH input.
* `map_pg` (§6): raw CRUSH result (non-existent OSDs dropped) -> pg_upmap / pg_upmap_items
  -> up (down OSDs dropped) -> primary affinity -> acting (pg_temp / primary_temp).
* `map_pool`: `map_pg` for every PG of a pool, with the CRUSH part vectorised.

Invariants: replicated pools "can shift" (removed OSDs compact the list), erasure pools
keep positions (removed OSDs become CRUSH_ITEM_NONE, since a position is a shard id);
`map_pool(...)[seed] == map_pg(..., seed, ...)` for every seed; nothing here mutates its
arguments.
"""
from __future__ import annotations

import functools

from dataclasses import dataclass, field
from typing import Optional, Union

import numpy as np

from .crush import CRUSH_ITEM_NONE, CrushMap
from .rjenkins import crush_hash32_2, hash32_2_np, str_hash_rjenkins

__all__ = [
    "CRUSH_ITEM_NONE", "DEFAULT_PRIMARY_AFFINITY", "object_ps", "pg_mask", "stable_mod",
    "pg_seed", "pps", "pool_pps", "PoolPlacement", "OsdStates", "PgMapping", "map_pg",
    "map_pool",
]

DEFAULT_PRIMARY_AFFINITY = 0x10000   # also the maximum
_NSPACE_SEP = b"\x1f"
_M32 = 0xFFFFFFFF


def _bytes(v: Union[str, bytes]) -> bytes:
    if isinstance(v, str):
        return v.encode("utf-8")
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    raise TypeError(f"expected str or bytes, got {type(v).__name__}")


# The data path maps the same objects over and over (an image's data objects): hashing in
# pure Python costs ~14 us, a cache hit well under 1 us. The seed never depends on the map.
@functools.lru_cache(maxsize=1 << 16)
def object_ps(name: Union[str, bytes], nspace: str = "", locator: str = "",
              explicit_hash: int = -1) -> int:
    """The object's raw placement seed `ps` (§2.1).

    An explicit locator hash (>= 0) is used as is; otherwise rjenkins of the locator key
    (if non-empty) or the name, prefixed by `nspace + 0x1F` for a non-empty namespace.
    Raises TypeError for a name that is neither str nor bytes.
    """
    if explicit_hash >= 0:
        return explicit_hash & _M32
    key = _bytes(locator) if locator else _bytes(name)
    if nspace:
        key = _bytes(nspace) + _NSPACE_SEP + key
    return str_hash_rjenkins(key)


def pg_mask(n: int) -> int:
    """`2^bits(n - 1) - 1`: the mask of pg_num / pgp_num `n` (1 -> 0, 12 -> 15). n >= 1."""
    if n < 1:
        raise ValueError(f"pg_num must be >= 1, got {n}")
    return (1 << (n - 1).bit_length()) - 1


def stable_mod(x: int, b: int, bmask: int) -> int:
    """Ceph's stable modulo: `x & bmask` if below `b`, else `x & (bmask >> 1)`."""
    return x & bmask if (x & bmask) < b else x & (bmask >> 1)


def pg_seed(ps: int, pg_num: int) -> int:
    """The PG seed (`pg.ps()`, printed in hex after the pool id) of raw seed `ps`."""
    return stable_mod(ps, pg_num, pg_mask(pg_num))


def pps(pool_id: int, seed: int, pgp_num: int, hashpspool: bool = True) -> int:
    """The CRUSH input of a PG (§2.3): hash2(stable_mod(seed, pgp_num), pool) or, without
    HASHPSPOOL, their sum (mod 2^32)."""
    s = stable_mod(seed, pgp_num, pg_mask(pgp_num))
    if hashpspool:
        return crush_hash32_2(s, pool_id)
    return (s + pool_id) & _M32


@dataclass(frozen=True)
class PoolPlacement:
    """What placement needs to know about a pool."""
    pool_id: int
    pg_num: int
    pgp_num: int
    size: int
    crush_rule: int
    erasure: bool = False
    hashpspool: bool = True

    @property
    def can_shift_osds(self) -> bool:
        """Replicated pools compact their OSD lists; erasure pools keep positions."""
        return not self.erasure


PgKey = tuple[int, int]   # (pool id, PG seed)


@dataclass
class OsdStates:
    """Per-OSD state of an OSDMap, index = OSD id (`max_osd` = len(exists)).

    `weight` is the 16.16 reweight (0x10000 in, 0 out) passed to CRUSH, `primary_affinity`
    16.16 (0x10000 default). The dicts are keyed by (pool id, PG seed): `pg_upmap` -> full
    OSD list, `pg_upmap_items` -> [(from, to)], `pg_temp` -> OSD list, `primary_temp` -> OSD.
    """
    exists: list[bool]
    up: list[bool]
    weight: list[int]
    primary_affinity: list[int]
    pg_upmap: dict[PgKey, list[int]] = field(default_factory=dict)
    pg_upmap_items: dict[PgKey, list[tuple[int, int]]] = field(default_factory=dict)
    pg_temp: dict[PgKey, list[int]] = field(default_factory=dict)
    primary_temp: dict[PgKey, int] = field(default_factory=dict)

    @property
    def max_osd(self) -> int:
        return len(self.exists)

    def osd_exists(self, osd: int) -> bool:
        return 0 <= osd < len(self.exists) and self.exists[osd]

    def is_up(self, osd: int) -> bool:
        return self.osd_exists(osd) and osd < len(self.up) and self.up[osd]

    def _is_marked_out(self, osd: int) -> bool:
        """A valid OSD id with reweight 0 (upmap targets like that are refused)."""
        return osd != CRUSH_ITEM_NONE and 0 <= osd < len(self.exists) and \
            (osd >= len(self.weight) or self.weight[osd] == 0)

    @classmethod
    def all_up(cls, n: int) -> "OsdStates":
        """n OSDs that exist, are up and in, with default primary affinity."""
        return cls([True] * n, [True] * n, [0x10000] * n, [DEFAULT_PRIMARY_AFFINITY] * n)


@dataclass(frozen=True)
class PgMapping:
    """Where one PG lives. `raw` is CRUSH's answer minus non-existent OSDs (before upmap);
    primaries are -1 when there is none; erasure pools may hold CRUSH_ITEM_NONE."""
    raw: list[int]
    up: list[int]
    up_primary: int
    acting: list[int]
    acting_primary: int


# --- the §6 pipeline, one PG at a time -----------------------------------------------------


def _rule_for(crush: CrushMap, pool: PoolPlacement) -> int:
    # Pacific's find_rule also checks the rule type and min_size <= size <= max_size
    # (checked with osdmaptool 16.2.15: a mismatch maps every PG to []).
    return crush.find_rule(pool.crush_rule, "erasure" if pool.erasure else "replicated",
                           pool.size)


def _remove_nonexistent(pool: PoolPlacement, osds: list[int], st: OsdStates) -> list[int]:
    if pool.can_shift_osds:
        return [o for o in osds if st.osd_exists(o)]
    return [o if st.osd_exists(o) else CRUSH_ITEM_NONE for o in osds]


def _apply_upmap(key: PgKey, raw: list[int], st: OsdStates) -> list[int]:
    explicit = st.pg_upmap.get(key)
    if explicit is not None:
        if any(st._is_marked_out(o) for o in explicit):
            # Ceph returns here: a refused pg_upmap also skips pg_upmap_items.
            return raw
        raw = list(explicit)
    items = st.pg_upmap_items.get(key)
    if items:
        raw = list(raw)
        for frm, to in items:
            if to in raw:
                continue                   # no duplicates, so no bidirectional swaps
            if st._is_marked_out(to):
                continue
            for i, o in enumerate(raw):
                if o == frm:
                    raw[i] = to
                    break
    return raw


def _raw_to_up(pool: PoolPlacement, raw: list[int], st: OsdStates) -> list[int]:
    if pool.can_shift_osds:
        return [o for o in raw if st.is_up(o)]
    return [o if st.is_up(o) else CRUSH_ITEM_NONE for o in raw]


def _pick_primary(osds: list[int]) -> int:
    for o in osds:
        if o != CRUSH_ITEM_NONE:
            return o
    return -1


def _apply_primary_affinity(pool: PoolPlacement, x: int, up: list[int], primary: int,
                            st: OsdStates) -> tuple[list[int], int]:
    aff = st.primary_affinity
    if not any(o != CRUSH_ITEM_NONE and o < len(aff) and aff[o] != DEFAULT_PRIMARY_AFFINITY
               for o in up):
        return up, primary
    pos = -1
    for i, o in enumerate(up):
        if o == CRUSH_ITEM_NONE:
            continue
        a = aff[o] if o < len(aff) else DEFAULT_PRIMARY_AFFINITY
        # the top 16 bits of the hash against the 16.16 affinity (§6 step 5)
        if a < DEFAULT_PRIMARY_AFFINITY and (crush_hash32_2(x, o) >> 16) >= a:
            if pos < 0:
                pos = i                    # rejected, but the fallback if all are
        else:
            pos = i
            break
    if pos < 0:
        return up, primary
    primary = up[pos]
    if pool.can_shift_osds and pos > 0:
        up = [primary] + up[:pos] + up[pos + 1:]
    return up, primary


def _temp(pool: PoolPlacement, key: PgKey, st: OsdStates) -> tuple[list[int], int]:
    temp: list[int] = []
    for o in st.pg_temp.get(key, []):
        if st.is_up(o):
            temp.append(o)
        elif not pool.can_shift_osds:
            temp.append(CRUSH_ITEM_NONE)
    if key in st.primary_temp:
        return temp, st.primary_temp[key]
    return temp, _pick_primary(temp)


def _finish(pool: PoolPlacement, seed: int, x: int, raw: list[int], st: OsdStates) -> PgMapping:
    """Everything after CRUSH: steps 1 (tail) to 6 of §6."""
    key = (pool.pool_id, seed)
    raw = _remove_nonexistent(pool, raw, st)
    upmapped = _apply_upmap(key, raw, st) if (st.pg_upmap or st.pg_upmap_items) else raw
    up = _raw_to_up(pool, upmapped, st)
    up, up_primary = _apply_primary_affinity(pool, x, up, _pick_primary(up), st)
    acting, acting_primary = _temp(pool, key, st) if (st.pg_temp or st.primary_temp) \
        else ([], -1)
    if not acting:
        acting = list(up)
        if acting_primary == -1:
            acting_primary = up_primary
    return PgMapping(raw, up, up_primary, acting, acting_primary)


def map_pg(crush: CrushMap, pool: PoolPlacement, seed: int, osds: OsdStates) -> PgMapping:
    """Raw, up and acting sets of PG `pool.pool_id`.`seed` (§6).

    CRUSH runs with the pool's rule (if Pacific's find_rule accepts it for this pool),
    x = pps, result_max = pool.size, the OSD reweights and the pool's choose_args
    (falling back to the -1 set).
    """
    x = pps(pool.pool_id, seed, pool.pgp_num, pool.hashpspool)
    rule = _rule_for(crush, pool)
    raw = [] if rule < 0 else crush.do_rule(rule, x, pool.size, osds.weight,
                                             choose_args_key=pool.pool_id)
    return _finish(pool, seed, x, raw, osds)


def pool_pps(pool: PoolPlacement, seeds: Optional[np.ndarray] = None) -> np.ndarray:
    """pps of every PG seed (default 0 … pg_num-1) as a uint32 array, vectorised."""
    if seeds is None:
        seeds = np.arange(pool.pg_num, dtype=np.int64)
    seeds = np.asarray(seeds, dtype=np.int64)
    mask = pg_mask(pool.pgp_num)
    s = np.where((seeds & mask) < pool.pgp_num, seeds & mask, seeds & (mask >> 1))
    if pool.hashpspool:
        return hash32_2_np(s.astype(np.uint32), np.uint32(pool.pool_id & _M32))
    return ((s + pool.pool_id) & _M32).astype(np.uint32)


def map_pool(crush: CrushMap, pool: PoolPlacement, osds: OsdStates) -> list[PgMapping]:
    """`map_pg` for every PG of the pool (index = seed), with CRUSH run by `map_many`."""
    xs = pool_pps(pool)
    rule = _rule_for(crush, pool)
    if rule < 0:
        rows = [[] for _ in range(pool.pg_num)]
    else:
        table, lens = crush.map_many(rule, xs, pool.size, osds.weight,
                                     choose_args_key=pool.pool_id, return_lengths=True)
        rows = [row[:n] for row, n in zip(table.tolist(), lens.tolist())]
    return [_finish(pool, seed, x, raw, osds)
            for seed, (x, raw) in enumerate(zip(xs.tolist(), rows))]
