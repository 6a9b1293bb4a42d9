"""Object -> PG -> OSDs against spec/crush.md §2, §6 and the Appendix B / C fixtures."""
from pathlib import Path

import pytest

from cluster.crush import CRUSH_ITEM_NONE, Bucket, CrushMap, Device, Rule, Step
from cluster.crush_text import parse_crush_text
from cluster.placement import (
    OsdStates, PgMapping, PoolPlacement, map_pg, map_pool, object_ps, pg_mask, pg_seed, pps,
    stable_mod,
)

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "crush_appendix_b.txt"
NONE = CRUSH_ITEM_NONE


# --- §2: object -> PG -> pps ---------------------------------------------------------------

def test_object_ps():
    assert object_ps("foo") == 0x7fc1f406
    assert object_ps(b"foo") == 0x7fc1f406
    assert object_ps("foo", nspace="myns") == 0xa9011cd6
    assert object_ps("foo", nspace="ns") == 0xac17f0b6
    assert object_ps("bar", nspace="ns2") == 0x76a66f86
    assert object_ps("été") == 0x9849f513
    assert object_ps("anything", locator="foo") == 0x7fc1f406      # the locator key wins
    assert object_ps("anything", nspace="x", locator="foo") == 0xc2177f38
    assert object_ps("foo", explicit_hash=1234) == 1234
    with pytest.raises(TypeError):
        object_ps(42)


def test_masks_and_stable_mod():
    assert [pg_mask(n) for n in (1, 8, 12, 200, 640)] == [0, 7, 15, 255, 1023]
    with pytest.raises(ValueError):
        pg_mask(0)
    assert stable_mod(0xe8, 200, 255) == 0x68               # 0xe8 >= 200: 7-bit mask
    assert stable_mod(0x4f, 200, 255) == 0x4f
    for x in range(64):
        assert stable_mod(x, 16, 15) == x % 16                # power of two: plain mod
    # growing pg_num n -> n+1 only moves objects from PG n - 2^(bits(n)-1) (§7)
    n = 12
    for ps in range(4096):
        before, after = pg_seed(ps, n), pg_seed(ps, n + 1)
        assert before == after or (after == n and before == n - 8)


