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
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

POOL = "thrash"
HEARTBEAT_GRACE_S = 3


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


@dataclass
class Model:
    data: bytes = b""
    xattrs: dict = field(default_factory=dict)
    omap: dict = field(default_factory=dict)
    exists: bool = False


# -- the cluster ---------------------------------------------------------------------------------
def write_conf(path: str, name: str, cfg: ThrashConfig) -> str:
    with open(path, "w", encoding="utf-8") as f:
        f.write("[global]\n"
                f"osd pool default size = {cfg.size}\n"
                f"osd pool default min size = {cfg.min_size}\n"
                f"osd pool default pg num = {cfg.pg_num}\n"
                "osd heartbeat interval = 1\n"
                f"osd heartbeat grace = {HEARTBEAT_GRACE_S}\n"
                f"rados osd op timeout = {cfg.op_timeout_s:g}\n"
                "[rayceph]\n"
                "ray address = local\n"
                f"cluster name = {name}\n"
                f"hosts = {cfg.osds}\n"
                "osds per host = 1\n"
                "pools = rbd\n"
                "objectstore = memstore\n"
                f"messenger = {cfg.messenger}\n")
    return path


class RayCluster:
    """The run's own cluster and the views into its OSD actors the final check needs."""

    def __init__(self, name: str, conffile: str):
        import rados

        from .faults import Faults

        self.name = name
        self.rados = rados.Rados(conffile=conffile)
        self.rados.connect(timeout=120)
        if not self.rados.pool_exists(POOL):
            self.rados.create_pool(POOL)
        self.ioctx = self.rados.open_ioctx(POOL)
        self.pool_id = self.ioctx.get_pool_id()
        self.faults = Faults(name, "memstore")

    def close(self) -> None:
        from .bootstrap import stop_cluster

        try:
            self.ioctx.close()
            self.rados.shutdown()
        finally:
            stop_cluster(self.name)

    def osdmap(self):
        import ray

        return ray.get(self.faults.mon.get_osdmap.remote(), timeout=30)

    def osd_call(self, osd: int, method: str, *args):
        import ray

        from .bootstrap import NAMESPACE

        handle = ray.get_actor(f"{self.name}.osd.{osd}", namespace=NAMESPACE)
        return ray.get(handle.call.remote(method, *args), timeout=30)

    def unclean(self) -> dict:
        """{what: why} for every OSD behind the map and every PG whose primary does not say
        active+clean (pg stat lags by a stats period; the primaries do not)."""
        m = self.osdmap()
        bad = {}
        for osd, info in sorted(m.osds.items()):
            if info.exists and info.up:
                status = json.loads(self.osd_call(osd, "command",
                                                  json.dumps({"prefix": "status"}))[1])
                if status["epoch"] != m.epoch:
                    bad[f"osd.{osd}"] = f"at epoch {status['epoch']} < {m.epoch}"
            elif info.exists:
                bad[f"osd.{osd}"] = "down"
        for pool_id, pool in sorted(m.pools.items()):
            for seed in range(pool.pg_num):
                acting, primary = m.pg_to_acting(pool_id, seed)
                if primary < 0 or len([o for o in acting if o >= 0]) < pool.size:
                    bad[f"{pool_id}.{seed:x}"] = f"acting {acting}"
                    continue
                state = self.osd_call(primary, "pg_state", pool_id, seed)
                if state != "active+clean":
                    bad[f"{pool_id}.{seed:x}"] = f"{state} on osd.{primary} e{m.epoch}"
        return bad

    def wait_clean(self, timeout_s: float) -> float:
        """Seconds until the monitor and every primary report active+clean; TimeoutError
        naming the unclean PGs after `timeout_s`."""
        started = time.monotonic()
        self.faults.wait_for_clean(timeout_s)
        while True:
            bad = self.unclean()
            if not bad:
                return time.monotonic() - started
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"not clean after {timeout_s:g}s: {bad}")
            time.sleep(0.3)


