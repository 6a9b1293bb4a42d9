"""cluster.monitor.MonitorCore: Ceph's command outputs, errors, epochs, internal calls.

Expected texts marked LIVE come from a Pacific 16.2.15 monitor (same cluster as
test_osdmap's LIVE_CRUSH: one mon, 3 memstore OSDs on host0..host2, pool 2 'rbd').
"""
import errno
import json
import random

import pytest

from cluster.config import CephConfig, bundled_config_path
from cluster.monitor import FIRST_GID, MonitorCore
from cluster.osdmap import build_initial_osdmap

from .test_osdmap import FSID, LIVE_CRUSH


class Clock:
    def __init__(self, t: float = 1_800_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def make_mon(text: str = "", clock=None, tmp_path=None) -> MonitorCore:
    conf = CephConfig()
    conf.read_file(bundled_config_path("default"))
    if text:
        conf.parse_text(open(bundled_config_path("default")).read() + "\n" + text)
    clock = clock or Clock()
    return MonitorCore(build_initial_osdmap(conf, FSID, stamp=clock()), clock=clock)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def mon(clock):
    return make_mon(clock=clock)


@pytest.fixture
def live_mon(tmp_path, clock):
    """The live cluster's map: pool 1 device_health_metrics (1 PG), pool 2 rbd (32 PGs)."""
    (tmp_path / "live.txt").write_text(LIVE_CRUSH)
    conf = CephConfig()
    path = tmp_path / "ceph.conf"
    path.write_text("[global]\nmon allow pool delete = true\n"
                    "[rayceph]\ncrush map = live.txt\npools = device_health_metrics,rbd\n")
    conf.read_file(str(path))
    m = build_initial_osdmap(conf, FSID, stamp=clock())
    m.pools[1].pg_num = m.pools[1].pgp_num = m.pools[1].pg_num_target = 1
    m.pools[1].pgp_num_target = 1
    m.pools[1].application_metadata = {"mgr_devicehealth": {}}
    m.invalidate_placement()
    return MonitorCore(m, clock=clock)


def run(mon, prefix, **kw):
    return mon.handle_command(dict(prefix=prefix, **kw))


def js(mon, prefix, **kw):
    ret, out, outs = run(mon, prefix, format="json", **kw)
    assert ret == 0, (prefix, kw, outs)
    return json.loads(out)


def plain(mon, prefix, **kw):
    ret, out, outs = run(mon, prefix, **kw)
    assert ret == 0, (prefix, kw, outs)
    return out.decode()


# --- LIVE comparisons ----------------------------------------------------------------------

LIVE_OSD_TREE = """\
ID  CLASS  WEIGHT   TYPE NAME       STATUS  REWEIGHT  PRI-AFF
-1         0.00298  root default                             
-3         0.00099      host host0                           
 0    hdd  0.00099          osd.0       up   1.00000  1.00000
-5         0.00099      host host1                           
 1    hdd  0.00099          osd.1       up   1.00000  1.00000
-7         0.00099      host host2                           
 2    hdd  0.00099          osd.2       up   1.00000  1.00000
"""
LIVE_OSD_TREE_JSON = (
    '{"nodes":[{"id":-1,"name":"default","type":"root","type_id":11,"children":[-7,-5,-3]},'
    '{"id":-3,"name":"host0","type":"host","type_id":1,"pool_weights":{},"children":[0]},'
    '{"id":0,"device_class":"hdd","name":"osd.0","type":"osd","type_id":0,'
    '"crush_weight":0.0009918212890625,"depth":2,"pool_weights":{},"exists":1,"status":"up",'
    '"reweight":1,"primary_affinity":1},'
    '{"id":-5,"name":"host1","type":"host","type_id":1,"pool_weights":{},"children":[1]},'
    '{"id":1,"device_class":"hdd","name":"osd.1","type":"osd","type_id":0,'
    '"crush_weight":0.0009918212890625,"depth":2,"pool_weights":{},"exists":1,"status":"up",'
    '"reweight":1,"primary_affinity":1},'
    '{"id":-7,"name":"host2","type":"host","type_id":1,"pool_weights":{},"children":[2]},'
    '{"id":2,"device_class":"hdd","name":"osd.2","type":"osd","type_id":0,'
    '"crush_weight":0.0009918212890625,"depth":2,"pool_weights":{},"exists":1,"status":"up",'
    '"reweight":1,"primary_affinity":1}],"stray":[]}')
LIVE_CRUSH_TREE = """\
ID  CLASS  WEIGHT   TYPE NAME     
-1         0.00298  root default  
-3         0.00099      host host0
 0    hdd  0.00099          osd.0 
-5         0.00099      host host1
 1    hdd  0.00099          osd.1 
-7         0.00099      host host2
 2    hdd  0.00099          osd.2 
"""
LIVE_RULE = {"rule_id": 0, "rule_name": "replicated_rule", "ruleset": 0, "type": 1,
             "min_size": 1, "max_size": 10,
             "steps": [{"op": "take", "item": -1, "item_name": "default"},
                       {"op": "chooseleaf_firstn", "num": 0, "type": "host"}, {"op": "emit"}]}
LIVE_TUNABLES = {
    "choose_local_tries": 0, "choose_local_fallback_tries": 0, "choose_total_tries": 50,
    "chooseleaf_descend_once": 1, "chooseleaf_vary_r": 1, "chooseleaf_stable": 1,
    "straw_calc_version": 1, "allowed_bucket_algs": 54, "profile": "jewel",
    "optimal_tunables": 1, "legacy_tunables": 0, "minimum_required_version": "jewel",
    "require_feature_tunables": 1, "require_feature_tunables2": 1, "has_v2_rules": 0,
    "require_feature_tunables3": 1, "has_v3_rules": 0, "has_v4_buckets": 1,
    "require_feature_tunables5": 1, "has_v5_rules": 0}


def test_live_osd_tree_and_crush(live_mon):
    assert plain(live_mon, "osd tree") == LIVE_OSD_TREE
    assert run(live_mon, "osd tree", format="json")[1].decode() == LIVE_OSD_TREE_JSON
    assert plain(live_mon, "osd crush tree") == LIVE_CRUSH_TREE
    dump = js(live_mon, "osd crush dump")
    assert dump["rules"] == [LIVE_RULE] and dump["tunables"] == LIVE_TUNABLES
    assert dump["devices"][0] == {"id": 0, "name": "osd.0", "class": "hdd"}
    assert [b["id"] for b in dump["buckets"]] == [-1, -2, -3, -4, -5, -6, -7, -8]
    assert dump["buckets"][0] == {
        "id": -1, "name": "default", "type_id": 11, "type_name": "root", "weight": 195,
        "alg": "straw2", "hash": "rjenkins1",
        "items": [{"id": -3, "weight": 65, "pos": 0}, {"id": -5, "weight": 65, "pos": 1},
                  {"id": -7, "weight": 65, "pos": 2}]}
    assert dump["types"][11] == {"type_id": 11, "name": "root"} and dump["choose_args"] == {}
    assert js(live_mon, "osd crush rule dump") == [LIVE_RULE]
    assert js(live_mon, "osd crush rule dump", name="replicated_rule") == LIVE_RULE
    assert run(live_mon, "osd crush rule dump", name="nope")[0] == -errno.ENOENT
    assert js(live_mon, "osd crush rule ls") == ["replicated_rule"]
    assert plain(live_mon, "osd crush rule ls") == "replicated_rule\n"
    # plain crush dump is pretty JSON, as Ceph's
    assert json.loads(plain(live_mon, "osd crush dump")) == dump


def test_live_osd_map(live_mon):
    doc = js(live_mon, "osd map", pool="rbd", object="foo")
    assert doc == {"epoch": 1, "pool": "rbd", "pool_id": 2, "objname": "foo",
                   "raw_pgid": "2.7fc1f406", "pgid": "2.6", "up": [0, 2, 1], "up_primary": 0,
                   "acting": [0, 2, 1], "acting_primary": 0}
    assert plain(live_mon, "osd map", pool="rbd", object="foo") == (
        "osdmap e1 pool 'rbd' (2) object 'foo' -> pg 2.7fc1f406 (2.6) -> up ([0,2,1], p0) "
        "acting ([0,2,1], p0)\n")
    assert plain(live_mon, "osd map", pool="rbd", object="foo", nspace="myns") == (
        "osdmap e1 pool 'rbd' (2) object 'myns/foo' -> pg 2.a9011cd6 (2.16) -> up ([1,2,0], "
        "p1) acting ([1,2,0], p1)\n")
    assert run(live_mon, "osd map", pool="nopool", object="foo") == \
        (-errno.ENOENT, b"", "pool nopool does not exist")
    assert js(live_mon, "pg map", pgid="2.6") == {"epoch": 1, "raw_pgid": "2.6", "pgid": "2.6",
                                                   "up": [0, 2, 1], "acting": [0, 2, 1]}
    assert plain(live_mon, "pg map", pgid="2.ff") == \
        "osdmap e1 pg 2.ff (2.1f) -> up [0,1,2] acting [0,1,2]\n"
    assert run(live_mon, "pg map", pgid="9.0") == (-errno.ENOENT, b"", "pg '9.0' does not exist")
    assert run(live_mon, "pg map", pgid="bogus") == (-errno.EINVAL, b"", "invalid pgid 'bogus'")


def test_live_pool_dumps(live_mon):
    assert plain(live_mon, "osd pool ls", detail="detail").splitlines()[1] == (
        "pool 2 'rbd' replicated size 3 min_size 2 crush_rule 0 object_hash rjenkins pg_num 32 "
        "pgp_num 32 autoscale_mode off last_change 1 flags hashpspool stripe_width 0 "
        "application rbd")
    assert plain(live_mon, "osd pool ls") == "device_health_metrics\nrbd\n"
    assert js(live_mon, "osd pool ls") == ["device_health_metrics", "rbd"]
    detail = js(live_mon, "osd pool ls", detail="detail")
    assert [p["pool_id"] for p in detail] == [1, 2]
    rbd = detail[1]
    for key, value in {"pool_name": "rbd", "flags": 1, "flags_names": "hashpspool", "type": 1,
                       "size": 3, "min_size": 2, "crush_rule": 0, "object_hash": 2,
                       "pg_num": 32, "pg_placement_num": 32, "pg_num_target": 32,
                       "last_change": "1", "snap_mode": "selfmanaged", "snap_seq": 0,
                       "pool_snaps": [], "removed_snaps": "[]", "quota_max_bytes": 0,
                       "application_metadata": {"rbd": {}}}.items():
        assert rbd[key] == value, key
    assert js(live_mon, "osd pool get", pool="rbd", var="size") == \
        {"pool": "rbd", "pool_id": 2, "size": 3}
    assert plain(live_mon, "osd pool get", pool="rbd", var="crush_rule") == \
        "crush_rule: replicated_rule\n"
    assert js(live_mon, "osd pool get", pool="rbd", var="all") == {
        "pool": "rbd", "pool_id": 2, "size": 3, "min_size": 2, "pg_num": 32, "pgp_num": 32,
        "crush_rule": "replicated_rule", "hashpspool": True, "nodelete": False,
        "nopgchange": False, "nosizechange": False, "write_fadvise_dontneed": False,
        "noscrub": False, "nodeep-scrub": False, "use_gmt_hitset": True, "fast_read": 0,
        "pg_autoscale_mode": "off", "bulk": False}
    assert plain(live_mon, "osd pool get", pool="rbd", var="all").splitlines()[12] == \
        "use_gmt_hitset: 1"
    assert run(live_mon, "osd pool get", pool="rbd", var="nosuchvar") == \
        (-errno.EINVAL, b"", "pool 'rbd': invalid variable: 'nosuchvar'")
    assert run(live_mon, "osd pool get", pool="rbd") == \
        (-errno.EINVAL, b"", "pool 'rbd': invalid variable: ''")
    assert run(live_mon, "osd pool get", pool="nopool", var="size") == \
        (-errno.ENOENT, b"", "unrecognized pool 'nopool'")


def test_live_pgs_brief(live_mon):
    doc = js(live_mon, "pg dump", dumpcontents=["pgs_brief"])
    assert doc["pg_ready"] is True and len(doc["pg_stats"]) == 33
    assert doc["pg_stats"][0] == {"pgid": "1.0", "state": "active+clean", "up": [1, 2, 0],
                                  "acting": [1, 2, 0], "up_primary": 1, "acting_primary": 1}
    ret, out, outs = run(live_mon, "pg dump", dumpcontents=["pgs_brief"])
    lines = out.decode().splitlines()
    assert outs == "dumped pgs_brief"
    assert lines[0] == "PG_STAT  STATE         UP       UP_PRIMARY  ACTING   ACTING_PRIMARY"
    assert "2.1f     active+clean  [0,1,2]           0  [0,1,2]               0" in lines
    full = js(live_mon, "pg dump")
    assert len(full["pg_map"]["pg_stats"]) == 33
    entry = full["pg_map"]["pg_stats"][1]
    assert entry["pgid"] == "2.0" and entry["up"] == [1, 2, 0] and entry["state"] == "active+clean"
    assert plain(live_mon, "pg stat") == \
        "33 pgs: 33 active+clean; 0 B data, 0 B used, 3 GiB / 3 GiB avail\n"
    stat = js(live_mon, "pg stat")["pg_summary"]
    assert stat["num_pg_by_state"] == [{"name": "active+clean", "num": 33}]
    assert stat["num_pgs"] == 33
    ls = js(live_mon, "pg ls", pool=2)
    assert [e["pgid"] for e in ls["pg_stats"]][:3] == ["2.0", "2.1", "2.2"]
    assert js(live_mon, "pg ls", pool=2, states=["inconsistent"]) == {"pg_ready": True}


def test_live_df(live_mon):
    doc = js(live_mon, "df")
    assert doc["stats"]["total_bytes"] == 3 << 30 and doc["stats"]["num_osds"] == 3
    assert set(doc["stats_by_class"]) == {"hdd"}
    rbd = doc["pools"][1]
    assert rbd["name"] == "rbd" and rbd["id"] == 2
    assert set(rbd["stats"]) == {"stored", "objects", "kb_used", "bytes_used", "percent_used",
                                 "max_avail"}
    # Ceph: (min projected avail - raw * (1 - full_ratio)) / size, 1 GiB per OSD
    assert rbd["stats"]["max_avail"] == int((3 << 30) * 0.95) // 3 or \
        abs(rbd["stats"]["max_avail"] - (3 << 30) * 0.95 / 3) < 4
    detail = js(live_mon, "df", detail="detail")["pools"][1]["stats"]
    assert detail["quota_objects"] == 0 and "avail_raw" in detail
    text = plain(live_mon, "df")
    assert text.splitlines()[:4] == [
        "--- RAW STORAGE ---",
        "CLASS   SIZE  AVAIL  USED  RAW USED  %RAW USED",
        "hdd    3 GiB  3 GiB   0 B       0 B          0",
        "TOTAL  3 GiB  3 GiB   0 B       0 B          0"]
    assert text.splitlines()[4:6] == [" ", "--- POOLS ---"]
    assert text.splitlines()[-1].startswith("rbd                     2   32     0 B        0")
    assert text.splitlines()[-1].endswith("973 MiB")


# --- status, health ---------------------------------------------------------------------


def test_status(mon, clock):
    clock.t += 52
    doc = js(mon, "status")
    assert list(doc) == ["fsid", "health", "election_epoch", "quorum", "quorum_names",
                         "quorum_age", "monmap", "osdmap", "pgmap", "fsmap", "mgrmap",
                         "servicemap", "progress_events"]
    assert doc["fsid"] == FSID and doc["quorum_age"] == 52
    assert doc["health"] == {"status": "HEALTH_OK", "checks": {}, "mutes": []}
    assert doc["osdmap"] == {"epoch": 1, "num_osds": 3, "num_up_osds": 3,
                             "osd_up_since": int(clock.t - 52), "num_in_osds": 3,
                             "osd_in_since": int(clock.t - 52), "num_remapped_pgs": 0}
    assert doc["pgmap"]["pgs_by_state"] == [{"state_name": "active+clean", "count": 32}]
    assert doc["pgmap"]["num_pools"] == 1 and doc["pgmap"]["bytes_total"] == 3 << 30
    text = plain(mon, "status")
    assert text == (
        "  cluster:\n"
        f"    id:     {FSID}\n"
        "    health: HEALTH_OK\n"
        " \n"
        "  services:\n"
        "    mon: 1 daemons, quorum a (age 52s)\n"
        "    mgr: a(active, since 52s)\n"
        "    osd: 3 osds: 3 up (since 52s), 3 in (since 52s)\n"
        " \n"
        "  data:\n"
        "    pools:   1 pools, 32 pgs\n"
        "    objects: 0 objects, 0 B\n"
        "    usage:   0 B used, 3 GiB / 3 GiB avail\n"
        "    pgs:     32 active+clean\n"
        " \n")
    assert run(mon, "-s")[1] == text.encode()


def test_health_osd_down(mon, clock):
    assert plain(mon, "health") == "HEALTH_OK\n"
    assert js(mon, "health") == {"status": "HEALTH_OK", "checks": {}, "mutes": []}
    assert run(mon, "osd down", ids=["2"]) == (0, b"", "marked down osd.2. ")
    clock.t += 79
    h = js(mon, "health", detail="detail")
    assert h["status"] == "HEALTH_WARN" and h["mutes"] == []
    assert list(h["checks"]) == ["OSD_DOWN", "OSD_HOST_DOWN", "PG_DEGRADED"]
    assert h["checks"]["OSD_DOWN"] == {
        "severity": "HEALTH_WARN", "summary": {"message": "1 osds down", "count": 1},
        "detail": [{"message": "osd.2 (root=default,host=host2) is down"}], "muted": False}
    assert h["checks"]["OSD_HOST_DOWN"]["summary"] == {"message": "1 host (1 osds) down",
                                                       "count": 1}
    assert h["checks"]["OSD_HOST_DOWN"]["detail"] == \
        [{"message": "host host2 (root=default) (1 osds) is down"}]
    deg = h["checks"]["PG_DEGRADED"]
    assert deg["summary"] == {"message": "Degraded data redundancy: 32 pgs undersized",
                              "count": 32}
    assert deg["detail"][0]["message"].startswith("pg 1.0 is stuck undersized for 79s, "
                                                  "current state active+undersized, last acting [")
    assert "detail" not in js(mon, "health")["checks"]["OSD_DOWN"]
    text = plain(mon, "health", detail="detail")
    assert text.splitlines()[:5] == [
        "HEALTH_WARN 1 osds down; 1 host (1 osds) down; Degraded data redundancy: 32 pgs "
        "undersized",
        "[WRN] OSD_DOWN: 1 osds down",
        "    osd.2 (root=default,host=host2) is down",
        "[WRN] OSD_HOST_DOWN: 1 host (1 osds) down",
        "    host host2 (root=default) (1 osds) is down"]
    assert plain(mon, "health").startswith("HEALTH_WARN 1 osds down; 1 host")
    status = plain(mon, "status")
    assert "            1 osds down\n" in status
    assert "    osd: 3 osds: 2 up (since 79s), 3 in (since 79s)\n" in status
    assert "    pgs:     32 active+undersized\n" in status
    # below min_size: inactive
    run(mon, "osd down", ids=["osd.1"])
    h = js(mon, "health", detail="detail")
    assert h["checks"]["PG_AVAILABILITY"]["summary"]["message"] == \
        "Reduced data availability: 32 pgs inactive"
    assert h["checks"]["OSD_HOST_DOWN"]["summary"]["message"] == "2 hosts (2 osds) down"
    run(mon, "osd down", ids=["0"])
    h = js(mon, "health")
    assert "OSD_ROOT_DOWN" in h["checks"] and "OSD_HOST_DOWN" not in h["checks"]
    assert h["checks"]["OSD_ROOT_DOWN"]["summary"]["message"] == "1 root (3 osds) down"
    assert "32 pgs stale" in h["checks"]["PG_AVAILABILITY"]["summary"]["message"]
    status = plain(mon, "status")
    assert "100.000% pgs not active" in status
    # a down and out OSD is no longer OSD_DOWN
    run(mon, "osd up", ids=["any"])
    run(mon, "osd down", ids=["2"])
    run(mon, "osd out", ids=["2"])
    assert "OSD_DOWN" not in js(mon, "health")["checks"]


def test_health_flags_and_pools(mon):
    assert run(mon, "osd set", key="noout") == (0, b"", "noout is set")
    assert run(mon, "osd set", key="pause") == (0, b"", "pauserd,pausewr is set")
    h = js(mon, "health", detail="detail")
    assert h["checks"]["OSDMAP_FLAGS"] == {
        "severity": "HEALTH_WARN",
        "summary": {"message": "pauserd,pausewr,noout flag(s) set", "count": 21},
        "detail": [], "muted": False}
    assert plain(mon, "osd stat").endswith("\nflags pauserd,pausewr,noout\n")
    assert "         flags pauserd,pausewr,noout\n" in plain(mon, "status")
    assert run(mon, "osd unset", key="pause") == (0, b"", "pauserd,pausewr is unset")
    assert run(mon, "osd set", key="bogus") == (-errno.EINVAL, b"", "unrecognized flag 'bogus'")
    run(mon, "config set", who="mon", name="mon_allow_pool_size_one", value="true")
    run(mon, "osd pool create", pool="one", pg_num=8)
    assert run(mon, "osd pool set", pool="one", var="size", val="1") == \
        (-errno.EPERM, b"", "WARNING: setting pool size 1 could lead to data loss without "
                            "recovery. If you are *ABSOLUTELY CERTAIN* that is what you want, "
                            "pass the flag --yes-i-really-mean-it.")
    assert run(mon, "osd pool set", pool="one", var="size", val="1",
               yes_i_really_mean_it=True)[0] == 0
    h = js(mon, "health", detail="detail")
    assert h["checks"]["POOL_NO_REDUNDANCY"]["summary"] == \
        {"message": "1 pool(s) have no replicas configured", "count": 1}
    assert h["checks"]["POOL_NO_REDUNDANCY"]["detail"] == \
        [{"message": "pool 'one' has no replicas configured"}]
    run(mon, "osd pool create", pool="p2", pg_num=16, pgp_num=8)
    h = js(mon, "health", detail="detail")
    assert h["checks"]["SMALLER_PGP_NUM"]["detail"] == \
        [{"message": "pool p2 pg_num 16 > pgp_num 8"}]


# --- pools ----------------------------------------------------------------------------------


def test_pool_create(mon):
    e = mon.get_osdmap().epoch
    assert run(mon, "osd pool create", pool="p2", pg_num=16, pgp_num=8) == \
        (0, b"", "pool 'p2' created")
    m = mon.get_osdmap()
    assert m.epoch == e + 1
    p = m.get_pool("p2")
    assert (p.id, p.pg_num, p.pgp_num, p.size, p.min_size, p.last_change) == \
        (2, 16, 8, 3, 2, e + 1)
    assert run(mon, "osd pool create", pool="p2", pg_num=16) == \
        (0, b"", "pool 'p2' already exists")
    assert mon.get_osdmap().epoch == e + 1
    assert run(mon, "osd pool create", pool="p3", pool_type="bogus") == \
        (-errno.EINVAL, b"", "unknown pool type 'bogus'")
    assert run(mon, "osd pool create", pool="p5", pg_num=8, pgp_num=16) == \
        (-errno.ERANGE, b"", "'pgp_num' must be greater than 0 and lower or equal than "
                             "'pg_num', which in this case is 8")
    assert run(mon, "osd pool create", pool="p5", pg_num=-5)[0] == -errno.ERANGE
    assert run(mon, "osd pool create", pool="p5", pg_num=100000) == \
        (-errno.ERANGE, b"", "'pg_num' must be greater than 0 and less than or equal to 65536 "
                             "(you may adjust 'mon max pool pg num' for higher values)")
    assert run(mon, "osd pool create", pool="p5", pg_num=800) == \
        (-errno.ERANGE, b"", " pg_num 800 size 3 would mean 2544 total pgs, which exceeds max 750 "
                             "(mon_max_pg_per_osd 250 * num_in_osds 3)")
    assert run(mon, "osd pool set", pool="p2", var="pg_num", val="900") == \
        (-errno.ERANGE, b"", "pool id 2 pg_num 900 size 3 would mean 2796 total pgs, which "
                             "exceeds max 750 (mon_max_pg_per_osd 250 * num_in_osds 3)")
    assert run(mon, "osd pool create", pool="p5", pg_num="abc") == \
        (-errno.EINVAL, b"", "bad or missing field 'pg_num'")
    assert run(mon, "osd pool create") == (-errno.EINVAL, b"", "bad or missing field 'pool'")
    assert run(mon, "osd pool create", pool="") == (-errno.EINVAL, b"", "(22) Invalid argument")
    assert run(mon, "osd pool create", pool="rr", rule="norule") == \
        (-errno.ENOENT, b"", "specified rule norule doesn't exist")
    assert run(mon, "osd pool create", pool="rr", pg_num=8, rule="replicated_rule",
               size=2)[0] == 0
    rr = mon.get_osdmap().get_pool("rr")
    assert (rr.size, rr.min_size, rr.pg_num) == (2, 2, 8)   # min(default 2, size)
    assert run(mon, "osd pool create", pool="dflt", pg_num=0)[0] == 0
    assert mon.get_osdmap().get_pool("dflt").pg_num == 32
    assert mon.get_osdmap().epoch == e + 3
    assert js(mon, "osd lspools")[-1] == {"poolnum": 4, "poolname": "dflt"}
    assert plain(mon, "osd lspools").splitlines()[0] == "1 rbd"


def test_pool_internal_calls(mon):
    pid = mon.pool_create("x", pg_num=8)
    assert pid == 2 and mon.get_osdmap().get_pool("x").pg_num == 8
    assert mon.pool_create("x") == -errno.EEXIST
    assert mon.pool_create("") == -errno.EINVAL
    assert mon.pool_create("y", pg_num=10 ** 6) == -errno.ERANGE
    assert mon.pool_create("app", application="rbd") == 3
    assert mon.get_osdmap().pools[3].application_metadata == {"rbd": {}}
    assert mon.pool_delete("x") == 0 and mon.get_osdmap().get_pool("x") is None
    assert mon.pool_delete("x") == -errno.ENOENT
    assert mon.pool_create("z") == 4                   # ids are not reused


def test_pool_delete(mon):
    mon.pool_create("p3")
    warning = ("WARNING: this will *PERMANENTLY DESTROY* all data stored in pool p3.  If you "
               "are *ABSOLUTELY CERTAIN* that is what you want, pass the pool name *twice*, "
               "followed by --yes-i-really-really-mean-it.")
    assert run(mon, "osd pool delete", pool="p3") == (-errno.EPERM, b"", warning)
    assert run(mon, "osd pool delete", pool="p3", pool2="p3") == (-errno.EPERM, b"", warning)
    assert run(mon, "osd pool delete", pool="p3", pool2="p4",
               yes_i_really_really_mean_it=True) == (-errno.EPERM, b"", warning)
    assert run(mon, "osd pool delete", pool="nop") == (0, b"", "pool 'nop' does not exist")
    mon.namespace_add(2, "ns")
    e = mon.get_osdmap().epoch
    assert run(mon, "osd pool rm", pool="p3", pool2="p3", yes_i_really_really_mean_it=True) == \
        (0, b"", "pool 'p3' removed")
    m = mon.get_osdmap()
    assert m.epoch == e + 1 and "p3" not in m.pool_names and 2 not in m.namespaces
    strict = make_mon("[global]\nmon allow pool delete = false\n")
    assert run(strict, "osd pool delete", pool="rbd", pool2="rbd",
               yes_i_really_really_mean_it=True) == (
        -errno.EPERM, b"", "pool deletion is disabled; you must first set the "
                           "mon_allow_pool_delete config option to true before you can destroy "
                           "a pool")
    assert strict.pool_delete("rbd") == -errno.EPERM
    run(strict, "config set", who="mon", name="mon_allow_pool_delete", value="true")
    assert strict.pool_delete("rbd") == 0


def test_pool_set(mon):
    mon.pool_create("p2", pg_num=16, pgp_num=8)
    ok = [("size", "2", "set pool 2 size to 2"), ("min_size", "1", "set pool 2 min_size to 1"),
          ("size", "3", "set pool 2 size to 3"), ("pg_num", "32", "set pool 2 pg_num to 32"),
          ("pgp_num", "16", "set pool 2 pgp_num to 16"),
          ("crush_rule", "replicated_rule", "set pool 2 crush_rule to replicated_rule"),
          ("nodelete", "true", "set pool 2 nodelete to true"),
          ("pg_autoscale_mode", "warn", "set pool 2 pg_autoscale_mode to warn")]
    for var, val, msg in ok:
        e = mon.get_osdmap().epoch
        assert run(mon, "osd pool set", pool="p2", var=var, val=val) == (0, b"", msg)
        assert mon.get_osdmap().epoch == e + 1
        assert mon.get_osdmap().get_pool("p2").last_change == e + 1
    p = mon.get_osdmap().get_pool("p2")
    assert (p.size, p.min_size, p.pg_num, p.pgp_num, p.pg_num_target) == (3, 2, 32, 16, 32)
    assert p.has_flag("nodelete") and p.pg_autoscale_mode == "warn"
    assert js(mon, "osd pool get", pool="p2", var="nodelete")["nodelete"] is True
    errors = [
        ("size", "0", -errno.EINVAL, "pool size must be between 1 and 10"),
        ("size", "11", -errno.EINVAL, "pool size must be between 1 and 10"),
        ("size", "abc", -errno.EINVAL, "error parsing integer value 'abc': Expected option "
                                       "value to be integer, got 'abc'"),
        ("size", "1", -errno.EPERM, "configuring pool size as 1 is disabled by default."),
        ("min_size", "4", -errno.EINVAL, "pool min_size must be between 1 and size, which is "
                                         "set to 3"),
        ("min_size", "0", -errno.EINVAL, "pool min_size must be between 1 and size, which is "
                                         "set to 3"),
        ("pgp_num", "64", -errno.EINVAL, "specified pgp_num 64 > pg_num 32"),
        ("crush_rule", "nosuch", -errno.ENOENT, "crush rule nosuch does not exist"),
        ("nosuch", "1", -errno.EINVAL, "unrecognized variable 'nosuch'"),
        ("hashpspool", "false", -errno.EPERM,
         "are you SURE?  this will remap all placement groups in this pool, this triggers large "
         "data movement, pass --yes-i-really-mean-it if you really do.")]
    for var, val, ret, msg in errors:
        e = mon.get_osdmap().epoch
        assert run(mon, "osd pool set", pool="p2", var=var, val=val) == (ret, b"", msg), var
        assert mon.get_osdmap().epoch == e
    assert run(mon, "osd pool set", pool="nop", var="size", val="1") == \
        (-errno.ENOENT, b"", "unrecognized pool 'nop'")
    assert run(mon, "osd pool delete", pool="p2", pool2="p2",
               yes_i_really_really_mean_it=True)[0] == -errno.EPERM          # nodelete
    assert run(mon, "osd pool set", pool="p2", var="hashpspool", val="false",
               yes_i_really_mean_it=True)[0] == 0
    assert not mon.get_osdmap().get_pool("p2").hashpspool


def test_quota(mon):
    assert run(mon, "osd pool set-quota", pool="rbd", field="max_objects", val="100") == \
        (0, b"", "set-quota max_objects = 100 for pool rbd")
    assert run(mon, "osd pool set-quota", pool="rbd", field="max_bytes", val="10G") == \
        (0, b"", "set-quota max_bytes = 10737418240 for pool rbd")
    assert run(mon, "osd pool set-quota", pool="rbd", field="max_bytes", val="abc") == \
        (-errno.EINVAL, b"", "error parsing value 'abc': strict_iecstrtoll: illegal prefix "
                             "(length > 2)")
    assert run(mon, "osd pool set-quota", pool="rbd", field="bogus", val="1") == \
        (-errno.EINVAL, b"", "unrecognized field 'bogus'; should be 'max_bytes' or "
                             "'max_objects'")
    assert js(mon, "osd pool get-quota", pool="rbd") == {
        "pool_name": "rbd", "pool_id": 1, "quota_max_objects": 100, "current_num_objects": 0,
        "quota_max_bytes": 10737418240, "current_num_bytes": 0}
    assert plain(mon, "osd pool get-quota", pool="rbd") == (
        "quotas for pool 'rbd':\n"
        "  max objects: 100 objects  (current num objects: 0 objects)\n"
        "  max bytes  : 10 GiB  (current num bytes: 0 bytes)\n")
    run(mon, "osd pool set-quota", pool="rbd", field="max_objects", val="0")
    run(mon, "osd pool set-quota", pool="rbd", field="max_bytes", val="0")
    assert plain(mon, "osd pool get-quota", pool="rbd") == \
        "quotas for pool 'rbd':\n  max objects: N/A\n  max bytes  : N/A\n"


def test_applications(mon):
    mon.pool_create("p2")
    cmd = "osd pool application "
    assert run(mon, cmd + "enable", pool="p2", app="rgw") == \
        (0, b"", "enabled application 'rgw' on pool 'p2'")
    assert run(mon, cmd + "enable", pool="p2", app="rbd") == \
        (-errno.EPERM, b"", "Are you SURE? Pool 'p2' already has an enabled application; pass "
                            "--yes-i-really-mean-it to proceed anyway")
    e = mon.get_osdmap().epoch
    assert run(mon, cmd + "enable", pool="p2", app="rbd", yes_i_really_mean_it=True)[0] == 0
    assert run(mon, cmd + "enable", pool="p2", app="rbd", yes_i_really_mean_it=True)[0] == 0
    assert mon.get_osdmap().epoch == e + 1
    assert run(mon, cmd + "set", pool="p2", app="rbd", key="k1", value="v1") == \
        (0, b"", "set application 'rbd' key 'k1' to 'v1' on pool 'p2'")
    assert run(mon, cmd + "set", pool="p2", app="cephfs", key="k1", value="v1") == \
        (-errno.ENOENT, b"", "application 'cephfs' is not enabled on pool 'p2'")
    assert plain(mon, cmd + "get", pool="p2") == \
        '{\n    "rbd": {\n        "k1": "v1"\n    },\n    "rgw": {}\n}\n'
    assert js(mon, cmd + "get", pool="p2", app="rbd") == {"k1": "v1"}
    assert plain(mon, cmd + "get", pool="p2", app="rbd", key="k1") == "v1\n"
    assert run(mon, cmd + "get", pool="p2", app="rbd", key="nokey") == \
        (-errno.ENOENT, b"", "application 'rbd' on pool 'p2' does not have key 'nokey'")
    assert run(mon, cmd + "get", pool="p2", app="noapp") == \
        (-errno.ENOENT, b"", "pool 'p2' has no application 'noapp'")
    assert run(mon, cmd + "rm", pool="p2", app="rbd", key="k1") == \
        (0, b"", "removed application 'rbd' key 'k1' on pool 'p2'")
    assert run(mon, cmd + "rm", pool="p2", app="rbd", key="k1") == \
        (0, b"", "application 'rbd' on pool 'p2' does not have key 'k1'")
    assert run(mon, cmd + "disable", pool="p2", app="rbd") == \
        (-errno.EPERM, b"", "Are you SURE? Disabling an application within a pool might result "
                            "in loss of application functionality; pass --yes-i-really-mean-it "
                            "to proceed anyway")
    assert run(mon, cmd + "disable", pool="p2", app="rbd", yes_i_really_mean_it=True) == \
        (0, b"", "disable application 'rbd' on pool 'p2'")
    assert run(mon, cmd + "disable", pool="p2", app="rbd", yes_i_really_mean_it=True) == \
        (0, b"", "application 'rbd' is not enabled on pool 'p2'")
    assert mon.get_osdmap().get_pool("p2").application_metadata == {"rgw": {}}
    assert run(mon, cmd + "get", pool="none")[0] == -errno.ENOENT


def test_pool_snaps_and_rename(mon, clock):
    mon.pool_create("p2")
    assert run(mon, "osd pool mksnap", pool="p2", snap="s1") == \
        (0, b"", "created pool p2 snap s1")
    assert run(mon, "osd pool mksnap", pool="p2", snap="s1") == \
        (0, b"", "pool p2 snap s1 already exists")
    p = mon.get_osdmap().get_pool("p2")
    assert p.snaps == {1: ("s1", clock.t)} and p.snap_mode == "pool"
    assert p.flag_names() == "hashpspool,pool_snaps"
    detail = plain(mon, "osd pool ls", detail="detail")
    assert "flags hashpspool,pool_snaps" in detail and "\tsnap 1 's1' " in detail
    assert js(mon, "osd pool ls", detail="detail")[1]["pool_snaps"][0]["name"] == "s1"
    assert mon.selfmanaged_snap_create(p.id) == -errno.EINVAL
    assert run(mon, "osd pool rmsnap", pool="p2", snap="s1") == \
        (0, b"", "removed pool p2 snap s1")
    assert run(mon, "osd pool rmsnap", pool="p2", snap="s1") == \
        (0, b"", "pool p2 snap s1 does not exist")
    assert mon.get_osdmap().get_pool("p2").removed_snaps == {1}
    assert run(mon, "osd pool rename", srcpool="p2", destpool="p2r") == \
        (0, b"", "pool 'p2' renamed to 'p2r'")
    assert run(mon, "osd pool rename", srcpool="p2", destpool="p2r") == \
        (0, b"", "pool 'p2' does not exist; pool 'p2r' does -- assuming successful rename")
    assert run(mon, "osd pool rename", srcpool="p2r", destpool="rbd") == \
        (-errno.EEXIST, b"", "pool 'rbd' already exists")
    assert run(mon, "osd pool rename", srcpool="nop", destpool="x") == \
        (-errno.ENOENT, b"", "unrecognized pool 'nop'")
    m = mon.get_osdmap()
    assert m.pool_names == {"rbd": 1, "p2r": 2} and m.pools[2].name == "p2r"


def test_snapshot_internal_calls(mon):
    pid = mon.pool_create("sm")
    e = mon.get_osdmap().epoch
    assert mon.selfmanaged_snap_create(pid) == 2           # Ceph's first self-managed id
    assert mon.selfmanaged_snap_create(pid) == 3
    assert mon.get_osdmap().epoch == e + 2
    assert mon.selfmanaged_snap_remove(pid, 2) == 0
    p = mon.get_osdmap().pools[pid]
    assert (p.snap_mode, p.snap_seq, p.removed_snaps) == ("selfmanaged", 4, {2})
    assert p.flag_names() == "hashpspool,selfmanaged_snaps"
    assert mon.selfmanaged_snap_remove(pid, 2) == 0         # idempotent, no new epoch
    assert mon.get_osdmap().epoch == e + 3
    assert mon.selfmanaged_snap_remove(pid, 99) == -errno.ENOENT
    assert mon.pool_snap_create(pid, "x") == -errno.EINVAL
    assert run(mon, "osd pool mksnap", pool="sm", snap="a") == \
        (-errno.EINVAL, b"", "pool sm is in unmanaged snaps mode")
    assert mon.selfmanaged_snap_create(99) == -errno.ENOENT
    assert mon.pool_snap_create(1, "a") == 0
    assert mon.pool_snap_create(1, "a") == -errno.EEXIST
    assert mon.pool_snap_create(1, "") == -errno.EINVAL
    assert mon.selfmanaged_snap_create(1) == -errno.EINVAL
    assert mon.selfmanaged_snap_remove(1, 1) == -errno.EINVAL
    assert mon.pool_snap_remove(1, "b") == -errno.ENOENT
    assert mon.pool_snap_remove(1, "a") == 0
    assert mon.pool_snap_remove(99, "a") == -errno.ENOENT
    assert "removed_snaps_queue [1~1]" in plain(mon, "osd pool ls", detail="detail")


def test_namespaces_and_gids(mon):
    e = mon.get_osdmap().epoch
    assert mon.namespace_add(1, "ns1") == 0
    assert mon.namespace_add(1, "ns1") == -errno.EEXIST
    assert mon.namespace_add(1, "") == -errno.EINVAL
    assert mon.namespace_add(9, "x") == -errno.ENOENT
    assert mon.namespace_add(1, "ns0") == 0
    assert mon.namespace_list(1) == ["ns0", "ns1"]
    assert mon.namespace_list(9) == -errno.ENOENT
    assert mon.get_osdmap().namespaces == {1: {"ns0", "ns1"}}
    assert mon.namespace_remove(1, "ns1") == 0
    assert mon.namespace_remove(1, "ns1") == -errno.ENOENT
    assert mon.get_osdmap().epoch == e + 3
    gids = [mon.alloc_gid() for _ in range(3)]
    assert gids == [FIRST_GID, FIRST_GID + 1, FIRST_GID + 2] and FIRST_GID == 4100


def test_osd_state_commands(mon):
    e = mon.get_osdmap().epoch
    assert run(mon, "osd out", ids=["1"]) == (0, b"", "marked out osd.1. ")
    assert run(mon, "osd out", ids=["1"]) == (0, b"", "osd.1 is already out. ")
    m = mon.get_osdmap()
    assert m.epoch == e + 1 and not m.osds[1].in_ and m.osds[1].weight == 0.0
    assert "osd.1 up   out weight 0 " in plain(mon, "osd dump")
    assert "osd.1       up         0  1.00000" in plain(mon, "osd tree")
    assert run(mon, "osd in", ids=["osd.1"]) == (0, b"", "marked in osd.1. ")
    assert run(mon, "osd in", ids=["osd.1"]) == (0, b"", "osd.1 is already in. ")
    assert run(mon, "osd out", ids=["0", "1"]) == \
        (0, b"", "marked out osd.0. marked out osd.1. ")
    assert run(mon, "osd in", ids=["any"]) == (0, b"", "marked in osd.0. marked in osd.1. ")
    assert run(mon, "osd down", ids=["osd.9"]) == (0, b"", "osd.9 does not exist. ")
    assert run(mon, "osd down", ids="0") == (-errno.EINVAL, b"", "bad or missing field 'ids'")
    assert run(mon, "osd down", ids=["bogus"]) == \
        (-errno.EINVAL, b"", "Expected option value to be integer, got 'bogus'invalid osd id-1")
    e = mon.get_osdmap().epoch
    assert run(mon, "osd down", ids=["2"]) == (0, b"", "marked down osd.2. ")
    m = mon.get_osdmap()
    assert not m.osds[2].up and m.osds[2].down_at == e + 1
    assert all(2 not in m.pg_to_acting(1, s)[0] for s in range(32))
    assert run(mon, "osd down", ids=["2"]) == (0, b"", "osd.2 is already down. ")
    run(mon, "osd set", key="noup")
    assert run(mon, "osd up", ids=["2"]) == \
        (0, b"", "osd.2 not marked up: noup flag is set. ")
    run(mon, "osd unset", key="noup")
    assert run(mon, "osd up", ids=["2"]) == (0, b"", "marked up osd.2. ")
    assert mon.get_osdmap().osds[2].up_from == mon.get_osdmap().epoch


def test_set_osd_state(mon):
    e = mon.get_osdmap().epoch
    assert mon.set_osd_state(0, up=False) == 0
    assert mon.set_osd_state(0, up=False) == 0
    assert mon.get_osdmap().epoch == e + 1
    assert mon.set_osd_state(0, up=True, in_=False) == 0
    info = mon.get_osdmap().osds[0]
    assert info.up and not info.in_ and mon.get_osdmap().epoch == e + 2
    assert mon.set_osd_state(7, up=True) == -errno.ENOENT
    mon.handle_command({"prefix": "osd set", "key": "noup"})
    mon.set_osd_state(1, up=False)
    assert mon.set_osd_state(1, up=True) == 0 and not mon.get_osdmap().osds[1].up


def test_reweight_and_affinity(mon):
    assert run(mon, "osd reweight", id=1, weight=0.5) == \
        (0, b"", "reweighted osd.1 to 0.5 (8000)")
    assert run(mon, "osd reweight", id=1, weight=0.8) == \
        (0, b"", "reweighted osd.1 to 0.8 (cccc)")
    assert mon.get_osdmap().osds[1].weight == 0xcccc / 0x10000
    assert mon.get_osdmap().osd_states().weight[1] == 0xcccc
    assert "osd.1       up   0.79999  1.00000" in plain(mon, "osd tree")
    assert [n for n in js(mon, "osd tree")["nodes"] if n["id"] == 1][0]["reweight"] == \
        0.79998779296875
    assert run(mon, "osd reweight", id=9, weight=0.5) == \
        (-errno.ENOENT, b"", "osd.9 does not exist")
    assert run(mon, "osd reweight", id=1, weight="x") == \
        (-errno.EINVAL, b"", "bad or missing field 'weight'")
    assert run(mon, "osd reweight", id=1, weight=0.0)[0] == 0
    assert not mon.get_osdmap().osds[1].in_
    assert run(mon, "osd primary-affinity", id="osd.2", weight=0.5) == \
        (0, b"", "set osd.2 primary-affinity to 0.5 (8000)")
    assert mon.get_osdmap().osd_states().primary_affinity[2] == 0x8000
    assert "primary_affinity 0.5" in plain(mon, "osd dump")
    assert run(mon, "osd primary-affinity", id=2, weight=2.0)[0] == -errno.EINVAL
    assert run(mon, "osd primary-affinity", id=9, weight=0.5) == \
        (-errno.ENOENT, b"", "osd.9 does not exist")


def test_osd_dump_ls_stat(mon, clock):
    doc = js(mon, "osd dump")
    for key in ("epoch", "fsid", "created", "modified", "flags", "flags_num", "flags_set",
                "crush_version", "full_ratio", "pool_max", "max_osd", "pools", "osds",
                "osd_xinfo", "pg_upmap", "pg_upmap_items", "pg_temp", "primary_temp",
                "blocklist", "erasure_code_profiles", "stretch_mode"):
        assert key in doc, key
    assert doc["flags"] == "sortbitwise,recovery_deletes,purged_snapdirs,pglog_hardlimit"
    assert doc["flags_num"] == 5799936
    assert doc["flags_set"] == ["pglog_hardlimit", "purged_snapdirs", "recovery_deletes",
                                "sortbitwise"]
    assert doc["pools"][0]["pool"] == 1 and doc["pools"][0]["pool_name"] == "rbd"
    osd0 = doc["osds"][0]
    assert (osd0["osd"], osd0["up"], osd0["in"], osd0["weight"], osd0["primary_affinity"],
            osd0["state"]) == (0, 1, 1, 1, 1, ["exists", "up"])
    text = plain(mon, "osd dump")
    assert text.startswith(f"epoch 1\nfsid {FSID}\ncreated ")
    assert "\npool 1 'rbd' replicated size 3 min_size 2 crush_rule 0" in text
    assert "\nmax_osd 3\nosd.0 up   in  weight 1 up_from 1 " in text
    assert js(mon, "osd ls") == [0, 1, 2] and plain(mon, "osd ls") == "0\n1\n2\n"
    clock.t += 27
    assert plain(mon, "osd stat") == "3 osds: 3 up (since 27s), 3 in (since 27s); epoch: e1\n"
    stat = js(mon, "osd stat")
    assert stat["epoch"] == 1 and stat["num_up_osds"] == 3 and stat["num_remapped_pgs"] == 0


def test_misc_commands(mon, clock):
    assert js(mon, "fsid") == {"fsid": FSID} and plain(mon, "fsid") == FSID + "\n"
    assert js(mon, "version")["version"].startswith("ceph version 16.2.15 ")
    ret, out, outs = run(mon, "mon dump", format="json")
    dump = json.loads(out)
    assert outs == "dumped monmap epoch 1" and dump["mons"][0]["name"] == "a"
    assert dump["fsid"] == FSID and dump["quorum"] == [0]
    assert plain(mon, "mon dump").endswith("0: v2:127.0.0.1:3300/0 mon.a\n")
    assert json.loads(run(mon, "osd pool stats", format="json-pretty")[1]) == [
        {"pool_name": "rbd", "pool_id": 1, "recovery": {}, "recovery_rate": {},
         "client_io_rate": {}}]
    assert plain(mon, "osd pool stats", pool_name="rbd") == \
        "pool rbd id 1\n  nothing is going on\n\n"
    assert run(mon, "osd pool stats", pool_name="x")[0] == -errno.ENOENT
    # json-pretty is Ceph's 4-space layout with a trailing newline; json is compact
    assert run(mon, "osd pool get", pool="rbd", var="size", format="json")[1] == \
        b'{"pool":"rbd","pool_id":1,"size":3}'
    assert run(mon, "osd pool get", pool="rbd", var="size", format="json-pretty")[1] == \
        b'{\n    "pool": "rbd",\n    "pool_id": 1,\n    "size": 3\n}\n'
    assert plain(mon, "osd pool get", pool="rbd", var="size") == "size: 3\n"
    ret, out, _ = run(mon, "osd getcrushmap")
    assert ret == 0 and b"rule replicated_rule" in out


def test_blocklist(mon, clock):
    e = mon.get_osdmap().epoch
    ret, out, outs = run(mon, "osd blocklist", blocklistop="add", addr="127.0.0.1:0/123",
                         expire=100.0)
    assert ret == 0 and outs.startswith("blocklisting 127.0.0.1:0/123 until ")
    assert outs.endswith(" (100 sec)") and mon.get_osdmap().epoch == e + 1
    assert run(mon, "osd blocklist", blocklistop="add", addr="bogus") == \
        (-errno.EINVAL, b"", "unable to parse address bogus")
    ret, out, outs = run(mon, "osd blocklist ls", format="json")
    assert outs == "listed 1 entries"
    assert [x["addr"] for x in json.loads(out)] == ["127.0.0.1:0/123"]
    assert "127.0.0.1:0/123" in mon.get_osdmap().blocklist
    assert run(mon, "osd blocklist", blocklistop="rm", addr="127.0.0.1:0/123") == \
        (0, b"", "un-blocklisting 127.0.0.1:0/123")
    assert run(mon, "osd blocklist", blocklistop="rm", addr="127.0.0.1:0/123") == \
        (0, b"", "127.0.0.1:0/123 isn't blocklisted")
    run(mon, "osd blocklist", blocklistop="add", addr="10.0.0.1", expire=5.0)
    assert run(mon, "osd blocklist ls")[2] == "listed 1 entries"
    clock.t += 6
    assert run(mon, "osd blocklist ls") == (0, b"", "listed 0 entries")


def test_config_key(mon):
    assert run(mon, "config-key set", key="a/b", val="v1") == (0, b"", "set a/b")
    assert run(mon, "config-key put", key="a/c", val="v2") == (0, b"", "set a/c")
    assert run(mon, "config-key set", key="bin", inbuf=None)[0] == 0
    assert mon.handle_command({"prefix": "config-key set", "key": "blob"}, b"\x00\x01") == \
        (0, b"", "set blob")
    assert run(mon, "config-key get", key="a/b") == (0, b"v1", "")
    assert mon.handle_command({"prefix": "config-key get", "key": "blob"}) == \
        (0, b"\x00\x01", "")
    assert run(mon, "config-key get", key="a/none") == (-errno.ENOENT, b"", "")
    assert run(mon, "config-key exists", key="a/b") == (0, b"", "key 'a/b' exists")
    assert run(mon, "config-key exists", key="a/none") == \
        (-errno.ENOENT, b"", "key 'a/none' doesn't exist")
    assert json.loads(run(mon, "config-key ls")[1]) == ["a/b", "a/c", "bin", "blob"]
    dump = json.loads(run(mon, "config-key dump")[1])
    assert dump["blob"] == "<<< binary blob of length 2 >>>" and dump["a/b"] == "v1"
    assert json.loads(run(mon, "config-key dump", key="a/")[1]) == {"a/b": "v1", "a/c": "v2"}
    assert run(mon, "config-key del", key="a/b") == (0, b"", "key deleted")
    assert run(mon, "config-key rm", key="a/b") == (0, b"", "key deleted")
    assert run(mon, "config-key set", key="big", val="x" * 70000)[0] == -errno.EFBIG
    assert mon.get_osdmap().epoch == 1                       # not part of the OSDMap


def test_log_and_services(mon, clock):
    run(mon, "osd down", ids=["1"])
    ret, out, _ = run(mon, "log last", num=20, level="debug", channel="cluster", format="json")
    entries = json.loads(out)
    messages = [e["message"] for e in entries]
    assert "osd.1 marked down" in messages
    assert "osdmap e2: 3 total, 2 up, 3 in" in messages
    assert "Health check failed: 1 osds down (OSD_DOWN)" in messages
    assert set(entries[0]) == {"name", "rank", "addrs", "stamp", "seq", "channel", "priority",
                               "message"}
    info = [e["message"] for e in json.loads(run(mon, "log last", level="info",
                                                  format="json")[1])]
    assert "osdmap e2: 3 total, 2 up, 3 in" not in info          # [DBG] filtered out
    text = plain(mon, "log last", num=1, level="debug")
    assert " mon.a (mon.0) " in text and " : cluster [" in text
    run(mon, "osd up", ids=["1"])
    messages = [e["message"] for e in mon.events()]
    assert "Health check cleared: OSD_DOWN (was: 1 osds down)" in messages
    assert "Cluster is now healthy" in messages
    last = mon.events()[-1]["seq"]
    run(mon, "log", logtext=["hello", "world"])
    assert [e["message"] for e in mon.events(since_seq=last)] == ["hello world"]
    gid = mon.alloc_gid()
    assert mon.service_daemon_register(gid, "rbd-mirror", "m1", {"k": "v"}) == 0
    assert mon.service_daemon_update(gid, {"state": "ok"}) == 0
    assert mon.service_daemon_update(gid + 1, {}) == -errno.ENOENT
    assert mon.service_daemon_register(gid, "", "x") == -errno.EINVAL
    dump = js(mon, "service dump")
    daemon = dump["services"]["rbd-mirror"]["daemons"]["m1"]
    assert daemon["gid"] == gid and daemon["metadata"] == {"k": "v"}
    assert daemon["task_status"] == {"state": "ok"} and dump["epoch"] == 3
    assert "    rbd-mirror: 1 daemon active (m1)\n" in plain(mon, "status")


def test_mon_config(mon):
    assert run(mon, "config set", who="mon", name="mon_allow_pool_delete", value="false") == \
        (0, b"", "")
    assert mon.options["mon_allow_pool_delete"] is False
    assert plain(mon, "config get", who="mon", key="mon_allow_pool_delete") == "false\n"
    assert run(mon, "config set", who="mon", name="nope", value="1") == \
        (-errno.EINVAL, b"", "unrecognized config option 'nope'")
    assert js(mon, "config dump")[0]["name"] == "mon_allow_pool_delete"
    assert run(mon, "config rm", who="mon", name="mon_allow_pool_delete") == (0, b"", "")


# --- robustness -----------------------------------------------------------------------------


def test_garbage_never_raises(mon):
    assert mon.handle_command("[1,2]") == (-errno.EINVAL, b"", "not JSON object [1,2]")
    assert mon.handle_command('"str"') == (-errno.EINVAL, b"", 'not JSON object "str"')
    assert mon.handle_command("not json") == (-errno.EINVAL, b"", "unparseable JSON not json")
    assert mon.handle_command("{}") == (-errno.EINVAL, b"", "command prefix not found")
    assert mon.handle_command({}) == (-errno.EINVAL, b"", "command prefix not found")
    assert mon.handle_command({"prefix": "nonsense command"}) == \
        (-errno.EINVAL, b"", "command not known")
    assert mon.handle_command({"prefix": 5})[0] == -errno.EINVAL    # it crashed a real mon
    assert mon.handle_command(None)[0] == -errno.EINVAL
    assert mon.handle_command(42)[0] == -errno.EINVAL
    assert mon.handle_command(b'{"prefix": "fsid"}')[0] == 0
    assert mon.handle_command(['{"prefix": "fsid"}'])[0] == 0
    assert mon.handle_command({"prefix": "fsid"}, inbuf=None)[0] == 0
    assert mon.handle_command({"prefix": "osd   pool  ls"})[0] == 0
    rng = random.Random(1234)
    values = [None, 0, -1, 2 ** 70, 1.5, float("nan"), "", "x", "osd.1", "1", True, [],
              ["1"], [None], {}, {"a": 1}, "0.5", "rbd"]
    fields = ["pool", "pool2", "pg_num", "pgp_num", "var", "val", "ids", "id", "weight",
              "key", "app", "value", "snap", "srcpool", "destpool", "pgid", "object",
              "nspace", "format", "detail", "field", "blocklistop", "addr", "expire",
              "dumpcontents", "num", "level", "channel", "name", "who",
              "yes_i_really_mean_it", "yes_i_really_really_mean_it", "size", "rule"]
    prefixes = sorted(mon._handlers)
    for _ in range(3000):
        cmd = {"prefix": rng.choice(prefixes)}
        for f in rng.sample(fields, rng.randint(0, 6)):
            cmd[f] = rng.choice(values)
        ret, out, outs = mon.handle_command(cmd, rng.choice([b"", b"\xff", None]))
        assert isinstance(ret, int) and isinstance(out, bytes) and isinstance(outs, str)
        assert not outs.startswith(("TypeError", "AttributeError", "KeyError", "IndexError",
                                    "ValueError", "ZeroDivisionError")), (cmd, outs)


def test_handler_bug_becomes_einval(mon, monkeypatch):
    def boom(a, inbuf):
        raise RuntimeError("kaboom")

    monkeypatch.setitem(mon._handlers, "fsid", boom)
    assert mon.handle_command({"prefix": "fsid"}) == (-errno.EINVAL, b"", "RuntimeError: kaboom")


def test_published_maps_are_never_mutated(mon):
    first = mon.get_osdmap()
    before = (first.epoch, dict(first.pool_names), {k: (v.up, v.in_, v.weight)
                                                     for k, v in first.osds.items()},
              set(first.flags))
    pid = mon.pool_create("p")
    mon.selfmanaged_snap_create(pid)
    run(mon, "osd down", ids=["0"])
    run(mon, "osd out", ids=["1"])
    run(mon, "osd set", key="noout")
    run(mon, "osd pool set", pool="rbd", var="size", val="2")
    mon.namespace_add(1, "ns")
    after = (first.epoch, dict(first.pool_names), {k: (v.up, v.in_, v.weight)
                                                    for k, v in first.osds.items()},
             set(first.flags))
    assert before == after and first.pools[1].size == 3 and first.namespaces == {}
    assert mon.get_osdmap().epoch == first.epoch + 7


def test_conf_argument_and_defaults():
    conf = CephConfig()
    conf.parse_text("[global]\nmon allow pool delete = true\nosd pool default size = 2\n")
    m = build_initial_osdmap(CephConfig(), FSID)
    del m.bootstrap_options
    plain_mon = MonitorCore(m)
    assert plain_mon.options["mon_allow_pool_delete"] is False      # Ceph's default
    configured = MonitorCore(build_initial_osdmap(CephConfig(), FSID), conf=conf)
    assert configured.options["mon_allow_pool_delete"] is True
    assert configured.get_osdmap().get_pool("rbd").size == 3       # map already built
    pid = configured.pool_create("n")
    assert configured.get_osdmap().get_pool(pid).size == 2
