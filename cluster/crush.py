"""CRUSH: the map model and `do_rule`, bit-exact with Ceph Pacific (spec/crush.md).

What lives here:

* `crush_ln` (§4.2) with the literal `LL` table (Appendix A) and the generated RH/LH
  table (§4.3); `LN_TABLE` holds `crush_ln(u) - 2^48` for every 16-bit `u`.
* the map model (§5.1): `Device`, `Bucket`, `Step`, `Rule`, `CrushMap`;
* the reference mapper `CrushMap.do_rule` (§5.3-§5.8): firstn / indep, choose /
  chooseleaf, multi-step rules, partial reweights, choose_args, straw2, uniform and list
  buckets (straw v1 and tree raise NotImplementedError);
* the bulk mapper `CrushMap.map_many`, numpy-vectorised for straw2 maps with
  "no local retries" tunables (bobtail and later, i.e. every modern map); it falls back
  to `do_rule` row by row for anything else. For every input it returns what `do_rule`
  returns (the unit tests compare them on thousands of inputs);
* `build_default_map`, the map a fresh Pacific cluster builds (§8).

Invariants kept by this module:

* item ids: devices >= 0, buckets < 0 and stored in slot `-1 - id`; every hash input
  is reduced to its u32 pattern;
* weights are unsigned 16.16 fixed point ints (0x10000 == 1.0); a parent's stored item
  weight is what straw2 uses, never the child's recomputed total (§4.1);
* `do_rule` and `map_many` never mutate the map; no module state other than the constant
  tables below.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Iterable, Optional

import numpy as np

from .rjenkins import crush_hash32_2, crush_hash32_3, crush_hash32_4, hash32_2_np, hash32_3_rows

__all__ = [
    "CRUSH_ITEM_NONE", "CRUSH_ITEM_UNDEF", "DEFAULT_CHOOSE_ARGS", "BUCKET_ALGS",
    "RULE_TYPES", "STEP_OPS", "TUNABLE_NAMES", "TUNABLE_PROFILES", "DEFAULT_TYPES",
    "LL_TABLE", "RH_LH_TABLE", "LN_TABLE", "crush_ln", "weight_to_fixed",
    "Device", "Bucket", "Step", "Rule", "CrushMap", "build_default_map",
]

CRUSH_ITEM_NONE = 0x7FFFFFFF   # a hole in an indep result; printed 2147483647
CRUSH_ITEM_UNDEF = 0x7FFFFFFE  # internal to indep only
DEFAULT_CHOOSE_ARGS = -1       # the "compat" weight-set key (u64 18446744073709551615)

BUCKET_ALGS = {"uniform": 1, "list": 2, "tree": 3, "straw": 4, "straw2": 5}
RULE_TYPES = {"replicated": 1, "erasure": 3}
# Step op names; the numbers are Ceph's rule op codes (§5.1).
STEP_OPS = {
    "noop": 0, "take": 1, "choose_firstn": 2, "choose_indep": 3, "emit": 4,
    "chooseleaf_firstn": 6, "chooseleaf_indep": 7, "set_choose_tries": 8,
    "set_chooseleaf_tries": 9, "set_choose_local_tries": 10,
    "set_choose_local_fallback_tries": 11, "set_chooseleaf_vary_r": 12,
    "set_chooseleaf_stable": 13,
}
TUNABLE_NAMES = (
    "choose_local_tries", "choose_local_fallback_tries", "choose_total_tries",
    "chooseleaf_descend_once", "chooseleaf_vary_r", "chooseleaf_stable",
    "straw_calc_version", "allowed_bucket_algs",
)


def _profile(local, fallback, total, descend, vary_r, stable, calc, algs):
    return dict(zip(TUNABLE_NAMES, (local, fallback, total, descend, vary_r, stable, calc, algs)))


# §5.1 profiles; allowed_bucket_algs 22 = uniform|list|straw, 54 adds straw2.
TUNABLE_PROFILES = {
    "legacy": _profile(2, 5, 19, 0, 0, 0, 0, 22),
    "argonaut": _profile(2, 5, 19, 0, 0, 0, 0, 22),
    "bobtail": _profile(0, 0, 50, 1, 0, 0, 0, 22),
    "firefly": _profile(0, 0, 50, 1, 1, 0, 0, 22),
    "hammer": _profile(0, 0, 50, 1, 1, 0, 0, 54),
    "jewel": _profile(0, 0, 50, 1, 1, 1, 1, 54),
}
TUNABLE_PROFILES["optimal"] = TUNABLE_PROFILES["default"] = TUNABLE_PROFILES["jewel"]

DEFAULT_TYPES = {
    0: "osd", 1: "host", 2: "chassis", 3: "rack", 4: "row", 5: "pdu", 6: "pod",
    7: "room", 8: "datacenter", 9: "zone", 10: "region", 11: "root",
}

_M32 = 0xFFFFFFFF
_S64_MIN = -(1 << 63)

# --- crush_ln (§4.2, §4.3) -------------------------------------------------------------

# Appendix A, byte-for-byte from Pacific's libceph-common; it cannot be regenerated from
# the formula in Ceph's comment (23 entries are irregular), so it is kept literally.
_LL_HEX = """
  0: 00000000000 002e2a60a00 0070cb64ec5 009ef50ce67 00cd1e588fd 00fb4747e9c 01296fdaf5e 01579811b58
  8: 0185bfec2a1 01b3e76a552 01e20e8c380 02103551d43 023e5bbb2b2 026c81c83e4 029aa7790f0 02c8cccd9ed
 16: 02f6f1c5ef2 03251662017 03533aa1d71 03815e8571a 03af820cd26 03dda537fae 040bc806ec8 0439ea79a8c
 24: 04680c90310 04962e4a86c 04c44fa8ab6 04f270aaa06 05209150672 054eb19a013 057cd1876fd 05aaf118b4a
 32: 05d9104dd0f 06072f26c64 06354da3960 06636bc441a 06918988ca8 06bfa6f1322 06edc3fd79f 071be0ada35
 40: 0749fd01afd 077818f9a0c 07a6349577a 07d44fd535e 08026ab8dce 083085406e3 085e9f6beb2 088cb93b552
 48: 08bad2aeadc 08e8ebc5f65 09170481305 09451ce05d3 097334e37e5 09a14c8a953 09cf63d5a33 09fd7ac4a9d
 56: 0a2b07f3458 0a59a78ea6a 0a87bd699fb 0ab5d2e8970 0ae3e80b8e3 0b11fcd2869 0b40113d818 0b6e254c80a
 64: 0b9c38ff853 0bca4c5690c 0bf85f51a4a 0c2671f0c26 0c548433eb6 0c82961b211 0cb0a7a664d 0cdeb8d5b82
 72: 0d0cc9a91c8 0d3ada20933 0d68ea3c1dd 0d96f9fbbdb 0dc5095f744 0df31867430 0e2127132b5 0e4f35632ea
 80: 0e7d43574e6 0eab50ef8c1 0ed95e2be90 0f076b0c66c 0f35779106a 0f6383b9ca2 0f918f86b2a 0fbf9af7c1a
 88: 0feda60cf88 101bb0c658c 1049bb23e3c 1077c5259af 10a5cecb7fc 10d3d81593a 1101e103d7f 112fe9964e4
 96: 115df1ccf7e 118bf9a7d64 11ba0126ead 11e8084a371 12160f11bc6 1244157d7c3 12721b8d77f 12a02141b10
