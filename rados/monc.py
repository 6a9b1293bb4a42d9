"""MonClient: the client's copy of the cluster map and its channel to the monitor.

The map only moves forward (a reply carrying an older epoch is ignored). A background
thread long-polls the monitor for the next epoch, so the client follows map changes without
polling in a loop; callers that need an exact epoch use `wait_for_epoch`.
"""
from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("rayceph.monc")

LONG_POLL_S = 5.0


class MonClient:
    def __init__(self, transport, timeout_s: float = 30.0):
        self.transport = transport
        self.timeout_s = timeout_s
        self._lock = threading.Condition()
        self._listeners: list = []
        self._closed = False
        self.osdmap = transport.mon_call("get_osdmap").result(timeout=timeout_s)
        self._thread = threading.Thread(target=self._follow, name="monc-follow", daemon=True)
        self._thread.start()

    # -- map ----------------------------------------------------------------------------------
    def add_listener(self, fn) -> None:
        """fn(old_map, new_map) runs after every map change (on the follower thread)."""
        self._listeners.append(fn)

    def _install(self, osdmap) -> bool:
        if osdmap is None:
            return False
        with self._lock:
            if osdmap.epoch <= self.osdmap.epoch:
                return False
            old, self.osdmap = self.osdmap, osdmap
            self._lock.notify_all()
        for fn in list(self._listeners):
            try:
                fn(old, osdmap)
            except Exception:
                log.exception("map listener failed")
        return True

    def refresh(self) -> int:
        self._install(self.transport.mon_call("get_osdmap").result(timeout=self.timeout_s))
        return self.osdmap.epoch

    def wait_for_epoch(self, epoch: int, timeout_s: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while self.osdmap.epoch < epoch:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            newer = self.transport.mon_call(
                "wait_for_epoch", self.osdmap.epoch, min(remaining, LONG_POLL_S)
            ).result(timeout=remaining + 5)
            self._install(newer)
        return True

    def _follow(self) -> None:
        while not self._closed:
            try:
                newer = self.transport.mon_call(
                    "wait_for_epoch", self.osdmap.epoch, LONG_POLL_S
                ).result(timeout=LONG_POLL_S + 10)
                self._install(newer)
            except Exception:
                if self._closed:
                    return
                time.sleep(0.5)

    # -- commands -----------------------------------------------------------------------------
    def command(self, cmd, inbuf: bytes = b"", timeout_s: float | None = None):
        ret, outbuf, outs, epoch = self.transport.mon_call("command", cmd, inbuf).result(
            timeout=timeout_s or self.timeout_s)
        if epoch > self.osdmap.epoch:
            self.refresh()
        return ret, outbuf, outs

    def call(self, method: str, *args, timeout_s: float | None = None):
        result, epoch = self.transport.mon_call("call", method, *args).result(
            timeout=timeout_s or self.timeout_s)
        if epoch > self.osdmap.epoch:
            self.refresh()
        return result

    def close(self) -> None:
        self._closed = True
