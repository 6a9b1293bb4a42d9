"""cluster.osdmap: bootstrap, placement through cluster.placement, cache, pickling, epochs.

LIVE_CRUSH / LIVE_PGS were taken from a Pacific 16.2.15 cluster (one mon, three memstore
OSDs on hosts host0..host2, `ceph osd getcrushmap | crushtool -d` and `ceph pg dump
pgs_brief`): the map must place every PG exactly where that cluster did.
"""
import pickle
import re

import pytest

import cluster.osdmap as osdmap_mod
from cluster.config import CephConfig, bundled_config_path
from cluster.osdmap import (FLAG_HASHPSPOOL, OSDMap, OsdInfo, Pool, build_initial_osdmap,
                            pool_flag_names)
from cluster.placement import map_pg

LIVE_CRUSH = """
tunable choose_local_tries 0
tunable choose_local_fallback_tries 0
tunable choose_total_tries 50
tunable chooseleaf_descend_once 1
tunable chooseleaf_vary_r 1
tunable chooseleaf_stable 1
tunable straw_calc_version 1
tunable allowed_bucket_algs 54
device 0 osd.0 class hdd
device 1 osd.1 class hdd
device 2 osd.2 class hdd
type 0 osd
type 1 host
type 2 chassis
type 3 rack
type 4 row
type 5 pdu
type 6 pod
type 7 room
type 8 datacenter
type 9 zone
type 10 region
type 11 root
host host0 {
	id -3		# do not change unnecessarily
	id -4 class hdd		# do not change unnecessarily
	# weight 0.001
	alg straw2
	hash 0	# rjenkins1
	item osd.0 weight 0.001
}
host host1 {
	id -5
	id -6 class hdd
	alg straw2
	hash 0
	item osd.1 weight 0.001
}
host host2 {
	id -7
	id -8 class hdd
	alg straw2
	hash 0
	item osd.2 weight 0.001
}
root default {
	id -1
	id -2 class hdd
	alg straw2
	hash 0
	item host0 weight 0.001
	item host1 weight 0.001
	item host2 weight 0.001
}
rule replicated_rule {
	id 0
	type replicated
	min_size 1
	max_size 10
	step take default
	step chooseleaf firstn 0 type host
	step emit
}
"""

# pool 1 (pg_num 1) and pool 2 'rbd' (pg_num 32): pgid, up, up_primary
LIVE_PGS = """
2.1f [0,1,2] 0   2.1e [0,2,1] 0   2.1d [2,1,0] 2   2.1c [2,1,0] 2   2.b [2,1,0] 2
2.a [2,0,1] 2    2.9 [0,1,2] 0    2.8 [1,2,0] 1    2.7 [1,2,0] 1    2.6 [0,2,1] 0
2.5 [2,0,1] 2    2.4 [0,2,1] 0    2.2 [1,0,2] 1    2.1 [0,2,1] 0    2.0 [1,2,0] 1
2.3 [1,0,2] 1    1.0 [1,2,0] 1    2.c [2,0,1] 2    2.d [2,1,0] 2    2.e [0,2,1] 0
2.f [2,1,0] 2    2.10 [2,0,1] 2   2.11 [1,0,2] 1   2.12 [2,0,1] 2   2.13 [2,1,0] 2
2.14 [1,2,0] 1   2.15 [2,0,1] 2   2.16 [1,2,0] 1   2.17 [1,2,0] 1   2.18 [2,1,0] 2
2.19 [0,1,2] 0   2.1a [1,2,0] 1   2.1b [2,1,0] 2
"""
FSID = "5a0c8d6e-1f2b-4c3d-8e9f-0a1b2c3d4e5f"


def conf_of(text: str, tmp_path=None) -> CephConfig:
    conf = CephConfig()
    if tmp_path is not None:
        path = tmp_path / "ceph.conf"
        path.write_text(text)
        conf.read_file(str(path))
    else:
        conf.parse_text(text)
    return conf


@pytest.fixture
def live_map(tmp_path) -> OSDMap:
    (tmp_path / "live.txt").write_text(LIVE_CRUSH)
    conf = conf_of("[rayceph]\ncrush map = live.txt\npools = device_health_metrics,rbd\n",
                   tmp_path)
    m = build_initial_osdmap(conf, FSID, stamp=1000.0)
    m.pools[1].pg_num = m.pools[1].pgp_num = 1
    m.invalidate_placement()
    return m


@pytest.fixture
def default_map() -> OSDMap:
    conf = CephConfig()
    conf.read_file(bundled_config_path("default"))
    return build_initial_osdmap(conf, FSID, stamp=1000.0)


