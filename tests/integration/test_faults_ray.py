"""The fault-injection API end to end on Ray (cluster/faults.py over the OSD actors).

One small cluster of its own (3 OSDs on 3 hosts, size 3 / min_size 2, 8 PGs, 1 s heartbeats
and a 3 s grace) inside the session's embedded Ray, so the shared `ceph` cluster of the
other integration tests is never touched. The story: kill an OSD, see the monitor mark it
down from its peers' reports within the grace, keep writing and reading, be refused a
second kill that would break min_size, heal, and wait for every PG to be active+clean.
"""
from __future__ import annotations

import json
import time

import pytest

import rados
from cluster import bootstrap
from cluster.cli import main as rayceph
from cluster.faults import Faults

pytestmark = pytest.mark.ray

GRACE_S = 3
POOL = "faults"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    path = tmp_path_factory.mktemp("faults") / "ceph.conf"
    path.write_text(
        "[global]\n"
        "osd pool default size = 3\n"
        "osd pool default min size = 2\n"
        "osd pool default pg num = 8\n"
        "osd heartbeat interval = 1\n"
        f"osd heartbeat grace = {GRACE_S}\n"
        "[rayceph]\n"
        "ray address = local\n"
        "cluster name = faults\n"
        "hosts = 3\n"
        "osds per host = 1\n"
        "pools = rbd\n")
    handle = rados.Rados(conffile=str(path))
    handle.connect(timeout=120)
    if not handle.pool_exists(POOL):
        handle.create_pool(POOL)
    ioctx = handle.open_ioctx(POOL)
    faults = Faults.from_conffile(str(path))
    yield faults, handle, ioctx, str(path)
    ioctx.close()
    handle.shutdown()
    bootstrap.stop_cluster("faults")


def _osd_up(handle, osd: int) -> bool:
    ret, out, outs = handle.mon_command(json.dumps({"prefix": "osd dump",
                                                    "format": "json"}), b"")
    assert ret == 0, outs
    return next(o["up"] for o in json.loads(out)["osds"] if o["osd"] == osd) == 1


def test_kill_detect_write_refuse_heal_clean(cluster, capsys):
    faults, handle, ioctx, conffile = cluster
    faults.wait_for_clean(60)
    ioctx.write_full("before", b"written before the fault")

    assert faults.kill("osd.2") == "kill osd.2"
    killed_at = time.monotonic()
    while _osd_up(handle, 2):
        assert time.monotonic() - killed_at < GRACE_S + 10, "osd.2 never marked down"
        time.sleep(0.2)
    detected_s = time.monotonic() - killed_at
    print(f"osd.2 marked down {detected_s:.1f}s after the kill (grace {GRACE_S}s)")
    ret, tree, _ = handle.mon_command(json.dumps({"prefix": "osd tree"}), b"")
    assert ret == 0 and any(line.split()[3:5] == ["osd.2", "down"]
                            for line in tree.decode().splitlines()), tree.decode()

    ioctx.write_full("during", b"written with osd.2 dead")
    assert ioctx.read("during") == b"written with osd.2 dead"
    assert ioctx.read("before") == b"written before the fault"

    with pytest.raises(ValueError, match="refusing to kill osd.1: pool '"):
        faults.kill(1)
    assert faults.kill(2) == "osd.2 is already dead"
    capsys.readouterr()
    assert rayceph(["fault", "ls", "-c", conffile]) == 0
    assert capsys.readouterr().out.strip() == "1: kill osd.2"

    assert faults.heal() == ["restarted osd.2"]
    states = faults.wait_for_clean(60)
    assert set(states) == {"active+clean"}
    assert faults.active() == []
    assert ioctx.read("during") == b"written with osd.2 dead"
    assert _osd_up(handle, 2)
