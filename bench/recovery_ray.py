"""The recovery scenario on a real rayceph cluster on Ray, through the public fault API.

A cluster of its own (one host per OSD, 1 s heartbeats, 3 s grace, 5 s down-out interval)
is started with `cluster.bootstrap.start_cluster`, filled through librados, and one OSD is
killed with `cluster.faults.Faults.kill` (its memstore data is gone). The PG states come
from the monitor's `pg stat` (what the OSDs report), sampled every 0.25 s of wall time
until every PG is active+clean (or a bound passes: then the result carries `error` and the
timeline shows where it stuck); the OSD's up/in state from `osd dump`. Returns the same
measurements as the simulator engine (bench/recovery_bench.py) so the two can be compared.
"""
from __future__ import annotations

import json
import os
import tempfile
import time

from bench.report import Progress

SAMPLE_S = 0.25
GRACE_S = 3
DOWN_OUT_S = 5
POOL = "bench"


def _conf_text(name: str, osds: int, pg_num: int) -> str:
    return ("[global]\nosd pool default size = 3\nosd pool default min size = 2\n"
            f"osd pool default pg num = {pg_num}\nosd pool default pgp num = {pg_num}\n"
            f"osd heartbeat interval = 1\nosd heartbeat grace = {GRACE_S}\n"
            f"mon osd down out interval = {DOWN_OUT_S}\nmon allow pool delete = true\n"
            f"[rayceph]\nray address = local\ncluster name = {name}\nhosts = {osds}\n"
            f"osds per host = 1\npools = {POOL}\n")


def _mon(handle, prefix: str, **args) -> dict:
    ret, out, outs = handle.mon_command(json.dumps({"prefix": prefix, "format": "json",
                                                    **args}), b"")
    if ret != 0:
        raise RuntimeError(f"{prefix}: {outs} ({ret})")
    return json.loads(out)


def run_on_ray(osds: int, pg_num: int, objects: int, obj_size: int, bound_s: float) -> dict:
    """Kill osd.0 of a fresh cluster and follow it back to active+clean (wall seconds)."""
    import rados
    from cluster import bootstrap
    from cluster.config import CephConfig
    from cluster.faults import Faults

    name = f"bench-recovery-{os.getpid()}"
    victim = 0
    with tempfile.TemporaryDirectory(prefix="rayceph-bench-") as tmp:
        path = os.path.join(tmp, "ceph.conf")
        with open(path, "w", encoding="utf-8") as f:
            f.write(_conf_text(name, osds, pg_num))
        conf = CephConfig(cluster=name)
        conf.read_file(path)
        bootstrap.ensure_ray("local")
        bootstrap.start_cluster(conf)
        try:
            with rados.Rados(conffile=path) as handle, handle.open_ioctx(POOL) as ioctx:
                faults = Faults(name)
                faults.wait_for_clean(60)
                progress = Progress("recovery (ray): writing objects", objects)
                held = 0
                for i in range(objects):
                    oid = f"obj{i}"
                    ioctx.write_full(oid, bytes([i % 251]) * obj_size)
                    if victim in _mon(handle, "osd map", pool=POOL, object=oid)["acting"]:
                        held += obj_size
                    progress.step(oid)
                return _follow(handle, faults, victim, held, bound_s)
        finally:
            bootstrap.stop_cluster(name)


def _follow(handle, faults, victim: int, held: int, bound_s: float) -> dict:
    timeline: list[dict] = []
    t_down = t_out = None
    start = time.monotonic()
    faults.kill(victim)
    while True:
        t = time.monotonic() - start
        states = faults.pg_states()
        for state, n in sorted(states.items()):
            timeline.append({"t_s": round(t, 2), "state": state, "pgs": n})
        info = next(o for o in _mon(handle, "osd dump")["osds"] if o["osd"] == victim)
        if t_down is None and not info["up"]:
            t_down = t
        if t_out is None and not info["in"]:
            t_out = t
        if t_out is not None and set(states) == {"active+clean"}:
            break
        if t > bound_s:
            # a measured outcome, not an exception: the timeline says where it stuck
            return {"timeline": timeline, "t_down": t_down, "t_out": t_out, "t_clean": None,
                    "held_bytes": held, "grace_s": GRACE_S, "down_out_s": DOWN_OUT_S,
                    "victim": victim, "error": f"not active+clean {bound_s:.0f} s after "
                                              f"the kill: {states}"}
        time.sleep(SAMPLE_S)
    return {"timeline": timeline, "t_down": t_down, "t_out": t_out,
            "t_clean": time.monotonic() - start, "held_bytes": held,
            "grace_s": GRACE_S, "down_out_s": DOWN_OUT_S, "victim": victim}
