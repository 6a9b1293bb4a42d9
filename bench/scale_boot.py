"""`python -m bench scaling --boot N --osds-per-actor K`: boot one large packed cluster.

Measured for the big cluster and, as the baseline of the same run, for a cluster of one
host actor (K OSDs): time from start until every OSD is up in the map, until every PG is
active+clean, resident memory and idle CPU of the host actors (the processes that run the
OSDs; the monitor and the driver are not counted), latency of 4 KiB object writes and
reads, and 4 KiB aio write throughput with `AIO_DEPTH` in flight. CRUSH hosts hold K OSDs
each (at least 3 hosts: the baseline's K OSDs are spread over 3), so one host actor runs at
most one CRUSH host. Heartbeats run at Ceph's defaults (every 6 s, 20 s grace) to PG peers
and ring neighbours.

What made 1,000 OSDs possible on a 2-core machine: a host actor's OSDs share one monitor
session (osd/mon_client.py: one map subscription, boots batched into one epoch, reports
batched) and derive their PG mappings once per map. Before, the one monitor actor fell
behind (more than 5,000 calls queued: every OSD's boot, map subscription, history fetches,
beacons and PG stats) and 250 OSDs did not start within 185 s.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import time

from bench.rados_bench import AioWindow
from bench.report import Result

IO_OBJECTS = 50
AIO_DEPTH = 32
AIO_SECONDS = 3.0
IDLE_SECONDS = 5.0


def conf_text(name: str, osds: int, per_actor: int) -> str:
    # at least 3 CRUSH hosts: size 3 with host failure domain needs them
    hosts = max(3, math.ceil(osds / per_actor))
    per_host = math.ceil(osds / hosts)
    osds = hosts * per_host
    pg_num = 1 << max(3, round(math.log2(osds)))        # ~3 PG shards per OSD at size 3
    return ("[global]\nosd pool default size = 3\nosd pool default min size = 2\n"
            f"osd pool default pg num = {pg_num}\nosd pool default pgp num = {pg_num}\n"
            f"[rayceph]\nray address = local\ncluster name = {name}\nhosts = {hosts}\n"
            f"osds per host = {per_host}\nosds per actor = {per_actor}\npools = rbd\n")


def _mon_json(handle, prefix: str) -> dict:
    ret, out, outs = handle.mon_command(json.dumps({"prefix": prefix, "format": "json"}), b"")
    if ret != 0:
        raise RuntimeError(f"{prefix}: {outs} ({ret})")
    return json.loads(out)


def _clean(handle) -> tuple[bool, str]:
    summary = _mon_json(handle, "pg stat")["pg_summary"]
    states = {s["name"]: s["num"] for s in summary["num_pg_by_state"]}
    return (summary["num_pgs"] > 0 and states.get("active+clean", 0) == summary["num_pgs"],
            ", ".join(f"{n} {s}" for s, n in sorted(states.items())))


def boot_one(osds: int, per_actor: int, tmp: str, timeout_s: float) -> dict:
    import rados
    from cluster import bootstrap
    from cluster.config import CephConfig

    name = f"bench-boot-{os.getpid()}-{osds}"
    path = os.path.join(tmp, f"{name}.conf")
    with open(path, "w", encoding="utf-8") as f:
        f.write(conf_text(name, osds, per_actor))
    conf = CephConfig(cluster=name)
    conf.read_file(path)
    bootstrap.ensure_ray("local")
    osds = int(conf.get("rayceph_hosts")) * int(conf.get("rayceph_osds_per_host"))
    start = time.perf_counter()
    try:
        bootstrap.start_cluster(conf)
        started_s = time.perf_counter() - start
        with rados.Rados(conffile=path) as handle:
            deadline = start + timeout_s
            while True:
                up = sum(1 for o in _mon_json(handle, "osd dump")["osds"] if o["up"])
                if up == osds or time.perf_counter() > deadline:
                    break
                time.sleep(0.5)
            up_s = time.perf_counter() - start
            clean, states = _clean(handle)
            while not clean and time.perf_counter() < deadline:
                time.sleep(1.0)
                clean, states = _clean(handle)
            clean_s = time.perf_counter() - start
            hosts = sorted(set(bootstrap._layouts.get(name, {}).values()))
            usage = _usage(name, hosts, IDLE_SECONDS)
            with handle.open_ioctx("rbd") as ioctx:
                io = _serve_io(ioctx)
    finally:
        bootstrap.stop_cluster(name)
    return {"osds": osds, "osds_per_actor": per_actor, "host_actors": len(hosts),
            "up": up, "start_call_s": round(started_s, 1), "all_up_s": round(up_s, 1),
            "active_clean": clean, "active_clean_s": round(clean_s, 1), "pg_states": states,
            "host_rss_mib": round(usage["rss"] / 2**20),
            "rss_per_osd_mib": round(usage["rss"] / 2**20 / osds, 1),
            "idle_cpu_pct": round(usage["idle_cpu"] * 100), **io}


def _usage(name: str, hosts: list, idle_s: float) -> dict:
    """RSS of the host actors and the CPU they use while the cluster idles (share of one
    core: heartbeats, beacons, PG stats, timers)."""
    import ray

    from cluster import bootstrap

    actors = [ray.get_actor(f"{name}.osdhost.{k}", namespace=bootstrap.NAMESPACE)
              for k in hosts]
    before = ray.get([a.usage.remote() for a in actors], timeout=60)
    time.sleep(idle_s)
    after = ray.get([a.usage.remote() for a in actors], timeout=60)
    return {"rss": sum(u["rss_bytes"] for u in after),
            "idle_cpu": sum(a["cpu_s"] - b["cpu_s"] for a, b in zip(after, before)) / idle_s}


def _serve_io(ioctx) -> dict:
    """Sync 4 KiB write_full / read latency, then 4 KiB aio writes with AIO_DEPTH in flight."""
    payload = os.urandom(4096)
    t = time.perf_counter()
    for i in range(IO_OBJECTS):
        ioctx.write_full(f"boot{i}", payload)
    write_ms = (time.perf_counter() - t) / IO_OBJECTS * 1e3
    t = time.perf_counter()
    ok = sum(ioctx.read(f"boot{i}") == payload for i in range(IO_OBJECTS))
    read_ms = (time.perf_counter() - t) / IO_OBJECTS * 1e3
    window = AioWindow(AIO_DEPTH)
    issued = 0
    t = time.perf_counter()
    while time.perf_counter() - t < AIO_SECONDS:
        window.slots.acquire()
        ioctx.aio_write_full(f"aio{issued % 1000}", payload, oncomplete=window.complete)
        issued += 1
    window.drain()
    elapsed = time.perf_counter() - t
    return {"write_4k_ms": round(write_ms, 2), "read_4k_ms": round(read_ms, 2),
            "reads_ok": ok, "aio_write_4k_iops": round(window.done / elapsed),
            "aio_errors": window.errors}


def run_boot(args) -> Result:
    osds, per_actor = args.boot, max(2, args.osds_per_actor)
    result = Result("scale_boot", args.out)
    timeout_s = 120 + 1.0 * osds
    with tempfile.TemporaryDirectory(prefix="rayceph-bench-") as tmp:
        base = boot_one(min(per_actor, osds), per_actor, tmp, 180)
        big = boot_one(osds, per_actor, tmp, timeout_s)
    rows = [base, big]
    result.note(f"Ray on this machine ({os.cpu_count()} CPUs); {per_actor} OSDs per actor, CRUSH "
                f"hosts of at most {per_actor} OSDs (3 at least); memstore; ~3 PG shards per "
                f"OSD; idle CPU over {IDLE_SECONDS:.0f} s after active+clean")
    label = f"{base['osds']} OSDs"
    for key, unit, what in (("all_up_s", "s", "start -> every OSD up"),
                            ("active_clean_s", "s", "start -> every PG active+clean"),
                            ("host_rss_mib", "MiB", "RSS of the host actors"),
                            ("rss_per_osd_mib", "MiB", "RSS per OSD"),
                            ("idle_cpu_pct", "% of a core", "idle CPU of the host actors"),
                            ("write_4k_ms", "ms", "4 KiB write_full latency (sync, mean)"),
                            ("read_4k_ms", "ms", "4 KiB read latency (sync, mean)"),
                            ("aio_write_4k_iops", "IOPS",
                             f"4 KiB aio write_full, {AIO_DEPTH} in flight")):
        result.measure(f"{big['osds']} OSDs {what}", big[key], unit, base[key], label)
    for r in rows:
        result.lines.append(f"    {r['osds']} OSDs in {r['host_actors']} actors: {r['up']} up, "
                            f"PGs: {r['pg_states']}, {r['reads_ok']}/{IO_OBJECTS} reads ok, "
                            f"{r['aio_errors']} aio errors")
    result.write_csv(rows)
    return result
