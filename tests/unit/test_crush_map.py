"""crush_ln, straw2, do_rule and map_many against spec/crush.md §4-§5 and Appendix B."""
import hashlib
import random
import struct
from pathlib import Path

import numpy as np
import pytest

from cluster.crush import (
    CRUSH_ITEM_NONE, LL_TABLE, LN_TABLE, RH_LH_TABLE, TUNABLE_PROFILES, Bucket, CrushMap,
    Device, Rule, Step, build_default_map, crush_ln, weight_to_fixed,
)
from cluster.crush_text import parse_crush_text
from cluster.rjenkins import crush_hash32_2, crush_hash32_3

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "crush_appendix_b.txt"
IN = 0x10000
NONE = CRUSH_ITEM_NONE


@pytest.fixture(scope="module")
def appendix_b() -> CrushMap:
    return parse_crush_text(FIXTURE.read_text())


# --- crush_ln (§4.2, §4.3) -----------------------------------------------------------------

def test_table_digests():
    ll = hashlib.sha256(struct.pack("<256q", *LL_TABLE)).hexdigest()
    rh_lh = hashlib.sha256(struct.pack("<258q", *RH_LH_TABLE)).hexdigest()
    assert ll == "56fecbea65b1d35d0d20f0327d783a870652a56356e9a5326b6ab16d6c31b6ca"
    assert rh_lh == "304b097c8de73930d785af5802b1f6b4e9827a69175038f910f6120565e8364c"
    assert RH_LH_TABLE[0] == 2 ** 48 and RH_LH_TABLE[256] == 2 ** 47
    assert RH_LH_TABLE[257] == 0x0000FFFF00000000


@pytest.mark.parametrize("u,expected", [
    (0x0000, 0x0000000000000), (0x0001, 0x0100000000000), (0x0002, 0x0195c01a39fbd),
    (0x0003, 0x0200000000000), (0x00ff, 0x0800000000000), (0x0100, 0x080171e3b6d7a),
    (0x1234, 0x0c2fb9e09ec18), (0x7fff, 0x0f00000000000), (0x8000, 0x0f0002e2a60a0),
    (0x8001, 0x0f00070cb64ec), (0xc000, 0x0f95c01a39fbd), (0xfffe, 0x0fffffd61ad10),
    (0xffff, 0x0fffff0000000),
])
def test_crush_ln_vectors(u, expected):
    assert crush_ln(u) == expected


def test_crush_ln_quirk_and_vector_table():
    assert crush_ln(0xfffe) > crush_ln(0xffff)          # not monotonic at the very top
    assert crush_ln(0x1234) - 2 ** 48 == -67089032680424
    assert LN_TABLE.tolist() == [crush_ln(u) - 2 ** 48 for u in range(0x10000)]


