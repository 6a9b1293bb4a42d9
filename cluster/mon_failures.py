"""The monitor's side of OSD failures: boots, beacons, failure reports, PG statistics and
the map history OSDs catch up from.

`FailureHandling` is a mixin of `MonitorCore`; like the core it is pure (the caller passes
nothing but arguments, time comes from the core's injected `clock`). The Ray monitor actor
calls `tick_failures()` about once a second and forwards the OSDs' calls.

Invariants:
- the `FailureDetector` hears about every up/down/in/out transition of every published map,
  whoever caused it (a tick, a boot, an operator command), because `_publish` calls
  `_after_publish` with the old and the new map;
- an OSD that boots under a new incarnation while the map still shows it up is marked down
  in one epoch and up in the next, so its peers see a new interval and re-peer (a restart
  the failure detector did not notice must not look like an OSD that never went away);
- `get_osdmaps` serves the last `MAP_HISTORY_EPOCHS` published maps, oldest first;
- failure reports count only against OSDs that have booted (`report_failure`);
- PG statistics are advisory: they change no epoch, only what `pg dump`, `status` and
  `health` show (see mon_status.py);
- a host actor running many OSDs boots them with `osd_boot_many` and sends their beacons,
  failure reports and PG statistics with `osd_reports`: the boots of a batch publish at
  most two epochs (one marking restarted OSDs down, one for every boot), not one each,
  which is what lets a thousand OSDs boot without a thousand epochs for each to install;
  likewise one failure-detector tick publishes one epoch for all it marks down or out.
"""
from __future__ import annotations

import contextlib
import errno
from collections import deque
from typing import Any, Optional

from osd.pg_stats import PGMap

from .failure_detector import FailureDecision, FailureDetector

MAP_HISTORY_EPOCHS = 500
HEALTH_LOG_INTERVAL_S = 1.0     # batched OSD reports check health transitions this often
# Option names the detector reads; those missing from the config table keep the detector's
# defaults (FailureDetector.from_config).
_DETECTOR_OPTIONS = {"osd_heartbeat_grace": "grace_s",
                     "mon_osd_min_down_reporters": "min_reporters",
                     "mon_osd_down_out_interval": "down_out_interval_s",
                     "mon_osd_report_timeout": "report_timeout_s"}


