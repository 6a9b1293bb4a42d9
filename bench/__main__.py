"""python -m bench EXPERIMENT [options] — benchmarks and scaling experiments that print numbers
(with units and the ratio to a baseline measured in the same run) and never assert.

Experiments that write `<out>/<name>.csv` and `<out>/<name>.png` (matplotlib, optional):
  scaling     throughput and latency percentiles vs OSDs (a cluster per size, on Ray)
  placement   PG distribution vs the binomial ideal, data moved vs Δw/W, mapping speed (pure)
  recovery    time and data to active+clean after losing an OSD, PG-state timeline (simulator)
  whatif      PGs and bytes a change to a crushtool map would move (pure)
  mirror      rbd-mirror replication (bench/mirror_bench.py, when present)
Console benchmarks: rados (`rados bench`), rbd (`rbd bench`), crush (bulk mapping speed),
thrash (seeded fault runs: `python -m bench thrash --seeds 20 --ops 10000`; on Ray with
`--ray`), compare (every
row of the performance issue's table against real Ceph or its reference figures).

`python -m bench all --quick` runs every file-writing experiment at small sizes and writes
`<out>/summary.txt`. Each experiment module has `run(args)` and, optionally,
`add_arguments(parser)`.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import re
import sys
import time
import traceback

# name -> module; the order is the order `all` runs them in (pure and fast ones first)
EXPERIMENTS = {
    "placement": "bench.placement_bench",
    "whatif": "bench.whatif_bench",
    "recovery": "bench.recovery_bench",
    "scaling": "bench.scaling_bench",
    "mirror": "bench.mirror_bench",
}
CONSOLE = {"rados": "bench.rados_bench", "rbd": "bench.rbd_bench", "crush": "bench.crush_bench",
           "compare": "bench.compare"}


def available(table: dict) -> dict:
    """The entries whose module exists (mirror_bench arrives with the mirroring work)."""
    return {name: mod for name, mod in table.items() if importlib.util.find_spec(mod)}


def _summary(doc: str) -> str:
    """The first sentence of a module docstring, without its `python -m bench X`: prefix."""
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    paragraph = re.sub(r"^`[^`]*`:\s*", "", paragraph)
    return paragraph.split(". ")[0].rstrip(".")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="small sizes (CI smoke, a few minutes)")
    p.add_argument("--out", default="bench-results", help="directory for CSV, PNG, summary")
    p.add_argument("-c", "--conf", default="", help="ceph.conf of the cluster to use")
    p.add_argument("--seconds", type=float, default=5.0, help="duration of each phase")
    p.add_argument("--threads", type=int, default=16, help="operations in flight")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    sub = parser.add_subparsers(dest="experiment", required=True, metavar="EXPERIMENT")
    for name, mod in {**available(EXPERIMENTS), **CONSOLE}.items():
        try:
            module = importlib.import_module(mod)
        except Exception as exc:     # one broken experiment must not hide the others
            p = sub.add_parser(name, help=f"(cannot be imported: {exc})")
            _common(p)
            continue
        p = sub.add_parser(name, help=_summary(module.__doc__ or mod))
        _common(p)
        if hasattr(module, "add_arguments"):
            module.add_arguments(p)
    _common(sub.add_parser("all", help="every experiment that writes CSV + PNG"))
    sub.add_parser("thrash", help="seeded simulator runs (cluster.sim options)", add_help=False)
    return parser


def run_experiment(name: str, args) -> object:
    module = importlib.import_module({**EXPERIMENTS, **CONSOLE}[name])
    return module.run(args)


def run_all(parser, argv_common: list[str], out: str, names=None) -> int:
    """Run every available experiment with the shared options; one failure does not stop
    the others. Writes `<out>/summary.txt`; exit status 1 if any experiment failed."""
    names = names or list(available(EXPERIMENTS))
    texts, failed = [], []
    for name in names:
        started = time.perf_counter()
        sys.stderr.write(f"-- {name}\n")
        try:
            result = run_experiment(name, parser.parse_args([name, *argv_common]))
            text = result.text() if hasattr(result, "text") else f"== {name} ==\n(no files)\n"
        except Exception:
            failed.append(name)
            text = f"== {name} ==\nFAILED:\n{traceback.format_exc()}"
        text += f"({name} took {time.perf_counter() - started:.1f} s wall)\n"
        texts.append(text)
        print(text, flush=True)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "summary.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(texts))
    print(f"summary: {os.path.join(out, 'summary.txt')}"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "thrash" and "--ray" in argv:
        from cluster.thrash_ray import main as ray_thrash_main

        return ray_thrash_main([a for a in argv[1:] if a != "--ray"])
    if argv and argv[0] == "thrash":
        from cluster.sim import main as sim_main

        return sim_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.experiment == "all":
        return run_all(parser, argv[1:], args.out)
    result = run_experiment(args.experiment, args)
    if hasattr(result, "text"):
        print(result.text(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
