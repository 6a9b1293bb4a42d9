"""`osds per actor` > 1 on Ray: six OSDs run in two host actors (cluster/osd_host.py).

A cluster of its own (3 CRUSH hosts x 2 OSDs, 3 OSDs per actor, size 3 / min_size 2, 8 PGs,
1 s heartbeats, 3 s grace) inside the session's embedded Ray. It checks that the OSDs live
in `<cluster>.osdhost.<k>` actors and not in actors of their own, that I/O works, and that
killing one packed OSD stops that OSD only: its host's other OSDs stay up, the monitor marks
the victim down from its peers' reports, I/O goes on, and the restarted OSD comes back up in
the same host actor.
"""
from __future__ import annotations

import json
import time

import pytest

import rados
from cluster import bootstrap

pytestmark = pytest.mark.ray

NAME = "packing"
POOL = "packed"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    path = tmp_path_factory.mktemp("packing") / "ceph.conf"
    path.write_text(
        "[global]\n"
        "osd pool default size = 3\n"
        "osd pool default min size = 2\n"
        "osd pool default pg num = 8\n"
        "osd heartbeat interval = 1\n"
        "osd heartbeat grace = 3\n"
        "[rayceph]\n"
        "ray address = local\n"
        f"cluster name = {NAME}\n"
        "hosts = 3\n"
        "osds per host = 2\n"
        "osds per actor = 3\n"
        "pools = rbd\n")
    handle = rados.Rados(conffile=str(path))
    handle.connect(timeout=120)
    if not handle.pool_exists(POOL):
        handle.create_pool(POOL)
    ioctx = handle.open_ioctx(POOL)
    yield handle, ioctx
    ioctx.close()
    handle.shutdown()
    bootstrap.stop_cluster(NAME)


def _up_osds(handle) -> set[int]:
    ret, out, outs = handle.mon_command(json.dumps({"prefix": "osd dump",
                                                    "format": "json"}), b"")
    assert ret == 0, outs
    return {o["osd"] for o in json.loads(out)["osds"] if o["up"]}


def _wait_for(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def test_osds_run_in_host_actors(cluster):
    import ray

    handle, ioctx = cluster
    assert _up_osds(handle) == set(range(6))
    hosts = [ray.get_actor(f"{NAME}.osdhost.{k}", namespace=bootstrap.NAMESPACE)
             for k in range(2)]
    assert [ray.get(h.osd_ids.remote()) for h in hosts] == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ValueError):
        ray.get_actor(f"{NAME}.osd.0", namespace=bootstrap.NAMESPACE)
    # every OSD answers through the one lookup helper, with its own messenger address
    addrs = {ray.get(bootstrap.osd_handle(NAME, o).msgr_addr.remote()) for o in range(6)}
    assert len(addrs) == 6
    for i in range(20):
        ioctx.write_full(f"obj{i}", f"payload {i}".encode())
    assert [ioctx.read(f"obj{i}") for i in range(20)] == \
        [f"payload {i}".encode() for i in range(20)]


def test_kill_one_packed_osd_keeps_its_neighbours(cluster):
    handle, ioctx = cluster
    victim = 1
    assert bootstrap.kill_osd(NAME, victim)
    assert not bootstrap.kill_osd(NAME, victim)     # already stopped
    with pytest.raises(Exception):
        import ray
        ray.get(bootstrap.osd_handle(NAME, victim).ping.remote(), timeout=10)
    assert _wait_for(lambda: victim not in _up_osds(handle), 20), "victim never marked down"
    time.sleep(4)   # beyond the grace: its neighbours in the same process must stay up
    assert _up_osds(handle) == set(range(6)) - {victim}
    for i in range(20):
        ioctx.write_full(f"after{i}", b"x" * 100)
    assert ioctx.read("after7") == b"x" * 100
    assert ioctx.read("obj3") == b"payload 3"
    bootstrap.spawn_osd(NAME, victim)
    assert _wait_for(lambda: _up_osds(handle) == set(range(6)), 20)
    import ray
    host = ray.get_actor(f"{NAME}.osdhost.0", namespace=bootstrap.NAMESPACE)
    assert ray.get(host.osd_ids.remote()) == [0, 1, 2]
    ioctx.write_full("back", b"again")
    assert ioctx.read("back") == b"again"


def test_boot_bench_measures_a_packed_cluster(tmp_path):
    """`python -m bench scaling --boot` on a small cluster: every OSD up, every PG
    active+clean, every read back, no aio write failed, and its numbers present."""
    from bench.scale_boot import IO_OBJECTS, boot_one

    row = boot_one(12, 4, str(tmp_path), timeout_s=120)
    assert row["osds"] == 12 and row["host_actors"] == 3 and row["up"] == 12
    assert row["active_clean"], row["pg_states"]
    assert row["reads_ok"] == IO_OBJECTS and row["aio_errors"] == 0
    assert row["aio_write_4k_iops"] > 0 and row["host_rss_mib"] > 0