104: 12ce269a28e 12fc2b96e0f 132a3037daa 1358347d177 1386386698c 13b43bf45ff 13e23f266e9 141041fcc5e
112: 143e4477678 146c469654b 149a48598f0 14c849c117c 14f64accf08 15244b7d1a9 15524bd1976 15804bca687
120: 15ae4b678f2 15dc4aa90ce 160a498ee31 16384819134 166646479ec 1694441a870 16c24191cd7 16df6ca19bd
128: 171e3b6d7aa 174c37d1e44 177a33dab1c 17a82f87e49 17d62ad97e2 180425cf7fe 182b07f3458 18601aa8c19
136: 188e148c046 18bc0e13b52 18ea073fd52 1918001065d 1945f88568b 1973f09edf2 19a1e85ccaa 19cfdfbf2c8
144: 19fdd6c6063 1a2bcd71593 1a59c3c126e 1a87b9b570b 1ab5af4e380 1ae3a48b7e5 1b11996d450 1b3f8df38d9
152: 1b6d821e595 1b9b75eda9b 1bc96961803 1bf75c79de3 1c254f36c51 1c534198365 1c81339e336 1caf2548bd9
160: 1cdd1697d67 1d0b078b7f5 1d38f823b9a 1d66e86086d 1d94d841e86 1dc2c7c7df9 1df0b6f26df 1e1ea5c194e
168: 1e4c943555d 1e7a824db23 1ea8700aab5 1ed65d6c42b 1f044a7279d 1f32371d51f 1f60236ccca 1f8e0f60eb3
176: 1fbbfaf9af3 1fe9e63719e 2017d1192cc 2045bb9fe94 2073a5cb50d 209c06e6212 20cf791026a 20fd622997c
184: 212b07f3458 2159334a8d8 21871b52150 21b502fe517 21d6a73a78f 2210d144eee 223eb7df52c 226c9e1e713
192: 229a84024bb 22c23679b4e 22f64eb83a8 2324338a51b 235218012a9 237ffc1cc69 23a2c3b0ea4 23d13ee805b
200: 24035e9221f 243788faf25 24656b4e735 247ed646bfe 24c12ee3d98 24ef1025c1a 251cf10c799 25492644d65
208: 2578b1c85ee 25a6919d8f0 25d13ee805b 26025036716 26296453882 265e0d62b53 268beb701f3 26b9c92265e
216: 26d32f798a9 271583758eb 2743601673b 27713c5c3b0 279f1846e5f 27ccf3d6761 27e6580aecb 2828a9e44b3
224: 28568462932 287bdbf5255 28b2384de4a 28d13ee805b 29035e9221f 29296453882 29699bdfb61 29902a37aab
232: 29c54b864c9 29deabd1083 2a20f9c0bb5 2a4c7605d61 2a7bdbf5255 2a96056dafc 2ac3daf14ef 2af1b019eca
240: 2b296453882 2b5d022d80f 2b8fa471cb3 2ba9012e713 2bd6d4901cc 2c04a796cf6 2c327a428a6 2c61a5e8f4c
248: 2c8e1e891f6 2cbbf023fc2 2ce9c163e6e 2d179248e13 2d4562d2ec6 2d73330209d 2da102d63b0 2dced24f814
"""
LL_TABLE: tuple[int, ...] = tuple(
    int(tok, 16) for line in _LL_HEX.strip().splitlines() for tok in line.split(":")[1].split()
)


def _make_rh_lh() -> tuple[int, ...]:
    """§4.3 `T`: RH(k) = ceil(2^55/(128+k)); LH(k) = floor(2^48 log2(1+k/128)), LH(128) special."""
    table = []
    with localcontext() as ctx:
        ctx.prec = 40  # high precision: float64 log2 happens to work, but with no margin
        ln2 = Decimal(2).ln()
        for k in range(129):
            rh = -((-(1 << 55)) // (128 + k))
            if k == 128:
                lh = 0x0000FFFF00000000  # Ceph's table ends below 2^48; reproduced on purpose
            else:
                lh = int((Decimal(1 << 48) * (Decimal(128 + k) / 128).ln() / ln2)
                         .to_integral_value(rounding="ROUND_FLOOR"))
            table += [rh, lh]
    return tuple(table)


RH_LH_TABLE: tuple[int, ...] = _make_rh_lh()


def crush_ln(u: int) -> int:
    """Fixed-point `2^44 * log2(u + 1)` for u in [0, 0xFFFF] exactly as Ceph computes it.

    Not monotonic at the top (crush_ln(0xfffe) > crush_ln(0xffff)), like Ceph.
    """
    v = (u & 0xFFFF) + 1
    e = 15
    if v < 0x8000:
        s = 16 - v.bit_length()   # shift so bit 15 becomes the top bit
        v <<= s
        e -= s
    k = (v >> 8) - 128
    rh, lh = RH_LH_TABLE[2 * k], RH_LH_TABLE[2 * k + 1]
    j = ((v * rh) >> 48) & 0xFF
    return (e << 44) + ((lh + LL_TABLE[j]) >> 4)


def _ln_table() -> np.ndarray:
    """`crush_ln(u) - 2^48` for all 65536 u, vectorised (same steps as `crush_ln`)."""
    v = np.arange(1, 0x10001, dtype=np.int64)
    bitlen = np.frexp(v.astype(np.float64))[1].astype(np.int64)   # exact for v <= 2^17
    s = np.maximum(0, 16 - bitlen)
    v = v << s
    e = 15 - s
    k = (v >> 8) - 128
    t = np.array(RH_LH_TABLE, dtype=np.uint64)
    rh, lh = t[2 * k], t[2 * k + 1].astype(np.int64)
    j = ((v.astype(np.uint64) * rh) >> np.uint64(48)).astype(np.int64) & 0xFF
    ll = np.array(LL_TABLE, dtype=np.int64)
    return (e << 44) + ((lh + ll[j]) >> 4) - (1 << 48)


LN_TABLE: np.ndarray = _ln_table()
LN_TABLE.flags.writeable = False
_LN_LIST: list[int] = LN_TABLE.tolist()   # the scalar mapper indexes a list: much faster
_LN_ORDER: np.ndarray = np.argsort(LN_TABLE, kind="stable")   # u sorted by crush_ln(u)


def weight_to_fixed(weight: float) -> int:
    """A float weight as Ceph stores it: float32(w) * 65536.0f, truncated (§8).

    Raises ValueError unless 0 <= weight < 65536 (the 16.16 range).
    """
    w = float(weight)
    if not 0.0 <= w < 65536.0:          # also rejects NaN; checked before float32 overflows
        raise ValueError(f"invalid CRUSH weight {weight!r}")
    return min(int(np.float32(w) * np.float32(65536.0)), 0xFFFFFFFF)


# --- the map model (§5.1) --------------------------------------------------------------


@dataclass
class Device:
    """A device (OSD): id >= 0, name (normally `osd.<id>`), optional device class."""
    id: int
    name: str
    device_class: Optional[str] = None


@dataclass
class Bucket:
    """A bucket: id < 0, items in order with their 16.16 weights as the bucket stores them.

    `alg` is one of BUCKET_ALGS' names; `hash` 0 is rjenkins1 (any other value makes the
    hash return 0, as in Ceph). Shadow buckets of device classes are named `NAME~CLASS`.
    """
    id: int
    name: str
    type_id: int
    alg: str = "straw2"
    hash: int = 0
    items: list[int] = field(default_factory=list)
    weights: list[int] = field(default_factory=list)

    @property
    def weight(self) -> int:
        """The bucket's total weight: the sum of its stored item weights."""
        return sum(self.weights)

    @property
    def is_shadow(self) -> bool:
        return "~" in self.name


@dataclass(frozen=True)
class Step:
    """A rule step. `op` is a STEP_OPS name; choose steps: arg1 = count, arg2 = type id."""
    op: str
    arg1: int = 0
    arg2: int = 0


@dataclass
class Rule:
    """A rule; `type` is 'replicated' or 'erasure'; min/max_size bound the pool size."""
    id: int
    name: str
    type: str = "replicated"
    min_size: int = 1
    max_size: int = 10
    steps: list[Step] = field(default_factory=list)


def _jewel() -> dict:
    return dict(TUNABLE_PROFILES["jewel"])


