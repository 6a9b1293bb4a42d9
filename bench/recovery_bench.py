"""`python -m bench recovery`: time and bandwidth back to active+clean after losing 1 OSD,
with the timeline of PG states.

Runs on the seeded in-process simulator (cluster/sim.py: the real OSD, peering, recovery,
backfill and failure-detector cores with virtual time; each OSD is its own host, so one
OSD is one host). The public fault API on Ray (cluster/faults.py) did not exist when this
experiment was written; times below are virtual seconds of the simulator's clock, not wall
time, and the output says so.

Scenario: fill a replicated pool (size 3, min_size 2), kill one OSD (memstore: its data is
gone), let the monitor mark it down (heartbeat grace) and out (down-out interval), and
sample the PG states every 0.5 s (0.05 s once it is out) until every PG is active+clean.
Baselines measured in the same run: the detection floor (grace + down-out interval: no
data can move earlier) for the time, and the bytes the dead OSD held (the least recovery
has to copy) for the data.
"""
from __future__ import annotations

import collections

from bench.report import Progress, Result, fmt, pyplot
from cluster.sim import Sim, SimConfig

SAMPLE_S = 0.5


def add_arguments(parser) -> None:
    parser.add_argument("--seed", type=int, default=1, help="simulator seed (replays exactly)")
    parser.add_argument("--osds", type=int, default=0, help="OSDs (default 6 quick, 12 full)")


def _fill(sim: Sim, objects: int, size: int) -> dict[str, int]:
    written = {}
    progress = Progress("recovery: writing objects", objects)
    for i in range(objects):
        oid = f"obj{i}"
        data = bytes([i % 251]) * size
        reply = sim.request(oid, [("write_full", data)])
        if reply is None or reply.result != 0:
            raise RuntimeError(f"seed {sim.seed}: write of {oid} failed: {reply}")
        written[oid] = size
        progress.step(oid)
    return written


def run(args) -> Result:
    result = Result("recovery", args.out)
    osds = args.osds or (6 if args.quick else 12)
    pg_num = 32 if args.quick else 128
    objects, obj_size = (120, 64 << 10) if args.quick else (1000, 256 << 10)
    cfg = SimConfig(num_osds=osds, pg_num=pg_num, thrash=False, num_clients=0,
                    client_drop=0.0, log_max_entries=200)
    sim = Sim(args.seed, cfg)
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
            raise RuntimeError(f"seed {args.seed}: not active+clean {bound_s:.0f} s after the "
                               f"kill: {dict(counts)}")
        # fine samples once data can move: the simulator models latency, not link bandwidth,
        # so copying finishes within a few round trips
        sim.run_for(SAMPLE_S if t_out is None else SAMPLE_S / 10)
    t_clean = sim.net.now - t_kill
    totals = sim.recovery_totals()
    moved = sum(totals.get(k, 0) - before.get(k, 0)
                for k in ("bytes_recovered", "bytes_backfilled"))
    sim.close()
    floor = cfg.heartbeat_grace_s + cfg.down_out_interval_s
    copy_s = max(t_clean - (t_out or 0.0), SAMPLE_S / 10)
    result.note(f"simulator (cluster/sim.py, seed {args.seed}): {osds} OSDs on {osds} hosts, "
                f"pool size 3 / min_size 2, {pg_num} PGs, {objects} objects of "
                f"{obj_size >> 10} KiB; times are virtual seconds; heartbeat grace "
                f"{cfg.heartbeat_grace_s:g} s, down-out interval {cfg.down_out_interval_s:g} s "
                f"(Ceph's default is 600 s)")
    result.measure(f"kill osd.{victim} -> marked down", t_down or 0.0, "s",
                   cfg.heartbeat_grace_s, "heartbeat grace")
    result.measure(f"kill osd.{victim} -> marked out", t_out or 0.0, "s", floor,
                   "grace + down-out interval")
    result.measure(f"kill osd.{victim} -> all PGs active+clean", t_clean, "s", floor,
                   "grace + down-out interval")
    result.measure("data copied by recovery/backfill", moved / (1 << 20), "MiB",
                   held / (1 << 20), f"bytes osd.{victim} held")
    result.lines.append(f"recovery bandwidth after mark-out: "
                        f"{fmt(moved / (1 << 20) / copy_s, 'MiB/s')} (virtual; the simulator "
                        f"models message latency, not link bandwidth)")
    timeline.append({"t_s": round(t_down or 0, 2), "state": "event:marked_down", "pgs": 0})
    timeline.append({"t_s": round(t_out or 0, 2), "state": "event:marked_out", "pgs": 0})
    timeline.append({"t_s": round(t_clean, 2), "state": "event:active+clean", "pgs": 0})
    result.write_csv(timeline)
    _plot(result, timeline, t_down, t_out, pg_num)
    return result


def _plot(result: Result, timeline: list[dict], t_down, t_out, pg_num: int) -> None:
    plt = pyplot()
    if plt is None:
        return
    samples = [r for r in timeline if not r["state"].startswith("event:")]
    times = sorted({r["t_s"] for r in samples})
    states = sorted({r["state"] for r in samples})
    by = {(r["t_s"], r["state"]): r["pgs"] for r in samples}
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.stackplot(times, [[by.get((t, s), 0) for t in times] for s in states], labels=states,
                 step="post")
    for t, label in ((t_down, "marked down"), (t_out, "marked out")):
        if t is not None:
            ax.axvline(t, color="black", ls=":")
            ax.text(t, pg_num * 1.01, label, fontsize=8)
    ax.set_xlabel("virtual seconds after killing the OSD")
    ax.set_ylabel("PGs")
    ax.set_title("recovery after one OSD failure (simulator)")
    ax.legend(fontsize=7, loc="lower right")
    result.save_png(fig, plt)
