"""Seeded thrash runs on Ray: the simulator's history check (cluster/sim.py) against a real
cluster of OSD actors, driven through the public `rados` module and cluster/faults.py.

    python -m bench thrash --ray --seeds 3 --ops 2000

One run: start a small cluster of its own (memstore, one OSD per host, 1 s heartbeats and a
3 s grace) inside the current Ray (the embedded one is started if needed), run a seeded
workload from several client threads while a seeded thrasher injects faults through the
fault API within the pool's limits, then undo every fault, wait for active+clean within a
bound and check:
- every read returned what the model held at the time (data, xattrs, omap; ENOENT for an
  absent object), and every write was acknowledged with the result the model expects;
- after the heal, every object reads back equal to the model: no acknowledged write lost,
  no phantom one;
- every acting member of each object's PG holds a byte-identical copy (OSD
  `object_digests`), and absent objects are absent everywhere.
A failure message starts with `seed=N`. Each client thread owns its objects and runs one op
at a time, so every object has a linear history and the model is exact. An op that fails
with an error (a timeout included) has an unknown outcome: it is reported as a finding and
its object leaves the workload and the final model check.

Not bit-reproducible, unlike the simulator: Ray's scheduling and wall-clock timers are not
seeded. The seed fixes the workload (per client thread) and the fault schedule only.

The run and the command line are here; the run's own cluster and the thrasher are in
cluster/thrash_cluster.py, the client workload and its model in cluster/thrash_workload.py.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

from .thrash_cluster import HEALED, HEARTBEAT_GRACE_S, POOL, RayCluster, Thrasher, write_conf
from .thrash_workload import Client, Model, read_mismatch

# the names that moved stay importable from here
__all__ = [
    "ThrashFailure", "ThrashConfig", "ThrashRun", "run_seed", "main",
    "POOL", "HEARTBEAT_GRACE_S", "HEALED", "write_conf", "RayCluster", "Thrasher",
    "Model", "Client", "read_mismatch",
]


class ThrashFailure(AssertionError):
    """A run broke a promise; the message starts with the seed. `data_findings` are lost or
    phantom writes, wrong reads and diverging replicas; `error_findings` are client ops and
    fault calls that failed with an error (their outcome unknown, no data claim broken)."""

    def __init__(self, text: str, data_findings=(), error_findings=(), errors_only=False):
        super().__init__(text)
        self.data_findings = list(data_findings)
        self.error_findings = list(error_findings)
        # True when the run healed, went clean and kept every data promise: only errors
        self.errors_only = errors_only


@dataclass
class ThrashConfig:
    ops: int = 2000                 # total client ops, shared by the client threads
    clients: int = 4                # client threads, each with its own objects
    objects_per_client: int = 6
    osds: int = 4                   # one per host, so the failure domain is the OSD
    pg_num: int = 8
    size: int = 3
    min_size: int = 2
    fault_time_s: float = 20.0      # the workload is paced to last at least this long
    hold_s: tuple = (1.0, 5.0)      # how long one fault stays before it is undone
    gap_s: tuple = (0.5, 2.0)       # between two thrasher steps
    max_faults: int = 2             # faults active at once (the API refuses unsafe ones)
    clean_timeout_s: float = 120.0
    op_timeout_s: float = 90.0      # rados osd op timeout: longer than any fault's hold
    messenger: str = "socket"       # client/OSD transport: socket (the default) or ray


# -- one run -------------------------------------------------------------------------------------
class ThrashRun:
    def __init__(self, seed: int, cfg: ThrashConfig, verbose: bool = False):
        self.seed = seed
        self.cfg = cfg
        self.verbose = verbose
        self.stop = threading.Event()
        self.stats: dict = {}
        self.findings: list = []       # data promises broken
        self.errors: list = []         # ops and fault calls that failed with an error
        self._lock = threading.Lock()
        self.cluster: RayCluster | None = None
        self.clients: list = []
        self.started = time.monotonic()

    def log(self, text: str) -> None:
        if self.verbose:
            print(f"  [{time.monotonic() - self.started:7.2f}s] seed={self.seed} {text}",
                  flush=True)

    def count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.stats[key] = self.stats.get(key, 0) + n

    def finding(self, text: str, data: bool = True) -> None:
        with self._lock:
            (self.findings if data else self.errors).append(text)
        self.log("FINDING " + text)

    def latency(self, seconds: float, oid: str) -> None:
        with self._lock:
            if seconds > self.stats.get("max_op_s", 0.0):
                self.stats["max_op_s"] = round(seconds, 2)
        if seconds > 10:
            self.log(f"slow op on {oid}: {seconds:.1f}s")

    def workload_done(self) -> bool:
        return all(not c.is_alive() for c in self.clients)

    def run(self) -> dict:
        name = f"thrash{self.seed}-{os.getpid()}"
        with tempfile.TemporaryDirectory(prefix="rayceph-thrash-") as tmp:
            conffile = write_conf(os.path.join(tmp, "ceph.conf"), name, self.cfg)
            self.cluster = RayCluster(name, conffile)
            try:
                return self._run()
            finally:
                self.stop.set()
                self.cluster.close()

    def _run(self) -> dict:
        cfg = self.cfg
        self.cluster.wait_clean(cfg.clean_timeout_s)
        started = time.monotonic()
        share = [cfg.ops // cfg.clients + (1 if n < cfg.ops % cfg.clients else 0)
                 for n in range(cfg.clients)]
        self.clients = [Client(self, n, share[n]) for n in range(cfg.clients)]
        for c in self.clients:
            c.start()
        thrasher = Thrasher(self)
        thrasher.start()
        # a client op waits at most the op timeout per attempt; bound the whole workload
        deadline = time.monotonic() + cfg.fault_time_s * 4 + cfg.op_timeout_s * 2 + 60
        for c in self.clients:
            c.join(timeout=max(0.0, deadline - time.monotonic()))
        hung = [c.name for c in self.clients if c.is_alive()]
        self.stop.set()
        thrasher.join(timeout=120)
        workload_s = time.monotonic() - started
        if hung:
            self.fail(f"client threads {hung} still waiting after {workload_s:.0f}s "
                      f"(hang)")
        if thrasher.is_alive():
            self.fail("thrasher still running after the workload (a fault call hangs)")
        if thrasher.error:      # a fault call failed: still heal and check the data
            self.finding(f"thrasher: {thrasher.error!r}", data=False)
        healed = self.cluster.faults.heal()
        self.log("heal: " + "; ".join(healed))
        try:
            time_to_clean = self.cluster.wait_clean(cfg.clean_timeout_s)
        except TimeoutError as exc:
            self.fail(str(exc))
        self.verify()
        if self.findings or self.errors:
            first = (self.findings or self.errors)[0]
            self.fail(f"{len(self.findings)} data findings, {len(self.errors)} errors; "
                      f"first: {first}", errors_only=not self.findings)
        ops = sum(c.done for c in self.clients)
        faults = sum(v for k, v in self.stats.items() if k.startswith("fault_"))
        return {"ops": ops, "faults": faults, "refused": self.stats.get("refused", 0),
                "max_op_s": self.stats.get("max_op_s", 0.0),
                "workload_s": round(workload_s, 1), "time_to_clean_s": round(time_to_clean, 1),
                "by_kind": {k[6:]: v for k, v in sorted(self.stats.items())
                            if k.startswith("fault_")}}

    def fail(self, text: str, errors_only: bool = False) -> None:
        raise ThrashFailure(f"seed={self.seed}: {text}", self.findings, self.errors,
                            errors_only)

    def verify(self) -> None:
        """Reads equal the model; acting members hold identical copies of every object."""
        io, cluster = self.cluster.ioctx, self.cluster
        models, every_oid = {}, []
        for c in self.clients:
            models.update({o: m for o, m in c.models.items() if o not in c.poisoned})
            every_oid += c.objects
        for oid, obj in sorted(models.items()):
            problem = read_mismatch(io, oid, obj)
            if problem:
                self.finding("after heal: " + problem)
        m = cluster.osdmap()
        digests = {o: cluster.osd_call(o, "object_digests", cluster.pool_id)
                   for o, info in sorted(m.osds.items()) if info.exists and info.up}
        for oid in sorted(every_oid):     # an object of unknown state still has one state
            obj = models.get(oid)
            seed = m.object_locator_to_pg(cluster.pool_id, oid)
            acting, primary = m.pg_to_acting(cluster.pool_id, seed)
            copies = {o: digests[o].get(("", "", oid)) for o in acting if o >= 0}
            where = f"pg {cluster.pool_id}.{seed:x} acting {acting} e{m.epoch}"
            if len(set(copies.values())) != 1:
                self.finding(f"{oid}: replicas differ on {where}: {copies}")
            elif obj is not None and obj.exists and None in copies.values():
                self.finding(f"{oid}: acknowledged but missing on every member of {where}")


def run_seed(seed: int, cfg: ThrashConfig, verbose: bool = False) -> dict:
    return ThrashRun(seed, cfg, verbose).run()


# -- command line --------------------------------------------------------------------------------
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench thrash --ray",
                                description="seeded thrash runs on a cluster of OSD actors")
    p.add_argument("--ray", action="store_true", help="(accepted: this is the Ray thrash)")
    p.add_argument("--seed", type=int, help="run this one seed")
    p.add_argument("--seeds", type=int, default=3, help="run seeds 1..N")
    p.add_argument("--first-seed", type=int, default=1)
    p.add_argument("--ops", type=int, default=2000)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--osds", type=int, default=4)
    p.add_argument("--pg-num", type=int, default=8)
    p.add_argument("--fault-time", type=float, default=None,
                   help="seconds the workload is paced to last (default: scales with --ops)")
    p.add_argument("--clean-timeout", type=float, default=120.0)
    p.add_argument("--messenger", choices=("socket", "ray"), default="socket",
                   help="client/OSD transport of the run's cluster")
    p.add_argument("-v", "--verbose", action="store_true", help="print every fault")
    args = p.parse_args(argv)
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    seeds = [args.seed] if args.seed is not None else \
        list(range(args.first_seed, args.first_seed + args.seeds))
    cfg = ThrashConfig(ops=args.ops, clients=args.clients, osds=args.osds, pg_num=args.pg_num,
                       fault_time_s=args.fault_time or max(20.0, args.ops / 100.0),
                       clean_timeout_s=args.clean_timeout, messenger=args.messenger)
    failed = 0
    for seed in seeds:
        print(f"seed={seed} ...", flush=True)
        try:
            stats = run_seed(seed, cfg, args.verbose)
        except ThrashFailure as exc:
            failed += 1
            print(f"FAILED {exc}", flush=True)
            continue
        print(f"seed={seed} ok: ops={stats['ops']} faults={stats['faults']} "
              f"{stats['by_kind']} refused={stats['refused']} max_op={stats['max_op_s']}s "
              f"workload={stats['workload_s']}s time_to_clean={stats['time_to_clean_s']}s",
              flush=True)
    print(f"{len(seeds) - failed} passed, {failed} failed (Ray: the seed fixes the workload "
          f"and the fault schedule, not Ray's scheduling)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
