"""Every row of the performance issue's table in one run: rayceph against real Ceph.

Measures, in this order: embedded cluster start to HEALTH_OK, `rbd bench` (4K rand write and
read, 4M seq write and read, 16 in flight), `rados bench` 4 MiB write / seq read, python
sequential 4 KiB and 4 MiB-chunk Image.write/read, RBD.create and Image() open, and bulk
CRUSH mapping. Prints: workload, our figure, unit, the other side's figure, the ratio, and
whether the issue's target is met.

The other side is a real Ceph cluster measured in the same run when `CEPH_CONF` is set and
`/usr/bin/python3` imports Ceph's own bindings (compiled modules, not rayceph's): the client
workloads of bench/compare_workloads.py run there in a subprocess. Otherwise the ratios are
to the reference figures the issue lists (real Ceph 16.2.15 on the same kind of 2-core
machine), and the table says so. Ratios are always "times better than the other side":
ours/theirs for throughput, theirs/ours for times. A reference range gives a ratio range.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass

from bench import compare_workloads

CEPH_PYTHON = "/usr/bin/python3"
HEALTH_WAIT_S = 60.0


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    unit: str
    reference: tuple[float, float]     # real Ceph 16.2.15, same kind of machine (issue 10)
    higher_is_better: bool = True
    target: float | None = None        # the target: a ratio ("x") or an absolute figure
    target_is_ratio: bool = True


ROWS = [
    Row("start_s", "cluster start to HEALTH_OK (3 OSDs)", "s", (3.0, 3.0), False, 5.0, False),
    Row("rbd_4k_randwrite", "rbd bench 4K rand write, 16 thr", "IOPS", (1900, 2900), True, 1.5),
    Row("rbd_4k_randread", "rbd bench 4K rand read, 16 thr", "IOPS", (14000, 20700), True, 1.0),
    Row("rbd_4m_seqwrite", "rbd bench 4M seq write, 16 thr", "MiB/s", (145, 250), True, 1.0),
    Row("rbd_4m_seqread", "rbd bench 4M seq read, 16 thr", "MiB/s", (1638, 2458), True, 1.0),
    Row("rados_4m_write", "rados bench 4M write, 16 in flight", "MB/s", (170, 190)),
    Row("rados_4m_seq", "rados bench 4M seq read, 16 in flight", "MB/s", (2000, 2600)),
    Row("py_4k_write", "python 4K sequential Image.write", "ops/s", (1950, 1950), True, 1950,
        False),
    Row("py_4k_read", "python 4K sequential Image.read", "ops/s", (7500, 7500), True, 7500, False),
    Row("py_4m_write", "python 4M chunks Image.write", "MB/s", (550, 650), True, 600, False),
    Row("py_4m_read", "python 4M chunks Image.read", "MB/s", (1700, 1800)),
    Row("create_ms", "RBD.create", "ms", (5.0, 5.0), False, 5.0, False),
    Row("open_ms", "Image() open", "ms", (3.5, 3.5), False, 5.0, False),
    Row("crush_us", "bulk CRUSH mapping (3 hosts)", "µs/map", (1.5, 1.5), False, 1.5, False),
]


def add_arguments(parser) -> None:
    parser.add_argument("--no-real", action="store_true",
                        help="do not look for a real Ceph cluster (ratios to the reference)")


# -- our side ---------------------------------------------------------------------------------
def _wait_healthy(cluster, limit_s: float) -> str:
    """Poll `ceph health` until HEALTH_OK (bounded); returns the last status seen."""
    deadline = time.monotonic() + limit_s
    status = "unknown"
    while time.monotonic() < deadline:
        ret, out, _ = cluster.mon_command(json.dumps({"prefix": "health", "format": "json"}),
                                          b"")
        if ret == 0:
            status = json.loads(out or b"{}").get("status", "unknown")
            if status == "HEALTH_OK":
                return status
        time.sleep(0.05)
    return status


def _is_embedded(conffile: str) -> bool:
    """True when connecting starts the cluster in this process (so its start can be timed)."""
    from cluster.config import CephConfig

    if not conffile:
        return True                     # no file: the bundled embedded default
    conf = CephConfig()
    conf.read_file(conffile)
    return (conf.get("rayceph_ray_address") or "local").strip() in ("local", "inprocess")


def crush_us_per_mapping(quick: bool) -> float:
    from bench.crush_bench import _bulk, _maps

    small, _ = _maps()
    return _bulk("bulk", small, 0, 3, 100_000 if quick else 1_000_000)["us_per_input"]


def measure_ours(conffile: str, quick: bool, threads: int) -> dict:
    import rados

    embedded = _is_embedded(conffile)
    start = time.perf_counter()
    cluster = rados.Rados(conffile=conffile)
    cluster.connect()
    try:
        status = _wait_healthy(cluster, HEALTH_WAIT_S)
        start_s = time.perf_counter() - start
        results = compare_workloads.measure(cluster, quick, threads)
    finally:
        cluster.shutdown()
    if status != "HEALTH_OK":
        results["errors"]["start_s"] = f"{status} after {HEALTH_WAIT_S:.0f} s"
    elif embedded:
        results["start_s"] = start_s
    else:
        results["errors"]["start_s"] = "cluster was already running (not started by this run)"
    try:
        results["crush_us"] = crush_us_per_mapping(quick)
    except Exception as exc:
        results["errors"]["crush_us"] = f"{type(exc).__name__}: {exc}"
    return results


# -- the real cluster -------------------------------------------------------------------------
def real_ceph_python() -> str | None:
    """/usr/bin/python3 when it imports Ceph's compiled bindings (not rayceph's), else None."""
    if not os.path.exists(CEPH_PYTHON):
        return None
    probe = ("import rados, rbd; f = rados.__file__ or ''; "
             "print(f if f.endswith('.so') else '')")
    try:
        out = subprocess.run([CEPH_PYTHON, "-c", probe], capture_output=True, text=True,
                             timeout=30, cwd="/")
    except (OSError, subprocess.TimeoutExpired):
        return None
    return CEPH_PYTHON if out.returncode == 0 and out.stdout.strip() else None


def measure_real(python: str, conffile: str, quick: bool, threads: int) -> dict:
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "compare_workloads.py")
    cmd = [python, script, "--conf", conffile, "--threads", str(threads)]
    if quick:
        cmd.append("--quick")
    # cwd "/" so the repo's own `rados` package cannot shadow Ceph's bindings
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, cwd="/")
    if out.returncode != 0:
        raise RuntimeError(f"real Ceph workloads failed: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the table --------------------------------------------------------------------------------
def _num(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def ratios(row: Row, ours: float, theirs: tuple[float, float]) -> tuple[float, float]:
    """(worst, best) "times better" ratio over the other side's range."""
    lo, hi = theirs
    if row.higher_is_better:
        return ours / hi, ours / lo
    return lo / ours, hi / ours


