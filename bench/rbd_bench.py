"""`rbd bench` equivalent: write/read × seq/rand at 4K and 4M with N aio ops in flight.

Prints ops/s and MB/s per case, and the same access pattern against an in-process
bytearray "image" (the upper bound of any Python block store) measured in the same run,
as a ratio.
"""
from __future__ import annotations

import os
import random
import threading
import time

import rados
import rbd


def _baseline(io_size: int, image_size: int, rand: bool, seconds: float) -> float:
    image = bytearray(image_size)
    payload = os.urandom(io_size)
    slots = image_size // io_size
    rng = random.Random(7)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        off = (rng.randrange(slots) if rand else n % slots) * io_size
        image[off:off + io_size] = payload
        n += 1
    return n / (time.perf_counter() - start)


def _case(img, kind: str, io_size: int, rand: bool, depth: int, seconds: float,
          distinct_buffers: int = 1):
    slots_sem = threading.Semaphore(depth)
    lock = threading.Lock()
    stats = {"done": 0, "errors": 0}

    def complete(comp, *_):
        with lock:
            stats["done"] += 1
            if comp.get_return_value() < 0:
                stats["errors"] += 1
        slots_sem.release()

    # one buffer reused, as `rbd bench` does; several when the caller wants each op in flight
    # to carry its own (a batch pickles an object shared by several ops once)
    payloads = [os.urandom(io_size) for _ in range(max(1, distinct_buffers))]
    slots = img.size() // io_size
    rng = random.Random(7)
    issued, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        slots_sem.acquire()
        off = (rng.randrange(slots) if rand else issued % slots) * io_size
        if kind == "write":
            img.aio_write(payloads[issued % len(payloads)], off, complete)
        else:
            img.aio_read(off, io_size, complete)
        issued += 1
    for _ in range(depth):
        slots_sem.acquire()
    elapsed = time.perf_counter() - start
    return stats["done"] / elapsed, stats["done"] * io_size / elapsed / 1e6, stats["errors"]


def run(args) -> None:
    sizes = [4096, 4 << 20] if not args.quick else [4096, 1 << 20]
    seconds = 1.0 if args.quick else args.seconds
    image_size = (64 << 20) if args.quick else (256 << 20)
    with rados.Rados(conffile=args.conf) as cluster:
        pool = "rbd"
        if not cluster.pool_exists(pool):
            cluster.create_pool(pool)
        with cluster.open_ioctx(pool) as ioctx:
            name = f"rbd_bench_{os.getpid()}"
            rbd.RBD().create(ioctx, name, image_size)
            try:
                with rbd.Image(ioctx, name) as img:
                    print(f"{'io':<6} {'pattern':<5} {'size':>8} {'ops/s':>10} {'MB/s':>10} "
                          f"{'vs bytearray':>13} errors")
                    for io_size in sizes:
                        for kind in ("write", "read"):
                            for pattern in ("seq", "rand"):
                                rand = pattern == "rand"
                                base = _baseline(io_size, image_size, rand, min(seconds, 1.0))
                                ops, mbs, errors = _case(img, kind, io_size, rand,
                                                         args.threads, seconds)
                                print(f"{kind:<6} {pattern:<5} {io_size:>8} {ops:>10.0f} "
                                      f"{mbs:>10.1f} {ops / base:>13.5f} {errors}")
            finally:
                rbd.RBD().remove(ioctx, name)
