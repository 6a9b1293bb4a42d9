"""A whole cluster in this process: the monitor and OSD cores without Ray.

Used by `ray address = inprocess` (fast tests of everything above RADOS) and as the seed of
the deterministic driver. It follows the same rules as the Ray hosts: a batch is handled in
order, replicas apply the primary's transactions before any reply is released, and every
map change is pushed to every OSD before the command that made it returns.

One lock serialises the cores (they are not thread-safe); waits for notify acks and watch
events happen outside it on a condition variable, with bounded timeouts.
"""
from __future__ import annotations

import threading
import time

from osd.host import apply_repops, run_batch

EVENT_POLL_MAX_S = 5.0
# an OSD marked down while it lives asserts itself again after this long, as Ceph's do
# ("wrongly marked me down"); under flag noup it stays down until the flag goes
REBOOT_DELAY_S = 1.0
INCARNATION = 1


class LocalCluster:
    def __init__(self, conf, fsid: str | None = None):
        from cluster.monitor import MonitorCore
        from cluster.osdmap import build_initial_osdmap
        from osd.service import OSDService
        import uuid

        self.fsid = fsid or str(uuid.uuid4())
        self.cond = threading.Condition(threading.RLock())
        self.mon = MonitorCore(build_initial_osdmap(conf, self.fsid), conf=conf)
        osdmap = self.mon.get_osdmap()
        self.osds = {osd_id: OSDService(osd_id) for osd_id in sorted(osdmap.osds)}
        self._reboot_timer: threading.Timer | None = None
        with self.cond:
            for osd_id in self.osds:
                self.mon.osd_boot(osd_id, INCARNATION)
            self._push_map()

    # -- monitor ------------------------------------------------------------------------------
    def _push_map(self) -> None:
        osdmap = self.mon.get_osdmap()
        for service in self.osds.values():
            if getattr(service, "epoch", -1) != osdmap.epoch:
                repops = service.set_osdmap(osdmap) or {}
                for replica, batch in repops.items():
                    if replica in self.osds:
                        apply_repops(self.osds[replica], batch)
        self.cond.notify_all()

    def mon_command(self, cmd, inbuf: bytes = b""):
        with self.cond:
            ret, outbuf, outs = self.mon.handle_command(cmd, inbuf)
            self._push_map()
            self._schedule_reboots()
            return ret, outbuf, outs, self.mon.get_osdmap().epoch

    def mon_internal(self, method: str, *args):
        with self.cond:
            result = getattr(self.mon, method)(*args)
            self._push_map()
            self._schedule_reboots()
            return result, self.mon.get_osdmap().epoch

    def _down_but_alive(self) -> list[int]:
        osdmap = self.mon.get_osdmap()
        return [o for o in self.osds if o in osdmap.osds and not osdmap.osds[o].up]

    def _schedule_reboots(self) -> None:
        if self._reboot_timer is None and self._down_but_alive():
            self._reboot_timer = threading.Timer(REBOOT_DELAY_S, self._reboot)
            self._reboot_timer.daemon = True
            self._reboot_timer.start()

    def _reboot(self) -> None:
        with self.cond:
            self._reboot_timer = None
            for osd_id in self._down_but_alive():
                self.mon.osd_boot(osd_id, INCARNATION)      # refused while noup is set
            self._push_map()

    def get_osdmap(self):
        with self.cond:
            return self.mon.get_osdmap()

    def wait_for_epoch(self, have: int, timeout_s: float):
        deadline = time.monotonic() + min(timeout_s, EVENT_POLL_MAX_S)
        with self.cond:
            while self.mon.get_osdmap().epoch <= have:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.cond.wait(remaining)
            return self.mon.get_osdmap()

    # -- OSDs ---------------------------------------------------------------------------------
    def osd_ops(self, osd_id: int, requests):
        with self.cond:
            service = self.osds[osd_id]
            replies, repops = run_batch(service, requests)
            for replica, batch in repops.items():
                if replica in self.osds:
                    apply_repops(self.osds[replica], batch)
            self.cond.notify_all()
            return replies

    def osd_notify(self, osd_id: int, request):
        with self.cond:
            service = self.osds[osd_id]
            outcome = service.handle_op(request)
            for replica, repop in outcome.repops.items():
                if replica in self.osds:
                    self.osds[replica].handle_repop(repop)
            pending = outcome.notify
            self.cond.notify_all()
            if pending is None:
                return outcome.reply
            deadline = time.monotonic() + pending.timeout_s + 1.0
            while not service.notify_done(pending.notify_id):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.cond.wait(min(remaining, 0.05))
                service.tick(time.time())
            return service.finish_notify(pending.notify_id)

    def wait_events(self, osd_id: int, gid: int, timeout_s: float):
        deadline = time.monotonic() + min(timeout_s, EVENT_POLL_MAX_S)
        with self.cond:
            service = self.osds[osd_id]
            while True:
                events = service.pop_events(gid)
                if events:
                    return events
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self.cond.wait(remaining)

    def osd_call(self, osd_id: int, method: str, *args):
        """Everything else an OSD answers (pgls, stats, acks, pings): run under the lock."""
        with self.cond:
            result = getattr(self.osds[osd_id], method)(*args)
            self.cond.notify_all()
            return result
