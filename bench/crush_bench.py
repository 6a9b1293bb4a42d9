"""Placement speed: bulk CRUSH mapping (`CrushMap.map_many`) and single `map_pg` lookups.

Maps 1M inputs (100k with --quick) with the default replicated rule (chooseleaf firstn
over hosts, 3 replicas, jewel tunables, straw2) on a 3-host x 1-OSD and a 10-host x
10-OSD map, and an EC-style rule (chooseleaf indep, 5 slots) on the larger map; then
times one-at-a-time `map_pg` (the scalar `do_rule` path) on the larger map. Prints
µs/input, inputs/s and the bulk:single speed ratio measured in the same run.
"""
from __future__ import annotations

import time

import numpy as np

from cluster.crush import Rule, Step, build_default_map
from cluster.placement import OsdStates, PoolPlacement, map_pg


def _maps():
    small = build_default_map([(f"host{h}", [(h, 1.0)]) for h in range(3)])
    large = build_default_map([(f"host{h}", [(h * 10 + o, 1.0) for o in range(10)])
                               for h in range(10)])
    large.rules[1] = Rule(1, "ec", "erasure", 3, 10, [
        Step("set_chooseleaf_tries", 5), Step("set_choose_tries", 100), Step("take", -1),
        Step("chooseleaf_indep", 0, 1), Step("emit")])
    return small, large


def _bulk(name: str, crush, rule: int, num_rep: int, n: int) -> dict:
    xs = np.arange(n, dtype=np.uint32) * np.uint32(2654435761)   # spread-out inputs
    rw = [0x10000] * crush.max_devices
    crush.map_many(rule, xs[:1000], num_rep, rw)                   # warm-up
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        crush.map_many(rule, xs, num_rep, rw)
        best = min(best, time.perf_counter() - start)
    return {"name": name, "inputs": n, "seconds": round(best, 3),
            "us_per_input": round(best / n * 1e6, 3), "inputs_per_s": round(n / best)}


def _single(crush, n: int) -> dict:
    pool = PoolPlacement(1, 4096, 4096, 3, 0)
    osds = OsdStates.all_up(crush.max_devices)
    start = time.perf_counter()
    for seed in range(n):
        map_pg(crush, pool, seed, osds)
    elapsed = time.perf_counter() - start
    return {"name": "map_pg single lookups, 10 hosts x 10 osds", "inputs": n,
            "seconds": round(elapsed, 3), "us_per_input": round(elapsed / n * 1e6, 1),
            "inputs_per_s": round(n / elapsed)}


def run(args) -> list[dict]:
    """Run the placement benchmarks; print and return one dict per measurement."""
    quick = args.quick
    n = 100_000 if quick else 1_000_000
    small, large = _maps()
    results = [
        _bulk("map_many chooseleaf firstn x3, 3 hosts x 1 osd", small, 0, 3, n),
        _bulk("map_many chooseleaf firstn x3, 10 hosts x 10 osds", large, 0, 3, n),
        _bulk("map_many chooseleaf indep x5, 10 hosts x 10 osds", large, 1, 5, n // 4),
        _single(large, 300 if quick else 2000),
    ]
    for r in results:
        print(f"{r['name']:<55} {r['us_per_input']:>9} µs/input  {r['inputs_per_s']:>10,} "
              f"inputs/s  ({r['inputs']:,} inputs in {r['seconds']} s)")
    ratio = results[1]["inputs_per_s"] / results[3]["inputs_per_s"]
    print(f"bulk map_many vs single map_pg on 10x10: {ratio:,.0f}x more inputs/s")
    return results


if __name__ == "__main__":
    import argparse
    run(argparse.Namespace(quick=False))