def target_met(row: Row, ours: float, theirs: tuple[float, float]) -> str:
    if row.target is None:
        return ""
    if row.target_is_ratio:
        mid = sum(ratios(row, ours, theirs)) / 2
        return ("yes" if mid >= row.target else "no") + f" (>= {row.target:g}x)"
    ok = ours >= row.target if row.higher_is_better else ours <= row.target
    sign = ">=" if row.higher_is_better else "<="
    return ("yes" if ok else "no") + f" ({sign} {row.target:g} {row.unit})"


def table(ours: dict, real: dict | None) -> str:
    other = "real Ceph (same run)" if real is not None else "reference"
    lines = [f"{'workload':<40} {'rayceph':>10} {'unit':<7} {other:>21} {'ratio':>13}  target",
             "-" * 110]
    for row in ROWS:
        value = ours.get(row.key)
        measured_there = real is not None and real.get(row.key) is not None
        theirs = (real[row.key],) * 2 if measured_there else row.reference
        shown = _num(theirs[0]) if theirs[0] == theirs[1] else \
            f"{_num(theirs[0])}-{_num(theirs[1])}"
        if real is not None and not measured_there:
            shown += " (ref)"
        if value is None:
            why = ours.get("errors", {}).get(row.key, "not measured")
            lines.append(f"{row.label:<40} {'-':>10} {row.unit:<7} {shown:>21} {'-':>13}  {why}")
            continue
        worst, best = ratios(row, value, theirs)
        ratio = f"{worst:.2f}x" if abs(worst - best) < 0.005 else f"{worst:.2f}-{best:.2f}x"
        lines.append(f"{row.label:<40} {_num(value):>10} {row.unit:<7} {shown:>21} {ratio:>13}  "
                     f"{target_met(row, value, theirs)}")
    lines.append("-" * 110)
    if real is None:
        lines.append("ratios vs reference numbers (real Ceph 16.2.15, 2-core EPYC, 3 memstore "
                     "OSDs, size 3, ±25 % between runs; issue 10), not a cluster measured now")
    lines.append("ratio = times better than the other side (ours/theirs for rates, "
                 "theirs/ours for times)")
    lines.append("bench writes: each op in flight has its own buffer (one shared buffer would "
                 "travel once per batch here, once per op in Ceph)")
    for key, why in sorted(ours.get("errors", {}).items()):
        lines.append(f"rayceph {key}: {why}")
    for key, why in sorted((real or {}).get("errors", {}).items()):
        lines.append(f"real Ceph {key}: {why}")
    return "\n".join(lines) + "\n"


def run(args):
    conffile = args.conf
    real = None
    python = None
    ceph_conf = os.environ.get("CEPH_CONF", "")
    if ceph_conf and not getattr(args, "no_real", False):
        python = real_ceph_python()
    started = time.perf_counter()
    ours = measure_ours(conffile, args.quick, args.threads)
    if python is not None:
        real = measure_real(python, ceph_conf, args.quick, args.threads)
    print(table(ours, real), end="")
    print(f"(compare took {time.perf_counter() - started:.0f} s wall"
          f"{', quick sizes' if args.quick else ''})")
    return None
