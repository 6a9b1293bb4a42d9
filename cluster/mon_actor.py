"""The monitor as a Ray actor: MonitorCore plus long-poll subscriptions to new epochs.

Every command returns the epoch after it ran, so a client learns at once that its map is
stale. Clients park in `wait_for_epoch`, OSD processes in `wait_for_maps`, and wake on the
next change.
A background task ticks the failure detector every `FAILURE_TICK_S` (marking OSDs down or
out publishes a new epoch and wakes the waiters like any command). The OSD processes' batched
calls (`osd_boot_many`; `osd_reports` carrying beacons, failure reports and PG statistics,
see osd/mon_client.py) and the fault-injection records (cluster/faults.py,
kept here so that they outlive the `rayceph fault` command that set them) are forwarded to
the core as they come: the actor only moves messages.
"""
from __future__ import annotations

import asyncio
import logging
import time

import ray

log = logging.getLogger("rayceph.mon")

LONG_POLL_MAX_S = 30.0
FAILURE_TICK_S = 1.0


class MonActor:
    def __init__(self, conf_values: dict, fsid: str):
        from cluster.config import CephConfig
        from cluster.monitor import MonitorCore
        from cluster.osdmap import build_initial_osdmap

        conf = CephConfig()
        for option, value in conf_values.items():
            if value is not None:
                conf.set(option, value)
        # conf too: the monitor reads more options (failure detection) than the map keeps
        self.core = MonitorCore(build_initial_osdmap(conf, fsid), conf=conf)
        self._changed: asyncio.Condition | None = None
        self._ticker: asyncio.Task | None = None
        self.fault_records: list[dict] = []

    def _epoch(self) -> int:
        return self.core.get_osdmap().epoch

    def _ensure_ticker(self) -> None:
        # Ray runs __init__ outside the actor's event loop: start on the first async call.
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.ensure_future(self._tick_failures())

    async def _tick_failures(self) -> None:
        while True:
            await asyncio.sleep(FAILURE_TICK_S)
            before = self._epoch()
            try:
                self.core.tick_failures()
            except Exception:       # a detector bug must not stop the monitor
                log.exception("failure tick")
            await self._announce(before)

    async def _announce(self, before: int) -> None:
        self._ensure_ticker()
        if self._changed is None:
            self._changed = asyncio.Condition()
        if self._epoch() != before:
            async with self._changed:
                self._changed.notify_all()

    async def ping(self) -> int:
        self._ensure_ticker()
        return self._epoch()

    async def get_osdmap(self):
        self._ensure_ticker()
        return self.core.get_osdmap()

    async def get_osdmaps(self, from_epoch: int, to_epoch: int = 0) -> list:
        """Every kept epoch in (from_epoch, to_epoch], oldest first (to_epoch 0 = newest)."""
        return self.core.get_osdmaps(from_epoch, to_epoch)

    # -- the OSDs' calls (cluster/mon_failures.py) ------------------------------------------
    async def osd_boot_many(self, boots: list) -> list:
        """A host actor's OSDs booting together: at most two epochs (mon_failures.py)."""
        before = self._epoch()
        result = self.core.osd_boot_many(boots)
        await self._announce(before)
        return result

    async def osd_reports(self, reports: list) -> None:
        """A host actor's beacons, failure reports and PG statistics, in order."""
        self._ensure_ticker()
        self.core.osd_reports(reports)

    # -- fault-injection records (cluster/faults.py) ----------------------------------------
    async def get_fault_records(self) -> list[dict]:
        return [dict(r) for r in self.fault_records]

    async def set_fault_records(self, records: list[dict]) -> None:
        self.fault_records = [dict(r) for r in records]

    async def wait_for_epoch(self, have: int, timeout_s: float):
        """The newest map once its epoch is past `have`; None after `timeout_s`."""
        if not await self._wait_past(have, timeout_s):
            return None
        return self.core.get_osdmap()

    async def wait_for_maps(self, have: int, timeout_s: float) -> list:
        """Every kept map past `have`, oldest first, once there is one; [] after
        `timeout_s`. One call instead of wait_for_epoch then get_osdmaps."""
        if not await self._wait_past(have, timeout_s):
            return []
        return self.core.get_osdmaps(have, 0)

    async def _wait_past(self, have: int, timeout_s: float) -> bool:
        if self._changed is None:
            self._changed = asyncio.Condition()
        deadline = time.monotonic() + min(timeout_s, LONG_POLL_MAX_S)
        async with self._changed:
            while self._epoch() <= have:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except asyncio.TimeoutError:
                    return False
        return True

    async def command(self, cmd, inbuf: bytes = b""):
        before = self._epoch()
        ret, outbuf, outs = self.core.handle_command(cmd, inbuf)
        await self._announce(before)
        return ret, outbuf, outs, self._epoch()

    async def call(self, method: str, *args):
        before = self._epoch()
        result = getattr(self.core, method)(*args)
        await self._announce(before)
        return result, self._epoch()


RemoteMon = ray.remote(num_cpus=0, max_concurrency=10000)(MonActor)
