"""`python -m bench recovery`: time and data back to active+clean after losing 1 OSD, with
the timeline of PG states.

Two engines, same scenario, same measurements:
- `sim`: the seeded in-process simulator (cluster/sim.py: the real OSD, peering, recovery,
  backfill and failure-detector cores under virtual time; one OSD per host, so one OSD is
  one host). Times are virtual seconds; it models message latency, not link bandwidth.
- `ray`: a cluster of its own on Ray, the OSD killed with the public fault API
  (cluster/faults.py), PG states from the monitor's `pg stat` (bench/recovery_ray.py).
  Times are wall seconds on this machine.

Scenario: fill a replicated pool (size 3, min_size 2), kill osd.0 (memstore: its data is
gone), let the monitor mark it down (heartbeat grace) and out (down-out interval), and
sample the PG states until every PG is active+clean. Baselines measured in the same run:
the detection floor (grace + down-out interval: no data can move earlier) for the times,
and the bytes osd.0 held (the least recovery has to copy) for the data.
"""
from __future__ import annotations

import collections
import importlib.util

from bench.report import Progress, Result, fmt, pyplot
from cluster.sim import Sim, SimConfig

SAMPLE_S = 0.5


def add_arguments(parser) -> None:
    parser.add_argument("--seed", type=int, default=1, help="simulator seed (replays exactly)")
    parser.add_argument("--osds", type=int, default=0, help="OSDs (default 6 quick, 12 full)")
    parser.add_argument("--engine", choices=["sim", "ray", "both"], default="both",
                        help="simulator, a cluster on Ray (fault API), or both (default)")


def _fill(sim: Sim, objects: int, size: int) -> dict[str, int]:
    written = {}
    progress = Progress("recovery (sim): writing objects", objects)
    for i in range(objects):
        oid = f"obj{i}"
        reply = sim.request(oid, [("write_full", bytes([i % 251]) * size)])
        if reply is None or reply.result != 0:
            raise RuntimeError(f"seed {sim.seed}: write of {oid} failed: {reply}")
        written[oid] = size
        progress.step(oid)
    return written


def run_on_sim(seed: int, osds: int, pg_num: int, objects: int, obj_size: int) -> dict:
    cfg = SimConfig(num_osds=osds, pg_num=pg_num, thrash=False, num_clients=0,
                    client_drop=0.0, log_max_entries=200)
    sim = Sim(seed, cfg)
    sim.start()
    written = _fill(sim, objects, obj_size)
    victim = 0
    held = sum(size for oid, size in written.items() if victim in sim.pg_of(oid)[1])
    before = sim.recovery_totals()
    t_kill = sim.net.now
    sim.kill(victim)
    timeline: list[dict] = []
    bound_s = cfg.heartbeat_grace_s + cfg.down_out_interval_s + 600.0
    t_down = t_out = None
    error = None
    while True:
        t = sim.net.now - t_kill
        counts = collections.Counter(sim.pg_states().values())
        for state, n in sorted(counts.items()):
            timeline.append({"t_s": round(t, 2), "state": state, "pgs": n})
        info = sim.mon.osdmap.osds[victim]
        if t_down is None and not info.up:
            t_down = t
        if t_out is None and not info.in_:
            t_out = t
        if t_out is not None and sim.all_clean():
            break
        if t > bound_s:
            error = f"not active+clean {bound_s:.0f} s after the kill: {dict(counts)}"
            break
        # fine samples once data can move: copying takes a few simulated round trips
        sim.run_for(SAMPLE_S if t_out is None else SAMPLE_S / 10)
    totals = sim.recovery_totals()
    moved = sum(totals.get(k, 0) - before.get(k, 0)
                for k in ("bytes_recovered", "bytes_backfilled"))
    sim.close()
    return {"timeline": timeline, "t_down": t_down, "t_out": t_out,
            "t_clean": None if error else sim.net.now - t_kill, "held_bytes": held,
            "moved_bytes": moved, "grace_s": cfg.heartbeat_grace_s,
            "down_out_s": cfg.down_out_interval_s, "victim": victim, "error": error}