# -- the workload --------------------------------------------------------------------------------
class Client(threading.Thread):
    """One client thread: its own objects, one op at a time, each result checked against the
    model the moment it arrives."""

    def __init__(self, run: "ThrashRun", n: int, nops: int):
        super().__init__(name=f"thrash-client-{n}", daemon=True)
        self.run_ = run
        self.n = n
        self.nops = nops
        self.rng = random.Random(run.seed * 1_000_003 + n)
        self.objects = [f"c{n}.obj{i}" for i in range(run.cfg.objects_per_client)]
        self.models = {oid: Model() for oid in self.objects}
        self.poisoned: set = set()          # objects whose state an error made unknown
        self.done = 0
        self.think_s = run.cfg.fault_time_s / max(1, nops)     # spread over the fault phase

    def run(self) -> None:
        for _ in range(self.nops):
            if self.run_.stop.is_set():
                break
            live = [o for o in self.objects if o not in self.poisoned]
            if not live:
                break
            oid = self.rng.choice(live)
            began = time.monotonic()
            self.one_op(oid)
            self.run_.latency(time.monotonic() - began, oid)
            self.done += 1
            if self.think_s:
                time.sleep(self.rng.uniform(0, 2 * self.think_s))

    def one_op(self, oid: str) -> None:
        import rados

        rng, obj, io = self.rng, self.models[oid], self.run_.cluster.ioctx
        r = rng.random()
        kind = "read"
        try:
            if r < 0.30:
                self.check_read(oid, obj)
                return
            if r < 0.45:
                kind, data = "write_full", rng.randbytes(rng.randint(1, 6000))
                io.write_full(oid, data)
                obj.data, obj.exists = data, True
            elif r < 0.58:
                kind, off = "write", rng.randrange(0, 8192)
                data = rng.randbytes(rng.randint(1, 3000))
                io.write(oid, data, off)
                buf = bytearray(obj.data)
                buf.extend(bytes(max(0, off - len(buf))))
                buf[off:off + len(data)] = data
                obj.data, obj.exists = bytes(buf), True
            elif r < 0.66:
                kind, data = "append", rng.randbytes(rng.randint(1, 500))
                io.append(oid, data)
                obj.data, obj.exists = obj.data + data, True
            elif r < 0.74:
                kind, name, value = "setxattr", rng.choice("abc"), rng.randbytes(8)
                io.set_xattr(oid, name, value)
                obj.xattrs[name], obj.exists = value, True
            elif r < 0.82:
                kind = "omap_set"
                kv = {f"k{rng.randrange(30):02d}": rng.randbytes(6)
                      for _ in range(rng.randint(1, 4))}
                with rados.WriteOpCtx() as op:
                    io.set_omap(op, tuple(kv), tuple(kv.values()))
                    io.operate_write_op(op, oid)
                obj.omap.update(kv)
                obj.exists = True
            elif r < 0.88:
                kind = "omap_rm"
                keys = [f"k{rng.randrange(30):02d}" for _ in range(3)]
                with rados.WriteOpCtx() as op:
                    io.remove_omap_keys(op, tuple(keys))
                    self.expect_enoent(oid, obj, kind,
                                       lambda: io.operate_write_op(op, oid))
                for k in keys:
                    obj.omap.pop(k, None)
            elif r < 0.93:
                # Ceph: truncating an absent object is a no-op that succeeds (it stays
                # absent), unlike omap_rm_keys and remove
                kind, size = "truncate", rng.randrange(0, len(obj.data) + 100)
                io.trunc(oid, size)
                if obj.exists:
                    obj.data = obj.data[:size] + bytes(max(0, size - len(obj.data)))
            else:
                kind = "remove"
                self.expect_enoent(oid, obj, kind, lambda: io.remove_object(oid))
                self.models[oid] = Model()
            self.run_.count(kind)
        except _Absent:
            self.run_.count(kind + "_enoent")
        except Exception as exc:      # unknown outcome: a finding, and the object leaves
            self.poisoned.add(oid)
            self.run_.finding(f"{kind} on {oid} failed: {exc!r}", data=False)

    def expect_enoent(self, oid: str, obj: Model, kind: str, call) -> None:
        """Run a write op that needs the object: ENOENT iff the model says it is absent."""
        import rados

        try:
            call()
        except rados.ObjectNotFound:
            if obj.exists:
                self.run_.finding(f"{kind} on {oid}: ENOENT but the model has it "
                                  f"({len(obj.data)} bytes): lost write")
            raise _Absent()
        if not obj.exists:
            self.run_.finding(f"{kind} on absent {oid} succeeded: phantom object")
            obj.exists = True

    def check_read(self, oid: str, obj: Model) -> None:
        problem = read_mismatch(self.run_.cluster.ioctx, oid, obj)
        self.run_.count("read")
        if problem:
            self.run_.finding(problem)


class _Absent(Exception):
    """The object was absent, as the model expected: the op did nothing."""


def read_mismatch(io, oid: str, obj: Model) -> str | None:
    """None if the object reads back as the model; else what differs."""
    import rados

    try:
        data = io.read(oid, 1 << 20)
    except rados.ObjectNotFound:
        return f"read of {oid}: ENOENT, the model has {len(obj.data)} bytes " \
               f"(lost write)" if obj.exists else None
    if not obj.exists:
        return f"read of absent {oid} returned {len(data)} bytes (phantom write)"
    if data != obj.data:
        return f"read of {oid}: {len(data)} bytes differ from the model's {len(obj.data)}"
    xattrs = dict(io.get_xattrs(oid))
    with rados.ReadOpCtx() as op:
        it, _ = io.get_omap_vals(op, "", "", 1000)
        io.operate_read_op(op, oid)
        omap = dict(it)
    if xattrs != obj.xattrs:
        return f"read of {oid}: xattrs {sorted(xattrs)} differ from the model's " \
               f"{sorted(obj.xattrs)}"
    if omap != obj.omap:
        return f"read of {oid}: omap keys {sorted(omap)} differ from the model's " \
               f"{sorted(obj.omap)}"
    return None