class FailureHandling:
    def _init_failure_handling(self) -> None:
        self.failure_detector = FailureDetector.from_config(self._detector_options())
        self.pgmap = PGMap()
        self.incarnations: dict[int, int] = {}
        self.map_history: deque = deque([self._osdmap], maxlen=MAP_HISTORY_EPOCHS)
        self._health_logged_at = float("-inf")

    def _detector_options(self) -> dict:
        return {name: self.options[name] for name in _DETECTOR_OPTIONS if name in self.options}

    # == map history ========================================================================
    def get_osdmaps(self, from_epoch: int, to_epoch: int = 0) -> list:
        """Every kept map with from_epoch < epoch <= to_epoch (0 = newest), oldest first.
        When `from_epoch` predates the history the list starts at the oldest kept map."""
        last = to_epoch or self._osdmap.epoch
        return [m for m in self.map_history if from_epoch < m.epoch <= last]

    def booted_osds(self) -> list[int]:
        """OSDs that have booted at least once under this monitor."""
        return sorted(self.incarnations)

    # == OSD calls ==========================================================================
    def osd_boot(self, osd_id: int, incarnation: int, addr: Any = None) -> int:
        """An OSD (re)started as `incarnation` and asks to be up. Returns the epoch after
        the call, or -ENOENT for an OSD that does not exist. Under flag `noup` the OSD
        stays down; a repeated boot of the incarnation already up changes nothing."""
        info = self._osdmap.osds.get(osd_id)
        if info is None or not info.exists:
            return -errno.ENOENT
        now = self.clock()
        known = self.incarnations.get(osd_id)
        if info.up and (known is None or known == incarnation):
            # The first boot of an OSD the initial map already shows up (bootstrap maps
            # start with every OSD up), or a retry: record it, no new interval needed.
            self.incarnations[osd_id] = incarnation
            self.failure_detector.beacon(osd_id, now)
            self._set_addr_if_new(osd_id, addr)
            return self._osdmap.epoch
        if info.up:
            self._set_state(osd_id, up=False,
                            message=f"osd.{osd_id} restarted (new incarnation): marked down")
        decision = self.failure_detector.boot(osd_id, self._osdmap, now)
        self.incarnations[osd_id] = incarnation
        if not decision.mark_up:
            return self._osdmap.epoch
        shown = _addr_str(addr, incarnation) or self._osdmap.osds[osd_id].addr
        self._set_state(osd_id, up=True, in_=True if decision.mark_in else None,
                        addr=shown, message=f"osd.{osd_id} [{shown}] boot")
        if decision.mark_in:
            self._log("[INF]", f"osd.{osd_id} marked itself in (was auto-marked out)")
        return self._osdmap.epoch

    def osd_boot_many(self, boots: list) -> list[int]:
        """`osd_boot` for each (osd_id, incarnation, addr) in at most two epochs; the
        results in the same order (an epoch, or -ENOENT)."""
        latest = {int(b[0]): b for b in boots}      # a repeated boot: the last one counts
        restarted = [osd for osd, (_, incarnation, _) in latest.items()
                     if self._restarted_while_up(osd, incarnation)]
        if restarted:
            # peers must see an interval in which the old incarnation is gone
            with self._one_epoch():
                for osd in restarted:
                    self._set_state(osd, up=False,
                                    message=f"osd.{osd} restarted (new incarnation): marked down")
        with self._one_epoch():
            done = {osd: self.osd_boot(osd, incarnation, addr)
                    for osd, (_, incarnation, addr) in latest.items()}
        epoch = self._osdmap.epoch
        return [done[int(b[0])] if done[int(b[0])] < 0 else epoch for b in boots]

    def _restarted_while_up(self, osd_id: int, incarnation: int) -> bool:
        info = self._osdmap.osds.get(osd_id)
        known = self.incarnations.get(osd_id)
        return info is not None and info.exists and info.up and known is not None and \
            known != incarnation

    @contextlib.contextmanager
    def _one_epoch(self):
        """Map changes made inside publish a single epoch when the block ends."""
        assert self._epoch_batch is None, "epoch batches do not nest"
        self._epoch_batch = [None, []]
        try:
            yield
        finally:
            pending, messages = self._epoch_batch
            self._epoch_batch = None
            if pending is not None:
                self._publish(pending, messages)

    _REPORTS = ("osd_beacon", "report_failure", "cancel_failure", "report_pg_stats")

    def osd_reports(self, reports: list) -> None:
        """Several OSDs' reports in order, each a (method, args) pair naming one of
        osd_beacon, report_failure, cancel_failure or report_pg_stats; health
        transitions are logged once for the whole batch."""
        for method, args in reports:
            if method == "report_pg_stats":
                self._record_pg_stats(*args)
            elif method in self._REPORTS:
                getattr(self, method)(*args)
            else:
                raise ValueError(f"{method!r} is not an OSD report")
        now = self.clock()
        if now - self._health_logged_at >= HEALTH_LOG_INTERVAL_S:
            # the checks walk every PG: with hundreds of batches a second, once a second
            self._health_logged_at = now
            self._log_health_transitions()

    def osd_beacon(self, osd_id: int) -> None:
        """MOSDBeacon: the OSD is alive (resets its `mon_osd_report_timeout`)."""
        self.failure_detector.beacon(osd_id, self.clock())

    def report_failure(self, reporter: int, target: int, failed_since: float) -> None:
        """MOSDFailure: `reporter`'s heartbeats to `target` fail since `failed_since`.
        Ignored for an OSD that has never booted under this monitor: the first map shows
        every OSD up before its process runs, and peers that started earlier must not get
        one that is still starting marked down (a thousand OSDs take longer to start than
        the grace); if it never boots, the beacon timeout marks it down."""
        if target not in self.incarnations:
            return
        new = reporter not in self.failure_detector.reports.get(target, {})
        if new and self._osdmap.is_up(target) and self._osdmap.is_up(reporter):
            # logged once per report, not for each periodic resend of it
            self._log("[DBG]", f"osd.{target} reported failed by osd.{reporter}")
        self.failure_detector.report_failure(reporter, target, failed_since, self.clock())

    def cancel_failure(self, reporter: int, target: int) -> None:
        """`reporter` hears `target` again: withdraw its report."""
        self.failure_detector.cancel_failure(reporter, target)

    def report_pg_stats(self, osd_id: int, rows: list) -> None:
        """MPGStats: the rows of the PGs `osd_id` leads (OSDService.pg_stats())."""
        self._record_pg_stats(osd_id, rows)
        self._log_health_transitions()

    def _record_pg_stats(self, osd_id: int, rows: list) -> None:
        now = self.clock()
        self.pgmap.report(osd_id, rows, now)
        self.failure_detector.beacon(osd_id, now)

    # == the detector's decisions ===========================================================
    def tick_failures(self) -> FailureDecision:
        """Mark down / out what the failure detector decides now; returns the decision."""
        fd = self.failure_detector
        # `config set mon ...` may have changed a limit since the last tick
        options = self._detector_options()
        fresh = FailureDetector.from_config(options)
        for name in options:
            attr = _DETECTOR_OPTIONS[name]
            setattr(fd, attr, getattr(fresh, attr))
        now = self.clock()
        m = self._osdmap
        decision = fd.tick(m, now)
        # one epoch for everything decided now (a thousand OSDs' peers install every epoch)
        with self._one_epoch():
            self._apply_decision(decision, now)
        return decision

    def _apply_decision(self, decision: FailureDecision, now: float) -> None:
        fd = self.failure_detector
        for osd in decision.mark_down:
            reporters = fd.reports.get(osd, {})
            if reporters:
                since = min(reporters.values())
                why = (f"osd.{osd} failed ({self._loc_str(osd)}) ({len(reporters)} reporters "
                       f"from different host after {now - since:.3f} >= grace "
                       f"{fd.grace_s:.3f})")
            else:
                why = (f"osd.{osd} marked down after no beacon for "
                       f"{now - fd.last_beacon.get(osd, now):.3f} seconds")
            self._set_state(osd, up=False, message=why)
        for osd in decision.mark_out:
            down_for = now - fd.down_since.get(osd, now)
            if self._set_state(osd, in_=False,
                               message=f"Marking osd.{osd} out (has been down for "
                                       f"{int(down_for)} seconds)"):
                fd.marked_out(osd, auto=True)

    # == helpers ============================================================================
    def _set_state(self, osd_id: int, up: Optional[bool] = None, in_: Optional[bool] = None,
                   addr: Optional[str] = None, message: str = "") -> bool:
        """Publish one epoch with the OSD's new state; False if nothing changed."""
        info = self._osdmap.osds[osd_id]
        change_up = up is not None and up != info.up
        change_in = in_ is not None and in_ != info.in_
        if not change_up and not change_in:
            return False
        m = self._pending()
        if change_up:
            self._mark_up(m, osd_id, up)
        if change_in:
            self._mark_in(m, osd_id, in_)
        if addr:
            m.osds[osd_id].addr = addr
        self._publish(m, [message] if message else [])
        return True

    def _set_addr_if_new(self, osd_id: int, addr: Any) -> None:
        shown = _addr_str(addr, self.incarnations.get(osd_id, 0))
        if shown and shown != self._osdmap.osds[osd_id].addr:
            m = self._pending()
            m.osds[osd_id].addr = shown
            self._publish(m)

    def _after_publish(self, old, new) -> None:
        """Keep `new` in the history and tell the detector what changed since `old`."""
        fd = getattr(self, "failure_detector", None)
        if fd is None:         # the first health check runs before __init__ ends
            return
        self.map_history.append(new)
        now = self.clock()
        for osd, info in new.osds.items():
            before = old.osds.get(osd)
            if before is None:
                continue
            if before.up and not info.up:
                fd.marked_down(osd, now)
            elif info.up and not before.up:
                fd.marked_up(osd, now)
            if before.in_ and not info.in_:
                fd.marked_out(osd)
            elif info.in_ and not before.in_:
                fd.marked_in(osd)


def _addr_str(addr: Any, incarnation: int) -> str:
    """An OSD's address as the map shows it ('ip:port/nonce'); '' if unknown."""
    if not addr:
        return ""
    if isinstance(addr, (tuple, list)) and len(addr) == 2:
        return f"{addr[0]}:{int(addr[1])}/{int(incarnation) & 0xffffffff}"
    return str(addr)