def test_live_cluster_placement(live_map):
    m = live_map
    rows = re.findall(r"(\d+)\.([0-9a-f]+) \[([\d,]+)\] (\d+)", LIVE_PGS)
    assert len(rows) == 33
    for pool, seed, up, primary in rows:
        mp = m.pg_to_up_acting(int(pool), int(seed, 16))
        assert mp.up == [int(o) for o in up.split(",")], (pool, seed)
        assert mp.up_primary == int(primary) and mp.acting == mp.up
    # ceph osd map rbd foo -> 2.7fc1f406 (2.6), ns myns -> 2.16
    assert m.object_locator_to_pg(2, "foo") == 6
    assert m.pg_to_acting(2, 6) == ([0, 2, 1], 0)
    assert m.object_locator_to_pg(2, "foo", "myns") == 0x16
    assert m.pg_to_acting(2, 0x16) == ([1, 2, 0], 1)
    assert m.object_locator_to_pg(2, "anything", "", "foo") == 6      # locator key wins
    assert [m.osds[o].host for o in range(3)] == ["host0", "host1", "host2"]


def test_default_bootstrap(default_map):
    m = default_map
    assert (m.epoch, m.fsid, m.created) == (1, FSID, 1000.0)
    assert sorted(m.osds) == [0, 1, 2]
    assert [m.osds[o].host for o in range(3)] == ["host0", "host1", "host2"]
    assert all(i.up and i.in_ and i.exists and i.weight == 1.0 for i in m.osds.values())
    assert m.num_osds == m.num_up_osds == m.num_in_osds == 3
    rbd = m.get_pool("rbd")
    assert rbd is m.get_pool(1) and m.pool_names == {"rbd": 1} and m.pool_max == 1
    assert (rbd.size, rbd.min_size, rbd.pg_num, rbd.pgp_num, rbd.crush_rule) == (3, 2, 32, 32, 0)
    assert rbd.flags == FLAG_HASHPSPOOL and rbd.hashpspool
    assert rbd.application_metadata == {"rbd": {}}
    assert (rbd.snap_mode, rbd.snap_seq, rbd.snaps, rbd.removed_snaps) == ("", 0, {}, set())
    assert rbd.object_hash == 2 and rbd.type == "replicated"
    assert m.get_pool("nope") is None and m.get_pool(7) is None and m.get_pool(None) is None
    assert m.flags == {"sortbitwise", "recovery_deletes", "purged_snapdirs", "pglog_hardlimit"}
    crush = m.crush
    assert [crush.buckets[b].name for b in (-1, -2, -3, -4)] == \
        ["default", "host0", "host1", "host2"]
    assert m.bootstrap_options["mon_allow_pool_delete"] is True


def test_laptop_bootstrap():
    conf = CephConfig()
    conf.read_file(bundled_config_path("laptop"))
    m = build_initial_osdmap(conf, FSID)
    assert sorted(m.osds) == list(range(12))
    assert [m.osds[o].host for o in range(12)] == [f"host{o // 3}" for o in range(12)]
    for seed in range(m.pools[1].pg_num):
        acting, primary = m.pg_to_acting(1, seed)
        assert len({m.osds[o].host for o in acting}) == 3 and primary == acting[0]


def test_bootstrap_pool_defaults_and_options():
    conf = conf_of("[global]\nosd pool default size = 4\nosd pool default pg num = 16\n"
                   "osd pool default flag hashpspool = false\n"
                   "[rayceph]\nhosts = 4\npools = a, b c\n")
    m = build_initial_osdmap(conf, FSID)
    assert [(p.id, p.name) for p in m.pools.values()] == [(1, "a"), (2, "b"), (3, "c")]
    a = m.pools[1]
    assert (a.size, a.min_size, a.pg_num, a.pgp_num, a.flags) == (4, 2, 16, 16, 0)
    assert a.application_metadata == {}
    conf = conf_of("[global]\nosd pool default size = 5\nosd crush chooseleaf type = 0\n"
                   "[rayceph]\nhosts = 1\nosds per host = 5\n")
    m = build_initial_osdmap(conf, FSID)
    assert m.pools[1].min_size == 3                       # 5 - 5/2
    assert len(set(m.pg_to_acting(1, 0)[0])) == 5         # choose firstn 0 type osd


def test_bootstrap_errors_name_the_key(tmp_path):
    with pytest.raises(ValueError, match="^hosts: must be >= 1"):
        build_initial_osdmap(conf_of("[rayceph]\nhosts = 0\n"), FSID)
    with pytest.raises(ValueError, match="^crush map: cannot read"):
        build_initial_osdmap(conf_of("[rayceph]\ncrush map = /nonexistent/map.txt\n"), FSID)
    (tmp_path / "bad.txt").write_text("this is not a crush map {")
    with pytest.raises(ValueError, match="^crush map: "):
        build_initial_osdmap(conf_of(f"[rayceph]\ncrush map = {tmp_path}/bad.txt\n"), FSID)
    with pytest.raises(ValueError, match="^osd_pool_default_crush_rule"):
        build_initial_osdmap(conf_of("[global]\nosd pool default crush rule = 5\n"), FSID)


