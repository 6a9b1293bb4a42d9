"""`python -m bench scaling`: throughput and latency percentiles vs the number of OSDs.

For each size (3, 6, 12 OSDs with --quick; 3 to 48 otherwise) a separate cluster is started
on Ray with `cluster.bootstrap.start_cluster` (one host per OSD, pool `rbd` with ~100 PG
shards per OSD), an RBD image is written and read with N aio ops in flight, and the cluster
is stopped before the next size. Cases: 4 KiB random write, 4 KiB random read, 4 MiB
sequential write. Latency is submit -> completion callback per op. The baseline is the
smallest cluster measured in the same run.

On one machine every OSD shares the same cores, so this shows what more OSDs cost (more
actors, more messages per CPU), not the capacity a real cluster of that size would have.

`--boot N --osds-per-actor K` measures one large cluster instead (e.g. 1,000 OSDs, 50 per
actor; bench/scale_boot.py): time until every OSD is up, time until every PG is
active+clean, resident memory and idle CPU of the processes that run the OSDs, and 4 KiB
I/O latency and aio throughput. The pool has about three PG shards per OSD.
"""
from __future__ import annotations

import os
import random
import tempfile
import threading
import time

import numpy as np

from bench.report import Progress, Result, fmt, pyplot

CASES = [("write", 4096, "rand"), ("read", 4096, "rand"), ("write", 4 << 20, "seq")]


def add_arguments(parser) -> None:
    parser.add_argument("--osds", default="",
                        help="comma list of cluster sizes (default 3,6,12 quick; 3,6,12,24,48)")
    parser.add_argument("--osds-per-actor", type=int, default=1,
                        help="OSDs packed in one Ray actor process ([rayceph] osds per actor)")
    parser.add_argument("--boot", type=int, default=0,
                        help="boot one cluster of this many OSDs and measure boot time, "
                             "memory and a few I/Os (instead of the throughput sweep)")


def _conf_text(name: str, osds: int, per_actor: int = 1) -> str:
    pg_num = 1 << max(3, round(np.log2(osds * 100 / 3)))
    return ("[global]\nosd pool default size = 3\nosd pool default min size = 2\n"
            f"osd pool default pg num = {pg_num}\nosd pool default pgp num = {pg_num}\n"
            "mon allow pool delete = true\n"
            f"[rayceph]\nray address = local\ncluster name = {name}\nhosts = {osds}\n"
            f"osds per host = 1\nosds per actor = {per_actor}\npools = rbd\n")


def _case(img, kind: str, io_size: int, pattern: str, depth: int, seconds: float) -> dict:
    """Keep `depth` aio ops in flight for `seconds`; ops/s, MB/s and latency percentiles."""
    slots = threading.Semaphore(depth)
    lock = threading.Lock()
    latencies: list[float] = []
    errors = [0]
    payload = os.urandom(io_size)
    count = img.size() // io_size
    rng = random.Random(7)

    def submit(off: int):
        started = time.perf_counter()

        def done(comp, *_):
            with lock:
                latencies.append(time.perf_counter() - started)
                if comp.get_return_value() < 0:
                    errors[0] += 1
            slots.release()
        if kind == "write":
            img.aio_write(payload, off, done)
        else:
            img.aio_read(off, io_size, done)

    issued, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        slots.acquire()
        block = rng.randrange(count) if pattern == "rand" else issued % count
        submit(block * io_size)
        issued += 1
    for _ in range(depth):
        slots.acquire()
    elapsed = time.perf_counter() - start
    lat_ms = np.array(latencies) * 1e3
    return {"case": f"{kind} {io_size >> 10}K {pattern}", "ops": len(latencies),
            "ops_per_s": round(len(latencies) / elapsed, 1),
            "mb_per_s": round(len(latencies) * io_size / elapsed / 1e6, 2),
            "p50_ms": round(float(np.percentile(lat_ms, 50)), 3),
            "p95_ms": round(float(np.percentile(lat_ms, 95)), 3),
            "p99_ms": round(float(np.percentile(lat_ms, 99)), 3), "errors": errors[0]}


