"""OSD and CRUSH commands of the monitor: `osd down|up|out|in|reweight|primary-affinity|set|
unset`, `osd tree`, `osd crush dump|tree|rule ls|rule dump`, `osd getcrushmap`, `df`,
`osd dump`, `osd ls`, `fsid`, `version` and `mon dump`.

`OsdCommands` is a mixin of `MonitorCore`, kept apart from monitor.py so that each module
stays small. The state commands change the map only through the core's `_pending`,
`_mark_up`/`_mark_in` and `_publish`, so an operator's change reaches the failure detector
like any other; the other commands only read `_osdmap`. `osd dump` shows pools with
`_pool_json`/`_pool_plain` of mon_pools.py.
"""
from __future__ import annotations

import errno
from typing import Any

from .osdmap import OSDMAP_FLAGS, SETTABLE_OSDMAP_FLAGS, Pool
from .mon_format import (LEFT, MON_ADDR, MON_NAME, RIGHT, _Args, _CmdError, _einval, _osd_id,
                         _pgid, byte_u, dumps, gnum, num, osd_list, si_u, stamp, stamp_z, table,
                         weightf)

CEPH_VERSION = "ceph version 16.2.15 (rayceph) pacific (stable)"


class OsdCommands:
    # == OSD states ===========================================================================
    def _osd_ids(self, a: _Args) -> tuple[list[int], bool]:
        """(ids, every): `every` when 'any'/'all'/'*' named all OSDs (Ceph then stays quiet
        about OSDs already in the requested state)."""
        ids = a.strlist("ids")
        out: list[int] = []
        every = False
        for text in ids:
            if text in ("any", "all", "*"):
                every = True
                out.extend(i for i, o in sorted(self._osdmap.osds.items()) if o.exists)
            else:
                out.append(_osd_id(text))
        return out, every

    def _one_osd(self, a: _Args, name: str = "id") -> int:
        v = a.cmd.get(name)
        if isinstance(v, int) and not isinstance(v, bool):
            osd = v
        elif isinstance(v, str):
            try:
                osd = _osd_id(v)
            except _CmdError:
                raise _einval(f"bad or missing field '{name}'") from None
        else:
            raise _einval(f"bad or missing field '{name}'")
        info = self._osdmap.osds.get(osd)
        if info is None or not info.exists:
            raise _CmdError(-errno.ENOENT, f"osd.{osd} does not exist")
        return osd

    def _osd_state_cmd(self, a: _Args, what: str):
        ids, every = self._osd_ids(a)
        m = self._pending()
        msgs, events, changed = [], [], False
        for osd in ids:
            info = m.osds.get(osd)
            if info is None or not info.exists:
                msgs.append(f"osd.{osd} does not exist. ")
                continue
            if what == "down":
                if not info.up:
                    msgs.append(f"osd.{osd} is already down. ")
                    continue
                self._mark_up(m, osd, False)
                msgs.append(f"marked down osd.{osd}. ")
                events.append(f"osd.{osd} marked down")
            elif what == "up":
                if info.up:
                    msgs.append(f"osd.{osd} is already up. ")
                    continue
                if "noup" in m.flags:
                    msgs.append(f"osd.{osd} not marked up: noup flag is set. ")
                    continue
                self._mark_up(m, osd, True)
                msgs.append(f"marked up osd.{osd}. ")
                events.append(f"osd.{osd} boot")
            elif what == "out":
                if not info.in_:
                    msgs.append(f"osd.{osd} is already out. ")
                    continue
                self._mark_in(m, osd, False)
                msgs.append(f"marked out osd.{osd}. ")
                events.append(f"Client client.admin marked osd.{osd} out, while it was still "
                              f"marked {'up' if info.up else 'down'}")
            else:
                if info.in_:
                    msgs.append(f"osd.{osd} is already in. ")
                    continue
                self._mark_in(m, osd, True)
                msgs.append(f"marked in osd.{osd}. ")
                events.append(f"Client client.admin marked osd.{osd} in")
            changed = True
        if changed:
            self._publish(m, events)
        if every:
            msgs = [msg for msg in msgs if " is already " not in msg]
        return 0, b"", "".join(msgs)

    def _cmd_osd_down(self, a, inbuf):
        return self._osd_state_cmd(a, "down")

    def _cmd_osd_up(self, a, inbuf):
        return self._osd_state_cmd(a, "up")

    def _cmd_osd_out(self, a, inbuf):
        return self._osd_state_cmd(a, "out")

    def _cmd_osd_in(self, a, inbuf):
        return self._osd_state_cmd(a, "in")

    def _cmd_reweight(self, a: _Args, inbuf: bytes):
        osd = self._one_osd(a)
        w = a.float("weight")
        if w < 0:
            raise _einval(f"weight must be >= 0 (got {gnum(w)})")
        fixed = int(w * 0x10000)
        m = self._pending()
        info = m.osds[osd]
        info.weight = fixed / 0x10000
        if info.in_ != (fixed > 0):
            info.in_ = fixed > 0
            m.last_in_change = self.clock()
        self._publish(m, [f"osd.{osd} reweighted to {gnum(w)}"])
        return 0, b"", f"reweighted osd.{osd} to {gnum(w)} ({fixed:x})"

    def _cmd_affinity(self, a: _Args, inbuf: bytes):
        osd = self._one_osd(a)
        w = a.float("weight")
        if not 0.0 <= w <= 1.0:
            raise _einval("primary affinity must be between 0 and 1")
        fixed = int(w * 0x10000)
        m = self._pending()
        m.osds[osd].primary_affinity = fixed / 0x10000
        self._publish(m)
        return 0, b"", f"set osd.{osd} primary-affinity to {gnum(w)} ({fixed:x})"

    def _cmd_osd_set(self, a: _Args, inbuf: bytes, on: bool = True):
        key = a.str("key", required=True)
        if key not in SETTABLE_OSDMAP_FLAGS:
            raise _einval(f"unrecognized flag '{key}'")
        names = ["pauserd", "pausewr"] if key == "pause" else [key]
        m0 = self._osdmap
        if any((n in m0.flags) != on for n in names):
            m = self._pending()
            for n in names:
                if on:
                    m.flags.add(n)
                else:
                    m.flags.discard(n)
            self._publish(m)
        return 0, b"", f"{','.join(names)} is {'set' if on else 'unset'}"

    def _cmd_osd_unset(self, a: _Args, inbuf: bytes):
        return self._cmd_osd_set(a, inbuf, on=False)

    # == CRUSH ================================================================================
    def _crush_json(self) -> dict:
        crush = self._osdmap.crush
        types = crush.types

        def step_json(st) -> dict:
            if st.op == "take":
                return {"op": "take", "item": st.arg1, "item_name": crush.item_name(st.arg1)
                        if (st.arg1 in crush.buckets or st.arg1 in crush.devices) else ""}
            if st.op in ("choose_firstn", "choose_indep", "chooseleaf_firstn",
                         "chooseleaf_indep"):
                return {"op": st.op, "num": st.arg1, "type": types.get(st.arg2, str(st.arg2))}
            if st.op == "emit" or st.op == "noop":
                return {"op": st.op}
            return {"op": st.op, "num": st.arg1}

        rules = [{"rule_id": r.id, "rule_name": r.name, "ruleset": r.id,
                  "type": 3 if r.type == "erasure" else 1, "min_size": r.min_size,
                  "max_size": r.max_size, "steps": [step_json(s) for s in r.steps]}
                 for _, r in sorted(crush.rules.items())]
        buckets = [{"id": b.id, "name": b.name, "type_id": b.type_id,
                    "type_name": types.get(b.type_id, str(b.type_id)), "weight": b.weight,
                    "alg": b.alg, "hash": "rjenkins1" if b.hash == 0 else str(b.hash),
                    "items": [{"id": item, "weight": w, "pos": pos}
                              for pos, (item, w) in enumerate(zip(b.items, b.weights))]}
                   for _, b in sorted(crush.buckets.items(), reverse=True)]
        devices = []
        for _, d in sorted(crush.devices.items()):
            entry = {"id": d.id, "name": d.name}
            if d.device_class:
                entry["class"] = d.device_class
            devices.append(entry)
        return {"devices": devices,
                "types": [{"type_id": t, "name": n} for t, n in sorted(types.items())],
                "buckets": buckets, "rules": rules, "tunables": self._tunables_json(),
                "choose_args": {}}

    def _tunables_json(self) -> dict:
        from .crush import TUNABLE_PROFILES

        crush = self._osdmap.crush
        t = dict(crush.tunables)
        profile = "unknown"
        for name in ("jewel", "hammer", "firefly", "bobtail", "argonaut"):
            if all(TUNABLE_PROFILES[name].get(k) == t.get(k) for k in TUNABLE_PROFILES[name]):
                profile = name
                break
        straw2 = any(b.alg == "straw2" for b in crush.buckets.values())
        v2 = any(s.op in ("choose_indep", "chooseleaf_indep", "set_choose_tries",
                          "set_chooseleaf_tries") for r in crush.rules.values() for s in r.steps)
        v3 = any(s.op == "set_chooseleaf_vary_r" for r in crush.rules.values() for s in r.steps)
        v5 = any(s.op == "set_chooseleaf_stable" for r in crush.rules.values() for s in r.steps)
        legacy = (t.get("choose_local_tries"), t.get("choose_local_fallback_tries"),
                  t.get("choose_total_tries")) == (2, 5, 19)
        if t.get("chooseleaf_stable"):
            minimum = "jewel"
        elif straw2:
            minimum = "hammer"
        elif t.get("chooseleaf_vary_r"):
            minimum = "firefly"
        elif not legacy or t.get("chooseleaf_descend_once"):
            minimum = "bobtail"
        else:
            minimum = "argonaut"
        t.update({"profile": profile, "optimal_tunables": int(profile == "jewel"),
                  "legacy_tunables": int(profile == "argonaut"),
                  "minimum_required_version": minimum,
                  "require_feature_tunables": int(not legacy),
                  "require_feature_tunables2": int(bool(t.get("chooseleaf_descend_once"))),
                  "has_v2_rules": int(v2),
                  "require_feature_tunables3": int(bool(t.get("chooseleaf_vary_r"))),
                  "has_v3_rules": int(v3), "has_v4_buckets": int(straw2),
                  "require_feature_tunables5": int(bool(t.get("chooseleaf_stable"))),
                  "has_v5_rules": int(v5)})
        return t

    def _tree_nodes(self, with_status: bool) -> tuple[list[dict], list[tuple[int, int]]]:
        """osd tree nodes in Ceph's order (roots, then depth first) and (id, depth) rows."""
        m = self._osdmap
        crush = m.crush
        children = {c for b in crush.buckets.values() if not b.is_shadow for c in b.items}
        roots = sorted((b.id for b in crush.buckets.values()
                        if not b.is_shadow and b.id not in children), reverse=True)
        nodes, rows, seen = [], [], set()

        def osd_node(osd: int, depth: int) -> dict:
            d = crush.devices.get(osd)
            node = {"id": osd}
            if d is not None and d.device_class:
                node["device_class"] = d.device_class
            node.update({"name": d.name if d else f"osd.{osd}", "type": "osd", "type_id": 0,
                         "crush_weight": self._crush_weight(osd) / 0x10000, "depth": depth,
                         "pool_weights": {}})
            if with_status:
                info = m.osds.get(osd)
                node.update({"exists": int(bool(info and info.exists)),
                             "status": "up" if info and info.up else "down",
                             "reweight": num(info.weight if info else 0.0),
                             "primary_affinity": num(info.primary_affinity if info else 1.0)})
            return node

        def walk(item: int, depth: int) -> None:
            if item >= 0:
                nodes.append(osd_node(item, depth))
                rows.append((item, depth))
                seen.add(item)
                return
            b = crush.buckets[item]
            node = {"id": b.id, "name": b.name, "type": crush.types.get(b.type_id, "?"),
                    "type_id": b.type_id}
            if depth:
                node["pool_weights"] = {}
            node["children"] = list(reversed(b.items))
            nodes.append(node)
            rows.append((item, depth))
            for child in b.items:
                walk(child, depth + 1)

        for root in roots:
            walk(root, 0)
        stray = [osd_node(o, 0) for o in sorted(m.osds) if o not in seen and m.osds[o].exists]
        return nodes + [{"stray": stray}], rows

    def _crush_weight(self, item: int) -> int:
        for b in self._osdmap.crush.buckets.values():
            if not b.is_shadow and item in b.items:
                return b.weights[b.items.index(item)]
        return 0

    def _tree_plain(self, with_status: bool) -> str:
        m = self._osdmap
        crush = m.crush
        _, rows = self._tree_nodes(with_status)
        cols = [("ID", LEFT, RIGHT), ("CLASS", LEFT, RIGHT), ("WEIGHT", LEFT, RIGHT),
                ("TYPE NAME", LEFT, LEFT)]
        if with_status:
            cols += [("STATUS", LEFT, RIGHT), ("REWEIGHT", LEFT, RIGHT), ("PRI-AFF", LEFT, RIGHT)]
        out = []
        for item, depth in rows:
            indent = "    " * depth
            if item < 0:
                b = crush.buckets[item]
                row = [item, "", weightf(b.weight / 0x10000),
                       f"{indent}{crush.types.get(b.type_id, '?')} {b.name}"]
                if with_status:
                    row += ["", "", ""]
            else:
                d = crush.devices.get(item)
                info = m.osds.get(item)
                row = [item, d.device_class or "" if d else "",
                       weightf(self._crush_weight(item) / 0x10000),
                       f"{indent}{d.name if d else f'osd.{item}'}"]
                if with_status:
                    row += ["up" if info and info.up else "down",
                            weightf(info.weight if info else 0.0),
                            weightf(info.primary_affinity if info else 1.0)]
            out.append(row)
        return "\n".join(table(cols, out)) + "\n"

    def _cmd_osd_tree(self, a: _Args, inbuf: bytes):
        nodes, _ = self._tree_nodes(True)
        doc = {"nodes": nodes[:-1], "stray": nodes[-1]["stray"]}
        return self._out(a, doc, lambda: self._tree_plain(True))

    def _cmd_crush_tree(self, a: _Args, inbuf: bytes):
        nodes, _ = self._tree_nodes(False)
        doc = {"nodes": nodes[:-1], "stray": nodes[-1]["stray"]}
        return self._out(a, doc, lambda: self._tree_plain(False))

    def _cmd_crush_dump(self, a: _Args, inbuf: bytes):
        fmt = a.fmt()
        out = dumps(self._crush_json(), "json" if fmt == "json" else "json-pretty")
        return 0, out if fmt == "json" else out + b"\n", ""

    def _cmd_rule_ls(self, a: _Args, inbuf: bytes):
        names = [r.name for _, r in sorted(self._osdmap.crush.rules.items())]
        return self._out(a, names, lambda: "".join(n + "\n" for n in names))

    def _cmd_rule_dump(self, a: _Args, inbuf: bytes):
        rules = self._crush_json()["rules"]
        name = a.str("name")
        if name:
            match = [r for r in rules if r["rule_name"] == name]
            if not match:
                raise _CmdError(-errno.ENOENT, f"unknown crush rule '{name}'")
            doc: Any = match[0]
        else:
            doc = rules
        fmt = a.fmt()
        out = dumps(doc, "json" if fmt == "json" else "json-pretty")
        return 0, out if fmt == "json" else out + b"\n", ""

    def _cmd_getcrushmap(self, a: _Args, inbuf: bytes):
        # Ceph returns the compiled binary map; we return crushtool's text form.
        from .crush_text import format_crush_text

        return 0, format_crush_text(self._osdmap.crush).encode(), \
            f"got crush map from osdmap epoch {self._osdmap.epoch}"

    def _pool_max_avail(self, pool: Pool) -> tuple[int, int]:
        """(avail_raw, max_avail) of a pool as Ceph's PGMap computes them from the OSDs
        under its rule (each OSD: capacity memstore_device_bytes, nothing used)."""
        m = self._osdmap
        crush = m.crush
        rule = crush.rules.get(pool.crush_rule)
        roots = [s.arg1 for s in rule.steps if s.op == "take"] if rule else []
        weights: dict[int, int] = {}
        for root in roots:
            for osd in crush.subtree_devices(root) if root in crush.buckets else [root]:
                info = m.osds.get(osd)
                if info and info.exists and info.up and info.in_:
                    weights[osd] = self._crush_weight(osd)
        total_w = sum(weights.values())
        if not total_w:
            return 0, 0
        dev = self._device_bytes()
        proj = (min(dev * total_w // w for w in weights.values() if w)
                if any(weights.values()) else 0)
        raw = max(0, int(proj - dev * len(weights) * (1 - m.full_ratio)))
        return raw, raw // max(pool.size, 1)

    def _cmd_df(self, a: _Args, inbuf: bytes):
        m = self._osdmap
        detail = a.str("detail") == "detail"
        cap = self._capacity()
        stats = {"total_bytes": cap, "total_avail_bytes": cap, "total_used_bytes": 0,
                 "total_used_raw_bytes": 0, "total_used_raw_ratio": 0}
        pools = []
        for _, p in sorted(m.pools.items()):
            raw, max_avail = self._pool_max_avail(p)
            st: dict[str, Any] = {"stored": 0, "objects": 0, "kb_used": 0, "bytes_used": 0,
                                  "percent_used": 0, "max_avail": max_avail}
            if detail:
                st = {"stored": 0, "stored_data": 0, "stored_omap": 0, "objects": 0,
                      "kb_used": 0, "bytes_used": 0, "data_bytes_used": 0,
                      "omap_bytes_used": 0, "percent_used": 0, "max_avail": max_avail,
                      "quota_objects": p.quota_max_objects, "quota_bytes": p.quota_max_bytes,
                      "dirty": 0, "rd": 0, "rd_bytes": 0, "wr": 0, "wr_bytes": 0,
                      "compress_bytes_used": 0, "compress_under_bytes": 0, "stored_raw": 0,
                      "avail_raw": raw}
            pools.append({"name": p.name, "id": p.id, "stats": st})
        classes = sorted({d.device_class for d in m.crush.devices.values() if d.device_class})
        doc = {"stats": {**stats, "num_osds": m.num_osds, "num_per_pool_osds": m.num_osds,
                         "num_per_pool_omap_osds": m.num_osds},
               "stats_by_class": {c: dict(stats) for c in classes}, "pools": pools}

        def plain() -> str:
            raw_cols = [("CLASS", LEFT, LEFT)] + [(h, RIGHT, RIGHT) for h in
                                                   ("SIZE", "AVAIL", "USED", "RAW USED",
                                                    "%RAW USED")]
            row = [byte_u(cap), byte_u(cap), "0 B", "0 B", "0"]
            raw_rows = [[c] + row for c in classes] + [["TOTAL"] + row]
            heads = ["ID", "PGS", "STORED", "OBJECTS", "USED", "%USED", "MAX AVAIL"]
            if detail:
                heads = ["ID", "PGS", "STORED", "(DATA)", "(OMAP)", "OBJECTS", "USED", "(DATA)",
                         "(OMAP)", "%USED", "MAX AVAIL", "QUOTA OBJECTS", "QUOTA BYTES",
                         "DIRTY", "USED COMPR", "UNDER COMPR"]
            pool_cols = [("POOL", LEFT, LEFT)] + [(h, RIGHT, RIGHT) for h in heads]
            prow = []
            for p, e in zip([p for _, p in sorted(m.pools.items())], pools):
                avail = byte_u(e["stats"]["max_avail"])
                if detail:
                    prow.append([p.name, p.id, p.pg_num, "0 B", "0 B", "0 B", 0, "0 B", "0 B",
                                 "0 B", "0", avail,
                                 si_u(p.quota_max_objects) if p.quota_max_objects else "N/A",
                                 byte_u(p.quota_max_bytes) if p.quota_max_bytes else "N/A",
                                 "N/A", "0 B", "0 B"])
                else:
                    prow.append([p.name, p.id, p.pg_num, "0 B", 0, "0 B", "0", avail])
            return ("--- RAW STORAGE ---\n" + "\n".join(table(raw_cols, raw_rows)) +
                    "\n \n--- POOLS ---\n" + "\n".join(table(pool_cols, prow)) + "\n")
        return self._out(a, doc, plain)

    def _osd_json(self, osd: int) -> dict:
        i = self._osdmap.osds[osd]
        addrvec = {"addrvec": [{"type": "v2", "addr": i.addr.split("/")[0],
                                "nonce": int(i.addr.split("/")[1]) if "/" in i.addr else 0}]}
        return {"osd": osd, "uuid": i.uuid, "up": int(i.up), "in": int(i.in_),
                "weight": num(i.weight), "primary_affinity": num(i.primary_affinity),
                "last_clean_begin": 0, "last_clean_end": 0, "up_from": i.up_from,
                "up_thru": i.up_thru, "down_at": i.down_at, "lost_at": 0,
                "public_addrs": addrvec, "cluster_addrs": addrvec,
                "heartbeat_back_addrs": addrvec, "heartbeat_front_addrs": addrvec,
                "public_addr": i.addr, "cluster_addr": i.addr, "heartbeat_back_addr": i.addr,
                "heartbeat_front_addr": i.addr,
                "state": ["exists", "up"] if i.up else (["exists"] if i.exists else [])}

    def _flag_bits(self) -> int:
        return sum(OSDMAP_FLAGS[f] for f in self._osdmap.flags if f in OSDMAP_FLAGS)

    def _cmd_osd_dump(self, a: _Args, inbuf: bytes):
        m = self._osdmap
        flag_str = ",".join(f for f in OSDMAP_FLAGS if f in m.flags)

        def pairs(table_: dict) -> list:
            return [{"pgid": _pgid(*k), "osds": list(v)} for k, v in sorted(table_.items())]

        self._expire_blocklist()
        doc = {
            "epoch": m.epoch, "fsid": m.fsid, "created": stamp(m.created),
            "modified": stamp(m.modified), "last_up_change": stamp(m.last_up_change),
            "last_in_change": stamp(m.last_in_change), "flags": flag_str,
            "flags_num": self._flag_bits(), "flags_set": sorted(m.flags),
            "crush_version": m.crush_version, "full_ratio": m.full_ratio,
            "backfillfull_ratio": m.backfillfull_ratio, "nearfull_ratio": m.nearfull_ratio,
            "cluster_snapshot": "", "pool_max": m.pool_max, "max_osd": m.max_osd,
            "require_min_compat_client": "luminous", "min_compat_client": "jewel",
            "require_osd_release": "pacific",
            "pools": [self._pool_json(p, "pool") for _, p in sorted(m.pools.items())],
            "osds": [self._osd_json(o) for o in sorted(m.osds)],
            "osd_xinfo": [{"osd": o, "down_stamp": stamp(i.down_stamp) if i.down_stamp
                           else "0.000000", "laggy_probability": 0, "laggy_interval": 0,
                           "features": 4540138314316775423, "old_weight": 0,
                           "last_purged_snaps_scrub": stamp(m.created), "dead_epoch": 0}
                          for o, i in sorted(m.osds.items())],
            "pg_upmap": pairs(m.pg_upmap),
            "pg_upmap_items": [{"pgid": _pgid(*k), "mappings": [{"from": f, "to": t}
                                                               for f, t in v]}
                               for k, v in sorted(m.pg_upmap_items.items())],
            "pg_temp": pairs(m.pg_temp),
            "primary_temp": [{"pgid": _pgid(*k), "osd": v}
                             for k, v in sorted(m.primary_temp.items())],
            "blocklist": {addr: stamp(t) for addr, t in sorted(m.blocklist.items())},
            "range_blocklist": {},
            "erasure_code_profiles": {"default": {"k": "2", "m": "2", "plugin": "jerasure",
                                                  "technique": "reed_sol_van"}},
            "removed_snaps_queue": [], "new_removed_snaps": [], "new_purged_snaps": [],
            "crush_node_flags": {}, "device_class_flags": {},
            "stretch_mode": {"stretch_mode_enabled": False, "stretch_bucket_count": 0,
                             "degraded_stretch_mode": 0, "recovering_stretch_mode": 0,
                             "stretch_mode_bucket": 0}}

        def plain() -> str:
            lines = [f"epoch {m.epoch}", f"fsid {m.fsid}", f"created {stamp(m.created)}",
                     f"modified {stamp(m.modified)}", f"flags {flag_str}",
                     f"crush_version {m.crush_version}", f"full_ratio {gnum(m.full_ratio)}",
                     f"backfillfull_ratio {gnum(m.backfillfull_ratio)}",
                     f"nearfull_ratio {gnum(m.nearfull_ratio)}",
                     "require_min_compat_client luminous", "min_compat_client jewel",
                     "require_osd_release pacific", "stretch_mode_enabled false"]
            lines += [self._pool_plain(p) for _, p in sorted(m.pools.items())]
            lines.append(f"max_osd {m.max_osd}")
            for o, i in sorted(m.osds.items()):
                line = (f"osd.{o} {'up  ' if i.up else 'down'} {'in ' if i.in_ else 'out'} "
                        f"weight {gnum(i.weight)}")
                if i.primary_affinity != 1.0:
                    line += f" primary_affinity {gnum(i.primary_affinity)}"
                line += (f" up_from {i.up_from} up_thru {i.up_thru} down_at {i.down_at} "
                         f"last_clean_interval [0,0) [v2:{i.addr}] [v2:{i.addr}] "
                         f"{'exists,up' if i.up else 'exists'} {i.uuid}")
                lines.append(line)
            for k, v in sorted(m.pg_upmap.items()):
                lines.append(f"pg_upmap {_pgid(*k)} {osd_list(v)}")
            for k, v in sorted(m.pg_upmap_items.items()):
                lines.append(f"pg_upmap_items {_pgid(*k)} "
                             f"[{','.join(f'{f},{t}' for f, t in v)}]")
            for k, v in sorted(m.pg_temp.items()):
                lines.append(f"pg_temp {_pgid(*k)} {osd_list(v)}")
            for k, v in sorted(m.primary_temp.items()):
                lines.append(f"primary_temp {_pgid(*k)} {v}")
            for addr, t in sorted(m.blocklist.items()):
                lines.append(f"blocklist {addr} expires {stamp(t)}")
            return "\n".join(lines) + "\n"
        return self._out(a, doc, plain)

    def _cmd_osd_ls(self, a: _Args, inbuf: bytes):
        ids = [o for o, i in sorted(self._osdmap.osds.items()) if i.exists]
        return self._out(a, ids, lambda: "".join(f"{o}\n" for o in ids))

    def _cmd_fsid(self, a: _Args, inbuf: bytes):
        fsid = self._osdmap.fsid
        return self._out(a, {"fsid": fsid}, fsid + "\n")

    def _cmd_version(self, a: _Args, inbuf: bytes):
        # the monitor's own `version` answers with release details beside the string
        # Like Ceph's daemons' `version` (a tell command), it answers JSON unless asked plain.
        doc = {"version": CEPH_VERSION, "release": "pacific", "release_type": "stable"}
        plain = CEPH_VERSION + "\n" if a.str("format") == "plain" else None
        return self._out(a, doc, plain)

    def _cmd_mon_dump(self, a: _Args, inbuf: bytes):
        wanted = a.int("epoch") if a.has("epoch") else None
        if wanted not in (None, 1):
            return -errno.ENOENT, b"", f"there is no monmap epoch {wanted}"
        created = self._osdmap.created
        doc = {"epoch": 1, "fsid": self._osdmap.fsid, "modified": stamp_z(created),
               "created": stamp_z(created), "min_mon_release": 16,
               "min_mon_release_name": "pacific", "election_strategy": 1,
               "disallowed_leaders: ": "", "stretch_mode": False, "tiebreaker_mon": "",
               "removed_ranks: ": "",
               "features": {"persistent": ["kraken", "luminous", "mimic", "osdmap-prune",
                                           "nautilus", "octopus", "pacific",
                                           "elector-pinging"], "optional": []},
               "mons": [{"rank": 0, "name": MON_NAME,
                         "public_addrs": {"addrvec": [{"type": "v2", "addr": MON_ADDR,
                                                       "nonce": 0}]},
                         "addr": f"{MON_ADDR}/0", "public_addr": f"{MON_ADDR}/0",
                         "priority": 0, "weight": 0, "crush_location": "{}"}],
               "quorum": [0]}
        plain = (f"epoch 1\nfsid {self._osdmap.fsid}\nlast_changed {stamp(created)}\n"
                 f"created {stamp(created)}\nmin_mon_release 16 (pacific)\n"
                 f"election_strategy: 1\n0: v2:{MON_ADDR}/0 mon.{MON_NAME}\n")
        return self._out(a, doc, plain, outs="dumped monmap epoch 1")
