"""`rados bench` equivalent: write, then seq and rand reads, N ops in flight.

Prints ops/s and MB/s per phase, and the same workload against an in-process dict (the
upper bound of any Python object store) measured in the same run, as a ratio.
"""
from __future__ import annotations

import os
import random
import threading
import time

import rados


def _dict_baseline(size: int, seconds: float) -> float:
    store: dict[str, bytes] = {}
    payload = os.urandom(size)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        store[f"obj{n % 1024}"] = bytes(payload)
        n += 1
    return n / (time.perf_counter() - start)


class AioWindow:
    """Keeps `depth` aio ops in flight until the deadline; counts completions (also used by
    bench/scale_boot.py)."""

    def __init__(self, depth: int):
        self.depth = depth
        self.slots = threading.Semaphore(depth)
        self.done = 0
        self.errors = 0
        self.lock = threading.Lock()

    def complete(self, comp, *_):
        with self.lock:
            self.done += 1
            if comp.get_return_value() < 0:
                self.errors += 1
        self.slots.release()

    def drain(self) -> None:
        """Wait until every op submitted has completed."""
        for _ in range(self.depth):
            self.slots.acquire()


def _phase(ioctx, kind: str, size: int, depth: int, seconds: float, names: list[str],
           distinct_buffers: int = 1):
    # see rbd_bench._case: one reused buffer as `rados bench`, or one per op in flight
    payloads = [os.urandom(size) for _ in range(max(1, distinct_buffers))]
    window = AioWindow(depth)
    issued, start = 0, time.perf_counter()
    rng = random.Random(7)
    while time.perf_counter() - start < seconds and (kind == "write" or names):
        window.slots.acquire()
        if kind == "write":
            name = f"benchmark_data_{issued}"
            names.append(name)
            ioctx.aio_write_full(name, payloads[issued % len(payloads)],
                                 oncomplete=window.complete)
        else:
            name = names[issued % len(names)] if kind == "seq" else rng.choice(names)
            ioctx.aio_read(name, size, 0, window.complete)
        issued += 1
    window.drain()
    elapsed = time.perf_counter() - start
    return window.done / elapsed, window.done * size / elapsed / 1e6, window.errors


def run(args) -> None:
    sizes = [4096, 4 << 20] if not args.quick else [4096, 1 << 20]
    seconds = 1.0 if args.quick else args.seconds
    with rados.Rados(conffile=args.conf) as cluster:
        pool = "bench"
        if not cluster.pool_exists(pool):
            cluster.create_pool(pool)
        with cluster.open_ioctx(pool) as ioctx:
            print(f"{'phase':<6} {'size':>8} {'ops/s':>10} {'MB/s':>10} {'vs dict':>9} errors")
            for size in sizes:
                baseline = _dict_baseline(size, min(seconds, 1.0))
                names: list[str] = []
                for kind in ("write", "seq", "rand"):
                    ops, mbs, errors = _phase(ioctx, kind, size, args.threads, seconds, names)
                    print(f"{kind:<6} {size:>8} {ops:>10.0f} {mbs:>10.1f} "
                          f"{ops / baseline:>9.5f} {errors}")
                for name in names:
                    ioctx.aio_remove(name)
                ioctx.aio_flush()