@dataclass
class CrushMap:
    """A CRUSH map: devices, types, buckets, rules, tunables and choose_args.

    `choose_args`: key (pool id, or DEFAULT_CHOOSE_ARGS = -1) -> {bucket id ->
    {"weight_set": [[w, ...] per position], "ids": [hash id per item]}} (either part
    optional). The map is plain data; the mappers read it and never change it.
    """
    devices: dict[int, Device] = field(default_factory=dict)
    types: dict[int, str] = field(default_factory=lambda: dict(DEFAULT_TYPES))
    buckets: dict[int, Bucket] = field(default_factory=dict)
    rules: dict[int, Rule] = field(default_factory=dict)
    tunables: dict[str, int] = field(default_factory=_jewel)
    choose_args: dict[int, dict[int, dict]] = field(default_factory=dict)

    # -- lookups ------------------------------------------------------------------------

    @property
    def max_devices(self) -> int:
        """Highest device id + 1 (0 without devices)."""
        return max(self.devices, default=-1) + 1

    @property
    def max_buckets(self) -> int:
        """Number of bucket slots: the most negative bucket id, negated."""
        return max((-b for b in self.buckets), default=0)

    def type_id(self, name: str) -> int:
        """Id of the type called `name`; KeyError if there is none."""
        for tid, tname in self.types.items():
            if tname == name:
                return tid
        raise KeyError(f"no CRUSH type named {name!r}")

    def bucket_by_name(self, name: str) -> Bucket:
        """The bucket called `name`; KeyError if there is none."""
        for b in self.buckets.values():
            if b.name == name:
                return b
        raise KeyError(f"no CRUSH bucket named {name!r}")

    def item_id(self, name: str) -> int:
        """Id of the device or bucket called `name`; KeyError if there is none."""
        for d in self.devices.values():
            if d.name == name:
                return d.id
        return self.bucket_by_name(name).id

    def item_name(self, item: int) -> str:
        """Name of a device or bucket id; KeyError if it does not exist."""
        if item >= 0:
            if item in self.devices:
                return self.devices[item].name
        elif item in self.buckets:
            return self.buckets[item].name
        raise KeyError(f"no CRUSH item with id {item}")

    def rule_by_name(self, name: str) -> Rule:
        """The rule called `name`; KeyError if there is none."""
        for r in self.rules.values():
            if r.name == name:
                return r
        raise KeyError(f"no CRUSH rule named {name!r}")

    def find_rule(self, rule_id: int, rule_type: str, size: int) -> int:
        """Pacific's `find_rule`: `rule_id` if it exists, has `rule_type` and admits `size`
        (min_size <= size <= max_size), else -1 (a pool then maps to no OSD at all)."""
        rule = self.rules.get(rule_id)
        if rule is None or rule.type != rule_type or not rule.min_size <= size <= rule.max_size:
            return -1
        return rule_id

    def subtree_devices(self, bucket_id: int) -> list[int]:
        """Devices under `bucket_id` in depth-first item order, each once.

        A device id returns itself; KeyError for an unknown bucket.
        """
        if bucket_id >= 0:
            return [bucket_id]
        out: dict[int, None] = {}

        def walk(bid: int, depth: int) -> None:
            if depth > len(self.buckets):
                raise ValueError("CRUSH hierarchy has a cycle")
            for item in self.buckets[bid].items:
                if item >= 0:
                    out.setdefault(item, None)
                else:
                    walk(item, depth + 1)

        walk(bucket_id, 0)
        return list(out)

    def host_of(self, osd: int) -> Optional[str]:
        """Name of the (non-shadow) bucket of type 'host' that holds `osd`, or None."""
        try:
            host_type = self.type_id("host")
        except KeyError:
            return None
        for b in self.buckets.values():
            if b.type_id == host_type and not b.is_shadow and osd in b.items:
                return b.name
        return None

    def choose_args_for(self, key: Optional[int]) -> dict[int, dict]:
        """The choose_args set Ceph uses for `key`: that set, else the -1 set, else {}."""
        if key is not None and key in self.choose_args:
            return self.choose_args[key]
        return self.choose_args.get(DEFAULT_CHOOSE_ARGS, {})

    # -- mapping ------------------------------------------------------------------------

    def do_rule(self, rule_id: int, x: int, result_max: int, reweights: Iterable[int],
                choose_args_key: Optional[int] = None) -> list[int]:
        """`crush_do_rule` (§5.3): map input `x` with rule `rule_id` to <= result_max items.

        `reweights[osd]` is the 16.16 in/out weight (0x10000 in, 0 out); devices beyond
        its end count as out. choose_args: the set keyed `choose_args_key`, falling back to
        the -1 set (§5.6). An unknown rule gives [] (as in Ceph). indep rules return
        CRUSH_ITEM_NONE for holes. Raises NotImplementedError on straw v1 / tree buckets.
        """
        rule = self.rules.get(rule_id)
        if rule is None or result_max <= 0:
            return []
        mapper = _Mapper(self, list(reweights), self.choose_args_for(choose_args_key))
        return mapper.do_rule(rule, x & _M32, result_max)

    def map_many(self, rule_id: int, xs, result_max: int, reweights: Iterable[int],
                 choose_args_key: Optional[int] = None, return_lengths: bool = False):
        """`do_rule` for every x in `xs`, vectorised: an int32 array (len(xs), result_max).

        Row i holds `do_rule(rule_id, xs[i], ...)` padded with CRUSH_ITEM_NONE. With
        `return_lengths` also returns the int array of result lengths (to tell an indep
        hole from padding). Same exceptions as `do_rule`.
        """
        from_bulk = _map_many(self, rule_id, xs, result_max, list(reweights), choose_args_key)
        return from_bulk if return_lengths else from_bulk[0]


# --- the reference mapper (§5.3 - §5.8) --------------------------------------------------


