"""PG, health and status commands of the monitor: `pg dump|ls|stat|map`, `health`,
`status`/`-s`, `osd stat`, `osd map`.

`StatusCommands` is a mixin of `MonitorCore` (it reads the core's `_osdmap`, `clock`,
`options`, `services`, `pgmap`); it only reads state and never publishes a map.

PG states come from the primaries' pg_stats() reports (osd/pg_stats.py: PGMap, whose rules
add `stale`) as soon as any OSD has reported; before that (and always on the in-process
host, whose OSDs never report) they are derived from the map alone: a PG whose acting set
holds `size` OSDs is `active+clean`, fewer but at least `min_size` `active+undersized`,
fewer `undersized+peered`, none `stale+undersized+peered` (`unknown` when CRUSH maps it
nowhere).
"""
from __future__ import annotations

import errno
from typing import Any, NamedTuple, Optional

from .mon_format import (LEFT, MGR_NAME, MON_NAME, RIGHT, _Args, _CmdError,
                         _einval, _parse_pgid, _pgid, byte_u, dumps, osd_list, span, stamp,
                         table)
from .osdmap import OSDMAP_FLAGS, WARN_OSDMAP_FLAGS, Pool
from .placement import CRUSH_ITEM_NONE, PgMapping, pg_seed


class PgView(NamedTuple):
    """One PG as the commands show it; `report` is its primary's newest pg_stats() row
    with PGMap's rules applied (None while no OSD has reported anything)."""
    pool: Pool
    seed: int
    mp: PgMapping
    state: str
    report: Optional[dict]


