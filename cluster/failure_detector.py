"""The monitor's failure detector: which OSDs to mark down, out, up and in, and when.

Pure logic over reports and a clock the caller passes (Ceph's OSDMonitor failure handling,
simplified). The monitor core feeds it and applies its decisions to the next map epoch:

    report_failure(reporter, target, failed_since, now)  an OSD's heartbeats to `target`
                                    have gone unanswered since `failed_since` (MOSDFailure)
    cancel_failure(reporter, target)  ... and now answer again
    beacon(osd, now)                an OSD says it is alive (MOSDBeacon / any message)
    boot(osd, osdmap, now) -> BootDecision   an OSD (re)starts and asks to be marked up
    tick(osdmap, now) -> FailureDecision     what to mark down / out now
    marked_down(osd, now) / marked_out(osd, auto) / marked_in(osd)   the monitor applied it

Rules (Ceph's option names):
- down: at least `mon_osd_min_down_reporters` distinct up reporters (from distinct CRUSH
  hosts, `mon_osd_reporter_subtree_level` = host) report the target, and the oldest
  report's failure is `osd_heartbeat_grace` old; or no beacon for `mon_osd_report_timeout`.
  The reporter count is capped at the number of other up OSDs (so a 2-OSD cluster works).
  Flag `nodown`: never.
- out: down (and in) for `mon_osd_down_out_interval`; flag `noout`: never. An OSD the
  detector marked out this way is marked in again when it boots (mon_osd_auto_mark_auto_out_in)
  unless flag `noin` is set. Flag `noup`: a booting OSD stays down.
Reports from or about OSDs that are already down are ignored; marking an OSD down clears
the reports about it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_GRACE_S = 20.0              # osd_heartbeat_grace
DEFAULT_MIN_REPORTERS = 2           # mon_osd_min_down_reporters
DEFAULT_DOWN_OUT_INTERVAL_S = 600.0  # mon_osd_down_out_interval
DEFAULT_REPORT_TIMEOUT_S = 900.0    # mon_osd_report_timeout


@dataclass
class FailureDecision:
    mark_down: list = field(default_factory=list)
    mark_out: list = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.mark_down or self.mark_out)


@dataclass
class BootDecision:
    mark_up: bool
    mark_in: bool


def _flags(osdmap) -> set:
    return set(getattr(osdmap, "flags", ()) or ())


class FailureDetector:
    def __init__(self, grace_s: float = DEFAULT_GRACE_S,
                 min_reporters: int = DEFAULT_MIN_REPORTERS,
                 down_out_interval_s: float = DEFAULT_DOWN_OUT_INTERVAL_S,
                 report_timeout_s: float = DEFAULT_REPORT_TIMEOUT_S,
                 reporter_subtree: str = "host"):
        self.grace_s = grace_s
        self.min_reporters = min_reporters
        self.down_out_interval_s = down_out_interval_s
        self.report_timeout_s = report_timeout_s
        self.reporter_subtree = reporter_subtree
        self.reports: dict[int, dict[int, float]] = {}     # target -> {reporter: failed_since}
        self.last_beacon: dict[int, float] = {}
        self.down_since: dict[int, float] = {}
        self.auto_out: set[int] = set()

    @classmethod
    def from_config(cls, conf: dict) -> "FailureDetector":
        def get(name, default):
            for key in (name, name.replace("_", " ")):
                if key in conf and conf[key] not in (None, ""):
                    return type(default)(conf[key])
            return default
        return cls(get("osd_heartbeat_grace", DEFAULT_GRACE_S),
                   get("mon_osd_min_down_reporters", DEFAULT_MIN_REPORTERS),
                   get("mon_osd_down_out_interval", DEFAULT_DOWN_OUT_INTERVAL_S),
                   get("mon_osd_report_timeout", DEFAULT_REPORT_TIMEOUT_S))

    # -- inputs --------------------------------------------------------------------------------
    def report_failure(self, reporter: int, target: int, failed_since: float, now: float) -> None:
        self.reports.setdefault(target, {})[reporter] = min(
            failed_since, self.reports.get(target, {}).get(reporter, failed_since))
        self.last_beacon[reporter] = now

    def cancel_failure(self, reporter: int, target: int) -> None:
        reports = self.reports.get(target)
        if reports is not None:
            reports.pop(reporter, None)
            if not reports:
                del self.reports[target]

    def beacon(self, osd: int, now: float) -> None:
        self.last_beacon[osd] = now

    def boot(self, osd: int, osdmap, now: float) -> BootDecision:
        """An OSD started: mark it up (unless noup), and in again if we took it out."""
        flags = _flags(osdmap)
        self.last_beacon[osd] = now
        self.reports.pop(osd, None)
        info = osdmap.osds.get(osd)
        mark_in = bool(info is not None and not info.in_ and osd in self.auto_out
                       and "noin" not in flags)
        return BootDecision(mark_up="noup" not in flags, mark_in=mark_in)

    def marked_down(self, osd: int, now: float) -> None:
        self.down_since.setdefault(osd, now)
        self.reports.pop(osd, None)

    def marked_up(self, osd: int, now: float) -> None:
        self.down_since.pop(osd, None)
        self.last_beacon[osd] = now

    def marked_out(self, osd: int, auto: bool = False) -> None:
        if auto:
            self.auto_out.add(osd)

    def marked_in(self, osd: int) -> None:
        self.auto_out.discard(osd)

    # -- decisions -----------------------------------------------------------------------------
    def _host(self, osdmap, osd):
        info = osdmap.osds.get(osd)
        host = getattr(info, "host", None) if info is not None else None
        return host if (host and self.reporter_subtree == "host") else ("osd", osd)

    def tick(self, osdmap, now: float) -> FailureDecision:
        """What to mark down and out at `now` (the caller applies it and reports back)."""
        flags = _flags(osdmap)
        decision = FailureDecision()
        up = {o for o, i in osdmap.osds.items() if getattr(i, "exists", True) and i.up}
        if "nodown" not in flags:
            for target in sorted(self.reports):
                if target not in up:
                    self.reports.pop(target, None)
                    continue
                reports = {r: t for r, t in self.reports[target].items() if r in up and r != target}
                if not reports:
                    continue
                hosts = {self._host(osdmap, r) for r in reports}
                needed = max(1, min(self.min_reporters, len(up) - 1))
                if len(hosts) >= needed and now - min(reports.values()) >= self.grace_s:
                    decision.mark_down.append(target)
            for osd in sorted(up):
                last = self.last_beacon.setdefault(osd, now)
                if now - last >= self.report_timeout_s and osd not in decision.mark_down:
                    decision.mark_down.append(osd)
        if "noout" not in flags:
            for osd, info in sorted(osdmap.osds.items()):
                if info.up or not info.in_ or not getattr(info, "exists", True):
                    continue
                since = self.down_since.setdefault(osd, now)
                if now - since >= self.down_out_interval_s:
                    decision.mark_out.append(osd)
        return decision
