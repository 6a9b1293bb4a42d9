"""The monitor as a Ray actor: MonitorCore plus long-poll subscriptions to new epochs.

Every method returns the epoch after it ran, so a client learns at once that its map is
stale. Waiters (OSDs and clients) park in `wait_for_epoch` and wake on the next change.
"""
from __future__ import annotations

import asyncio
import time

import ray

LONG_POLL_MAX_S = 30.0


class MonActor:
    def __init__(self, conf_values: dict, fsid: str):
        from cluster.config import CephConfig
        from cluster.monitor import MonitorCore
        from cluster.osdmap import build_initial_osdmap

        conf = CephConfig()
        for option, value in conf_values.items():
            if value is not None:
                conf.set(option, value)
        self.core = MonitorCore(build_initial_osdmap(conf, fsid))
        self._changed: asyncio.Condition | None = None

    def _epoch(self) -> int:
        return self.core.get_osdmap().epoch

    async def _announce(self, before: int) -> None:
        if self._changed is None:
            self._changed = asyncio.Condition()
        if self._epoch() != before:
            async with self._changed:
                self._changed.notify_all()

    async def ping(self) -> int:
        return self._epoch()

    async def get_osdmap(self):
        return self.core.get_osdmap()

    async def wait_for_epoch(self, have: int, timeout_s: float):
        if self._changed is None:
            self._changed = asyncio.Condition()
        deadline = time.monotonic() + min(timeout_s, LONG_POLL_MAX_S)
        async with self._changed:
            while self._epoch() <= have:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except asyncio.TimeoutError:
                    return None
        return self.core.get_osdmap()

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