def test_placement_agrees_with_cluster_placement(default_map):
    m = default_map.copy_for_next_epoch()
    m.osds[1].up = False                       # down but in: stays in CRUSH, not in up
    m.osds[2].weight = 0.5
    m.osds[0].primary_affinity = 0.25
    m.pg_temp[(1, 3)] = [2, 0]
    for seed in range(m.pools[1].pg_num):
        assert m.pg_to_up_acting(1, seed) == map_pg(m.crush, m.pools[1].placement(), seed,
                                                    m.osd_states())
        assert m.pg_to_up_acting(1, seed) == m.map_pg_uncached(1, seed)
        assert 1 not in m.pg_to_up_acting(1, seed).up
    assert m.pg_to_acting(1, 3) == ([2, 0], 2)
    states = m.osd_states()
    assert states.up == [True, False, True]
    assert states.weight == [0x10000, 0x10000, 0x8000]
    assert states.primary_affinity == [0x4000, 0x10000, 0x10000]
    with pytest.raises(KeyError):
        m.pg_to_acting(9, 0)
    with pytest.raises(IndexError):
        m.pg_to_acting(1, 32)
    with pytest.raises(KeyError):
        m.object_locator_to_pg(9, "foo")


def test_whole_pool_is_mapped_once_per_epoch(default_map, monkeypatch):
    calls = []
    real = osdmap_mod.map_pool

    def counting(crush, pool, states):
        calls.append(pool.pool_id)
        return real(crush, pool, states)

    monkeypatch.setattr(osdmap_mod, "map_pool", counting)
    m = default_map
    for seed in list(range(32)) * 3:
        m.pg_to_acting(1, seed)
    assert calls == [1]
    nxt = m.copy_for_next_epoch()
    assert nxt._cache == {} and nxt._states is None
    nxt.pg_to_acting(1, 0)
    assert calls == [1, 1]
    m.pg_to_acting(1, 5)                       # the old epoch keeps its own cache
    assert calls == [1, 1]


def test_pickle_is_small_and_has_no_cache(default_map):
    m = default_map
    cold = pickle.dumps(m)
    for seed in range(32):
        m.pg_to_acting(1, seed)
    assert m._cache
    warm = pickle.dumps(m)
    assert warm == cold                        # the cache never travels
    assert len(warm) < 8000, len(warm)
    back = pickle.loads(warm)
    assert back._cache == {} and back._states is None
    assert back.epoch == m.epoch and back.pools == m.pools and back.osds == m.osds
    assert [back.pg_to_acting(1, s) for s in range(32)] == [m.pg_to_acting(1, s)
                                                            for s in range(32)]
    back.pg_to_acting(1, 0)                    # the unpickled lock works
    assert pickle.loads(pickle.dumps(back)).pools == m.pools


def test_copy_for_next_epoch_leaves_the_original_alone(default_map):
    m = default_map
    nxt = m.copy_for_next_epoch(stamp=2000.0)
    assert (nxt.epoch, nxt.modified, m.epoch, m.modified) == (2, 2000.0, 1, 1000.0)
    nxt.pools[1].size = 2
    nxt.pools[1].application_metadata["rbd"]["k"] = "v"
    nxt.pools[1].removed_snaps.add(3)
    nxt.osds[0].up = False
    nxt.flags.add("noout")
    nxt.namespaces.setdefault(1, set()).add("ns")
    nxt.pools[2] = Pool(id=2, name="x")
    nxt.pool_names["x"] = 2
    assert m.pools[1].size == 3 and m.pools[1].application_metadata == {"rbd": {}}
    assert m.pools[1].removed_snaps == set() and m.osds[0].up
    assert "noout" not in m.flags and m.namespaces == {} and 2 not in m.pools
    assert "x" not in m.pool_names and nxt.crush is m.crush


def test_value_types():
    p = Pool(id=3, name="p", flags=FLAG_HASHPSPOOL | (1 << 13))
    assert pool_flag_names(p.flags) == "hashpspool,selfmanaged_snaps"
    assert p.has_flag("selfmanaged_snaps") and not p.has_flag("nodelete")
    p.snaps[4] = ("s", 1.0)
    assert p.snap_by_name("s") == 4 and p.snap_by_name("t") is None
    pl = p.placement()
    assert (pl.pool_id, pl.pg_num, pl.size, pl.hashpspool, pl.erasure) == (3, 32, 3, True, False)
    info = OsdInfo()
    assert (info.exists, info.up, info.in_, info.weight, info.primary_affinity) == \
        (True, True, True, 1.0, 1.0)
    m = OSDMap()
    assert m.max_osd == 0 and m.num_up_osds == 0 and m.osd_states().exists == []