def _report(result: Result, engine: str, r: dict, unit: str) -> None:
    floor = r["grace_s"] + r["down_out_s"]
    v = r["victim"]
    if r["t_down"] is not None:
        result.measure(f"[{engine}] kill osd.{v} -> marked down", r["t_down"], unit,
                       r["grace_s"], "heartbeat grace")
    if r["t_out"] is not None:
        result.measure(f"[{engine}] kill osd.{v} -> marked out", r["t_out"], unit, floor,
                       "grace + down-out interval")
    if r.get("error"):
        result.lines.append(f"[{engine}] FAILED to recover: {r['error']}")
        return
    result.measure(f"[{engine}] kill osd.{v} -> all PGs active+clean", r["t_clean"], unit,
                   floor, "grace + down-out interval")
    copy_s = max(r["t_clean"] - r["t_out"], 1e-3)
    held_mib = r["held_bytes"] / (1 << 20)
    if "moved_bytes" in r:
        result.measure(f"[{engine}] data copied by recovery/backfill", r["moved_bytes"] / (1 << 20),
                       "MiB", held_mib, f"bytes osd.{v} held")
    result.lines.append(f"[{engine}] recovery bandwidth after mark-out: "
                        f"{fmt(held_mib / copy_s, 'MiB/s')} ({fmt(held_mib, 'MiB')} osd.{v} "
                        f"held / {fmt(copy_s, unit)})")


def run(args) -> Result:
    result = Result("recovery", args.out)
    osds = args.osds or (6 if args.quick else 12)
    pg_num = 32 if args.quick else 128
    objects, obj_size = (120, 64 << 10) if args.quick else (1000, 256 << 10)
    engines = ["sim", "ray"] if args.engine == "both" else [args.engine]
    if "ray" in engines and importlib.util.find_spec("cluster.faults") is None:
        engines.remove("ray")
        result.note("ray engine skipped: cluster/faults.py is not available")
    rows: list[dict] = []
    runs: dict[str, dict] = {}
    for engine in engines:
        if engine == "sim":
            r = run_on_sim(args.seed, osds, pg_num, objects, obj_size)
            result.note(f"[sim] simulator (cluster/sim.py, seed {args.seed}): {osds} OSDs on "
                        f"{osds} hosts, size 3 / min_size 2, {pg_num} PGs, {objects} objects "
                        f"of {obj_size >> 10} KiB; virtual seconds; grace {r['grace_s']:g} s, "
                        f"down-out interval {r['down_out_s']:g} s (Ceph's default: 600 s)")
            _report(result, engine, r, "s (virtual)")
        else:
            from bench.recovery_ray import run_on_ray
            ray_osds = 4 if args.quick else 8
            ray_objects = 60 if args.quick else 400
            r = run_on_ray(ray_osds, pg_num, ray_objects, obj_size, 45 if args.quick else 180)
            result.note(f"[ray] cluster on Ray (this machine), fault API kill: {ray_osds} OSDs "
                        f"on {ray_osds} hosts, size 3 / min_size 2, {pg_num} PGs, "
                        f"{ray_objects} objects of {obj_size >> 10} KiB; wall seconds; grace "
                        f"{r['grace_s']} s, down-out interval {r['down_out_s']} s")
            _report(result, engine, r, "s")
        runs[engine] = r
        rows += [{"engine": engine, **row} for row in r["timeline"]]
        for event in ("t_down", "t_out", "t_clean"):
            if r[event] is not None:
                rows.append({"engine": engine, "t_s": round(r[event], 2),
                             "state": f"event:{event[2:]}", "pgs": 0})
    result.write_csv(rows)
    _plot(result, runs, pg_num)
    return result


def _plot(result: Result, runs: dict[str, dict], pg_num: int) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, len(runs), figsize=(7 * len(runs), 4.5), squeeze=False)
    every_state = sorted({s["state"] for r in runs.values() for s in r["timeline"]})
    palette = plt.get_cmap("tab20")
    color = {st: palette(i % 20) for i, st in enumerate(every_state)}   # same state, same color
    for ax, (engine, r) in zip(axes[0], runs.items()):
        samples = r["timeline"]
        times = sorted({s["t_s"] for s in samples})
        states = sorted({s["state"] for s in samples})
        by = {(s["t_s"], s["state"]): s["pgs"] for s in samples}
        ax.stackplot(times, [[by.get((t, st), 0) for t in times] for st in states],
                     labels=states, colors=[color[st] for st in states], step="post")
        for t, label in ((r["t_down"], "marked down"), (r["t_out"], "marked out")):
            if t is not None:
                ax.axvline(t, color="black", ls=":")
                ax.text(t, pg_num * 1.01, label, fontsize=8)
        unit = "virtual seconds" if engine == "sim" else "wall seconds"
        ax.set_xlabel(f"{unit} after killing osd.{r['victim']}")
        ax.set_ylabel("PGs")
        ax.set_title(f"recovery after one OSD failure ({engine})"
                     + (" - did not finish" if r.get("error") else ""))
        ax.legend(fontsize=7, loc="lower right")
    result.save_png(fig, plt)
