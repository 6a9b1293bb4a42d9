"""The cluster's PG map: `ceph pg dump` / `ceph pg stat` from the primaries' reports.

Every OSD periodically sends the monitor `OSDService.pg_stats()` (one row per PG it leads,
Ceph's MPGStats). `PGMap` keeps the newest row per PG and answers the commands; it is pure
(the monitor passes its map and clock), so the monitor core and the simulator share it.

Rules:
- a PG's row is the one from the newest report of its current acting primary;
- `stale`: the PG's acting primary is down in the map, or it has not reported for
  `mon_pg_stale_s` (Ceph: mon_osd_report_timeout), or nobody ever reported it since the
  primary changed; the last known state gets `stale+` in front (Ceph's way);
- a PG with no primary at all is reported `stale+undersized+degraded+peered` like Ceph's
  `unknown`/stale PGs.
"""
from __future__ import annotations

from collections import Counter

DEFAULT_STALE_S = 30.0


class PGMap:
    def __init__(self, stale_s: float = DEFAULT_STALE_S):
        self.stale_s = stale_s
        self.rows: dict[str, tuple[int, float, dict]] = {}    # pgid -> (osd, stamp, row)

    def report(self, osd_id: int, rows: list, now: float) -> None:
        """An OSD's pg_stats() rows."""
        for row in rows:
            self.rows[row["pgid"]] = (osd_id, now, dict(row))

    def forget_pool(self, pool: int) -> None:
        prefix = f"{pool}."
        for pgid in [p for p in self.rows if p.startswith(prefix)]:
            del self.rows[pgid]

    def dump(self, osdmap, now: float) -> list[dict]:
        """Rows of every PG of every pool in `osdmap`, with the stale rule applied."""
        out = []
        for pool_id, pool in sorted(osdmap.pools.items()):
            for seed in range(pool.pg_num):
                pgid = f"{pool_id}.{seed:x}"
                acting, primary = osdmap.pg_to_acting(pool_id, seed)
                have = self.rows.get(pgid)
                up_ok = primary >= 0 and osdmap.osds.get(primary) is not None and \
                    osdmap.osds[primary].up
                if have is None or have[0] != primary:
                    row = {"pgid": pgid, "state": "unknown" if up_ok else
                           "stale+undersized+degraded+peered",
                           "acting": list(acting), "acting_primary": primary,
                           "num_objects": 0, "num_bytes": 0}
                    if have is not None:
                        row = dict(have[2], acting=list(acting), acting_primary=primary)
                        row["state"] = "stale+" + have[2]["state"] if not up_ok else "peering"
                    out.append(row)
                    continue
                osd, stamp, row = have
                row = dict(row)
                if not up_ok or now - stamp > self.stale_s:
                    row["state"] = "stale+" + row["state"]
                out.append(row)
        return out

    def stat(self, osdmap, now: float) -> dict:
        """`pg stat`: counts by state and totals."""
        rows = self.dump(osdmap, now)
        by_state = Counter(r["state"] for r in rows)
        return {
            "num_pgs": len(rows),
            "num_pg_by_state": [{"name": k, "num": v} for k, v in sorted(by_state.items())],
            "num_objects": sum(r.get("num_objects", 0) for r in rows),
            "num_bytes": sum(r.get("num_bytes", 0) for r in rows),
            "num_objects_degraded": sum(r.get("num_objects_degraded", 0) for r in rows),
            "num_objects_unfound": sum(r.get("num_objects_unfound", 0) for r in rows),
        }

    def stat_text(self, osdmap, now: float) -> str:
        """Ceph's plain `pg stat` line, e.g. '16 pgs: 12 active+clean, 4 peering; ...'."""
        s = self.stat(osdmap, now)
        states = ", ".join(f"{e['num']} {e['name']}" for e in
                           sorted(s["num_pg_by_state"], key=lambda e: (-e["num"], e["name"])))
        text = f"{s['num_pgs']} pgs: {states}; {_bytes(s['num_bytes'])} data, " \
               f"{s['num_objects']} objects"
        if s["num_objects_degraded"]:
            text += f"; {s['num_objects_degraded']} objects degraded"
        return text


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