class _Mapper:
    """One `do_rule` evaluation context: the map, the reweights and the choose_args set."""

    def __init__(self, crush: CrushMap, reweights: list[int], cargs: dict[int, dict]):
        self.crush = crush
        self.buckets = crush.buckets
        self.max_devices = crush.max_devices
        self.rw = reweights
        self.cargs = cargs

    # -- bucket choice (§4.4, §5.7) -------------------------------------------------------

    def choose(self, b: Bucket, x: int, r: int, position: int) -> int:
        alg = b.alg
        if alg == "straw2":
            return self._straw2(b, x, r, position)
        if alg == "uniform":
            return self.perm_choose(b, x, r)
        if alg == "list":
            return self._list(b, x, r)
        if alg == "straw":
            raise NotImplementedError(
                f"bucket {b.name!r} uses straw (v1), which rayceph does not emulate; convert "
                "it with `ceph osd crush set-all-straw-buckets-to-straw2`")
        if alg == "tree":
            raise NotImplementedError(f"bucket {b.name!r} uses the tree algorithm, which "
                                      "rayceph does not emulate; use straw2")
        raise ValueError(f"bucket {b.name!r} has unknown algorithm {alg!r}")

    def _straw2(self, b: Bucket, x: int, r: int, position: int) -> int:
        weights, ids = b.weights, b.items
        arg = self.cargs.get(b.id)
        if arg:
            ws = arg.get("weight_set")
            if ws:
                weights = ws[min(position, len(ws) - 1)]
            if arg.get("ids"):
                ids = arg["ids"]
        ln_table = _LN_LIST
        rjenkins = b.hash == 0
        high, high_draw = 0, 0
        for i, w in enumerate(weights):
            if w:
                u = (crush_hash32_3(x, ids[i], r) & 0xFFFF) if rjenkins else 0
                draw = -((-ln_table[u]) // w)     # truncating division, ln <= 0
            else:
                draw = _S64_MIN
            if i == 0 or draw > high_draw:
                high, high_draw = i, draw
        return b.items[high]

    def perm_choose(self, b: Bucket, x: int, r: int) -> int:
        """Uniform bucket choice, also the legacy local-fallback search (§5.7)."""
        size = len(b.items)
        pr = (r & _M32) % size
        perm = list(range(size))
        for p in range(min(pr + 1, size - 1)):
            h = crush_hash32_3(x, b.id, p) if b.hash == 0 else 0
            i = h % (size - p)
            perm[p], perm[p + i] = perm[p + i], perm[p]
        return b.items[perm[pr]]

    def _list(self, b: Bucket, x: int, r: int) -> int:
        sums, total = [], 0
        for w in b.weights:
            total += w
            sums.append(total)
        for i in range(len(b.items) - 1, -1, -1):
            h = crush_hash32_4(x, b.items[i], r, b.id) if b.hash == 0 else 0
            if (((h & 0xFFFF) * sums[i]) >> 16) < b.weights[i]:
                return b.items[i]
        return b.items[0]

    # -- helpers --------------------------------------------------------------------------

    def is_out(self, item: int, x: int) -> bool:
        """§5.8: only devices are tested; partial reweights draw hash2(x, item)."""
        if item >= len(self.rw):
            return True
        w = self.rw[item]
        if w >= 0x10000:
            return False
        if w == 0:
            return True
        return (crush_hash32_2(x, item) & 0xFFFF) >= w

    def item_type(self, item: int) -> Optional[int]:
        """0 for a device, the bucket's type, or None for a missing bucket."""
        if item >= 0:
            return 0
        b = self.buckets.get(item)
        return None if b is None else b.type_id

    # -- firstn (§5.4) -------------------------------------------------------------------

    def firstn(self, bucket: Bucket, x: int, numrep: int, type_id: int, out: list,
               outpos: int, out_size: int, tries: int, recurse_tries: int,
               local_retries: int, local_fallback_retries: int, leaf: bool,
               vary_r: int, stable: int, out2: Optional[list], parent_r: int) -> int:
        count = out_size
        rep = 0 if stable else outpos
        while rep < numrep and count > 0:
            ftotal = 0
            skip_rep = False
            item = 0
            while True:                                   # descent from `bucket`
                retry_descent = False
                cur = bucket
                flocal = 0
                while True:                               # choice inside `cur`
                    r = rep + parent_r + ftotal
                    collide = False
                    if not cur.items:
                        reject = True
                    else:
                        if (local_fallback_retries > 0 and flocal >= (len(cur.items) >> 1)
                                and flocal > local_fallback_retries):
                            item = self.perm_choose(cur, x, r)
                        else:
                            item = self.choose(cur, x, r, outpos)
                        if item >= self.max_devices:
                            skip_rep = True
                            break
                        itype = self.item_type(item)
                        if itype != type_id:
                            if item >= 0 or itype is None:
                                skip_rep = True
                                break
                            cur = self.buckets[item]
                            continue                      # same r one level down
                        collide = item in out[:outpos]
                        reject = False
                        if not collide and leaf:
                            if item < 0:
                                sub_r = (r >> (vary_r - 1)) if vary_r else 0
                                got = self.firstn(
                                    self.buckets[item], x, 1 if stable else outpos + 1, 0,
                                    out2, outpos, count, recurse_tries, 0, local_retries,
                                    local_fallback_retries, False, vary_r, stable, None, sub_r)
                                if got <= outpos:
                                    reject = True         # no usable leaf below this item
                            else:
                                _put(out2, outpos, item)
                        if not reject and not collide and itype == 0:
                            reject = self.is_out(item, x)
                    if reject or collide:
                        ftotal += 1
                        flocal += 1
                        if collide and flocal <= local_retries:
                            continue
                        if local_fallback_retries > 0 and \
                                flocal <= len(cur.items) + local_fallback_retries:
                            continue
                        if ftotal < tries:
                            retry_descent = True
                        else:
                            skip_rep = True
                    break
                if not retry_descent:
                    break
            if not skip_rep:
                _put(out, outpos, item)
                outpos += 1
                count -= 1
            rep += 1
        return outpos

    # -- indep (§5.5) -------------------------------------------------------------------

    def indep(self, bucket: Bucket, x: int, left: int, numrep: int, type_id: int,
              out: list, outpos: int, tries: int, recurse_tries: int, leaf: bool,
              out2: Optional[list], parent_r: int) -> None:
        endpos = outpos + left
        for rep in range(outpos, endpos):
            _put(out, rep, CRUSH_ITEM_UNDEF)
            if out2 is not None:
                _put(out2, rep, CRUSH_ITEM_UNDEF)
        ftotal = 0
        while left > 0 and ftotal < tries:
            for rep in range(outpos, endpos):
                if out[rep] != CRUSH_ITEM_UNDEF:
                    continue
                cur = bucket
                while True:
                    step = numrep + 1 if (cur.alg == "uniform" and len(cur.items) % numrep == 0) \
                        else numrep
                    r = rep + parent_r + step * ftotal
                    if not cur.items:
                        break                             # stays UNDEF, next round retries
                    item = self.choose(cur, x, r, outpos)
                    if item >= self.max_devices:
                        out[rep] = CRUSH_ITEM_NONE
                        if out2 is not None:
                            out2[rep] = CRUSH_ITEM_NONE
                        left -= 1
                        break
                    itype = self.item_type(item)
                    if itype != type_id:
                        if item >= 0 or itype is None:
                            out[rep] = CRUSH_ITEM_NONE
                            if out2 is not None:
                                out2[rep] = CRUSH_ITEM_NONE
                            left -= 1
                            break
                        cur = self.buckets[item]
                        continue
                    if item in out[outpos:endpos]:
                        break                             # collision: next round
                    if leaf:
                        if item < 0:
                            self.indep(self.buckets[item], x, 1, numrep, 0, out2, rep,
                                       recurse_tries, 0, False, None, r)
                            if out2[rep] == CRUSH_ITEM_NONE:
                                break                     # no leaf below: next round
                        else:
                            out2[rep] = item
                    if itype == 0 and self.is_out(item, x):
                        break
                    out[rep] = item
                    left -= 1
                    break
            ftotal += 1
        for rep in range(outpos, endpos):
            if out[rep] == CRUSH_ITEM_UNDEF:
                out[rep] = CRUSH_ITEM_NONE
            if out2 is not None and out2[rep] == CRUSH_ITEM_UNDEF:
                out2[rep] = CRUSH_ITEM_NONE

    # -- the rule interpreter (§5.3) ------------------------------------------------------

    def do_rule(self, rule: Rule, x: int, result_max: int) -> list[int]:
        t = self.crush.tunables
        choose_tries = t.get("choose_total_tries", 50) + 1   # the tunable counts retries
        choose_leaf_tries = 0
        local_retries = t.get("choose_local_tries", 0)
        local_fallback = t.get("choose_local_fallback_tries", 0)
        vary_r = t.get("chooseleaf_vary_r", 0)
        stable = t.get("chooseleaf_stable", 0)
        descend_once = t.get("chooseleaf_descend_once", 0)
        w: list[int] = []
        result: list[int] = []
        for st in rule.steps:
            op = st.op
            if op == "take":
                if 0 <= st.arg1 < self.max_devices or st.arg1 in self.buckets:
                    w = [st.arg1]
            elif op == "set_choose_tries":
                if st.arg1 > 0:
                    choose_tries = st.arg1
            elif op == "set_chooseleaf_tries":
                if st.arg1 > 0:
                    choose_leaf_tries = st.arg1
            elif op == "set_choose_local_tries":
                if st.arg1 >= 0:
                    local_retries = st.arg1
            elif op == "set_choose_local_fallback_tries":
                if st.arg1 >= 0:
                    local_fallback = st.arg1
            elif op == "set_chooseleaf_vary_r":
                if st.arg1 >= 0:
                    vary_r = st.arg1
            elif op == "set_chooseleaf_stable":
                if st.arg1 >= 0:
                    stable = st.arg1
            elif op in ("choose_firstn", "choose_indep", "chooseleaf_firstn", "chooseleaf_indep"):
                if not w:
                    continue
                leaf = op.startswith("chooseleaf")
                firstn = op.endswith("firstn")
                o: list[int] = []
                c: list[int] = []
                for entry in w:
                    numrep = st.arg1
                    if numrep <= 0:
                        numrep += result_max
                        if numrep <= 0:
                            continue
                    b = self.buckets.get(entry) if entry < 0 else None
                    if b is None:
                        continue                          # a device or NONE: skipped
                    out: list[int] = []
                    out2: list[int] = []
                    if firstn:
                        if choose_leaf_tries:
                            recurse_tries = choose_leaf_tries
                        elif descend_once:
                            recurse_tries = 1
                        else:
                            recurse_tries = choose_tries
                        n = self.firstn(b, x, numrep, st.arg2, out, 0, result_max - len(o),
                                        choose_tries, recurse_tries, local_retries,
                                        local_fallback, leaf, vary_r, stable, out2, 0)
                    else:
                        n = min(numrep, result_max - len(o))
                        self.indep(b, x, n, numrep, st.arg2, out, 0, choose_tries,
                                   choose_leaf_tries or 1, leaf, out2, 0)
                    o += out[:n]
                    c += out2[:n] if leaf else out[:n]
                w = c if leaf else o
            elif op == "emit":
                result += w[:max(0, result_max - len(result))]
                w = []
            elif op == "noop":
                pass
            else:
                raise ValueError(f"rule {rule.name!r}: unknown step op {op!r}")
        return result


def _put(lst: Optional[list], pos: int, value: int) -> None:
    """`lst[pos] = value`, growing the list (C arrays are preallocated, ours are not)."""
    if lst is None:
        return
    while len(lst) <= pos:
        lst.append(CRUSH_ITEM_UNDEF)
    lst[pos] = value


# --- the bulk mapper ---------------------------------------------------------------------

_OK, _RETRY, _SKIP = 0, 1, 2           # outcome of one descent / attempt
_SMALL_BATCH = 24                      # fewer inputs than this: the scalar mapper is faster
_CHUNK_ROWS = 1 << 16                  # rows mapped together: bounds memory (measured best)
_CHOOSE_BLOCK_LANES = 1 << 20          # (rows x items) per straw2 block: stays in cache
_DRAW_TABLE_MAX_WEIGHTS = 16           # above this many distinct weights, divide instead
_BAD_ITEM = -2                         # item type code of an id >= max_devices
_MAX_BATCH = 16                        # speculative attempts per row and round
_BATCH_C = 1.0                         # speculative attempts ~ _BATCH_C / success rate


class _Bulk:
    """A straw2 map as arrays, for choosing many inputs at once.

    Bucket slot = -1 - id; `type_lut[item + nslots]` is 0 for devices, the bucket type,
    -1 for a missing bucket and _BAD_ITEM past max_devices. Straw2 draws come from
    `draw_table` (trunc(ln / w) precomputed per distinct weight) when the map has few
    distinct weights, else from an exact integer division.
    """

    def __init__(self, crush: CrushMap, cargs: dict[int, dict], reweights: list[int]):
        self.crush = crush
        self.max_devices = crush.max_devices
        nslots = max([crush.max_buckets] + [-i for b in crush.buckets.values()
                                             for i in b.items if i < 0])
        self.nslots = nslots
        kmax = max((len(b.items) for b in crush.buckets.values()), default=1) or 1
        self.size = np.zeros(max(nslots, 1), dtype=np.int64)
        self.btype = np.full(max(nslots, 1), -1, dtype=np.int64)
        self.items = np.zeros((max(nslots, 1), kmax), dtype=np.int32)
        self.hids = np.zeros((max(nslots, 1), kmax), dtype=np.uint32)
        npos = max((len(a.get("weight_set") or [None]) for a in cargs.values()), default=1)
        self.npos = npos
        weights = np.zeros((npos, max(nslots, 1), kmax), dtype=np.int64)
        for b in crush.buckets.values():
            s, n = -1 - b.id, len(b.items)
            self.size[s] = n
            self.btype[s] = b.type_id
            self.items[s, :n] = b.items
            arg = cargs.get(b.id) or {}
            self.hids[s, :n] = np.array(arg.get("ids") or b.items, dtype=np.int64) & _M32
            ws = arg.get("weight_set")
            for p in range(npos):
                weights[p, s, :n] = ws[min(p, len(ws) - 1)] if ws else b.weights
        self.size_list = self.size.tolist()
        lut = np.full(nslots + self.max_devices + 1, _BAD_ITEM, dtype=np.int64)
        lut[:nslots] = self.btype[:nslots][::-1]
        lut[nslots:nslots + self.max_devices] = 0
        self.type_lut = lut
        self.lut_last = len(lut) - 1
        distinct = np.unique(weights[weights > 0])
        self.weights = self.draw_table = self.draw_base = None
        if len(distinct) <= _DRAW_TABLE_MAX_WEIGHTS:
            table = np.empty((len(distinct) + 1, 0x10000), dtype=np.int64)
            table[0] = _S64_MIN                                   # weight 0 never wins
            table[1:] = -((-LN_TABLE[None, :]) // distinct[:, None])
            self.draw_table = table.reshape(-1)
            widx = np.searchsorted(distinct, weights) + 1
            widx[weights == 0] = 0
            self.draw_base = widx * 0x10000
            # buckets whose items all weigh the same draw from one table row: no gather
            self.same_base = np.full((npos, max(nslots, 1)), -1, dtype=np.int64)
            for b in crush.buckets.values():
                s, n = -1 - b.id, len(b.items)
                for p in range(npos):
                    row = self.draw_base[p, s, :n]
                    if n and (row == row[0]).all():
                        self.same_base[p, s] = row[0]
            self.same_base_list = self.same_base.tolist()
            # ...and compare 16-bit ranks of those draws instead of the int64 draws: the
            # rank table is a quarter of the size (it stays in L2) and argmax is cheaper
            self.rank16 = {}
            for b in set(self.same_base.ravel().tolist()) - {-1}:
                ds = self.draw_table[b:b + 0x10000][_LN_ORDER]   # non-decreasing
                step = np.concatenate(([0], np.cumsum(np.diff(ds) != 0)))
                ranks = np.empty(0x10000, dtype=np.uint16)
                ranks[_LN_ORDER] = step
                self.rank16[b] = ranks
        else:
            self.weights = weights
        # type shared by every item of a bucket (-9 if mixed, missing or past
        # max_devices): a descent that lands on such a bucket's target needs no lookup
        self.child_type = np.full(max(nslots, 1), -9, dtype=np.int64)
        for b in crush.buckets.values():
            types = {int(self.type_lut[min(i + nslots, len(self.type_lut) - 1)]) for i in b.items}
            if len(types) == 1 and min(types) >= 0:
                self.child_type[-1 - b.id] = types.pop()
        self.child_type_list = self.child_type.tolist()
        rw = np.zeros(self.max_devices + 1, dtype=np.int64)
        m = min(len(reweights), self.max_devices)
        rw[:m] = reweights[:m]
        self.rw = rw
        self.all_in = bool((rw[:self.max_devices] >= 0x10000).all())
        self._tree: dict[int, bool] = {}

    def is_tree(self, bucket_id: int) -> bool:
        """True if no node is reachable twice below `bucket_id`: then the leaves of
        distinct items chosen in one step are distinct and cannot collide."""
        if bucket_id not in self._tree:
            seen: set[int] = set()
            stack, ok = [bucket_id], True
            while stack and ok:
                for item in self.crush.buckets[stack.pop()].items:
                    if item in seen:
                        ok = False
                        break
                    seen.add(item)
                    if item < 0 and item in self.crush.buckets:
                        stack.append(item)
            self._tree[bucket_id] = ok
        return self._tree[bucket_id]

    # -- one straw2 choice per lane -------------------------------------------------------

    def choose(self, x: np.ndarray, slot, r: np.ndarray, pos: Optional[np.ndarray]) -> np.ndarray:
        """Item chosen in bucket slot `slot` (an int for all lanes, or an array) for
        (x[i], r[i]) at weight-set position pos[i]; every bucket has >= 1 item.

        Works in blocks of rows so that the (rows, K) hash and draw arrays stay in cache.
        """
        n = x.shape[0]
        one = isinstance(slot, int)
        k = self.size_list[slot] if one else int(self.size[slot].max())
        if k == 1:                                  # a one-item bucket always returns it
            return np.full(n, self.items[slot, 0], dtype=np.int32) if one else self.items[slot, 0]
        ids = self.hids[slot, :k]
        p = None if pos is None else np.minimum(pos, self.npos - 1)
        same = -1                                   # one weight for every item: rank table
        if self.draw_table is not None and p is None:
            if one:
                same = self.same_base_list[0][slot]
            else:
                sb = self.same_base[0][slot]
                if sb[0] >= 0 and (sb == sb[0]).all():
                    same = int(sb[0])
        win = np.empty(n, dtype=np.intp)
        step = max(1, _CHOOSE_BLOCK_LANES // k)
        for s in range(0, n, step):
            blk = slice(s, min(n, s + step))
            bslot = slot if one else slot[blk]
            u = hash32_3_rows(x[blk], ids if one else ids[blk], r[blk])
            np.bitwise_and(u, np.uint32(0xFFFF), out=u)
            if same >= 0:
                draws = self.rank16[same].take(u)
            elif self.draw_table is not None:
                base = self.draw_base[0][bslot, :k] if p is None \
                    else self.draw_base[p[blk], bslot][:, :k]
                draws = self.draw_table.take(base + u)
            else:
                w = self.weights[0][bslot, :k] if p is None \
                    else self.weights[p[blk], bslot][:, :k]
                w = np.broadcast_to(w, u.shape)
                zero = w == 0
                draws = -((-LN_TABLE.take(u)) // np.where(zero, 1, w))
                draws[zero] = _S64_MIN
            win[blk] = draws.argmax(axis=1)         # first maximum: earliest item wins ties
        return self.items[slot, win]

    def descend(self, x: np.ndarray, start, r: np.ndarray, target: int,
                pos: Optional[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Choose through intervening buckets from `start` (int or per-lane ids) down to an
        item of type `target`, with the same r at every level.

        Returns (item, outcome): _OK, _RETRY (an empty bucket on the way: the caller
        retries) or _SKIP (a bad item: past max_devices, a device of the wrong type, a
        missing bucket: the replica is given up).
        """
        n = x.shape[0]
        item = np.zeros(n, dtype=np.int32)
        outcome = np.full(n, _OK, dtype=np.int8)
        lanes: Optional[np.ndarray] = None          # None: every lane, in order
        cur = start
        for _ in range(self.nslots + 1):
            if isinstance(cur, int):
                slot = -1 - cur
                if self.size_list[slot] == 0:
                    outcome[slice(None) if lanes is None else lanes] = _RETRY
                    return item, outcome
            else:
                slot = -1 - cur
                empty = self.size[slot] == 0
                if empty.any():
                    if lanes is None:
                        lanes = np.arange(n)
                    outcome[lanes[empty]] = _RETRY
                    keep = ~empty
                    lanes, slot, x, r = lanes[keep], slot[keep], x[keep], r[keep]
                    pos = None if pos is None else pos[keep]
                    if lanes.size == 0:
                        return item, outcome
            it = self.choose(x, slot, r, pos)
            if isinstance(slot, int):
                uniform = self.child_type_list[slot] == target
            else:
                uniform = bool((self.child_type[slot] == target).all())
            if uniform:                          # every choice has the target type
                item[slice(None) if lanes is None else lanes] = it
                return item, outcome
            ity = self.type_lut[np.minimum(it.astype(np.int64) + self.nslots, self.lut_last)]
            done = ity == target
            if done.all():
                item[slice(None) if lanes is None else lanes] = it
                return item, outcome
            if lanes is None:
                lanes = np.arange(n)
            deeper = (it < 0) & (ity >= 0) & ~done
            item[lanes[done]] = it[done]
            outcome[lanes[~done & ~deeper]] = _SKIP
            lanes, x, r, cur = lanes[deeper], x[deeper], r[deeper], it[deeper].astype(np.int64)
            pos = None if pos is None else pos[deeper]
            if lanes.size == 0:
                return item, outcome
        raise ValueError("CRUSH hierarchy has a cycle")

    def is_out(self, items: np.ndarray, x: np.ndarray) -> np.ndarray:
        """§5.8 for device items (vectorised)."""
        if self.all_in:
            return np.zeros(items.shape[0], dtype=bool)
        w = self.rw[items]
        out = w == 0
        part = np.flatnonzero((w > 0) & (w < 0x10000))
        if part.size:
            h = hash32_2_np(x[part], items[part]) & np.uint32(0xFFFF)
            out[part] = h >= w[part]
        return out

    # -- firstn ---------------------------------------------------------------------------

    def firstn(self, x, start, numrep, target, out_size, tries, recurse_tries, leaf,
               vary_r, stable):
        """Top-level firstn call (outpos 0, parent_r 0) for every row; `start` an int or
        per-row bucket ids, `out_size` per row.

        The attempts of one replica are independent of each other (r = rep + ftotal, and
        the collision set does not change until the replica is placed), so after a first
        attempt for every row the rest are evaluated speculatively in batches and the
        first decisive one (placed, or given up) is kept.
        """
        n = x.shape[0]
        width = max(0, min(numrep, int(out_size.max()) if n else 0))
        out = np.full((n, width), CRUSH_ITEM_NONE, dtype=np.int32)
        out2 = np.full((n, width), CRUSH_ITEM_NONE, dtype=np.int32)
        outpos = np.zeros(n, dtype=np.int64)
        starts = [start] if isinstance(start, int) else np.unique(start).tolist()
        tree = leaf and all(self.is_tree(s) for s in starts)
        for rep in range(numrep):
            rows = np.flatnonzero(outpos < out_size)
            ft0, nb = 0, 1
            while rows.size and ft0 < tries:
                nb = min(nb, tries - ft0)
                if nb == 1:
                    lane_row = rows
                    r = np.full(rows.size, (rep + ft0) & _M32, dtype=np.uint32)
                else:
                    lane_row = np.repeat(rows, nb)
                    r = np.tile(np.arange(rep + ft0, rep + ft0 + nb, dtype=np.int64) & _M32,
                                rows.size).astype(np.uint32)
                oc, item, leafv = self._firstn_attempt(
                    x, lane_row, start, r, target, outpos, out, out2, recurse_tries,
                    leaf, vary_r, stable, rep, tree)
                if nb == 1:
                    lane = np.arange(rows.size)
                    decided = oc != _RETRY
                else:
                    oc2 = oc.reshape(rows.size, nb)
                    dec2 = oc2 != _RETRY
                    first = dec2.argmax(axis=1)
                    lane = np.arange(rows.size) * nb + first
                    decided = dec2[np.arange(rows.size), first]
                won = decided & (oc[lane] == _OK)
                wr, wl = rows[won], lane[won]
                out[wr, outpos[wr]] = item[wl]
                out2[wr, outpos[wr]] = leafv[wl]
                outpos[wr] += 1
                # speculate about as many attempts as a row needs on average (1 / p)
                p = max(decided.mean() if nb == 1 else 1.0 - (1.0 - decided.mean()) ** (1 / nb),
                        1.0 / _MAX_BATCH)
                rows = rows[~decided]
                ft0 += nb
                nb = int(min(_MAX_BATCH, max(1, round(_BATCH_C / p))))
        return out, out2, outpos

    def _firstn_attempt(self, x, lane_row, start, r, target, outpos, out, out2,
                        recurse_tries, leaf, vary_r, stable, rep, tree):
        """One firstn attempt per lane: outcome (_OK placed, _RETRY, _SKIP), item, leaf."""
        xl = x[lane_row]
        lpos = outpos[lane_row]
        st = start if isinstance(start, int) else start[lane_row]
        item, oc = self.descend(xl, st, r, target, lpos if self.npos > 1 else None)
        good = oc == _OK
        for k in range(min(rep, out.shape[1])):            # outpos <= rep
            good &= ~((out[lane_row, k] == item) & (lpos > k))
        leafv = item
        if leaf:
            sub = np.flatnonzero(good & (item < 0))
            if sub.size:
                leafv = item.copy()
                rs = r[sub]
                sub_r = (rs >> np.uint32(vary_r - 1)) if vary_r else np.zeros_like(rs)
                rb = sub_r if stable else (sub_r + lpos[sub].astype(np.uint32))
                lv, lok = self._leaf_firstn(xl[sub], item[sub].astype(np.int64), rb,
                                            lpos[sub], out2, lane_row[sub], recurse_tries, tree)
                leafv[sub] = lv
                good[sub[~lok]] = False
        if not self.all_in:
            dev = np.flatnonzero(good & (item >= 0))
            if dev.size:
                good[dev[self.is_out(item[dev], xl[dev])]] = False
        oc[(oc == _OK) & ~good] = _RETRY
        return oc, item, leafv

    def _leaf_firstn(self, x, start, rbase, outpos, out2, out2_rows, tries, tree):
        """The chooseleaf recursion: one device below each `start` bucket, checked
        against the leaves already chosen (unless the subtree is a tree)."""
        n = x.shape[0]
        leafv = np.full(n, CRUSH_ITEM_NONE, dtype=np.int32)
        ok = np.zeros(n, dtype=bool)
        idx = np.arange(n)
        for ft in range(tries):
            if idx.size == 0:
                break
            if ft == 0:                          # all lanes: no gathers needed
                r, lp, xs, ss = rbase, outpos, x, start
            else:
                r = (rbase[idx] + np.uint32(ft)).astype(np.uint32)
                lp, xs, ss = outpos[idx], x[idx], start[idx]
            item, st = self.descend(xs, ss, r, 0, lp if self.npos > 1 else None)
            good = st == _OK
            if not tree:
                rows = out2_rows[idx]
                for k in range(int(lp.max()) if lp.size else 0):
                    good &= ~((out2[rows, k] == item) & (lp > k))
            if not self.all_in:
                g = np.flatnonzero(good)
                if g.size:
                    good[g[self.is_out(item[g], xs[g])]] = False
            if ft == 0 and good.all():
                return item, good
            leafv[idx[good]] = item[good]
            ok[idx[good]] = True
            idx = idx[(st != _SKIP) & ~good]      # a skip ends the inner call: no leaf
        return leafv, ok

    # -- indep ----------------------------------------------------------------------------

    def indep(self, x, start, left, numrep, target, tries, recurse_tries, leaf):
        """Top-level indep call (outpos 0, parent_r 0) for every row; `left` per row.

        A (slot, round) candidate depends on the other slots only through the collision
        check, so candidates are computed for a batch of rounds at once and then applied
        in Ceph's order (round by round, slot by slot).
        """
        n = x.shape[0]
        width = int(left.max()) if n else 0
        out = np.full((n, width), CRUSH_ITEM_UNDEF, dtype=np.int32)
        out2 = np.full((n, width), CRUSH_ITEM_UNDEF, dtype=np.int32)
        invalid = np.arange(width)[None, :] >= left[:, None]
        out[invalid] = CRUSH_ITEM_NONE
        out2[invalid] = CRUSH_ITEM_NONE
        ft0, nb, rounds = 0, 1, 0
        while ft0 < tries:
            undef = out == CRUSH_ITEM_UNDEF
            if not undef.any():
                break
            nb = min(nb, tries - ft0)
            prep, prow = np.nonzero(undef.T)          # slot-major: one run per slot
            npairs = prow.size
            lane_row = np.tile(prow, nb)
            lane_rep = np.tile(prep, nb).astype(np.int64)
            lane_ft = np.repeat(np.arange(ft0, ft0 + nb, dtype=np.int64), npairs)
            r = ((lane_rep + numrep * lane_ft) & _M32).astype(np.uint32)
            xl = x[lane_row]
            st = start if isinstance(start, int) else start[lane_row]
            item, oc = self.descend(xl, st, r, target, None)
            good = oc == _OK
            leafv = item.copy()
            if leaf:
                sub = np.flatnonzero(good & (item < 0))
                if sub.size:
                    leafv[sub] = self._leaf_indep(xl[sub], item[sub].astype(np.int64),
                                                  lane_rep[sub], r[sub], numrep, recurse_tries)
            success = good & (leafv != CRUSH_ITEM_NONE)
            if not self.all_in:
                dev = np.flatnonzero(success & (item >= 0))
                if dev.size:
                    success[dev[self.is_out(item[dev], xl[dev])]] = False
            bounds = np.searchsorted(prep, np.arange(width + 1))
            for f in range(nb):
                base = f * npairs
                for rep in range(width):
                    lo, hi = base + bounds[rep], base + bounds[rep + 1]
                    if lo == hi:
                        continue
                    rows = lane_row[lo:hi]
                    live = out[rows, rep] == CRUSH_ITEM_UNDEF
                    lanes = np.arange(lo, hi)[live]
                    if lanes.size == 0:
                        continue
                    rows = rows[live]
                    o = oc[lanes]
                    bad = o == _SKIP
                    out[rows[bad], rep] = CRUSH_ITEM_NONE
                    out2[rows[bad], rep] = CRUSH_ITEM_NONE
                    okl = o == _OK
                    lanes, rows = lanes[okl], rows[okl]
                    if lanes.size == 0:
                        continue
                    coll = (out[rows] == item[lanes][:, None]).any(axis=1)
                    lanes, rows = lanes[~coll], rows[~coll]
                    if leaf:
                        out2[rows, rep] = leafv[lanes]
                    won = success[lanes]
                    out[rows[won], rep] = item[lanes[won]]
            ft0 += nb
            rounds += 1
            nb = min(1 << (rounds // 2), _MAX_BATCH)    # 1, 1, 2, 2, 4, 4, ...: most slots settle early
        out[out == CRUSH_ITEM_UNDEF] = CRUSH_ITEM_NONE
        out2[out2 == CRUSH_ITEM_UNDEF] = CRUSH_ITEM_NONE
        return out, out2

    def _leaf_indep(self, x, start, rep, r_outer, numrep, tries):
        """indep(bucket, x, 1, numrep, 0, out2, rep, tries, ..., parent_r = r_outer): the
        slot itself is the only collision candidate and it is UNDEF, so none can occur."""
        n = x.shape[0]
        leafv = np.full(n, CRUSH_ITEM_NONE, dtype=np.int32)
        idx = np.arange(n)
        for ft in range(tries):
            if idx.size == 0:
                break
            r = ((rep[idx] + r_outer[idx].astype(np.int64) + numrep * ft) & _M32).astype(np.uint32)
            item, st = self.descend(x[idx], start[idx], r, 0, rep[idx] if self.npos > 1 else None)
            good = st == _OK
            if not self.all_in:
                g = np.flatnonzero(good)
                if g.size:
                    good[g[self.is_out(item[g], x[idx[g]])]] = False
            leafv[idx[good]] = item[good]
            idx = idx[(st == _RETRY) | ((st == _OK) & ~good)]   # a bad item ends it: NONE
        return leafv


def _bulk_eligible(crush: CrushMap, rule: Rule) -> bool:
    """True when the vectorised path reproduces `do_rule` for this map and rule."""
    if any(b.alg != "straw2" or b.hash != 0 for b in crush.buckets.values()):
        return False
    if any(b.type_id == 0 for b in crush.buckets.values()):
        return False
    local = crush.tunables.get("choose_local_tries", 0)
    fallback = crush.tunables.get("choose_local_fallback_tries", 0)
    for st in rule.steps:
        if st.op == "set_choose_local_tries" and st.arg1 >= 0:
            local = st.arg1
        elif st.op == "set_choose_local_fallback_tries" and st.arg1 >= 0:
            fallback = st.arg1
        elif st.op.startswith("choose") and (local or fallback):
            return False
        elif st.op not in STEP_OPS:
            return False
    return True


def _map_many(crush: CrushMap, rule_id: int, xs, result_max: int, reweights: list[int],
              choose_args_key: Optional[int]) -> tuple[np.ndarray, np.ndarray]:
    xs = np.asarray(xs)
    if xs.ndim != 1:
        raise ValueError("xs must be one-dimensional")
    x = (xs.astype(np.int64) & _M32).astype(np.uint32)
    n = x.shape[0]
    width = max(0, result_max)
    result = np.full((n, width), CRUSH_ITEM_NONE, dtype=np.int32)
    rlen = np.zeros(n, dtype=np.int64)
    rule = crush.rules.get(rule_id)
    if rule is None or result_max <= 0 or n == 0:
        return result, rlen
    if n < _SMALL_BATCH or not _bulk_eligible(crush, rule):
        mapper = _Mapper(crush, reweights, crush.choose_args_for(choose_args_key))
        for i, xi in enumerate(x.tolist()):
            row = mapper.do_rule(rule, xi, result_max)
            result[i, :len(row)] = row
            rlen[i] = len(row)
        return result, rlen
    bulk = _Bulk(crush, crush.choose_args_for(choose_args_key), reweights)
    for s in range(0, n, _CHUNK_ROWS):
        e = min(n, s + _CHUNK_ROWS)
        result[s:e], rlen[s:e] = _run_rule_bulk(crush, bulk, rule, x[s:e], result_max)
    return result, rlen


def _run_rule_bulk(crush: CrushMap, bulk: _Bulk, rule: Rule, x: np.ndarray,
                   result_max: int) -> tuple[np.ndarray, np.ndarray]:
    """§5.3 with a working set per row: `w` (n, width) and its lengths `wlen`."""
    n = x.shape[0]
    t = crush.tunables
    choose_tries = t.get("choose_total_tries", 50) + 1
    choose_leaf_tries = 0
    vary_r = t.get("chooseleaf_vary_r", 0)
    stable = t.get("chooseleaf_stable", 0)
    descend_once = t.get("chooseleaf_descend_once", 0)
    result = np.full((n, result_max), CRUSH_ITEM_NONE, dtype=np.int32)
    rlen = np.zeros(n, dtype=np.int64)
    w = np.zeros((n, 0), dtype=np.int32)
    wlen = np.zeros(n, dtype=np.int64)
    for st in rule.steps:
        op = st.op
        if op == "take":
            if 0 <= st.arg1 < crush.max_devices or st.arg1 in crush.buckets:
                w = np.full((n, 1), st.arg1, dtype=np.int32)
                wlen = np.ones(n, dtype=np.int64)
        elif op == "set_choose_tries":
            if st.arg1 > 0:
                choose_tries = st.arg1
        elif op == "set_chooseleaf_tries":
            if st.arg1 > 0:
                choose_leaf_tries = st.arg1
        elif op == "set_chooseleaf_vary_r":
            if st.arg1 >= 0:
                vary_r = st.arg1
        elif op == "set_chooseleaf_stable":
            if st.arg1 >= 0:
                stable = st.arg1
        elif op in ("choose_firstn", "choose_indep", "chooseleaf_firstn", "chooseleaf_indep"):
            if not wlen.any():
                continue
            leaf = op.startswith("chooseleaf")
            numrep = st.arg1 if st.arg1 > 0 else st.arg1 + result_max
            o = np.full((n, result_max), CRUSH_ITEM_NONE, dtype=np.int32)
            c = np.full((n, result_max), CRUSH_ITEM_NONE, dtype=np.int32)
            olen = np.zeros(n, dtype=np.int64)
            for j in range(w.shape[1] if numrep > 0 else 0):
                entry = w[:, j].astype(np.int64)
                slot = -1 - entry
                is_bucket = (j < wlen) & (entry < 0) & (slot < bulk.nslots)
                is_bucket[is_bucket] = bulk.btype[slot[is_bucket]] >= 0
                rows = np.flatnonzero(is_bucket)
                if rows.size == 0:
                    continue
                first = int(entry[rows[0]])
                # one start bucket for every row (always so after `take`): pass it as an int
                start = first if bool((entry[rows] == first).all()) else entry[rows]
                room = result_max - olen[rows]
                if op.endswith("firstn"):
                    if choose_leaf_tries:
                        recurse_tries = choose_leaf_tries
                    elif descend_once:
                        recurse_tries = 1
                    else:
                        recurse_tries = choose_tries
                    out, out2, got = bulk.firstn(x[rows], start, numrep, st.arg2, room,
                                                 choose_tries, recurse_tries, leaf, vary_r, stable)
                else:
                    got = np.minimum(numrep, room)
                    out, out2 = bulk.indep(x[rows], start, got, numrep, st.arg2,
                                           choose_tries, choose_leaf_tries or 1, leaf)
                for k in range(out.shape[1]):
                    sel = got > k
                    dst_rows = rows[sel]
                    dst_cols = olen[dst_rows] + k
                    o[dst_rows, dst_cols] = out[sel, k]
                    c[dst_rows, dst_cols] = (out2 if leaf else out)[sel, k]
                olen[rows] += got
            w, wlen = (c if leaf else o), olen
        elif op == "emit":
            for k in range(w.shape[1]):
                sel = np.flatnonzero((wlen > k) & (rlen < result_max))
                result[sel, rlen[sel]] = w[sel, k]
                rlen[sel] += 1
            w = np.zeros((n, 0), dtype=np.int32)
            wlen = np.zeros(n, dtype=np.int64)
    return result, rlen


# --- the default map (§8) ----------------------------------------------------------------


def build_default_map(hosts: list[tuple[str, list[tuple[int, float]]]],
                      chooseleaf_type: str = "host") -> CrushMap:
    """The map a fresh Pacific cluster builds for `hosts` = [(name, [(osd id, weight)])].

    Root `default` (id -1), hosts -2, -3, … in the given order, straw2 / rjenkins1, jewel
    tunables, the default types, and rule 0 `replicated_rule` (take default; chooseleaf
    firstn 0 type `chooseleaf_type`, or choose firstn 0 type osd when it is 'osd'; emit).
    Weights are converted with `weight_to_fixed`; devices get class hdd; no shadow
    buckets. Raises ValueError for duplicate OSD ids or an unknown type name.
    """
    crush = CrushMap()
    root = Bucket(id=-1, name="default", type_id=crush.type_id("root"))
    crush.buckets[-1] = root
    host_type = crush.type_id("host")
    for n, (host_name, osds) in enumerate(hosts):
        hb = Bucket(id=-2 - n, name=host_name, type_id=host_type)
        for osd, weight in osds:
            if osd in crush.devices:
                raise ValueError(f"osd.{osd} listed twice")
            crush.devices[osd] = Device(osd, f"osd.{osd}", "hdd")
            hb.items.append(osd)
            hb.weights.append(weight_to_fixed(weight))
        crush.buckets[hb.id] = hb
        root.items.append(hb.id)
        root.weights.append(hb.weight)
    if chooseleaf_type == "osd":
        choose = Step("choose_firstn", 0, 0)
    else:
        choose = Step("chooseleaf_firstn", 0, crush.type_id(chooseleaf_type))
    crush.rules[0] = Rule(0, "replicated_rule", "replicated", 1, 10,
                          [Step("take", -1), choose, Step("emit")])
    crush.devices = dict(sorted(crush.devices.items()))
    return crush
