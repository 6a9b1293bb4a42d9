"""`python -m bench placement`: how evenly CRUSH spreads PGs, how much a change moves, how
fast a whole pool maps. Pure: CRUSH and the placement pipeline only, no cluster.

For clusters of H hosts x 3 OSDs (weight 1.0; H = 4, 8, 16 with --quick, up to 64):
- distribution: std dev of PG shards per OSD against the binomial ideal sqrt(N p (1-p)),
  N = pg_num x size shards each landing on one of n OSDs with p = 1/n (what a perfectly
  random placement gives; CRUSH is pseudo-random, so the ratio should be near 1);
- movement: shards moved when adding a host, adding one OSD, marking one OSD out and
  failing one host, against the Δw/W optimum and the hard lower bound (bench/whatif.py);
- speed: `map_pool` (bulk, numpy) vs `map_pg` one PG at a time (the scalar path, which
  does what crushtool does per mapping), µs per PG in the same run.
"""
from __future__ import annotations

import math
import time

from bench import whatif
from bench.report import Progress, Result, pyplot
from cluster.crush import build_default_map
from cluster.placement import PoolPlacement, map_pg, map_pool

OSDS_PER_HOST = 3
SIZE = 3


def add_arguments(parser) -> None:
    parser.add_argument("--pg-num", type=int, default=0,
                        help="PGs of the test pool (default 1024 quick, 4096 full)")


def _state(hosts: int) -> whatif.ClusterState:
    crush = build_default_map([(f"host{h}", [(h * OSDS_PER_HOST + o, 1.0)
                                             for o in range(OSDS_PER_HOST)])
                               for h in range(hosts)])
    return whatif.ClusterState.from_crush(crush)


def _distribution(state, pool: PoolPlacement) -> dict:
    counts = whatif.shards_per_osd(state, pool)
    n = len(counts)
    shards = pool.pg_num * pool.size
    p = 1.0 / n
    ideal = math.sqrt(shards * p * (1 - p))
    return {"section": "distribution", "osds": n, "case": "PG shards per OSD std dev",
            "measured": round(float(counts.std()), 3), "reference": round(ideal, 3),
            "unit": "shards", "ratio": round(float(counts.std()) / ideal, 3),
            "mean": round(float(counts.mean()), 1), "max": int(counts.max()),
            "min": int(counts.min())}


def _movement(state, pool: PoolPlacement, hosts: int) -> list[dict]:
    spec = whatif.PoolSpec(pool, "bench")
    new_osd = hosts * OSDS_PER_HOST
    changes = {"add 1 host": "add-host default 3 1.0",
               "out 1 OSD": "out osd.0",
               "fail 1 host": "fail host0"}
    rows = []
    for case, change in changes.items():
        t = whatif.what_if(state, [spec], change)[-1]
        rows.append({"section": "movement", "osds": new_osd, "case": case,
                     "measured": t["shards_moved"], "reference": t["optimum_shards"],
                     "unit": "shards", "ratio": round(t["shards_moved"] /
                                                      max(t["optimum_shards"], 1e-9), 3),
                     "min_shards": t["min_shards"], "pgs_moved": t["pgs_moved"]})
    return rows


def _speed(state, pg_num: int, singles: int) -> dict:
    pool = PoolPlacement(1, pg_num, pg_num, SIZE, 0)
    osds = state.osd_states()
    map_pool(state.crush, PoolPlacement(1, 64, 64, SIZE, 0), osds)      # warm-up
    start = time.perf_counter()
    map_pool(state.crush, pool, osds)
    bulk_us = (time.perf_counter() - start) / pg_num * 1e6
    start = time.perf_counter()
    for seed in range(singles):
        map_pg(state.crush, pool, seed, osds)
    single_us = (time.perf_counter() - start) / singles * 1e6
    return {"section": "speed", "osds": state.crush.max_devices,
            "case": f"map_pool µs per PG ({pg_num} PGs)", "measured": round(bulk_us, 3),
            "reference": round(single_us, 3), "unit": "µs/PG",
            "ratio": round(bulk_us / single_us, 4)}


def run(args) -> Result:
    result = Result("placement", args.out)
    host_counts = [4, 8, 16] if args.quick else [4, 8, 16, 32, 64]
    pg_num = args.pg_num or (1024 if args.quick else 4096)
    pool = PoolPlacement(1, pg_num, pg_num, SIZE, 0)
    rows = []
    progress = Progress("placement", len(host_counts) + 1)
    for hosts in host_counts:
        state = _state(hosts)
        rows.append(_distribution(state, pool))
        rows += _movement(state, pool, hosts)
        progress.step(f"{hosts * OSDS_PER_HOST} OSDs")
    speed = _speed(_state(host_counts[-1]), 16384 if args.quick else 131072,
                   300 if args.quick else 2000)
    rows.append(speed)
    progress.step("mapping speed")
    result.note(f"pool: {pg_num} PGs, size {SIZE}; hosts of {OSDS_PER_HOST} OSDs, "
                f"chooseleaf firstn over hosts, straw2, jewel tunables")
    for r in rows:
        if r["section"] == "distribution":
            result.measure(f"{r['osds']:>3} OSDs: PG shards per OSD std dev", r["measured"],
                           "shards", r["reference"], "binomial ideal")
        elif r["section"] == "movement":
            result.measure(f"{r['osds']:>3} OSDs, {r['case']}: moved", r["measured"],
                           "shards", r["reference"], "Δw/W optimum")
    result.measure(f"map_pool bulk mapping, {speed['osds']} OSDs", speed["measured"], "µs/PG",
                   speed["reference"], "one-PG-at-a-time map_pg")
    result.write_csv(rows)
    _plot(result, rows)
    return result


def _plot(result: Result, rows: list[dict]) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(14, 4.2))
    dist = [r for r in rows if r["section"] == "distribution"]
    osds = [r["osds"] for r in dist]
    a.plot(osds, [r["measured"] for r in dist], "o-", label="CRUSH")
    a.plot(osds, [r["reference"] for r in dist], "s--", label="binomial ideal")
    a.set_xscale("log", base=2)
    a.set_xlabel("OSDs")
    a.set_ylabel("std dev of PG shards per OSD")
    a.set_title("PG distribution")
    a.legend()
    for case in ("add 1 host", "out 1 OSD", "fail 1 host"):
        mv = [r for r in rows if r["section"] == "movement" and r["case"] == case]
        b.plot([r["osds"] for r in mv], [r["ratio"] for r in mv], "o-", label=case)
    b.axhline(1.0, color="grey", ls=":")
    b.set_xscale("log", base=2)
    b.set_xlabel("OSDs")
    b.set_ylabel("shards moved / Δw/W optimum")
    b.set_title("data movement")
    b.legend()
    sp = [r for r in rows if r["section"] == "speed"][0]
    c.bar(["map_pool (bulk)", "map_pg (one by one)"], [sp["measured"], sp["reference"]])
    c.set_yscale("log")
    c.set_ylabel("µs per PG")
    c.set_title(f"mapping speed, {sp['osds']} OSDs")
    result.save_png(fig, plt)