def test_pps_vectors():
    assert pps(1, 6, 12) == 0xd77484f9
    ps = object_ps("test-object-1")
    assert pg_seed(ps, 12) == 2 and pps(1, pg_seed(ps, 12), 12) == 0xe38efe44
    ps = object_ps("rbd_data.1234567890ab.0000000000000000")
    assert pg_seed(ps, 200) == 0x4f and pps(3, 0x4f, 200) == 0xf621fc62
    ps = object_ps("abcdefghijklmnopqrstuvwxyz")
    assert pg_seed(ps, 200) == 0x68 and pps(3, 0x68, 200) == 0xb9c194e2
    assert pps(3, 0x68, 200, hashpspool=False) == 0x68 + 3
    # reducing with pg_num first changes nothing when pgp_num <= pg_num (§2.3)
    for ps in range(0, 2 ** 32, 2 ** 32 // 997):
        assert pps(1, pg_seed(ps, 300), 200) == pps(1, ps, 200)


# --- Appendix B via osdmaptool: pool 1, pg_num 640, HASHPSPOOL -------------------------------

@pytest.fixture(scope="module")
def appendix_b() -> CrushMap:
    return parse_crush_text(FIXTURE.read_text())


def _up(crush, pool, seed, osds):
    return map_pg(crush, pool, seed, osds).up


def test_appendix_b_objects_and_pgs(appendix_b):
    pool = PoolPlacement(1, 640, 640, 3, 0)
    osds = OsdStates.all_up(10)
    for name, seed, up in (("foo", 0x6, [6, 4, 1]), ("bar", 0x4b, [1, 4, 5]),
                           ("rbd_data.1234567890ab.0000000000000000", 0x14f, [5, 0, 9]),
                           ("test-object-1", 0x1e2, [4, 1, 5])):
        assert pg_seed(object_ps(name), 640) == seed
        assert _up(appendix_b, pool, seed, osds) == up
    expected = {0: [8, 0, 7], 1: [8, 5, 4], 2: [8, 3, 5], 3: [4, 5, 8], 4: [1, 7, 8],
                5: [9, 6, 0]}
    for seed, up in expected.items():
        assert _up(appendix_b, pool, seed, osds) == up
    mapped = map_pool(appendix_b, pool, osds)
    assert len(mapped) == 640
    assert mapped == [map_pg(appendix_b, pool, s, osds) for s in range(640)]


def test_appendix_b_osd_out_and_pgp_num(appendix_b):
    out5 = OsdStates.all_up(10)
    out5.weight[5] = 0
    pool = PoolPlacement(1, 640, 640, 3, 0)
    for seed, up in {0: [8, 0, 7], 1: [8, 4, 1], 2: [8, 3, 0], 3: [4, 8, 1], 4: [1, 7, 8]}.items():
        assert _up(appendix_b, pool, seed, out5) == up
    assert map_pool(appendix_b, pool, out5) == [map_pg(appendix_b, pool, s, out5)
                                                 for s in range(640)]
    half = PoolPlacement(1, 640, 320, 3, 0)
    osds = OsdStates.all_up(10)
    for seed, up in {0: [8, 0, 7], 1: [8, 5, 4], 2: [8, 3, 5], 0x140: [4, 5, 1],
                     0x141: [8, 7, 4], 0x27f: [1, 7, 8]}.items():
        assert _up(appendix_b, half, seed, osds) == up
    assert _up(appendix_b, half, 0x140, osds) == _up(appendix_b, half, 0x40, osds)


# --- Appendix C: live Pacific monitor ---------------------------------------------------------

def appendix_c_map() -> CrushMap:
    crush = CrushMap(devices={i: Device(i, f"osd.{i}", "hdd") for i in range(6)})
    crush.buckets[-2] = Bucket(-2, "h0", 1, items=[0, 1], weights=[65536, 32768])
    crush.buckets[-3] = Bucket(-3, "h1", 1, items=[2, 3], weights=[131072, 65536])
    crush.buckets[-4] = Bucket(-4, "h2", 1, items=[4, 5], weights=[65536, 238465])
    crush.buckets[-1] = Bucket(-1, "default", 11, items=[-2, -3, -4],
                               weights=[98304, 196608, 304001])
    crush.rules[0] = Rule(0, "replicated_rule", steps=[
        Step("take", -1), Step("choose_firstn", 0, 0), Step("emit")])
    crush.rules[1] = Rule(1, "rep_host", steps=[
        Step("take", -1), Step("chooseleaf_firstn", 0, 1), Step("emit")])
    crush.rules[2] = Rule(2, "p4", "erasure", 3, 3, steps=[
        Step("set_chooseleaf_tries", 5), Step("set_choose_tries", 100), Step("take", -1),
        Step("chooseleaf_indep", 0, 1), Step("emit")])
    return crush


POOLS = {1: PoolPlacement(1, 12, 12, 3, 1), 2: PoolPlacement(2, 16, 16, 3, 1),
         3: PoolPlacement(3, 200, 200, 3, 1), 4: PoolPlacement(4, 64, 64, 3, 2, erasure=True)}

APPENDIX_C_PGS = """
1.0 [2,0,5] -> [0,2,5] p0     1.1 [5,2,0] -> [0,5,2] p0     1.2 [2,4,0] -> [4,2,0] p4
1.3 [3,5,1] -> [3,5,1] p3     1.4 [5,2,0] -> [0,5,2] p0     1.5 [2,4,0] -> [2,4,0] p2
1.6 [5,2,0] -> [2,5,0] p2     1.7 [5,3,1] -> [3,5,1] p3     1.8 [5,3,1] -> [3,5,1] p3
1.9 [5,2,0] -> [2,5,0] p2     1.a [5,2,1] -> [1,5,2] p1     1.b [1,3,5] -> [1,3,5] p1
3.0 [2,5,1] -> [1,2,5] p1     3.1 [2,1,5] -> [1,2,5] p1     3.2 [0,5,3] -> [3,0,5] p3
3.3 [4,0,2] -> [4,0,2] p4     3.93 [2,5,1] -> [1,2,5] p1    3.c7 [5,2,1] -> [1,5,2] p1
4.0 [4,1,2] -> [4,1,2] p4     4.1 [4,2,0] -> [4,2,0] p4     4.2 [1,3,5] -> [1,3,5] p1
4.3 [0,5,2] -> [0,5,2] p0     4.4 [2,0,5] -> [2,0,5] p2     4.5 [5,0,3] -> [5,0,3] p0
4.6 [0,2,5] -> [0,2,5] p0     4.7 [2,5,1] -> [2,5,1] p2
"""


def _parse_rows(text):
    tokens = text.split()
    for i in range(0, len(tokens), 5):
        pg, raw, _, up, prim = tokens[i:i + 5]
        pool, seed = pg.split(".")
        yield (int(pool), int(seed, 16), [int(v) for v in raw.strip("[]").split(",")],
               [int(v) for v in up.strip("[]").split(",")], int(prim[1:]))


@pytest.fixture()
def appendix_c():
    osds = OsdStates.all_up(6)
    osds.primary_affinity[0] = 0x8000
    osds.primary_affinity[2] = 0x4000
    osds.primary_affinity[5] = 0
    return appendix_c_map(), osds


def test_appendix_c_pgs(appendix_c):
    crush, osds = appendix_c
    rows = list(_parse_rows(APPENDIX_C_PGS))
    assert len(rows) == 26
    for pool, seed, raw, up, primary in rows:
        m = map_pg(crush, POOLS[pool], seed, osds)
        assert (m.raw, m.up, m.up_primary) == (raw, up, primary), f"{pool}.{seed:x}"
        assert (m.acting, m.acting_primary) == (up, primary)


def test_appendix_c_objects(appendix_c):
    crush, osds = appendix_c

    def locate(pool_id, name, nspace=""):
        pool = POOLS[pool_id]
        seed = pg_seed(object_ps(name, nspace), pool.pg_num)
        return seed, pps(pool_id, seed, pool.pgp_num), map_pg(crush, pool, seed, osds)

    seed, x, m = locate(1, "foo")
    assert (seed, x) == (6, 0xd77484f9)
    seed2, _, m2 = locate(1, "foo", "myns")
    assert object_ps("foo", "myns") == 0xa9011cd6 and seed2 == 6 and m2 == m
    seed, x, m = locate(1, "test-object-1")
    assert (seed, x, m.up, m.up_primary) == (2, 0xe38efe44, [4, 2, 0], 4)
    seed, x, m = locate(3, "rbd_data.1234567890ab.0000000000000000")
    assert (seed, x, m.raw, m.up, m.up_primary) == (0x4f, 0xf621fc62, [5, 2, 0], [5, 2, 0], 5)
    seed, _, m = locate(3, "foo", "ns")
    assert (seed, m.raw, m.up, m.up_primary) == (0xb6, [5, 2, 1], [1, 5, 2], 1)
    seed, _, m = locate(4, "bar")
    assert object_ps("bar") == 0xefe6384b
    assert (seed, m.up, m.up_primary) == (0xb, [0, 2, 4], 0)


def test_appendix_c_map_pool_equals_map_pg(appendix_c):
    crush, osds = appendix_c
    for pool in POOLS.values():
        mapped = map_pool(crush, pool, osds)
        assert mapped == [map_pg(crush, pool, s, osds) for s in range(pool.pg_num)]


def test_appendix_c_upmap(appendix_c):
    crush, osds = appendix_c
    pool = POOLS[3]
    osds.pg_upmap_items[(3, 0)] = [(2, 3)]
    osds.pg_upmap[(3, 3)] = [1, 2, 4]
    osds.pg_upmap_items[(3, 5)] = [(0, 1)]
    osds.pg_upmap_items[(3, 1)] = [(5, 4)]             # the monitor dropped 0 -> 1
    m = map_pg(crush, pool, 0, osds)
    assert (m.raw, m.up, m.up_primary) == ([2, 5, 1], [3, 5, 1], 3)
    m = map_pg(crush, pool, 3, osds)
    assert (m.up, m.up_primary) == ([1, 2, 4], 1)
    m = map_pg(crush, pool, 5, osds)
    assert (m.raw, m.up, m.up_primary) == ([5, 3, 0], [3, 5, 1], 3)
    m = map_pg(crush, pool, 1, osds)
    assert (m.up, m.up_primary) == ([1, 2, 4], 1)
    osds.pg_upmap_items[(3, 1)] = [(5, 4), (0, 1)]     # 0 is not in the set: no effect
    assert map_pg(crush, pool, 1, osds).up == [1, 2, 4]
    assert map_pool(crush, pool, osds) == [map_pg(crush, pool, s, osds) for s in range(200)]


def test_upmap_rules():
    crush = appendix_c_map()
    pool = POOLS[3]
    osds = OsdStates.all_up(6)
    raw = map_pg(crush, pool, 0, osds).raw                       # [2, 5, 1]
    osds.pg_upmap_items[(3, 0)] = [(2, 5)]                       # target already there
    assert map_pg(crush, pool, 0, osds).up == raw
    osds.pg_upmap_items[(3, 0)] = [(2, 3)]
    osds.weight[3] = 0                                           # target marked out
    assert map_pg(crush, pool, 0, osds).up == raw
    osds.weight[3] = 0x10000
    osds.pg_upmap[(3, 0)] = [0, 3, 4]
    osds.pg_upmap_items[(3, 0)] = [(4, 2)]
    assert map_pg(crush, pool, 0, osds).up == [0, 3, 2]          # upmap, then items
    osds.weight[4] = 0                                           # refused pg_upmap skips items too
    assert map_pg(crush, pool, 0, osds).raw == map_pg(crush, pool, 0, osds).up == [2, 5, 1]


def test_down_nonexistent_and_temp():
    crush = appendix_c_map()
    rep, ec = POOLS[3], POOLS[4]
    osds = OsdStates.all_up(6)
    base_rep = map_pg(crush, rep, 0, osds)                       # [2, 5, 1]
    base_ec = map_pg(crush, ec, 5, osds)                         # [5, 0, 3]
    osds.up[5] = False                                           # down but still in CRUSH
    m = map_pg(crush, rep, 0, osds)
    assert (m.raw, m.up, m.up_primary) == ([2, 5, 1], [2, 1], 2)
    m = map_pg(crush, ec, 5, osds)
    assert (m.raw, m.up, m.up_primary) == ([5, 0, 3], [NONE, 0, 3], 0)
    osds.up[5] = True
    osds.exists[5] = False                                       # gone from the OSDMap
    assert map_pg(crush, rep, 0, osds).raw == [2, 1]
    assert map_pg(crush, ec, 5, osds).raw == [NONE, 0, 3]
    osds.exists[5] = True
    osds.pg_temp[(3, 0)] = [4, 5, 0]
    m = map_pg(crush, rep, 0, osds)
    assert (m.up, m.acting, m.acting_primary) == (base_rep.up, [4, 5, 0], 4)
    osds.primary_temp[(3, 0)] = 0
    assert map_pg(crush, rep, 0, osds).acting_primary == 0
    osds.up[4] = False
    osds.pg_temp[(4, 5)] = [4, 0, 3]
    m = map_pg(crush, ec, 5, osds)
    assert (m.acting, m.acting_primary) == ([NONE, 0, 3], 0)
    assert map_pool(crush, ec, osds)[5] == m and base_ec.up == [5, 0, 3]


def test_rule_must_fit_pool():
    crush = appendix_c_map()
    osds = OsdStates.all_up(6)
    too_big = PoolPlacement(9, 8, 8, 4, 2, erasure=True)         # p4 has max_size 3
    wrong_type = PoolPlacement(9, 8, 8, 3, 2)                    # erasure rule, replicated pool
    missing = PoolPlacement(9, 8, 8, 3, 7)
    for pool in (too_big, wrong_type, missing):
        assert map_pg(crush, pool, 1, osds) == PgMapping([], [], -1, [], -1)
        assert map_pool(crush, pool, osds)[1] == PgMapping([], [], -1, [], -1)