class StatusCommands:
    # == PGs ==================================================================================
    def _all_pgs(self) -> list[tuple[Pool, int, PgMapping]]:
        m = self._osdmap
        out = []
        for pid in sorted(m.pools):
            pool = m.pools[pid]
            for seed, mapping in enumerate(m.pool_mappings(pid)):
                out.append((pool, seed, mapping))
        return out

    @staticmethod
    def _pg_state(pool: Pool, mp: PgMapping) -> str:
        n = sum(1 for o in mp.acting if o != CRUSH_ITEM_NONE)
        if n == 0:
            return "unknown" if not mp.raw else "stale+undersized+peered"
        if n < pool.min_size:
            state = "undersized+peered"
        elif n < pool.size:
            state = "active+undersized"
        else:
            state = "active+clean"
        if mp.acting != mp.up:
            state += "+remapped"
        return state

    def _pg_views(self) -> list["PgView"]:
        """Every PG with its state: from the primaries' reports once any OSD reported
        (PGMap's rules, stale included), else derived from the map alone."""
        m = self._osdmap
        pgs = self._all_pgs()
        if not self.pgmap.rows:
            return [PgView(p, s, mp, self._pg_state(p, mp), None) for p, s, mp in pgs]
        rows = self.pgmap.dump(m, self.clock())
        return [PgView(p, s, mp, row["state"], row) for (p, s, mp), row in zip(pgs, rows)]

    def _pgs_by_state(self, views: Optional[list["PgView"]] = None) -> list[tuple[str, int]]:
        counts: dict[str, int] = {}
        for v in self._pg_views() if views is None else views:
            counts[v.state] = counts.get(v.state, 0) + 1
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))

    _STAT_SUM_KEYS = ("num_bytes", "num_objects", "num_object_clones", "num_object_copies",
                      "num_objects_missing_on_primary", "num_objects_missing",
                      "num_objects_degraded", "num_objects_misplaced", "num_objects_unfound",
                      "num_objects_dirty", "num_whiteouts", "num_read", "num_read_kb",
                      "num_write", "num_write_kb", "num_scrub_errors", "num_objects_recovered",
                      "num_bytes_recovered", "num_keys_recovered", "num_objects_omap",
                      "num_omap_bytes", "num_omap_keys")
    # stat_sum key <- the key of an OSD's pg_stats() row
    _REPORTED_SUMS = {"num_bytes": "num_bytes", "num_objects": "num_objects",
                      "num_object_clones": "num_object_clones",
                      "num_objects_missing_on_primary": "num_objects_missing_on_primary",
                      "num_objects_degraded": "num_objects_degraded",
                      "num_objects_misplaced": "num_objects_misplaced",
                      "num_objects_unfound": "num_objects_unfound",
                      "num_read": "num_rd", "num_write": "num_wr"}

    def _stat_sum(self, v: "PgView") -> dict:
        sums = {k: 0 for k in self._STAT_SUM_KEYS}
        if v.report is not None:
            for key, reported in self._REPORTED_SUMS.items():
                sums[key] = int(v.report.get(reported, 0) or 0)
            sums["num_object_copies"] = sums["num_objects"] * v.pool.size
        return sums

    def _pg_entry(self, v: "PgView", brief: bool) -> dict:
        pool, mp, r = v.pool, v.mp, v.report or {}
        up, acting = r.get("up", mp.up), r.get("acting", mp.acting)
        up_primary = r.get("up_primary", mp.up_primary)
        acting_primary = r.get("acting_primary", mp.acting_primary)
        entry: dict[str, Any] = {"pgid": _pgid(pool.id, v.seed), "state": v.state}
        if brief:
            entry.update({"up": list(up), "acting": list(acting),
                          "up_primary": up_primary, "acting_primary": acting_primary})
            return entry
        now = stamp(self.clock())
        epoch = self._osdmap.epoch
        full = {"pgid": entry["pgid"], "version": r.get("last_update", "0'0"),
                "reported_seq": 0, "reported_epoch": r.get("reported_epoch", epoch),
                "state": entry["state"],
                "last_fresh": now, "last_change": stamp(self._osdmap.modified),
                "last_active": now, "last_clean": now, "mapping_epoch": epoch,
                "log_start": "0'0", "ondisk_log_start": "0'0", "created": pool.last_change,
                "last_epoch_clean": r.get("last_epoch_clean", epoch), "parent": "0.0",
                "parent_split_bits": 0,
                "last_scrub": "0'0", "last_scrub_stamp": stamp(pool.create_time),
                "last_deep_scrub": "0'0", "last_deep_scrub_stamp": stamp(pool.create_time),
                "log_size": r.get("log_size", 0), "ondisk_log_size": r.get("log_size", 0),
                "snaptrimq_len": 0, "stat_sum": self._stat_sum(v),
                "up": list(up), "acting": list(acting), "blocked_by": r.get("blocked_by", []),
                "up_primary": up_primary, "acting_primary": acting_primary,
                "purged_snaps": []}
        return full

    @staticmethod
    def _sum_stats(entries: list[dict]) -> dict:
        total: dict[str, int] = {}
        for e in entries:
            for k, n in e["stat_sum"].items():
                total[k] = total.get(k, 0) + n
        return total

    def _cmd_pg_dump(self, a: _Args, inbuf: bytes):
        what = a.cmd.get("dumpcontents") or ["all"]
        if isinstance(what, str):
            what = [what]
        if not isinstance(what, list) or not all(isinstance(w, str) for w in what):
            raise _einval("bad or missing field 'dumpcontents'")
        views = self._pg_views()
        fmt = a.fmt()
        if "pgs_brief" in what:
            doc = {"pg_ready": True, "pg_stats": [self._pg_entry(v, True) for v in views]}
            if fmt != "plain":
                return 0, dumps(doc, fmt), "dumped pgs_brief"
            rows = [[e["pgid"], e["state"], osd_list(e["up"]), e["up_primary"],
                     osd_list(e["acting"]), e["acting_primary"]] for e in doc["pg_stats"]]
            cols = [("PG_STAT", LEFT, LEFT), ("STATE", LEFT, RIGHT), ("UP", LEFT, RIGHT),
                    ("UP_PRIMARY", LEFT, RIGHT), ("ACTING", LEFT, RIGHT),
                    ("ACTING_PRIMARY", LEFT, RIGHT)]
            return 0, ("\n".join(table(cols, rows)) + "\n").encode(), "dumped pgs_brief"
        entries = [self._pg_entry(v, False) for v in views]
        m = self._osdmap
        doc = {"pg_ready": True, "pg_map": {
            "version": m.epoch, "stamp": stamp(self.clock()), "last_osdmap_epoch": 0,
            "last_pg_scan": 0,
            "pg_stats_sum": {"stat_sum": {k: self._sum_stats(entries).get(k, 0)
                                          for k in self._STAT_SUM_KEYS},
                             "log_size": sum(e["log_size"] for e in entries),
                             "ondisk_log_size": sum(e["log_size"] for e in entries),
                             "up": sum(len(e["up"]) for e in entries),
                             "acting": sum(len(e["acting"]) for e in entries)},
            "pg_stats": entries,
            "pool_stats": [{"poolid": p.id, "num_pg": p.pg_num,
                            "stat_sum": {k: self._sum_stats(
                                [e for e in entries if e["pgid"].startswith(f"{p.id}.")]
                            ).get(k, 0) for k in self._STAT_SUM_KEYS}}
                           for _, p in sorted(m.pools.items())],
            "osd_stats": [{"osd": o, "num_pgs": sum(1 for e in entries if o in e["acting"]),
                           "kb": self._device_bytes() // 1024, "kb_used": 0,
                           "kb_avail": self._device_bytes() // 1024}
                          for o in sorted(m.osds) if m.osds[o].exists]}}
        if fmt != "plain":
            return 0, dumps(doc, fmt), "dumped all"
        head = (f"version {m.epoch}\nstamp {doc['pg_map']['stamp']}\nlast_osdmap_epoch 0\n"
                f"last_pg_scan 0\n")
        cols = [(h, LEFT, LEFT if i == 0 else RIGHT) for i, h in enumerate(
            ("PG_STAT", "OBJECTS", "MISSING_ON_PRIMARY", "DEGRADED", "MISPLACED", "UNFOUND",
             "BYTES", "OMAP_BYTES*", "OMAP_KEYS*", "LOG", "DISK_LOG", "STATE", "STATE_STAMP",
             "VERSION", "REPORTED", "UP", "UP_PRIMARY", "ACTING", "ACTING_PRIMARY",
             "LAST_SCRUB", "SCRUB_STAMP", "LAST_DEEP_SCRUB", "DEEP_SCRUB_STAMP",
             "SNAPTRIMQ_LEN"))]
        rows = []
        for e in entries:
            s = e["stat_sum"]
            rows.append([e["pgid"], s["num_objects"], s["num_objects_missing_on_primary"],
                         s["num_objects_degraded"], s["num_objects_misplaced"],
                         s["num_objects_unfound"], s["num_bytes"], 0, 0, e["log_size"],
                         e["log_size"], e["state"], e["last_change"], e["version"],
                         f"{e['reported_epoch']}:0", osd_list(e["up"]), e["up_primary"],
                         osd_list(e["acting"]), e["acting_primary"], "0'0",
                         e["last_scrub_stamp"], "0'0", e["last_deep_scrub_stamp"], 0])
        return 0, (head + "\n".join(table(cols, rows)) + "\n").encode(), "dumped all"

    def _cmd_pg_ls(self, a: _Args, inbuf: bytes):
        pool_arg = a.cmd.get("pool")
        states = a.strlist("states", required=False)
        views = self._pg_views()
        if pool_arg is not None:
            pool = self._osdmap.get_pool(pool_arg)
            if pool is None:
                raise _CmdError(-errno.ENOENT, f"pool {pool_arg} does not exist")
            views = [v for v in views if v.pool.id == pool.id]
        entries = [self._pg_entry(v, False) for v in views]
        if states:
            entries = [e for e in entries if any(st in e["state"].split("+") for st in states)]
        doc: dict = {"pg_ready": True}
        if entries:
            doc["pg_stats"] = entries
        rows = []
        for e in entries:
            s = e["stat_sum"]
            rows.append([e["pgid"], s["num_objects"], s["num_objects_degraded"],
                         s["num_objects_misplaced"], s["num_objects_unfound"], s["num_bytes"],
                         0, 0, e["state"], e["last_change"], e["version"],
                         f"{e['reported_epoch']}:0", f"{osd_list(e['up'])}p{e['up_primary']}",
                         f"{osd_list(e['acting'])}p{e['acting_primary']}"])
        cols = [(h, LEFT, LEFT if i == 0 else RIGHT) for i, h in enumerate(
            ("PG", "OBJECTS", "DEGRADED", "MISPLACED", "UNFOUND", "BYTES", "OMAP_BYTES*",
             "OMAP_KEYS*", "STATE", "SINCE", "VERSION", "REPORTED", "UP", "ACTING"))]
        return self._out(a, doc, lambda: "\n".join(table(cols, rows)) + "\n")

    def _object_totals(self, views: list["PgView"]) -> dict:
        """Objects, bytes, copies, degraded and unfound over the reported PGs."""
        t = {"objects": 0, "bytes": 0, "copies": 0, "degraded": 0, "unfound": 0}
        for v in views:
            r = v.report
            if r is None:
                continue
            n = int(r.get("num_objects", 0) or 0)
            t["objects"] += n
            t["bytes"] += int(r.get("num_bytes", 0) or 0)
            t["copies"] += n * v.pool.size
            t["degraded"] += int(r.get("num_objects_degraded", 0) or 0)
            t["unfound"] += int(r.get("num_objects_unfound", 0) or 0)
        return t

    @staticmethod
    def _degraded_text(t: dict) -> str:
        """Ceph's '3/30 objects degraded (10.000%)' ('' when nothing is degraded)."""
        if not t["degraded"]:
            return ""
        pct = 100.0 * t["degraded"] / t["copies"] if t["copies"] else 0.0
        return f"{t['degraded']}/{t['copies']} objects degraded ({pct:.3f}%)"

    def _cmd_pg_stat(self, a: _Args, inbuf: bytes):
        views = self._pg_views()
        by_state = self._pgs_by_state(views)
        totals = self._object_totals(views)
        total_pgs = sum(n for _, n in by_state)
        cap = self._capacity()
        summary = {
            "num_pg_by_state": [{"name": s, "num": n} for s, n in by_state],
            "num_pgs": total_pgs, "num_bytes": totals["bytes"], "total_bytes": cap,
            "total_avail_bytes": cap, "total_used_bytes": 0, "total_used_raw_bytes": 0}
        if totals["degraded"]:
            summary.update({"degraded_objects": totals["degraded"],
                            "degraded_total": totals["copies"],
                            "degraded_ratio": totals["degraded"] / max(1, totals["copies"])})
        doc = {"pg_ready": True, "pg_summary": summary}
        states = ", ".join(f"{n} {s}" for s, n in by_state)
        degraded = self._degraded_text(totals)
        return self._out(a, doc, lambda: (
            f"{total_pgs} pgs: {states}; {byte_u(totals['bytes'])} data, 0 B used, "
            f"{byte_u(cap)} / {byte_u(cap)} avail" + (f"; {degraded}" if degraded else "")
            + "\n"))

    def _cmd_pg_map(self, a: _Args, inbuf: bytes):
        text = a.str("pgid", required=True)
        pool_id, ps = _parse_pgid(text)
        pool = self._osdmap.pools.get(pool_id)
        if pool is None:
            raise _CmdError(-errno.ENOENT, f"pg '{text}' does not exist")
        seed = pg_seed(ps, pool.pg_num)
        mp = self._osdmap.pg_to_up_acting(pool_id, seed)
        doc = {"epoch": self._osdmap.epoch, "raw_pgid": _pgid(pool_id, ps),
               "pgid": _pgid(pool_id, seed), "up": list(mp.up), "acting": list(mp.acting)}
        return self._out(a, doc, lambda: (
            f"osdmap e{self._osdmap.epoch} pg {_pgid(pool_id, ps)} ({_pgid(pool_id, seed)}) "
            f"-> up {osd_list(mp.up)} acting {osd_list(mp.acting)}\n"))

    def _cmd_osd_map(self, a: _Args, inbuf: bytes):
        pname = a.str("pool", required=True)
        oid = a.str("object", "")
        nspace = a.str("nspace", "")
        m = self._osdmap
        pool = m.get_pool(pname)
        if pool is None:
            raise _CmdError(-errno.ENOENT, f"pool {pname} does not exist")
        from .placement import object_ps

        ps = object_ps(oid, nspace)
        seed = pg_seed(ps, pool.pg_num)
        mp = m.pg_to_up_acting(pool.id, seed)
        objname = f"{nspace}/{oid}" if nspace else oid
        doc = {"epoch": m.epoch, "pool": pool.name, "pool_id": pool.id, "objname": objname,
               "raw_pgid": f"{pool.id}.{ps:08x}", "pgid": _pgid(pool.id, seed),
               "up": list(mp.up), "up_primary": mp.up_primary, "acting": list(mp.acting),
               "acting_primary": mp.acting_primary}
        return self._out(a, doc, lambda: (
            f"osdmap e{m.epoch} pool '{pool.name}' ({pool.id}) object '{objname}' -> pg "
            f"{pool.id}.{ps:08x} ({_pgid(pool.id, seed)}) -> up ({osd_list(mp.up)}, "
            f"p{mp.up_primary}) acting ({osd_list(mp.acting)}, p{mp.acting_primary})\n"))

    # == health ===============================================================================
    def _health_checks(self, detail: bool) -> dict[str, dict]:
        m = self._osdmap
        now = self.clock()
        checks: dict[str, dict] = {}

        def add(name: str, severity: str, message: str, count: int, details: list[str]):
            check: dict[str, Any] = {"severity": severity,
                                     "summary": {"message": message, "count": count}}
            if detail:
                check["detail"] = [{"message": d} for d in details]
            check["muted"] = False
            checks[name] = check

        flags = ",".join(f for f in OSDMAP_FLAGS if f in m.flags and f in WARN_OSDMAP_FLAGS)
        if flags:
            add("OSDMAP_FLAGS", "HEALTH_WARN", f"{flags} flag(s) set", len(flags), [])
        down = [o for o, i in sorted(m.osds.items()) if i.exists and not i.up and i.in_]
        if down:
            add("OSD_DOWN", "HEALTH_WARN", f"{len(down)} osds down", len(down),
                [f"osd.{o} ({self._loc_str(o)}) is down" for o in down])
        self._subtree_down_checks(add)
        self._pg_checks(add, now)
        if self.options.get("mon_warn_on_pool_no_redundancy", True):
            single = [p for _, p in sorted(m.pools.items()) if p.size == 1]
            if single:
                add("POOL_NO_REDUNDANCY", "HEALTH_WARN",
                    f"{len(single)} pool(s) have no replicas configured", len(single),
                    [f"pool '{p.name}' has no replicas configured" for p in single])
        smaller = [p for _, p in sorted(m.pools.items()) if p.pg_num > p.pgp_num]
        if smaller:
            add("SMALLER_PGP_NUM", "HEALTH_WARN",
                f"{len(smaller)} pools have pg_num > pgp_num", len(smaller),
                [f"pool {p.name} pg_num {p.pg_num} > pgp_num {p.pgp_num}" for p in smaller])
        return dict(sorted(checks.items()))

    def _loc_str(self, item: int) -> str:
        return ",".join(f"{t}={n}" for t, n in self._osdmap.crush_location(item))

    def _subtree_down_checks(self, add) -> None:
        m = self._osdmap
        crush = m.crush
        down_buckets: dict[int, list[int]] = {}
        for b in crush.buckets.values():
            if b.is_shadow:
                continue
            osds = [o for o in crush.subtree_devices(b.id)
                    if o in m.osds and m.osds[o].exists]
            if osds and all(not m.osds[o].up for o in osds):
                down_buckets[b.id] = osds
        by_type: dict[str, list[int]] = {}
        for bid in down_buckets:
            parent_down = any(bid in crush.buckets[p].items for p in down_buckets if p != bid)
            if not parent_down:
                by_type.setdefault(crush.types.get(crush.buckets[bid].type_id, "?"), []).append(bid)
        for tname, bids in sorted(by_type.items()):
            n_osds = sum(len(down_buckets[b]) for b in bids)
            noun = tname if len(bids) == 1 else tname + "s"
            details = []
            for bid in sorted(bids, reverse=True):
                loc = self._loc_str(bid)
                details.append(f"{tname} {crush.buckets[bid].name}"
                               f"{f' ({loc})' if loc else ''} ({len(down_buckets[bid])} osds) "
                               f"is down")
            add(f"OSD_{tname.upper()}_DOWN", "HEALTH_WARN",
                f"{len(bids)} {noun} ({n_osds} osds) down", len(bids), details)

    def _pg_checks(self, add, now: float) -> None:
        m = self._osdmap
        views = self._pg_views()
        undersized, degraded_only, inactive, stale = [], [], [], []
        for v in views:
            states = set(v.state.split("+"))
            missing = [o for o in v.mp.raw if o != CRUSH_ITEM_NONE and not m.is_up(o)]
            since = max((m.osds[o].down_stamp for o in missing
                         if o in m.osds and m.osds[o].down_stamp), default=m.created)
            entry = (v, now - since)
            if "stale" in states:
                stale.append(entry)
            elif "active" not in states:
                inactive.append(entry)
            if "undersized" in states:
                undersized.append(entry)
            elif "degraded" in states:
                degraded_only.append(entry)

        def pgs(n: int) -> str:
            return f"{n} pg" if n == 1 else f"{n} pgs"

        def acting(v) -> str:
            return osd_list(v.report["acting"] if v.report else v.mp.acting)

        def pgid(v) -> str:
            return _pgid(v.pool.id, v.seed)

        if inactive or stale:
            parts = []
            if inactive:
                parts.append(f"{pgs(len(inactive))} inactive")
            for flag in ("down", "peering", "incomplete"):
                n = sum(1 for v, _ in inactive if flag in v.state.split("+"))
                if n:
                    parts.append(f"{pgs(n)} {flag}")
            if stale:
                parts.append(f"{pgs(len(stale))} stale")
            details = [f"pg {pgid(v)} is stuck inactive for {span(age)}, current state "
                       f"{v.state}, last acting {acting(v)}" for v, age in inactive]
            details += [f"pg {pgid(v)} is stuck stale for {span(age)}, current state "
                        f"{v.state}, last acting {acting(v)}" for v, age in stale]
            add("PG_AVAILABILITY", "HEALTH_WARN",
                "Reduced data availability: " + ", ".join(parts), len(inactive) + len(stale),
                details)
        totals = self._object_totals(views)
        degraded_pgs = [v for v, _ in undersized + degraded_only if "degraded" in v.state]
        if undersized or degraded_pgs:
            parts = [self._degraded_text(totals)] if totals["degraded"] else []
            if degraded_pgs:
                parts.append(f"{pgs(len(degraded_pgs))} degraded")
            if undersized:
                parts.append(f"{pgs(len(undersized))} undersized")
            details = [f"pg {pgid(v)} is stuck undersized for {span(age)}, current state "
                       f"{v.state}, last acting {acting(v)}" for v, age in undersized]
            details += [f"pg {pgid(v)} is {v.state}, acting {acting(v)}"
                        for v, _ in degraded_only]
            add("PG_DEGRADED", "HEALTH_WARN",
                "Degraded data redundancy: " + ", ".join(parts),
                len(undersized) + len(degraded_only), details)
        if totals["unfound"]:
            pct = 100.0 * totals["unfound"] / max(1, totals["objects"])
            unfound = [v for v in views if v.report and v.report.get("num_objects_unfound")]
            add("OBJECT_UNFOUND", "HEALTH_WARN",
                f"{totals['unfound']}/{totals['objects']} objects unfound ({pct:.3f}%)",
                totals["unfound"],
                [f"pg {pgid(v)} has {v.report['num_objects_unfound']} unfound objects"
                 for v in unfound])

    @staticmethod
    def _health_plain(h: dict, detail: bool) -> str:
        if not h["checks"]:
            return h["status"] + "\n"
        out = h["status"] + " " + "; ".join(c["summary"]["message"]
                                             for c in h["checks"].values()) + "\n"
        if detail:
            for name, c in h["checks"].items():
                tag = "[ERR]" if c["severity"] == "HEALTH_ERR" else "[WRN]"
                out += f"{tag} {name}: {c['summary']['message']}\n"
                for d in c.get("detail", []):
                    out += f"    {d['message']}\n"
        return out

    def _cmd_health(self, a: _Args, inbuf: bytes):
        detail = a.str("detail") == "detail"
        h = self.health(detail)
        return self._out(a, h, lambda: self._health_plain(h, detail))

    # == status, df, dumps ====================================================================
    def _device_bytes(self) -> int:
        return int(self.options.get("memstore_device_bytes", 1 << 30))

    def _capacity(self) -> int:
        m = self._osdmap
        return self._device_bytes() * sum(1 for i in m.osds.values() if i.exists and i.up and i.in_)

    def _osdmap_summary(self) -> dict:
        m = self._osdmap
        remapped = sum(1 for _, _, mp in self._all_pgs() if mp.acting != mp.up)
        return {"epoch": m.epoch, "num_osds": m.num_osds, "num_up_osds": m.num_up_osds,
                "osd_up_since": int(m.last_up_change), "num_in_osds": m.num_in_osds,
                "osd_in_since": int(m.last_in_change), "num_remapped_pgs": remapped}

    def _cmd_osd_stat(self, a: _Args, inbuf: bytes):
        s = self._osdmap_summary()
        return self._out(a, s, lambda: self._osd_stat_plain(s) + "\n")

    def _osd_stat_plain(self, s: dict, status: bool = False) -> str:
        now = self.clock()
        text = (f"{s['num_osds']} osds: {s['num_up_osds']} up (since "
                f"{span(now - s['osd_up_since'])}), {s['num_in_osds']} in (since "
                f"{span(now - s['osd_in_since'])})")
        if status:
            if s["num_remapped_pgs"]:
                text += f"; {s['num_remapped_pgs']} remapped pgs"
        else:
            text += f"; epoch: e{s['epoch']}"
        flags = ",".join(f for f in OSDMAP_FLAGS if f in self._osdmap.flags
                         and f in WARN_OSDMAP_FLAGS)
        if flags:
            text += ("\n         flags " if status else "\nflags ") + flags
        return text

    def _servicemap_json(self) -> dict:
        services = {}
        for svc, daemons in sorted(self.services.items()):
            services[svc] = {"daemons": {"summary": "", **{d: dict(info) for d, info in
                                                            sorted(daemons.items())}}}
        return {"epoch": self.servicemap_epoch, "modified": stamp(self.servicemap_modified),
                "services": services}

    def _cmd_status(self, a: _Args, inbuf: bytes):
        m = self._osdmap
        now = self.clock()
        h = self.health(False)
        views = self._pg_views()
        by_state = self._pgs_by_state(views)
        totals = self._object_totals(views)
        num_pgs = sum(n for _, n in by_state)
        cap = self._capacity()
        osd_summary = self._osdmap_summary()
        pgmap = {"pgs_by_state": [{"state_name": s, "count": n} for s, n in by_state],
                 "num_pgs": num_pgs, "num_pools": len(m.pools),
                 "num_objects": totals["objects"], "data_bytes": totals["bytes"],
                 "bytes_used": 0, "bytes_avail": cap, "bytes_total": cap}
        if totals["degraded"]:
            pgmap.update({"degraded_objects": totals["degraded"],
                          "degraded_total": totals["copies"],
                          "degraded_ratio": totals["degraded"] / max(1, totals["copies"])})
        inactive = sum(n for s, n in by_state if "active" not in s.split("+"))
        if inactive and num_pgs:
            pgmap["inactive_pgs_ratio"] = inactive / num_pgs
        doc = {"fsid": m.fsid, "health": h, "election_epoch": 3, "quorum": [0],
               "quorum_names": [MON_NAME], "quorum_age": int(now - self.start_time),
               "monmap": {"epoch": 1, "min_mon_release_name": "pacific", "num_mons": 1},
               "osdmap": osd_summary, "pgmap": pgmap,
               "fsmap": {"epoch": 1, "by_rank": [], "up:standby": 0},
               "mgrmap": {"available": True, "num_standbys": 0,
                          "modules": ["iostat", "nfs", "restful"], "services": {}},
               "servicemap": self._servicemap_json(), "progress_events": {}}

        def plain() -> str:
            lines = ["  cluster:", f"    id:     {m.fsid}", f"    health: {h['status']}"]
            lines += [f"            {c['summary']['message']}" for c in h["checks"].values()]
            age = span(now - self.start_time)
            lines += [" ", "  services:", f"    mon: 1 daemons, quorum {MON_NAME} (age {age})",
                      f"    mgr: {MGR_NAME}(active, since {age})",
                      f"    osd: {self._osd_stat_plain(osd_summary, status=True)}"]
            for svc, daemons in sorted(self.services.items()):
                lines.append(f"    {svc}: {len(daemons)} daemon"
                             f"{'s' if len(daemons) != 1 else ''} active "
                             f"({', '.join(sorted(daemons))})")
            lines += [" ", "  data:", f"    pools:   {len(m.pools)} pools, {num_pgs} pgs",
                      f"    objects: {totals['objects']} objects, {byte_u(totals['bytes'])}",
                      f"    usage:   0 B used, {byte_u(cap)} / {byte_u(cap)} avail"]
            pg_lines = []
            if inactive and num_pgs:
                pg_lines.append(f"{100.0 * inactive / num_pgs:.3f}% pgs not active")
            if totals["degraded"]:
                pg_lines.append(self._degraded_text(totals))
            width = max((len(str(n)) for _, n in by_state), default=1)
            pg_lines += [f"{str(n).ljust(width)} {s}" if len(by_state) > 1 else f"{n} {s}"
                         for s, n in by_state]
            if not pg_lines:
                lines.append("    pgs:     ")
            else:
                lines.append(f"    pgs:     {pg_lines[0]}")
                lines += [f"             {line}" for line in pg_lines[1:]]
            lines.append(" ")
            return "\n".join(lines) + "\n"
        return self._out(a, doc, plain)