def test_straw2_draw_vector():
    crush = CrushMap(devices={i: Device(i, f"osd.{i}") for i in range(3)})
    crush.buckets[-1] = Bucket(-1, "b", 1, items=[0, 1, 2], weights=[0x10000, 0x20000, 0x8000])
    us = [crush_hash32_3(1234, i, 0) & 0xFFFF for i in range(3)]
    assert us == [0x411c, 0x9e14, 0x2734]
    lns = [crush_ln(u) - 2 ** 48 for u in us]
    assert lns == [-34746419534415, -12234511480012, -47621722742573]
    draws = [-(-ln // w) for ln, w in zip(lns, [0x10000, 0x20000, 0x8000])]
    assert draws == [-530188286, -93341914, -1453299644]
    crush.rules[0] = Rule(0, "r", steps=[Step("take", -1), Step("choose_firstn", 1, 0),
                                         Step("emit")])
    assert crush.do_rule(0, 1234, 1, [IN] * 3) == [1]


def test_is_out_example():
    assert crush_hash32_2(1234, 3) & 0xFFFF == 0xafc1
    crush = CrushMap(devices={i: Device(i, f"osd.{i}") for i in range(4)})
    crush.buckets[-1] = Bucket(-1, "b", 1, items=[3], weights=[IN])
    crush.rules[0] = Rule(0, "r", steps=[Step("take", -1), Step("choose_firstn", 1, 0),
                                         Step("emit")])
    assert crush.do_rule(0, 1234, 1, [IN, IN, IN, 0xafc2]) == [3]
    assert crush.do_rule(0, 1234, 1, [IN, IN, IN, 0xafc1]) == []
    assert crush.do_rule(0, 1234, 1, [IN, IN, IN]) == []       # beyond the reweights: out


# --- Appendix B: crushtool 16.2.15 outputs ---------------------------------------------------

APPENDIX_B = [
    # (rule, num_rep, reweight overrides, pool id, {x: expected})
    (0, 3, {}, None, dict(enumerate([[8, 5, 2], [9, 3, 1], [7, 4, 9], [5, 4, 8], [5, 8, 1],
                                     [7, 0, 3], [6, 9, 4], [9, 5, 1], [2, 3, 5], [5, 1, 3]]))),
    (0, 3, {1: 0x8000, 5: 0, 8: 0x4000},
     None, dict(enumerate([[7, 2, 4], [9, 3, 1], [7, 4, 9], [7, 4, 9], [1, 7, 9], [7, 0, 3],
                           [6, 9, 4], [9, 4, 7], [2, 3, 7], [7, 3, 0]]))),
    (1, 5, {}, None, dict(enumerate([[8, 7, 4, 0, NONE], [9, 4, 1, 5, NONE],
                                     [7, NONE, 1, 3, 9], [5, NONE, 3, 9, 0],
                                     [5, 8, NONE, 0, 4], [7, 8, 1, NONE, 3]]))),
    (3, 4, {}, None, dict(enumerate([[8, 9, 7, 5], [9, 8, 4, 3], [7, 5, 4, 3], [5, 7, 4, 3],
                                     [5, 7, 8, 9]]))),
    (0, 3, {}, 1, dict(enumerate([[8, 0, 7], [8, 5, 4], [8, 3, 5], [4, 5, 8], [1, 7, 8]]))),
]


@pytest.mark.parametrize("rule,num_rep,overrides,pool,expected", APPENDIX_B)
def test_appendix_b_do_rule_and_map_many(appendix_b, rule, num_rep, overrides, pool, expected):
    rw = [IN] * 10
    for osd, w in overrides.items():
        rw[osd] = w
    xs = [x if pool is None else crush_hash32_2(x, pool) for x in expected]
    for x, want in zip(xs, expected.values()):
        assert appendix_b.do_rule(rule, x, num_rep, rw) == want
    # map_many: the same inputs among enough others to take the vectorised path
    table, lens = appendix_b.map_many(rule, np.array(xs + list(range(100, 200))), num_rep, rw,
                                      return_lengths=True)
    got = [table[i, :lens[i]].tolist() for i in range(len(xs))]
    assert got == list(expected.values())


def test_unknown_rule_and_zero_result_max(appendix_b):
    assert appendix_b.do_rule(42, 1, 3, [IN] * 10) == []
    assert appendix_b.do_rule(0, 1, 0, [IN] * 10) == []
    assert appendix_b.map_many(42, np.arange(50), 3, [IN] * 10).tolist() == [[NONE] * 3] * 50


# --- uniform / list buckets and legacy tunables (crushtool 16.2.15 outputs) -------------------

UNIFORM_LIST_MAP = """
device 0 osd.0
device 1 osd.1
device 2 osd.2
device 3 osd.3
device 4 osd.4
device 5 osd.5
device 6 osd.6
type 0 osd
type 1 host
type 11 root
host h0 { id -2 alg uniform hash 0 item osd.0 weight 1.0 item osd.1 weight 1.0 item osd.2 weight 1.0 }
host h1 { id -3 alg list hash 0 item osd.3 weight 1.0 item osd.4 weight 2.0 }
host h2 { id -4 alg straw2 hash 0 item osd.5 weight 0.5 item osd.6 weight 1.5 }
root default { id -1 alg list hash 0 item h0 item h1 item h2 }
rule rep { id 0 type replicated min_size 1 max_size 10 step take default step chooseleaf firstn 0 type host step emit }
rule osds { id 1 type replicated min_size 1 max_size 10 step take default step choose firstn 0 type osd step emit }
rule ec { id 2 type erasure min_size 1 max_size 10 step take default step chooseleaf indep 0 type host step emit }
"""


def test_uniform_list_buckets_with_legacy_tunables():
    # no tunable lines: crushtool compiles legacy (argonaut) tunables, local retries on
    crush = parse_crush_text(UNIFORM_LIST_MAP)
    assert crush.tunables == TUNABLE_PROFILES["legacy"]
    rw = [IN] * 7
    rw[4] = 0x8000                                   # crushtool --weight 4 0.5
    expected = {
        (0, 3): [[6, 3, 1], [1, 4, 5], [6, 0, 3], [3, 2, 6], [4, 6, 1], [1, 3, 6], [3, 2, 6],
                 [6, 1, 3]],
        (1, 4): [[6, 3, 4, 0], [1, 4, 5, 6], [6, 0, 2, 3], [3, 2, 6, 5], [4, 6, 3, 5],
                 [1, 3, 6, 2], [3, 4, 6], [6, 1, 2, 0]],
        (2, 4): [[6, 3, NONE, 0], [1, 4, 6, NONE], [6, 2, NONE, 3], [NONE, 0, 5, 3],
                 [4, 5, 1, NONE], [1, 6, 3, NONE], [3, 0, NONE, 5], [6, 2, 3, NONE]],
    }
    for (rule, n), rows in expected.items():
        assert [crush.do_rule(rule, x, n, rw) for x in range(8)] == rows
        table, lens = crush.map_many(rule, np.arange(40), n, rw, return_lengths=True)
        assert [table[x, :lens[x]].tolist() for x in range(8)] == rows   # scalar fallback


def test_straw_v1_and_tree_are_not_emulated():
    for alg in ("straw", "tree"):
        crush = CrushMap(devices={0: Device(0, "osd.0"), 1: Device(1, "osd.1")})
        crush.buckets[-1] = Bucket(-1, "b", 1, alg=alg, items=[0, 1], weights=[IN, IN])
        crush.rules[0] = Rule(0, "r", steps=[Step("take", -1), Step("choose_firstn", 0, 0),
                                             Step("emit")])
        with pytest.raises(NotImplementedError, match=alg):
            crush.do_rule(0, 1, 2, [IN, IN])
        with pytest.raises(NotImplementedError):
            crush.map_many(0, np.arange(100), 2, [IN, IN])


# --- map_many == do_rule on many inputs -------------------------------------------------------

def _three_level_map(rnd: random.Random, with_choose_args: bool) -> CrushMap:
    """root -> 3 racks -> 1..4 hosts -> 0..4 OSDs, mixed weights incl. zero and empty hosts."""
    crush = CrushMap()
    root = Bucket(-1, "default", 11)
    crush.buckets[-1] = root
    next_id, dev = -2, 0
    for r in range(3):
        rack = Bucket(next_id, f"rack{r}", 3)
        crush.buckets[rack.id] = rack
        next_id -= 1
        for h in range(rnd.randint(1, 4)):
            host = Bucket(next_id, f"host{r}.{h}", 1)
            crush.buckets[host.id] = host
            next_id -= 1
            for _ in range(rnd.choice([0, 1, 2, 3, 4, 4])):
                crush.devices[dev] = Device(dev, f"osd.{dev}")
                host.items.append(dev)
                host.weights.append(weight_to_fixed(rnd.choice([1.0, 2.0, 0.5, 3.63869, 0.0, 1.1])))
                dev += 1
            rack.items.append(host.id)
            rack.weights.append(host.weight)
        root.items.append(rack.id)
        root.weights.append(rack.weight if rnd.random() < 0.7 else rnd.randint(0, 0x80000))
    steps = {
        0: [Step("take", -1), Step("chooseleaf_firstn", 0, 1), Step("emit")],
        1: [Step("set_chooseleaf_tries", 5), Step("set_choose_tries", 100), Step("take", -1),
            Step("chooseleaf_indep", 0, 1), Step("emit")],
        2: [Step("take", -1), Step("choose_firstn", 0, 0), Step("emit")],
        3: [Step("take", -1), Step("choose_firstn", 2, 3), Step("chooseleaf_firstn", 2, 1),
            Step("emit")],
        4: [Step("take", -1), Step("choose_indep", 3, 3), Step("chooseleaf_indep", 2, 1),
            Step("emit")],
        5: [Step("take", -2), Step("chooseleaf_firstn", 1, 1), Step("emit"), Step("take", -1),
            Step("chooseleaf_firstn", -1, 1), Step("emit")],
        6: [Step("set_chooseleaf_stable", 0), Step("set_chooseleaf_vary_r", 0),
            Step("take", -1), Step("chooseleaf_firstn", 0, 3), Step("emit")],
        7: [Step("take", -1), Step("chooseleaf_indep", 0, 0), Step("emit")],
    }
    for rid, st in steps.items():
        crush.rules[rid] = Rule(rid, f"r{rid}", "erasure" if rid in (1, 4, 7) else "replicated",
                                1, 10, st)
    if with_choose_args:
        cargs = {}
        for b in crush.buckets.values():
            if b.items and rnd.random() < 0.7:
                arg = {"weight_set": [[rnd.randint(0, 0x30000) for _ in b.items]
                                      for _ in range(rnd.randint(1, 3))]}
                if rnd.random() < 0.5:
                    arg["ids"] = [rnd.randint(-50, 50) for _ in b.items]
                cargs[b.id] = arg
        crush.choose_args[-1] = cargs
    return crush


def _assert_bulk_matches_scalar(crush, rule, num_rep, rw, xs, key=None):
    table, lens = crush.map_many(rule, xs, num_rep, rw, choose_args_key=key, return_lengths=True)
    for i, x in enumerate(xs.tolist()):
        assert table[i, :lens[i]].tolist() == crush.do_rule(rule, x, num_rep, rw, key), \
            (rule, num_rep, x)
    assert (table[np.arange(table.shape[1])[None, :] >= lens[:, None]] == NONE).all()


def test_map_many_matches_do_rule_appendix_b(appendix_b):
    rnd = random.Random(5)
    xs = np.array([rnd.randrange(2 ** 32) for _ in range(200)], dtype=np.uint32)
    partial = [IN, 0x8000, IN, 0, IN, 0x4000, IN, IN, 0xfff0, IN]
    for rule in appendix_b.rules:
        for num_rep, rw in ((3, [IN] * 10), (5, partial), (2, partial[:8])):
            _assert_bulk_matches_scalar(appendix_b, rule, num_rep, rw, xs)


@pytest.mark.parametrize("map_seed,with_choose_args,inputs", [(1, False, 80), (2, True, 40),
                                                              (3, False, 80)])
def test_map_many_matches_do_rule_three_levels(map_seed, with_choose_args, inputs):
    rnd = random.Random(map_seed)
    crush = _three_level_map(rnd, with_choose_args)
    n = crush.max_devices
    rw = [rnd.choice([IN, IN, IN, 0, 0x8000, 0x2000]) for _ in range(n)]
    xs = np.array([rnd.randrange(2 ** 32) for _ in range(inputs)], dtype=np.uint32)
    for rule in crush.rules:
        for num_rep in (3, 5):
            _assert_bulk_matches_scalar(crush, rule, num_rep, rw, xs)


def test_map_many_division_path_matches(appendix_b, monkeypatch):
    # maps with many distinct weights divide instead of using per-weight draw tables
    import cluster.crush as crush_module
    monkeypatch.setattr(crush_module, "_DRAW_TABLE_MAX_WEIGHTS", 0)
    xs = np.arange(300, dtype=np.uint32) * np.uint32(2654435761)
    partial = [IN, 0x8000, IN, 0, IN, 0x4000, IN, IN, 0xfff0, IN]
    for rule in (0, 1, 3):
        _assert_bulk_matches_scalar(appendix_b, rule, 4, partial, xs)
    crush = _three_level_map(random.Random(2), True)
    _assert_bulk_matches_scalar(crush, 0, 3, [IN] * crush.max_devices, xs[:60])


def test_map_many_thousands_of_inputs_default_rule():
    crush = build_default_map([(f"host{h}", [(h * 4 + o, 1.0 + o * 0.25) for o in range(4)])
                               for h in range(5)])
    rw = [IN] * 20
    rw[3], rw[7] = 0, 0x9000
    xs = (np.arange(3000, dtype=np.uint64) * 2654435761 % 2 ** 32).astype(np.uint32)
    _assert_bulk_matches_scalar(crush, 0, 3, rw, xs)


def test_map_many_choose_args_keys():
    crush = _three_level_map(random.Random(9), True)
    crush.choose_args[7] = {-1: {"weight_set": [[0x10000, 0, 0]]}}   # only rack0 for pool 7
    rw = [IN] * crush.max_devices
    xs = np.arange(200, dtype=np.uint32)
    _assert_bulk_matches_scalar(crush, 2, 3, rw, xs, key=7)
    _assert_bulk_matches_scalar(crush, 2, 3, rw, xs, key=8)          # falls back to -1
    rack0 = set(crush.subtree_devices(-2))
    assert all(set(crush.do_rule(2, x, 3, rw, 7)) <= rack0 for x in range(50))


def test_legacy_tunables_use_scalar_path_and_agree():
    crush = _three_level_map(random.Random(4), False)
    crush.tunables = dict(TUNABLE_PROFILES["legacy"])
    xs = np.arange(60, dtype=np.uint32)
    _assert_bulk_matches_scalar(crush, 0, 3, [IN] * crush.max_devices, xs)


# --- model helpers and the default map --------------------------------------------------------

def test_build_default_map():
    crush = build_default_map([("node-a", [(0, 3.63869), (1, 0.1)]), ("node-b", [(2, 1.0)])])
    assert crush.buckets[-1].name == "default" and crush.buckets[-1].type_id == 11
    assert [crush.buckets[b].name for b in (-2, -3)] == ["node-a", "node-b"]
    assert crush.buckets[-2].weights == [238465, 6553]
    assert crush.buckets[-1].items == [-2, -3] and crush.buckets[-1].weights == [245018, 65536]
    assert all(b.alg == "straw2" and b.hash == 0 for b in crush.buckets.values())
    assert crush.tunables == TUNABLE_PROFILES["jewel"]
    assert crush.types[0] == "osd" and crush.types[11] == "root" and len(crush.types) == 12
    rule = crush.rules[0]
    assert (rule.name, rule.type, rule.min_size, rule.max_size) == ("replicated_rule",
                                                                     "replicated", 1, 10)
    assert rule.steps == [Step("take", -1), Step("chooseleaf_firstn", 0, 1), Step("emit")]
    assert crush.devices[1] == Device(1, "osd.1", "hdd")
    osd_rule = build_default_map([("h", [(0, 1.0), (1, 1.0)])], chooseleaf_type="osd").rules[0]
    assert osd_rule.steps[1] == Step("choose_firstn", 0, 0)
    with pytest.raises(ValueError):
        build_default_map([("a", [(0, 1.0)]), ("b", [(0, 1.0)])])
    with pytest.raises(ValueError):
        weight_to_fixed(-1.0)


def test_map_helpers(appendix_b):
    assert appendix_b.max_devices == 10
    assert appendix_b.bucket_by_name("host2").id == -4
    assert appendix_b.item_name(-4) == "host2" and appendix_b.item_name(7) == "osd.7"
    assert appendix_b.item_id("host1") == -3 and appendix_b.item_id("osd.3") == 3
    assert appendix_b.rule_by_name("ec_rule").id == 1
    assert appendix_b.subtree_devices(-1) == list(range(10))
    assert appendix_b.subtree_devices(-4) == [5, 6, 7]
    assert appendix_b.host_of(6) == "host2" and appendix_b.host_of(42) is None
    assert appendix_b.find_rule(1, "erasure", 3) == 1
    assert appendix_b.find_rule(1, "replicated", 3) == -1
    assert appendix_b.find_rule(1, "erasure", 2) == -1          # min_size 3
    for missing in (lambda: appendix_b.bucket_by_name("nope"), lambda: appendix_b.item_name(-99),
                    lambda: appendix_b.rule_by_name("nope")):
        with pytest.raises(KeyError):
            missing()
