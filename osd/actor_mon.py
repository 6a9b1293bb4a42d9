"""The OSD actor's own activity: its monitor session (boot, map following, beacons,
failure reports, PG statistics), heartbeats to its peers, and the timers that drive the
core (watch expiry, peering_tick). A mixin of OSDActor (osd/actor.py), split out to keep
each module small; it uses the actor's `service`, `faults`, `heartbeat` and `_mon` (its
session, osd/mon_client.py).

Every report to the monitor is fire-and-forget: a lost one is sent again on the next
period, as Ceph's OSDs resend beacons and PG stats. Nothing here runs while the OSD is
paused, and nothing reaches the monitor while "mon" is blocked.
"""
from __future__ import annotations

import asyncio
import logging
import time

log = logging.getLogger("rayceph.osd")

TICK_S = 0.05               # watch/notify expiry
IDLE_TICK_S = 0.5           # ... when nothing is watched and no notify is pending
PEERING_TICK_S = 0.2        # recovery throttles, bounded op waits, heartbeats
PG_STATS_S = 2.0
BOOT_RESEND_S = 5.0


class MonitorAndTimers:
    # -- monitor ------------------------------------------------------------------------------
    def _mon_send(self, method: str, *args) -> None:
        """Fire-and-forget a report to the monitor (a lost one is sent again next time)."""
        if self.faults.mon_reachable():
            self._mon.report(method, *args)

    async def _boot(self) -> int:
        """Ask the monitor to mark this incarnation up; the epoch after, or 0 if not sent."""
        if not self.faults.mon_reachable():
            return 0
        self._boot_sent_at = time.monotonic()
        try:
            return int(await self._mon.boot(self.osd_id, self.incarnation, self.addr))
        except Exception:
            log.exception("osd.%d: boot failed", self.osd_id)
            return 0

    def _maybe_reboot(self) -> None:
        """A map shows us down while we are alive: boot again (unless noup)."""
        m = self.service.osdmap
        me = m.osds.get(self.osd_id) if m is not None else None
        if me is None or me.up or "noup" in m.flags:
            return
        if time.monotonic() - self._boot_sent_at < BOOT_RESEND_S:
            return
        log.info("osd.%d: map e%d shows me down; booting again", self.osd_id, m.epoch)
        self._boot_sent_at = time.monotonic()
        asyncio.ensure_future(self._boot())

    async def _follow_maps(self) -> None:
        while True:
            if not self.faults.mon_reachable():
                await self.faults.wait_until(self.faults.mon_reachable)
                continue
            try:
                newer = await self._mon.wait_newer(self.service.epoch, 5.0)
                if newer is not None and self.faults.mon_reachable():
                    await self._catch_up_to(newer.epoch, newer)
            except Exception:
                log.exception("osd.%d: map subscription failed", self.osd_id)
                await asyncio.sleep(0.5)

    # -- heartbeats ---------------------------------------------------------------------------
    async def heartbeat_ping(self, from_osd: int, stamp: float) -> float:
        """A peer's heartbeat; the answer echoes its stamp."""
        if self.faults.active:
            if self.faults.is_blocked(f"osd.{from_osd}"):
                raise ConnectionError(f"osd.{from_osd} is blocked")
            await self.faults.wait_until(self.faults.may_act)
        return stamp

    async def _send_ping(self, peer: int, grace: float) -> None:
        if self.faults.is_blocked(f"osd.{peer}"):
            return
        try:
            channel = await self.peer(peer)
            await asyncio.wait_for(channel.call("heartbeat_ping", self.osd_id, time.time()),
                                   grace)
        except asyncio.TimeoutError:
            return      # a silent peer (paused, or slow): its connection may still be good
        except Exception:
            self.forget_peer(peer)
            return
        if self.faults.may_act() and not self.faults.is_blocked(f"osd.{peer}"):
            self.heartbeat.pong(peer, time.time())

    # -- time ---------------------------------------------------------------------------------
    async def _ticker(self) -> None:
        watch = self.service.watch
        while True:
            # nothing to expire: tick rarely (a thousand OSDs ticking at 20 Hz cost a core)
            idle = not watch.watches and not watch.notifies
            await asyncio.sleep(IDLE_TICK_S if idle else TICK_S)
            if not self.faults.may_act():
                continue
            try:
                self.service.tick(time.time())
            except Exception:
                log.exception("osd.%d: tick failed", self.osd_id)
            async with self._events_changed:
                self._events_changed.notify_all()

    async def _peering_ticker(self) -> None:
        hb = self.heartbeat
        next_beacon = next_stats = 0.0
        was_paused = False
        while True:
            await asyncio.sleep(PEERING_TICK_S)
            if not self.faults.may_act():
                was_paused = True
                continue
            try:
                now = time.time()
                if was_paused:
                    # we, not our peers, were silent: restart their grace from now
                    was_paused = False
                    for peer in hb.last_rx:
                        hb.last_rx[peer] = now
                if not self.faults.eio:
                    self._process(self.service.peering_tick(now))
                for peer in hb.due(now):
                    asyncio.ensure_future(self._send_ping(peer, hb.grace_s))
                for peer, since in hb.failures(now):
                    self._mon_send("report_failure", self.osd_id, peer, since)
                for peer in hb.recovered():
                    self._mon_send("cancel_failure", self.osd_id, peer)
                if now >= next_beacon:
                    next_beacon = now + hb.interval_s
                    self._mon_send("osd_beacon", self.osd_id)
                    # reports still standing are repeated (the detector keeps the earliest
                    # stamp), so one lost while "mon" was blocked is not lost for good
                    for peer in sorted(hb.reported):
                        self._mon_send("report_failure", self.osd_id, peer, hb.last_rx[peer])
                if now >= next_stats:
                    next_stats = now + PG_STATS_S
                    self._mon_send("report_pg_stats", self.osd_id, self.service.pg_stats())
                if self.faults.mon_reachable():
                    self._maybe_reboot()
            except Exception:
                log.exception("osd.%d: peering tick failed", self.osd_id)