def _one_size(osds: int, args, tmp: str) -> list[dict]:
    import rados
    import rbd
    from cluster import bootstrap
    from cluster.config import CephConfig

    name = f"bench-scale-{os.getpid()}-{osds}"
    path = os.path.join(tmp, f"{name}.conf")
    with open(path, "w", encoding="utf-8") as f:
        f.write(_conf_text(name, osds, args.osds_per_actor))
    conf = CephConfig(cluster=name)
    conf.read_file(path)
    bootstrap.ensure_ray("local")
    start = time.perf_counter()
    bootstrap.start_cluster(conf)
    boot_s = time.perf_counter() - start
    rows = []
    seconds = 1.5 if args.quick else args.seconds
    image_size = (64 << 20) if args.quick else (512 << 20)
    try:
        with rados.Rados(conffile=path) as cluster, cluster.open_ioctx("rbd") as ioctx:
            rbd.RBD().create(ioctx, "scale", image_size)
            with rbd.Image(ioctx, "scale") as img:
                _case(img, "write", 4096, "rand", args.threads, 0.3)     # warm-up, not kept
                for kind, io_size, pattern in CASES:
                    depth = args.threads if io_size <= 65536 else max(2, args.threads // 4)
                    row = _case(img, kind, io_size, pattern, depth, seconds)
                    row.update({"osds": osds, "boot_s": round(boot_s, 2), "depth": depth})
                    rows.append(row)
    finally:
        bootstrap.stop_cluster(name)
    return rows


def run(args) -> Result:
    if getattr(args, "boot", 0):
        from bench.scale_boot import run_boot

        return run_boot(args)
    result = Result("scaling", args.out)
    sizes = [int(x) for x in args.osds.split(",") if x] if getattr(args, "osds", "") else \
        ([3, 6, 12] if args.quick else [3, 6, 12, 24, 48])
    rows: list[dict] = []
    progress = Progress("scaling", len(sizes))
    with tempfile.TemporaryDirectory(prefix="rayceph-bench-") as tmp:
        for osds in sizes:
            rows += _one_size(osds, args, tmp)
            progress.step(f"{osds} OSDs")
    base = {r["case"]: r for r in rows if r["osds"] == sizes[0]}
    for r in rows:
        b = base[r["case"]]
        r["ops_ratio_vs_smallest"] = round(r["ops_per_s"] / b["ops_per_s"], 3)
        r["p99_ratio_vs_smallest"] = round(r["p99_ms"] / b["p99_ms"], 3)
    result.note(f"Ray on this machine ({os.cpu_count()} CPUs), one cluster per size, "
                f"image I/O with {args.threads} ops in flight (4M: a quarter), "
                f"{1.5 if args.quick else args.seconds:g} s per case")
    for r in rows:
        b = base[r["case"]]
        label = f"{r['osds']:>2} OSDs {r['case']}"
        result.measure(f"{label} throughput", r["ops_per_s"], "ops/s", b["ops_per_s"],
                       f"{sizes[0]} OSDs")
        result.lines.append(f"    {fmt(r['mb_per_s'], 'MB/s')}; latency p50 "
                            f"{fmt(r['p50_ms'], 'ms')} p95 {fmt(r['p95_ms'], 'ms')} p99 "
                            f"{fmt(r['p99_ms'], 'ms')} ({r['p99_ratio_vs_smallest']}x the "
                            f"{sizes[0]}-OSD p99); errors {r['errors']}")
    for osds in sizes:
        boot = next(r["boot_s"] for r in rows if r["osds"] == osds)
        result.measure(f"{osds:>2} OSDs cluster boot", boot, "s",
                       rows[0]["boot_s"], f"{sizes[0]} OSDs")
    result.write_csv(rows)
    _plot(result, rows, sizes)
    return result


def _plot(result: Result, rows: list[dict], sizes: list[int]) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    for kind, io_size, pattern in CASES:
        case = f"{kind} {io_size >> 10}K {pattern}"
        rs = [r for r in rows if r["case"] == case]
        a.plot(sizes, [r["ops_per_s"] for r in rs], "o-", label=case)
        b.plot(sizes, [r["p50_ms"] for r in rs], "o-", label=f"{case} p50")
        b.plot(sizes, [r["p99_ms"] for r in rs], "x--", label=f"{case} p99")
    a.set_xlabel("OSDs")
    a.set_ylabel("ops/s")
    a.set_yscale("log")
    a.set_title("throughput vs OSDs")
    a.legend(fontsize=8)
    b.set_xlabel("OSDs")
    b.set_ylabel("latency (ms)")
    b.set_yscale("log")
    b.set_title("latency percentiles vs OSDs")
    b.legend(fontsize=7)
    result.save_png(fig, plt)
