"""CRUSH hosts on Ray nodes: a local multi-node Ray cluster (ray.cluster_utils.Cluster, three
raylets on this machine) runs a packed rayceph cluster; each CRUSH host's host actor must sit
on its own Ray node, I/O must work, and removing one node must be a host failure (its OSDs
marked down, I/O goes on).

Three extra raylets are heavy for a 2-core CI machine and must not disturb the session's
embedded Ray, so the scenario runs in a subprocess and only when RAYCEPH_MULTINODE=1.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = [pytest.mark.ray,
              pytest.mark.skipif(os.environ.get("RAYCEPH_MULTINODE") != "1",
                                 reason="starts 3 raylets: set RAYCEPH_MULTINODE=1")]

SCENARIO = textwrap.dedent('''
    import json, os, sys, tempfile, time
    os.environ["RAY_AUTH_MODE"] = "disabled"
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray
    from ray.cluster_utils import Cluster
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    for _ in range(2):
        nodes.add_node(num_cpus=1)
    nodes.wait_for_nodes()
    def forget_cluster():
        # a head node leaves its address in /tmp/ray/ray_current_cluster, and any later
        # address-less ray.init on this machine (embedded Ray of other tests) would try it
        ray.shutdown()
        nodes.shutdown()
        marker = "/tmp/ray/ray_current_cluster"
        try:
            if open(marker).read().strip() == nodes.address:
                os.remove(marker)
        except OSError:
            pass
    import atexit
    atexit.register(forget_cluster)
    ray.init(address=nodes.address, namespace="rayceph", log_to_driver=False)
    import rados
    from cluster import bootstrap
    from cluster.config import CephConfig
    path = os.path.join(tempfile.mkdtemp(), "ceph.conf")
    with open(path, "w") as f:
        f.write("[global]\\nosd pool default size = 3\\nosd pool default min size = 2\\n"
                "osd pool default pg num = 8\\nosd heartbeat interval = 1\\n"
                "osd heartbeat grace = 3\\n[rayceph]\\n"
                f"ray address = {nodes.address}\\ncluster name = multi\\nhosts = 3\\n"
                "osds per host = 2\\nosds per actor = 2\\npools = rbd\\n")
    conf = CephConfig(cluster="multi")
    conf.read_file(path)
    bootstrap.start_cluster(conf)
    hosts = [ray.get_actor(f"multi.osdhost.{k}", namespace="rayceph") for k in range(3)]
    placed = [ray.get(h.node_id.remote()) for h in hosts]
    assert len(set(placed)) == 3, placed
    handle = rados.Rados(conffile=path)
    handle.connect(timeout=60)
    ioctx = handle.open_ioctx("rbd")
    ioctx.write_full("a", b"before")
    # the monitor runs on the head node (the one that started the cluster): lose another
    k = next(k for k, node in enumerate(placed) if node != nodes.head_node.node_id)
    victim_node = next(n for n in nodes.worker_nodes if n.node_id == placed[k])
    lost = ray.get(hosts[k].osd_ids.remote())
    nodes.remove_node(victim_node)
    def up():
        ret, out, _ = handle.mon_command(json.dumps({"prefix": "osd dump", "format": "json"}), b"")
        return {o["osd"] for o in json.loads(out)["osds"] if o["up"]}
    deadline = time.monotonic() + 30
    while set(lost) & up() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not set(lost) & up(), up()
    ioctx.write_full("b", b"after")
    assert ioctx.read("a") == b"before" and ioctx.read("b") == b"after"
    print("MULTINODE OK", placed, lost, flush=True)
    handle.shutdown()
''')


def test_crush_hosts_on_ray_nodes():
    done = subprocess.run([sys.executable, "-c", SCENARIO], capture_output=True, text=True,
                          timeout=300, cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                              os.path.abspath(__file__)))))
    assert "MULTINODE OK" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
