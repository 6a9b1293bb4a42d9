"""Injected faults of one OSD actor (the fault-injection API: `fault_set` / `fault_clear`).

What each fault does to the actor (osd/actor.py applies them at its entry points):
- `paused`: every inbound call except `ping` and `fault_*` waits until resumed, and the
  actor sends nothing on its own (no heartbeats, beacons, map following, recovery), so the
  monitor marks it down after the grace, as it would a hung ceph-osd;
- `delay_s`: extra latency before each inbound client op and replica batch is handled;
- `blocked`: entities ("osd.N", "client.<gid>", "mon") whose messages to and from us are
  dropped. OSD-to-OSD deliveries fail as if the peer were unreachable and are retried after
  the heal (a lossless session); a blocked client's op gets no reply until healed;
- `eio`: the object store answers every read and write with -EIO. Client ops get -EIO with
  nothing applied; a replica accepts no transaction (the primary keeps it queued and does
  not acknowledge the write until the replica takes it, or the map changes).

The state is plain data plus one asyncio.Event per wait, so the entry points pay a single
attribute test when no fault is set.
"""
from __future__ import annotations

import asyncio

FAULT_KEYS = ("paused", "delay_s", "blocked", "eio")


class FaultState:
    def __init__(self) -> None:
        self.paused = False
        self.delay_s = 0.0
        self.blocked: frozenset[str] = frozenset()
        self.eio = False
        self.active = False             # any fault set: the entry points take the slow path
        self._changed: asyncio.Event | None = None

    # -- the API ------------------------------------------------------------------------------
    def set(self, spec: dict) -> dict:
        """Merge `spec` (any of FAULT_KEYS) into the state; returns the resulting state.
        ValueError for an unknown key or a value of the wrong type."""
        if not isinstance(spec, dict):
            raise ValueError("fault spec must be a dict")
        unknown = sorted(set(spec) - set(FAULT_KEYS))
        if unknown:
            raise ValueError(f"unknown fault keys {unknown}; known: {list(FAULT_KEYS)}")
        if "paused" in spec:
            self.paused = bool(spec["paused"])
        if "delay_s" in spec:
            delay = float(spec["delay_s"])
            if delay < 0:
                raise ValueError("delay_s must be >= 0")
            self.delay_s = delay
        if "blocked" in spec:
            blocked = spec["blocked"] or []
            if isinstance(blocked, str) or not all(isinstance(b, str) for b in blocked):
                raise ValueError("blocked must be a list of entity names")
            self.blocked = frozenset(blocked)
        if "eio" in spec:
            self.eio = bool(spec["eio"])
        self._update()
        return self.state()

    def clear(self) -> dict:
        self.paused = False
        self.delay_s = 0.0
        self.blocked = frozenset()
        self.eio = False
        self._update()
        return self.state()

    def state(self) -> dict:
        return {"paused": self.paused, "delay_s": self.delay_s,
                "blocked": sorted(self.blocked), "eio": self.eio}

    # -- checks used by the actor -----------------------------------------------------------
    def is_blocked(self, entity: str) -> bool:
        return entity in self.blocked

    def may_act(self) -> bool:
        """Whether the actor's own activity (ticks, heartbeats, recovery) may run."""
        return not self.paused

    def mon_reachable(self) -> bool:
        return not self.paused and "mon" not in self.blocked

    async def wait_until(self, condition) -> None:
        """Wait until `condition()` holds (re-checked on every fault change)."""
        while not condition():
            if self._changed is None:
                self._changed = asyncio.Event()
            await self._changed.wait()

    async def admit(self, entity: str | None) -> None:
        """Hold an inbound call while we are paused or its sender is blocked, then apply
        the injected delay."""
        await self.wait_until(lambda: not self.paused and
                              (entity is None or entity not in self.blocked))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)

    def _update(self) -> None:
        self.active = bool(self.paused or self.delay_s or self.blocked or self.eio)
        if self._changed is not None:
            # wake every waiter; each re-checks its own condition on a fresh event
            self._changed.set()
            self._changed = asyncio.Event()
