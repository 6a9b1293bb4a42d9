"""PG, health and status commands of the monitor: `pg dump|ls|stat|map`, `health`,
`status`/`-s`, `osd stat`, `osd map`.

`StatusCommands` is a mixin of `MonitorCore` (it reads the core's `_osdmap`, `clock`,
`options`, `services`); it only reads state and never publishes a map.
"""
from __future__ import annotations

import errno
from typing import Any

from .mon_format import (LEFT, MGR_NAME, MON_NAME, RIGHT, _Args, _CmdError,
                         _einval, _parse_pgid, _pgid, byte_u, dumps, osd_list, span, stamp,
                         table)
from .osdmap import OSDMAP_FLAGS, WARN_OSDMAP_FLAGS, Pool
from .placement import CRUSH_ITEM_NONE, PgMapping, pg_seed


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

    def _pgs_by_state(self) -> list[tuple[str, int]]:
        counts: dict[str, int] = {}
        for pool, _, mp in self._all_pgs():
            st = self._pg_state(pool, mp)
            counts[st] = counts.get(st, 0) + 1
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))

    _STAT_SUM_KEYS = ("num_bytes", "num_objects", "num_object_clones", "num_object_copies",
                      "num_objects_missing_on_primary", "num_objects_missing",
                      "num_objects_degraded", "num_objects_misplaced", "num_objects_unfound",
                      "num_objects_dirty", "num_whiteouts", "num_read", "num_read_kb",
                      "num_write", "num_write_kb", "num_scrub_errors", "num_objects_recovered",
                      "num_bytes_recovered", "num_keys_recovered", "num_objects_omap",
                      "num_omap_bytes", "num_omap_keys")

    def _pg_entry(self, pool: Pool, seed: int, mp: PgMapping, brief: bool) -> dict:
        entry: dict[str, Any] = {"pgid": _pgid(pool.id, seed), "state": self._pg_state(pool, mp)}
        if brief:
            entry.update({"up": list(mp.up), "acting": list(mp.acting),
                          "up_primary": mp.up_primary, "acting_primary": mp.acting_primary})
            return entry
        now = stamp(self.clock())
        full = {"pgid": entry["pgid"], "version": "0'0", "reported_seq": 0,
                "reported_epoch": self._osdmap.epoch, "state": entry["state"],
                "last_fresh": now, "last_change": stamp(self._osdmap.modified),
                "last_active": now, "last_clean": now, "mapping_epoch": self._osdmap.epoch,
                "log_start": "0'0", "ondisk_log_start": "0'0", "created": pool.last_change,
                "last_epoch_clean": self._osdmap.epoch, "parent": "0.0", "parent_split_bits": 0,
                "last_scrub": "0'0", "last_scrub_stamp": stamp(pool.create_time),
                "last_deep_scrub": "0'0", "last_deep_scrub_stamp": stamp(pool.create_time),
                "log_size": 0, "ondisk_log_size": 0, "snaptrimq_len": 0,
                "stat_sum": {k: 0 for k in self._STAT_SUM_KEYS},
                "up": list(mp.up), "acting": list(mp.acting), "blocked_by": [],
                "up_primary": mp.up_primary, "acting_primary": mp.acting_primary,
                "purged_snaps": []}
        return full

    def _cmd_pg_dump(self, a: _Args, inbuf: bytes):
        what = a.cmd.get("dumpcontents") or ["all"]
        if isinstance(what, str):
            what = [what]
        if not isinstance(what, list) or not all(isinstance(w, str) for w in what):
            raise _einval("bad or missing field 'dumpcontents'")
        pgs = self._all_pgs()
        fmt = a.fmt()
        if "pgs_brief" in what:
            doc = {"pg_ready": True,
                   "pg_stats": [self._pg_entry(p, s, mp, True) for p, s, mp in pgs]}
            if fmt != "plain":
                return 0, dumps(doc, fmt), "dumped pgs_brief"
            rows = [[e["pgid"], e["state"], osd_list(e["up"]), e["up_primary"],
                     osd_list(e["acting"]), e["acting_primary"]] for e in doc["pg_stats"]]
            cols = [("PG_STAT", LEFT, LEFT), ("STATE", LEFT, RIGHT), ("UP", LEFT, RIGHT),
                    ("UP_PRIMARY", LEFT, RIGHT), ("ACTING", LEFT, RIGHT),
                    ("ACTING_PRIMARY", LEFT, RIGHT)]
            return 0, ("\n".join(table(cols, rows)) + "\n").encode(), "dumped pgs_brief"
        entries = [self._pg_entry(p, s, mp, False) for p, s, mp in pgs]
        m = self._osdmap
        doc = {"pg_ready": True, "pg_map": {
            "version": m.epoch, "stamp": stamp(self.clock()), "last_osdmap_epoch": 0,
            "last_pg_scan": 0,
            "pg_stats_sum": {"stat_sum": {k: 0 for k in self._STAT_SUM_KEYS}, "log_size": 0,
                             "ondisk_log_size": 0, "up": sum(len(e["up"]) for e in entries),
                             "acting": sum(len(e["acting"]) for e in entries)},
            "pg_stats": entries,
            "pool_stats": [{"poolid": p.id, "num_pg": p.pg_num,
                            "stat_sum": {k: 0 for k in self._STAT_SUM_KEYS}}
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
        rows = [[e["pgid"], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, e["state"], e["last_change"], "0'0",
                 f"{e['reported_epoch']}:0", osd_list(e["up"]), e["up_primary"],
                 osd_list(e["acting"]), e["acting_primary"], "0'0", e["last_scrub_stamp"],
                 "0'0", e["last_deep_scrub_stamp"], 0] for e in entries]
        return 0, (head + "\n".join(table(cols, rows)) + "\n").encode(), "dumped all"

    def _cmd_pg_ls(self, a: _Args, inbuf: bytes):
        pool_arg = a.cmd.get("pool")
        states = a.strlist("states", required=False)
        pgs = self._all_pgs()
        if pool_arg is not None:
            pool = self._osdmap.get_pool(pool_arg)
            if pool is None:
                raise _CmdError(-errno.ENOENT, f"pool {pool_arg} does not exist")
            pgs = [x for x in pgs if x[0].id == pool.id]
        entries = [self._pg_entry(p, s, mp, False) for p, s, mp in pgs]
        if states:
            entries = [e for e in entries if any(st in e["state"].split("+") for st in states)]
        doc: dict = {"pg_ready": True}
        if entries:
            doc["pg_stats"] = entries
        rows = [[e["pgid"], 0, 0, 0, 0, 0, 0, 0, e["state"], e["last_change"], "0'0",
                 f"{e['reported_epoch']}:0", f"{osd_list(e['up'])}p{e['up_primary']}",
                 f"{osd_list(e['acting'])}p{e['acting_primary']}"] for e in entries]
        cols = [(h, LEFT, LEFT if i == 0 else RIGHT) for i, h in enumerate(
            ("PG", "OBJECTS", "DEGRADED", "MISPLACED", "UNFOUND", "BYTES", "OMAP_BYTES*",
             "OMAP_KEYS*", "STATE", "SINCE", "VERSION", "REPORTED", "UP", "ACTING"))]
        return self._out(a, doc, lambda: "\n".join(table(cols, rows)) + "\n")

    def _cmd_pg_stat(self, a: _Args, inbuf: bytes):
        by_state = self._pgs_by_state()
        total_pgs = sum(n for _, n in by_state)
        cap = self._capacity()
        doc = {"pg_ready": True, "pg_summary": {
            "num_pg_by_state": [{"name": s, "num": n} for s, n in by_state],
            "num_pgs": total_pgs, "num_bytes": 0, "total_bytes": cap,
            "total_avail_bytes": cap, "total_used_bytes": 0, "total_used_raw_bytes": 0}}
        states = ", ".join(f"{n} {s}" for s, n in by_state)
        return self._out(a, doc, lambda: (
            f"{total_pgs} pgs: {states}; 0 B data, 0 B used, {byte_u(cap)} / {byte_u(cap)} "
            f"avail\n"))

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
        undersized, inactive, stale = [], [], []
        for pool, seed, mp in self._all_pgs():
            state = self._pg_state(pool, mp)
            if "undersized" in state:
                missing = [o for o in mp.raw if o != CRUSH_ITEM_NONE and not m.is_up(o)]
                since = max((m.osds[o].down_stamp for o in missing
                             if o in m.osds and m.osds[o].down_stamp), default=m.created)
                entry = (pool, seed, mp, state, now - since)
                undersized.append(entry)
                if "stale" in state:
                    stale.append(entry)
                elif "active" not in state:
                    inactive.append(entry)
            elif state == "unknown":
                inactive.append((pool, seed, mp, state, now - m.created))

        def pgs(n: int) -> str:
            return f"{n} pg" if n == 1 else f"{n} pgs"

        if inactive or stale:
            parts = []
            if inactive:
                parts.append(f"{pgs(len(inactive))} inactive")
            if stale:
                parts.append(f"{pgs(len(stale))} stale")
            details = [f"pg {_pgid(p.id, s)} is stuck inactive for {span(age)}, current state "
                       f"{st}, last acting {osd_list(mp.acting)}"
                       for p, s, mp, st, age in inactive]
            details += [f"pg {_pgid(p.id, s)} is stuck stale for {span(age)}, current state "
                        f"{st}, last acting {osd_list(mp.acting)}"
                        for p, s, mp, st, age in stale]
            add("PG_AVAILABILITY", "HEALTH_WARN",
                "Reduced data availability: " + ", ".join(parts), len(inactive) + len(stale),
                details)
        if undersized:
            add("PG_DEGRADED", "HEALTH_WARN",
                f"Degraded data redundancy: {pgs(len(undersized))} undersized", len(undersized),
                [f"pg {_pgid(p.id, s)} is stuck undersized for {span(age)}, current state "
                 f"{st}, last acting {osd_list(mp.acting)}"
                 for p, s, mp, st, age in undersized])

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
        by_state = self._pgs_by_state()
        num_pgs = sum(n for _, n in by_state)
        cap = self._capacity()
        osd_summary = self._osdmap_summary()
        pgmap = {"pgs_by_state": [{"state_name": s, "count": n} for s, n in by_state],
                 "num_pgs": num_pgs, "num_pools": len(m.pools), "num_objects": 0,
                 "data_bytes": 0, "bytes_used": 0, "bytes_avail": cap, "bytes_total": cap}
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
                      "    objects: 0 objects, 0 B",
                      f"    usage:   0 B used, {byte_u(cap)} / {byte_u(cap)} avail"]
            pg_lines = []
            if inactive and num_pgs:
                pg_lines.append(f"{100.0 * inactive / num_pgs:.3f}% pgs not active")
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
