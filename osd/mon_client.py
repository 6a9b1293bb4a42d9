"""An OSD process's session with the monitor, shared by every OSD the process runs.

With `osds per actor` > 1 one host actor runs dozens of OSDs. Each talking to the monitor
on its own made the monitor the bottleneck of a large cluster: every map change woke one
long poll per OSD and sent each its own copy of the map (so each OSD also ran CRUSH over
every PG for itself), and beacons and PG statistics were one call per OSD per period. Here
the process follows the maps once, its OSDs install the same map objects (whose placement
cache is then computed once per process), boots that arrive together go in one
`osd_boot_many`, and reports go in one `osd_reports` call per `REPORT_LINGER_S`.

Ordering: reports reach the monitor in the order they were sent (one call in flight at a
time, each carrying the queue in order); boots likewise. Losing a report is allowed (the
OSDs repeat them every period, as Ceph's do); a boot's caller learns of a failure.

The session's own tasks run outside any OSD's context (`contextvars.Context()`), so that a
host actor stopping one of its OSDs, which cancels the tasks that OSD created, never
cancels the session the others share.
"""
from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque

log = logging.getLogger("rayceph.osd")

KEPT_MAPS = 32              # an OSD further behind fetches from the monitor's history
LONG_POLL_S = 5.0
REPORT_LINGER_S = 0.1       # reports are periodic: a short wait batches a whole host's
BOOT_LINGER_S = 0.05        # a host's OSDs starting together boot in one epoch, or a few


class MonClient:
    def __init__(self, mon):
        self.mon = mon
        self._maps: deque = deque(maxlen=KEPT_MAPS)     # newest last, consecutive epochs
        self._changed: asyncio.Condition | None = None
        self._follower: asyncio.Task | None = None
        self._fetching: asyncio.Task | None = None
        self._boots: list = []          # [(osd, incarnation, addr, future)]
        self._booting: asyncio.Task | None = None
        self._reports: list = []        # [(method, args)]
        self._reporting: asyncio.Task | None = None

    # -- maps ---------------------------------------------------------------------------------
    @property
    def epoch(self) -> int:
        return self._maps[-1].epoch if self._maps else 0

    async def newest(self):
        """The newest map this process knows (the monitor's history, the first time)."""
        if not self._maps:
            await self._fetch_newer()
        return self._maps[-1]

    async def maps_since(self, have: int, want: int = 0) -> list:
        """Every map past epoch `have`, oldest first, reaching at least epoch `want` when
        the monitor has it; from the monitor when they are not all kept here."""
        if not self._maps or want > self.epoch:
            await self._fetch_newer()
        if self._maps and self._maps[0].epoch <= have + 1:
            return [m for m in self._maps if m.epoch > have]
        maps = await self.mon.get_osdmaps.remote(have, 0)
        await self._learn(maps)
        return maps

    async def wait_newer(self, have: int, timeout_s: float):
        """The newest map once it is past epoch `have`; None after `timeout_s`."""
        self._follow()
        if self.epoch <= have:
            try:
                await asyncio.wait_for(self._wait_past(have), timeout_s)
            except asyncio.TimeoutError:
                return None
        return self._maps[-1]

    async def _wait_past(self, have: int) -> None:
        async with self._condition():
            await self._changed.wait_for(lambda: self.epoch > have)

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def _fetch_newer(self) -> None:
        """Every map newer than ours from the monitor, one request for all who ask at once
        (dozens of OSDs meeting a peer's newer epoch together)."""
        if self._fetching is None or self._fetching.done():
            self._fetching = _detached(self._fetch())
        await asyncio.shield(self._fetching)

    async def _fetch(self) -> None:
        await self._learn(await self.mon.get_osdmaps.remote(self.epoch, 0))

    async def _learn(self, maps: list) -> None:
        before = self.epoch
        for m in maps:
            if m.epoch <= self.epoch:
                continue
            if self._maps and m.epoch != self.epoch + 1:
                self._maps.clear()      # a gap: keep only what is consecutive
            self._maps.append(m)
        if self.epoch != before:
            async with self._condition():
                self._changed.notify_all()

    def _follow(self) -> None:
        if self._follower is None or self._follower.done():
            self._follower = _detached(self._follow_maps())

    async def _follow_maps(self) -> None:
        while True:
            try:
                maps = await self.mon.wait_for_maps.remote(self.epoch, LONG_POLL_S)
            except Exception as exc:
                log.debug("map subscription failed: %r", exc)
                await asyncio.sleep(0.5)
                continue
            await self._learn(maps)

    # -- boots --------------------------------------------------------------------------------
    async def boot(self, osd_id: int, incarnation: int, addr) -> int:
        """osd_boot through the batch: the epoch after it, or a negative errno."""
        future = asyncio.get_running_loop().create_future()
        self._boots.append((osd_id, incarnation, addr, future))
        if self._booting is None or self._booting.done():
            self._booting = _detached(self._send_boots())
        return await asyncio.shield(future)

    async def _send_boots(self) -> None:
        while self._boots:
            await asyncio.sleep(BOOT_LINGER_S)
            batch, self._boots = self._boots, []
            try:
                epochs = await self.mon.osd_boot_many.remote([b[:3] for b in batch])
            except Exception as exc:
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (*_, future), epoch in zip(batch, epochs):
                if not future.done():
                    future.set_result(epoch)

    # -- reports ------------------------------------------------------------------------------
    def report(self, method: str, *args) -> None:
        """Queue one fire-and-forget report (osd_beacon, report_failure, cancel_failure,
        report_pg_stats) for the next batch."""
        self._reports.append((method, args))
        if self._reporting is None or self._reporting.done():
            self._reporting = _detached(self._send_reports())

    async def _send_reports(self) -> None:
        while self._reports:
            await asyncio.sleep(REPORT_LINGER_S)
            batch, self._reports = self._reports, []
            try:
                await self.mon.osd_reports.remote(batch)
            except Exception as exc:
                log.debug("%d reports to the monitor lost: %r", len(batch), exc)


def _detached(coro) -> asyncio.Task:
    """A task that belongs to no OSD (see the module doc)."""
    return asyncio.get_running_loop().create_task(coro, context=contextvars.Context())
