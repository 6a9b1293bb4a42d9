"""The fault-injection API end to end on Ray (cluster/faults.py over the OSD actors).

One small cluster of its own (3 OSDs on 3 hosts, size 3 / min_size 2, 8 PGs, 1 s heartbeats
and a 3 s grace) inside the session's embedded Ray, so the shared `ceph` cluster of the
other integration tests is never touched. The story: kill an OSD, see the monitor mark it
down from its peers' reports within the grace, keep writing and reading, be refused a
second kill that would break min_size, heal, and wait for every PG to be active+clean;
then pause an OSD, see the reported undersized PGs in `rayceph pg dump`, resume it, cut
the cluster in two from the CLI and heal it from the CLI.
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


def _eventually(check, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {timeout_s}s: {what}"
        time.sleep(0.2)


def test_stop_resume_and_a_partition_from_the_cli(cluster, capsys):
    faults, handle, ioctx, conffile = cluster
    faults.wait_for_clean(60)
    assert faults.stop(1) == "stop osd.1"
    _eventually(lambda: not _osd_up(handle, 1), GRACE_S + 10, "stopped osd.1 marked down")

    def degraded_in_pg_dump():
        capsys.readouterr()
        assert rayceph(["pg", "dump", "pgs_brief", "-c", conffile]) == 0
        return "undersized" in capsys.readouterr().out
    _eventually(degraded_in_pg_dump, 20, "reported undersized PGs in rayceph pg dump")
    health = handle.mon_command(json.dumps({"prefix": "health"}), b"")[1].decode()
    assert health.startswith("HEALTH_WARN") and "1 osds down" in health

    assert faults.resume(1) == "osd.1 resumed"
    _eventually(lambda: _osd_up(handle, 1), 20, "resumed osd.1 boots again")
    faults.wait_for_clean(60)

    capsys.readouterr()
    assert rayceph(["fault", "partition", "osd.0,osd.1", "/", "osd.2", "-c", conffile]) == 0
    assert capsys.readouterr().out.strip() == "partition osd.0,osd.1 / osd.2"
    assert rayceph(["fault", "partition", "osd.0", "/", "osd.1", "-c", conffile]) == 16
    assert "refusing to partition" in capsys.readouterr().err
    _eventually(lambda: not _osd_up(handle, 2), GRACE_S + 10, "osd.2 cut off, marked down")
    ioctx.write_full("partitioned", b"the majority side still writes")

    assert rayceph(["fault", "heal", "-c", conffile]) == 0
    assert "cleared partition osd.0,osd.1 / osd.2" in capsys.readouterr().out
    assert rayceph(["fault", "wait-clean", "--timeout", "60", "-c", conffile]) == 0
    assert capsys.readouterr().out.strip() == "16 active+clean"     # pools rbd and faults
    assert ioctx.read("partitioned") == b"the majority side still writes"
