"""`python -m bench whatif`: how many PGs and bytes a change to a real cluster would move.

    python -m bench whatif --crush-map crush.txt --pools pools.json [--df df.json] \
        --change "add-host rack2 4 1.82" --change "fail rack1" --change "reweight osd.7 0.8"

crush.txt is `ceph osd getcrushmap | crushtool -d` output, pools.json `ceph osd pool ls
detail -f json`, df.json `ceph df -f json` (for the bytes). Without --crush-map a stand-in
cluster is used (3 racks x 4 hosts x 3 OSDs, pool rbd: 1,024 PGs, 10 TiB stored; 4,096 PGs
without --quick) with a few typical changes. Pure: no cluster is started.
"""
from __future__ import annotations

from bench import whatif
from bench.report import Progress, Result, fmt, pyplot
from cluster.placement import PoolPlacement

TIB = 1 << 40
DEMO_CHANGES = ["add-host rack0 3 1.0", "reweight osd.0 0.5", "crush-reweight osd.1 2.0",
                "out osd.2", "fail host1-0", "fail rack1"]


def add_arguments(parser) -> None:
    parser.add_argument("--crush-map", help="crushtool text map of the cluster")
    parser.add_argument("--pools", help="`ceph osd pool ls detail -f json` output")
    parser.add_argument("--df", help="`ceph df -f json` output (stored bytes per pool)")
    parser.add_argument("--change", action="append", default=[],
                        help="add-host PARENT COUNT WEIGHT | fail BUCKET|osd.N | out osd.N | "
                             "reweight osd.N W | crush-reweight osd.N W (repeatable)")


def _inputs(args):
    crush_path = getattr(args, "crush_map", None)
    if crush_path:
        with open(crush_path, encoding="utf-8") as f:
            crush = whatif.load_crush(f.read())
        if not getattr(args, "pools", None):
            raise ValueError("--crush-map needs --pools (ceph osd pool ls detail -f json)")
        with open(args.pools, encoding="utf-8") as f:
            ls_detail = f.read()
        df = ""
        if getattr(args, "df", None):
            with open(args.df, encoding="utf-8") as f:
                df = f.read()
        pools = whatif.load_pools(ls_detail, df)
        changes = args.change
        if not changes:
            raise ValueError("give at least one --change for your map")
        return whatif.ClusterState.from_crush(crush), pools, changes, crush_path
    pg_num = 1024 if args.quick else 4096
    crush = whatif.build_racked_map(3, 4, 3)
    pools = [whatif.PoolSpec(PoolPlacement(1, pg_num, pg_num, 3, 0), "rbd", 10 * TIB)]
    return whatif.ClusterState.from_crush(crush), pools, args.change or DEMO_CHANGES, \
        "stand-in map: 3 racks x 4 hosts x 3 OSDs (weight 1.0), pool rbd size 3, 10 TiB"


def run(args) -> Result:
    result = Result("whatif", args.out)
    state, pools, changes, source = _inputs(args)
    result.note(f"input: {source}; pools: " +
                ", ".join(f"{p.name} ({p.placement.pg_num} PGs x{p.placement.size}, "
                          f"{fmt(p.stored_bytes / TIB, 'TiB')} stored)" for p in pools))
    rows, totals = [], []
    progress = Progress("whatif", len(changes))
    for change in changes:
        pool_rows = whatif.what_if(state, pools, change)
        rows += pool_rows
        totals.append(pool_rows[-1])
        progress.step(change)
    for t in totals:
        result.measure(f"{t['change']}: shards moved", t["shards_moved"], "shards",
                       t["optimum_shards"], "the Δw/W optimum")
        result.lines.append(f"    PGs remapped {t['pgs_moved']} of {t['pgs']} PGs "
                            f"({t['pgs_moved'] / max(t['pgs'], 1):.1%}); data moved "
                            f"{fmt(t['bytes_moved'] / TIB, 'TiB')} (optimum "
                            f"{fmt(t['optimum_bytes'] / TIB, 'TiB')}); hard lower bound "
                            f"{t['min_shards']} shards")
    result.write_csv(rows)
    _plot(result, totals)
    return result


def _plot(result: Result, totals: list[dict]) -> None:
    plt = pyplot()
    if plt is None:
        return
    import numpy as np
    fig, ax = plt.subplots(figsize=(9, 4.5))
    x = np.arange(len(totals))
    for i, (key, label) in enumerate((("shards_moved", "moved by CRUSH"),
                                      ("optimum_shards", "optimum Δw/W"),
                                      ("min_shards", "hard lower bound"))):
        ax.bar(x + (i - 1) * 0.27, [t[key] for t in totals], 0.27, label=label)
    ax.set_xticks(x, [t["change"] for t in totals], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("PG shards moved")
    ax.set_title("what if: shards that move per change")
    ax.legend()
    result.save_png(fig, plt)

