"""The client workloads of `python -m bench compare`, written against the public `rados`/`rbd`
Python API only, so the very same code measures rayceph and a real Ceph cluster.

Run as a script by the interpreter that has Ceph's bindings (`/usr/bin/python3
bench/compare_workloads.py --conf CEPH_CONF [--quick]`) it prints one JSON object
{workload key: figure}; `bench/compare.py` imports `measure` and calls it in-process for
rayceph. Keys and units are listed in `bench.compare.ROWS`. Nothing here asserts: a failed
workload is reported as {"key": None} with its error under "errors".
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import time

try:                                    # imported as part of the bench package (rayceph side)
    from bench import rados_bench, rbd_bench
except ImportError:                     # run as a script beside them (the real-Ceph side)
    import rados_bench
    import rbd_bench

MiB = 1 << 20
POOL = "rbd"


def sizes(quick: bool) -> dict:
    """Workload sizes: the issue's figures, or a smoke-sized run with --quick."""
    if quick:
        return {"seconds": 1.5, "image": 64 * MiB, "seq_ops": 500, "chunk_total": 32 * MiB,
                "create_n": 5}
    return {"seconds": 5.0, "image": 256 * MiB, "seq_ops": 2000, "chunk_total": 64 * MiB,
            "create_n": 20}


def _image_name(tag: str) -> str:
    return f"bench_compare_{tag}_{os.getpid()}"


def rbd_bench_cases(rbd, ioctx, size: dict, depth: int) -> dict:
    """`rbd bench` with 16 ops in flight: the writes first, so the reads find written data
    (as `rbd bench --io-type read` after a write run does). Every op in flight carries its
    own buffer: rayceph's batches pickle a buffer that several ops share only once, which
    would flatter it against Ceph, whose messenger sends each op's data."""
    name = _image_name("bench")
    rbd.RBD().create(ioctx, name, size["image"])
    out = {}
    try:
        with rbd.Image(ioctx, name) as img:
            for key, kind, io_size, rand in (("rbd_4k_randwrite", "write", 4096, True),
                                             ("rbd_4m_seqwrite", "write", 4 * MiB, False),
                                             ("rbd_4k_randread", "read", 4096, True),
                                             ("rbd_4m_seqread", "read", 4 * MiB, False)):
                ops, _mbs, errors = rbd_bench._case(img, kind, io_size, rand, depth,
                                                    size["seconds"], distinct_buffers=depth)
                out[key] = ops if io_size == 4096 else ops * io_size / MiB
                if errors:
                    out.setdefault("errors", {})[key] = f"{errors} ops failed"
    finally:
        rbd.RBD().remove(ioctx, name)
    return out


def rados_bench_cases(ioctx, size: dict, depth: int) -> dict:
    """`rados bench` 4 MiB write then seq read, 16 in flight (MB/s, 10^6 bytes)."""
    names: list[str] = []
    out = {}
    try:
        for key, kind in (("rados_4m_write", "write"), ("rados_4m_seq", "seq")):
            _ops, mbs, errors = rados_bench._phase(ioctx, kind, 4 * MiB, depth,
                                                   size["seconds"], names,
                                                   distinct_buffers=depth)
            out[key] = mbs
            if errors:
                out.setdefault("errors", {})[key] = f"{errors} ops failed"
    finally:
        for name in names:
            ioctx.remove_object(name)
    return out


def python_sequential(rbd, ioctx, size: dict) -> dict:
    """N sequential 4 KiB Image.write then Image.read (ops/s), then 4 MiB chunk writes and
    reads (MB/s) — one call at a time, so this is the latency a script feels."""
    name = _image_name("seq")
    rbd.RBD().create(ioctx, name, max(size["chunk_total"], size["seq_ops"] * 4096))
    out = {}
    try:
        with rbd.Image(ioctx, name) as img:
            block = os.urandom(4096)
            n = size["seq_ops"]
            start = time.perf_counter()
            for i in range(n):
                img.write(block, i * 4096)
            out["py_4k_write"] = n / (time.perf_counter() - start)
            start = time.perf_counter()
            for i in range(n):
                img.read(i * 4096, 4096)
            out["py_4k_read"] = n / (time.perf_counter() - start)
            chunk = os.urandom(4 * MiB)
            chunks = size["chunk_total"] // len(chunk)
            start = time.perf_counter()
            for i in range(chunks):
                img.write(chunk, i * len(chunk))
            out["py_4m_write"] = chunks * len(chunk) / (time.perf_counter() - start) / 1e6
            start = time.perf_counter()
            for i in range(chunks):
                img.read(i * len(chunk), len(chunk))
            out["py_4m_read"] = chunks * len(chunk) / (time.perf_counter() - start) / 1e6
    finally:
        rbd.RBD().remove(ioctx, name)
    return out


def create_open(rbd, ioctx, size: dict) -> dict:
    """Median ms of RBD.create and of Image() open (the close is timed apart)."""
    creates, opens, closes, names = [], [], [], []
    try:
        for i in range(size["create_n"]):
            name = _image_name(f"co{i}")
            start = time.perf_counter()
            rbd.RBD().create(ioctx, name, 64 * MiB)
            creates.append(time.perf_counter() - start)
            names.append(name)
            start = time.perf_counter()
            img = rbd.Image(ioctx, name)
            opens.append(time.perf_counter() - start)
            start = time.perf_counter()
            img.close()
            closes.append(time.perf_counter() - start)
    finally:
        for name in names:
            rbd.RBD().remove(ioctx, name)
    return {"create_ms": statistics.median(creates) * 1e3,
            "open_ms": statistics.median(opens) * 1e3,
            "close_ms": statistics.median(closes) * 1e3}


def measure(cluster, quick: bool, depth: int = 16, only=None) -> dict:
    """Every client workload on a connected `rados.Rados`; {key: figure, "errors": {...}}.
    `only` limits the run to some of the groups (rbd_bench, rados_bench, python, create)."""
    import rbd

    size = sizes(quick)
    if not cluster.pool_exists(POOL):
        cluster.create_pool(POOL)
    results: dict = {"errors": {}}
    groups = {
        "rbd_bench": lambda io: rbd_bench_cases(rbd, io, size, depth),
        "rados_bench": lambda io: rados_bench_cases(io, size, depth),
        "python": lambda io: python_sequential(rbd, io, size),
        "create": lambda io: create_open(rbd, io, size),
    }
    with cluster.open_ioctx(POOL) as ioctx:
        for group, run in groups.items():
            if only and group not in only:
                continue
            try:
                figures = run(ioctx)
            except Exception as exc:          # report and go on with the other workloads
                results["errors"][group] = f"{type(exc).__name__}: {exc}"
                continue
            results["errors"].update(figures.pop("errors", {}))
            results.update(figures)
    return results


def main(argv: list[str]) -> int:
    import argparse

    import rados

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conf", default=os.environ.get("CEPH_CONF", ""))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args(argv)
    with rados.Rados(conffile=args.conf) as cluster:
        results = measure(cluster, args.quick, args.threads)
    results["rados_module"] = getattr(rados, "__file__", "")
    json.dump(results, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
