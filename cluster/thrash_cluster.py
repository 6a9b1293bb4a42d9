"""The cluster side of the Ray thrash (cluster/thrash_ray.py): the small cluster each run
starts for itself, the views into its OSD actors that waiting for active+clean and the final
replica check need, and the thrasher thread that injects seeded faults through
cluster/faults.py and undoes each one after a seeded hold.

Kept apart from the run and its command line (thrash_ray.py) and from the client workload
(thrash_workload.py); nothing here compares data with the model.
"""
from __future__ import annotations

import json
import random
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .thrash_ray import ThrashConfig, ThrashRun

POOL = "thrash"
HEARTBEAT_GRACE_S = 3


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
