"""python -m bench EXPERIMENT [options] — benchmarks that print numbers, never assert.

Experiments: rados (rados bench equivalent), rbd (rbd bench equivalent), crush (bulk placement speed), thrash (seeded
fault runs on the in-process simulator: `python -m bench thrash --seeds 20 --ops 10000`).
"""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "thrash":
        from cluster.sim import main as sim_main

        return sim_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=["rados", "rbd", "crush", "thrash"])
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI smoke runs")
    parser.add_argument("-c", "--conf", default="", help="ceph.conf of the cluster to use")
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each phase")
    parser.add_argument("--threads", type=int, default=16, help="operations in flight")
    args = parser.parse_args(argv)
    if args.experiment == "rados":
        from bench import rados_bench

        rados_bench.run(args)
    elif args.experiment == "rbd":
        from bench import rbd_bench

        rbd_bench.run(args)
    elif args.experiment == "crush":
        from bench import crush_bench

        crush_bench.run(args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