# -- the thrasher --------------------------------------------------------------------------------
HEALED = ("partition", "slow")        # faults only Faults.heal() lifts


class Thrasher(threading.Thread):
    """Seeded faults through cluster/faults.py; the API refuses what could lose data, and
    each fault is undone by its own inverse after a seeded hold."""

    KINDS = ("kill", "restart", "stop", "mark_out", "mark_down", "partition", "slow")

    def __init__(self, run: "ThrashRun"):
        super().__init__(name="thrasher", daemon=True)
        self.run_ = run
        self.rng = random.Random(run.seed * 7919 + 1)
        self.active: list = []          # (kind, osd or group, undo at monotonic time)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.run_.stop.is_set() and not self.run_.workload_done():
                self.step()
                time.sleep(self.rng.uniform(*self.run_.cfg.gap_s))
            self.undo_all()
        except BaseException as exc:    # noqa: BLE001 - reported by the run
            import traceback

            self.error = exc
            self.run_.log("thrasher error:\n" + traceback.format_exc())

    def step(self) -> None:
        now = time.monotonic()
        for fault in [f for f in self.active if f[2] <= now]:
            if fault in self.active:        # a heal may have lifted it already
                self.undo(fault)
        if len(self.active) >= self.run_.cfg.max_faults:
            return
        faults = self.run_.cluster.faults
        try:    # a previous restart's store counts as wiped until the PGs are clean again
            faults.wait_for_clean(0)
        except TimeoutError:
            pass
        busy = {f[1] for f in self.active if isinstance(f[1], int)}
        osds = [o for o in range(self.run_.cfg.osds) if o not in busy]
        if not osds:
            return
        kind, osd = self.rng.choice(self.KINDS), self.rng.choice(osds)
        hold = self.rng.uniform(*self.run_.cfg.hold_s)
        began = time.monotonic()
        try:
            text = self.inject(kind, osd)
        except ValueError as exc:       # refused: beyond min_size or the failure domain
            self.run_.log(f"refused {kind} osd.{osd}: {str(exc)[:120]}")
            self.run_.count("refused")
            return
        took = time.monotonic() - began
        self.run_.log(text + (f" (the call took {took:.1f}s)" if took > 5 else ""))
        self.run_.count("fault_" + kind)
        if kind in ("kill", "stop", "mark_out", "partition", "slow"):
            self.active.append((kind, osd, time.monotonic() + hold))

    def inject(self, kind: str, osd: int) -> str:
        faults = self.run_.cluster.faults
        if kind == "kill":
            return faults.kill(osd)
        if kind == "restart":
            return faults.restart(osd)
        if kind == "stop":
            return faults.stop(osd)
        if kind == "mark_out":
            return faults.mark_out(osd)
        if kind == "mark_down":
            return faults.mark_down(osd)
        if kind == "partition":
            # a pair cut off from the rest, or one OSD alone; refused if a PG would drop
            # below min_size
            others = [o for o in range(self.run_.cfg.osds) if o != osd]
            side = [osd] + ([self.rng.choice(others)] if self.rng.random() < 0.5 else [])
            rest = [o for o in range(self.run_.cfg.osds) if o not in side]
            return faults.partition([[f"osd.{o}" for o in side],
                                     [f"osd.{o}" for o in rest]])
        return faults.slow(osd, round(self.rng.uniform(0.02, 0.3), 3))

    def undo(self, fault) -> None:
        kind, osd, _ = fault
        faults = self.run_.cluster.faults
        began = time.monotonic()
        if kind in HEALED:
            # heal() is the only way to lift these, and it lifts all of them; first undo
            # the others by their own inverse so that a killed memstore OSD is recorded
            # as wiped when it comes back
            for other in [f for f in self.active if f[0] not in HEALED]:
                self.undo(other)
            text = "; ".join(faults.heal())
            self.active = [f for f in self.active if f[0] not in HEALED]
        elif kind == "kill":
            text = faults.restart(osd, force=True)  # it is dead already: nothing more is lost
        elif kind == "stop":
            text = faults.resume(osd)
        else:
            text = faults.mark_in(osd)
        if fault in self.active:
            self.active.remove(fault)
        took = time.monotonic() - began
        self.run_.log(f"undo {kind} osd.{osd}: {text}"
                      + (f" (the call took {took:.1f}s)" if took > 5 else ""))

    def undo_all(self) -> None:
        while self.active:
            self.undo(self.active[0])


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
