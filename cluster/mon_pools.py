"""Pool commands of the monitor: `osd pool create|delete|rm|ls|get|set|set-quota|get-quota|
rename|stats|mksnap|rmsnap`, `osd pool application enable|disable|get|set|rm` and
`osd lspools`.

`PoolCommands` is a mixin of `MonitorCore`, kept apart from monitor.py so that each module
stays small. It reads the core's `_osdmap` and `options` and changes pools only through the
core's `_pending`/`_publish`, so a change is one new epoch. The core's internal calls
`pool_create`/`pool_delete` go through `_pool_create`/`_pool_delete` here, so librados and
the CLI meet the same checks (pg_num against `mon_max_pg_per_osd`, size, rule,
`mon_allow_pool_delete`); `osd dump` (mon_osd_commands.py) shows pools with `_pool_json`
and `_pool_plain`.
"""
from __future__ import annotations

import errno
import re
from typing import Any, Iterable, Optional

from .osdmap import FLAG_HASHPSPOOL, POOL_FLAGS, Pool, first_replicated_rule
from .mon_format import _Args, _CmdError, _einval, _parse_iec, byte_u, dumps, si_u, stamp

_BOOL_POOL_VARS = ("hashpspool", "nodelete", "nopgchange", "nosizechange",
                   "write_fadvise_dontneed", "noscrub", "nodeep-scrub", "bulk")


class PoolCommands:
    # == pools ================================================================================
    def _pool_arg(self, a: _Args, name: str = "pool") -> Pool:
        pname = a.str(name, required=True)
        pool = self._osdmap.get_pool(pname)
        if pool is None:
            raise _CmdError(-errno.ENOENT, f"unrecognized pool '{pname}'")
        return pool

    def _rule_name(self, rule_id: int) -> str:
        rule = self._osdmap.crush.rules.get(rule_id)
        return rule.name if rule is not None else str(rule_id)

    def _min_size_for(self, size: int) -> int:
        configured = int(self.options.get("osd_pool_default_min_size", 0))
        return min(configured, size) if configured else size - size // 2

    def _check_pg_num(self, pool_id: int, pg_num: int, size: int) -> None:
        m = self._osdmap
        per_osd = int(self.options["mon_max_pg_per_osd"])
        num_osds = max(m.num_in_osds, 3)
        max_pgs = per_osd * num_osds
        projected = pg_num * size if pool_id < 0 else 0
        for pid, p in m.pools.items():
            if pid == pool_id:
                projected += pg_num * size
            else:
                projected += max(p.pg_num, p.pg_num_target) * p.size
        if projected > max_pgs:
            who = f"pool id {pool_id}" if pool_id >= 0 else ""     # Ceph: " pg_num" for new pools
            raise _CmdError(-errno.ERANGE,
                            f"{who} pg_num {pg_num} size {size} would mean {projected} total pgs, "
                            f"which exceeds max {max_pgs} (mon_max_pg_per_osd {per_osd} * "
                            f"num_in_osds {num_osds})")

    def _pool_create(self, name: Any, pg_num: int, pgp_num: int, size: Optional[int],
                     rule: Optional[str | int], pool_type: Optional[str],
                     application: Optional[str] = None) -> tuple[int, str]:
        if not isinstance(name, str) or not name:
            raise _einval("(22) Invalid argument")
        pool_type = pool_type or "replicated"
        if pool_type not in ("replicated", "erasure"):
            raise _einval(f"unknown pool type '{pool_type}'")
        if name in self._osdmap.pool_names:
            raise _CmdError(-errno.EEXIST, f"pool '{name}' already exists")
        if pool_type == "erasure":
            raise _CmdError(-errno.EOPNOTSUPP, "erasure-coded pools are not supported")
        max_pg = int(self.options["mon_max_pool_pg_num"])
        if pg_num == 0:
            pg_num = int(self.options["osd_pool_default_pg_num"])
        if pg_num < 0 or pg_num > max_pg:
            raise _CmdError(-errno.ERANGE,
                            f"'pg_num' must be greater than 0 and less than or equal to {max_pg}"
                            f" (you may adjust 'mon max pool pg num' for higher values)")
        if pgp_num == 0:
            pgp_num = int(self.options["osd_pool_default_pgp_num"]) or pg_num
            pgp_num = min(pgp_num, pg_num)
        if pgp_num < 0 or pgp_num > pg_num:
            raise _CmdError(-errno.ERANGE,
                            f"'pgp_num' must be greater than 0 and lower or equal than "
                            f"'pg_num', which in this case is {pg_num}")
        crush = self._osdmap.crush
        if rule is None or rule == "":
            rule_id = int(self.options["osd_pool_default_crush_rule"])
            if rule_id < 0:
                rule_id = first_replicated_rule(crush)
        elif isinstance(rule, int):
            if rule not in crush.rules:
                raise _CmdError(-errno.ENOENT, f"specified rule {rule} doesn't exist")
            rule_id = rule
        else:
            try:
                rule_id = crush.rule_by_name(rule).id
            except KeyError:
                raise _CmdError(-errno.ENOENT, f"specified rule {rule} doesn't exist") from None
        if size is None or size == 0:
            size = int(self.options["osd_pool_default_size"])
        if not 1 <= size <= 10:
            raise _einval("pool size must be between 1 and 10")
        self._check_pg_num(-1, pg_num, size)
        m = self._pending()
        m.pool_max += 1
        hashpspool = bool(self.options["osd_pool_default_flag_hashpspool"])
        pool = Pool(id=m.pool_max, name=name, size=size, min_size=self._min_size_for(size),
                    pg_num=pg_num, pgp_num=pgp_num, pg_num_target=pg_num,
                    pgp_num_target=pgp_num, crush_rule=rule_id,
                    flags=FLAG_HASHPSPOOL if hashpspool else 0, last_change=m.epoch,
                    create_time=self.clock())
        if application:
            pool.application_metadata[application] = {}
        m.pools[pool.id] = pool
        m.pool_names[name] = pool.id
        self._publish(m)
        return pool.id, f"pool '{name}' created"

    def _pool_delete(self, name: str) -> str:
        pool = self._osdmap.get_pool(name)
        if not self.options.get("mon_allow_pool_delete"):
            raise _CmdError(-errno.EPERM,
                            "pool deletion is disabled; you must first set the "
                            "mon_allow_pool_delete config option to true before you can "
                            "destroy a pool")
        if pool.has_flag("nodelete"):
            raise _CmdError(-errno.EPERM, "pool deletion is disabled; you must unset "
                                          "nodelete flag for the pool first")
        m = self._pending()
        del m.pools[pool.id]
        del m.pool_names[pool.name]
        m.namespaces.pop(pool.id, None)
        for by_pg in (m.pg_upmap, m.pg_upmap_items, m.pg_temp, m.primary_temp):
            for key in [k for k in by_pg if k[0] == pool.id]:
                del by_pg[key]
        self._publish(m)
        return f"pool '{name}' removed"

    def _cmd_pool_create(self, a: _Args, inbuf: bytes):
        name = a.str("pool", required=True)
        rule = a.str("rule") or a.str("erasure_code_profile_rule") or None
        try:
            _, outs = self._pool_create(name, a.int("pg_num", 0), a.int("pgp_num", 0),
                                        a.int("size"), rule, a.str("pool_type"))
        except _CmdError as exc:
            if exc.ret == -errno.EEXIST:
                return 0, b"", exc.outs          # Ceph: creating an existing pool is a no-op
            raise
        return 0, b"", outs

    def _cmd_pool_delete(self, a: _Args, inbuf: bytes):
        name = a.str("pool", required=True)
        if self._osdmap.get_pool(name) is None:
            return 0, b"", f"pool '{name}' does not exist"
        sure = a.flag("yes_i_really_really_mean_it") or \
            a.cmd.get("sure") == "--yes-i-really-really-mean-it"
        if a.str("pool2") != name or not sure:
            raise _CmdError(-errno.EPERM,
                            f"WARNING: this will *PERMANENTLY DESTROY* all data stored in pool "
                            f"{name}.  If you are *ABSOLUTELY CERTAIN* that is what you want, "
                            f"pass the pool name *twice*, followed by "
                            f"--yes-i-really-really-mean-it.")
        return 0, b"", self._pool_delete(name)

    def _pool_json(self, p: Pool, id_key: str) -> dict:
        return {
            id_key: p.id, "pool_name": p.name, "create_time": stamp(p.create_time),
            "flags": p.flags, "flags_names": p.flag_names(),
            "type": 3 if p.erasure else 1, "size": p.size, "min_size": p.min_size,
            "crush_rule": p.crush_rule, "peering_crush_bucket_count": 0,
            "peering_crush_bucket_target": 0, "peering_crush_bucket_barrier": 0,
            "peering_crush_bucket_mandatory_member": 2147483647, "object_hash": p.object_hash,
            "pg_autoscale_mode": p.pg_autoscale_mode, "pg_num": p.pg_num,
            "pg_placement_num": p.pgp_num, "pg_placement_num_target": p.pgp_num_target,
            "pg_num_target": p.pg_num_target, "pg_num_pending": p.pg_num,
            "last_pg_merge_meta": {"source_pgid": "0.0", "ready_epoch": 0,
                                   "last_epoch_started": 0, "last_epoch_clean": 0,
                                   "source_version": "0'0", "target_version": "0'0"},
            "last_change": str(p.last_change), "last_force_op_resend": "0",
            "last_force_op_resend_prenautilus": "0", "last_force_op_resend_preluminous": "0",
            "auid": p.auid, "snap_mode": "pool" if p.snap_mode == "pool" else "selfmanaged",
            "snap_seq": p.snap_seq, "snap_epoch": p.snap_epoch,
            "pool_snaps": [{"snapid": sid, "stamp": stamp(st), "name": nm}
                           for sid, (nm, st) in sorted(p.snaps.items())],
            "removed_snaps": "[]", "quota_max_bytes": p.quota_max_bytes,
            "quota_max_objects": p.quota_max_objects, "tiers": [], "tier_of": -1,
            "read_tier": -1, "write_tier": -1, "cache_mode": "none", "target_max_bytes": 0,
            "target_max_objects": 0, "cache_target_dirty_ratio_micro": 400000,
            "cache_target_dirty_high_ratio_micro": 600000,
            "cache_target_full_ratio_micro": 800000, "cache_min_flush_age": 0,
            "cache_min_evict_age": 0, "erasure_code_profile": "",
            "hit_set_params": {"type": "none"}, "hit_set_period": 0, "hit_set_count": 0,
            "use_gmt_hitset": True, "min_read_recency_for_promote": 0,
            "min_write_recency_for_promote": 0, "hit_set_grade_decay_rate": 0,
            "hit_set_search_last_n": 0, "grade_table": [], "stripe_width": 0,
            "expected_num_objects": 0, "fast_read": False, "options": {},
            "application_metadata": {k: dict(v) for k, v in p.application_metadata.items()},
        }

    @staticmethod
    def _intervals(ids: Iterable[int]) -> str:
        out, run = [], None
        for i in sorted(ids):
            if run and i == run[0] + run[1]:
                run[1] += 1
            else:
                if run:
                    out.append(f"{run[0]:x}~{run[1]:x}")
                run = [i, 1]
        if run:
            out.append(f"{run[0]:x}~{run[1]:x}")
        return "[" + ",".join(out) + "]"

    def _pool_plain(self, p: Pool) -> str:
        line = (f"pool {p.id} '{p.name}' {p.type} size {p.size} min_size {p.min_size} "
                f"crush_rule {p.crush_rule} object_hash rjenkins pg_num {p.pg_num} "
                f"pgp_num {p.pgp_num}")
        if p.pg_num_target != p.pg_num:
            line += f" pg_num_target {p.pg_num_target}"
        if p.pgp_num_target != p.pgp_num:
            line += f" pgp_num_target {p.pgp_num_target}"
        line += f" autoscale_mode {p.pg_autoscale_mode} last_change {p.last_change}"
        if p.flags:
            line += f" flags {p.flag_names()}"
        if p.quota_max_bytes:
            line += f" max_bytes {p.quota_max_bytes}"
        if p.quota_max_objects:
            line += f" max_objects {p.quota_max_objects}"
        line += " stripe_width 0"
        if p.application_metadata:
            line += " application " + ",".join(sorted(p.application_metadata))
        lines = [line]
        for sid, (nm, st) in sorted(p.snaps.items()):
            lines.append(f"\tsnap {sid} '{nm}' {stamp(st)}")
        if p.removed_snaps:
            lines.append(f"\tremoved_snaps_queue {self._intervals(p.removed_snaps)}")
        return "\n".join(lines)

    def _cmd_pool_ls(self, a: _Args, inbuf: bytes):
        pools = [self._osdmap.pools[i] for i in sorted(self._osdmap.pools)]
        if a.str("detail") == "detail":
            return self._out(a, [self._pool_json(p, "pool_id") for p in pools],
                             lambda: "".join(self._pool_plain(p) + "\n" for p in pools) + "\n")
        return self._out(a, [p.name for p in pools],
                         lambda: "".join(p.name + "\n" for p in pools))

    def _cmd_lspools(self, a: _Args, inbuf: bytes):
        pools = [self._osdmap.pools[i] for i in sorted(self._osdmap.pools)]
        return self._out(a, [{"poolnum": p.id, "poolname": p.name} for p in pools],
                         lambda: "".join(f"{p.id} {p.name}\n" for p in pools))

    def _pool_var(self, p: Pool, var: str) -> Any:
        if var in ("size", "min_size", "pg_num", "pgp_num"):
            return getattr(p, var)
        if var == "crush_rule":
            return self._rule_name(p.crush_rule)
        if var in _BOOL_POOL_VARS:
            return p.has_flag(var)
        if var == "fast_read":
            return 0
        if var == "use_gmt_hitset":
            return True
        if var == "pg_autoscale_mode":
            return p.pg_autoscale_mode
        if var == "target_size_bytes":
            return 0
        raise KeyError(var)

    _ALL_VARS = ("size", "min_size", "pg_num", "pgp_num", "crush_rule", "hashpspool",
                 "nodelete", "nopgchange", "nosizechange", "write_fadvise_dontneed", "noscrub",
                 "nodeep-scrub", "use_gmt_hitset", "fast_read", "pg_autoscale_mode", "bulk")

    @staticmethod
    def _plain_value(v: Any) -> str:
        if v is True:
            return "true"
        if v is False:
            return "false"
        return str(v)

    def _cmd_pool_get(self, a: _Args, inbuf: bytes):
        p = self._pool_arg(a)
        var = a.str("var", "")
        if var == "all":
            values = {v: self._pool_var(p, v) for v in self._ALL_VARS}
        else:
            try:
                values = {var: self._pool_var(p, var)}
            except KeyError:
                raise _einval(f"pool '{p.name}': invalid variable: '{var}'") from None
        doc = {"pool": p.name, "pool_id": p.id, **values}
        return self._out(a, doc, lambda: "".join(
            f"{k}: {1 if k == 'use_gmt_hitset' else self._plain_value(v)}\n"
            for k, v in values.items()))

    def _cmd_pool_set(self, a: _Args, inbuf: bytes):
        p = self._pool_arg(a)
        var = a.str("var", required=True)
        val = a.str("val", required=True)
        m = self._pending()
        q = m.pools[p.id]

        def as_int() -> int:
            try:
                return int(val)
            except ValueError:
                raise _einval(f"error parsing integer value '{val}': Expected option value "
                              f"to be integer, got '{val}'") from None

        if var == "size":
            n = as_int()
            if n == 1 and not self.options.get("mon_allow_pool_size_one"):
                raise _CmdError(-errno.EPERM, "configuring pool size as 1 is disabled by default.")
            if not 1 <= n <= 10:
                raise _einval("pool size must be between 1 and 10")
            if n == 1 and not a.sure():
                raise _CmdError(-errno.EPERM,
                                "WARNING: setting pool size 1 could lead to data loss without "
                                "recovery. If you are *ABSOLUTELY CERTAIN* that is what you want,"
                                " pass the flag --yes-i-really-mean-it.")
            if p.has_flag("nosizechange"):
                raise _CmdError(-errno.EPERM, "pool size change is disabled; you must unset "
                                              "nosizechange flag for the pool first")
            self._check_pg_num(p.id, p.pg_num, n)
            q.size = n
            q.min_size = self._min_size_for(n)
        elif var == "min_size":
            n = as_int()
            if not 1 <= n <= p.size:
                raise _einval(f"pool min_size must be between 1 and size, which is set to "
                              f"{p.size}")
            q.min_size = n
        elif var in ("pg_num", "pg_num_actual"):
            n = as_int()
            max_pg = int(self.options["mon_max_pool_pg_num"])
            if p.has_flag("nopgchange"):
                raise _CmdError(-errno.EPERM, "pool pg_num change is disabled; you must unset "
                                              "nopgchange flag for the pool first")
            if n <= 0 or n > max_pg:
                raise _CmdError(-errno.ERANGE,
                                f"'pg_num' must be greater than 0 and less than or equal to "
                                f"{max_pg} (you may adjust 'mon max pool pg num' for higher "
                                f"values)")
            self._check_pg_num(p.id, n, p.size)
            q.pg_num = q.pg_num_target = n
            if q.pgp_num > n:
                q.pgp_num = q.pgp_num_target = n
        elif var in ("pgp_num", "pgp_num_actual"):
            n = as_int()
            if p.has_flag("nopgchange"):
                raise _CmdError(-errno.EPERM, "pool pgp_num change is disabled; you must unset "
                                              "nopgchange flag for the pool first")
            if n <= 0:
                raise _einval("specified pgp_num must > 0, but you set to " + str(n))
            if n > p.pg_num:
                raise _einval(f"specified pgp_num {n} > pg_num {p.pg_num}")
            q.pgp_num = q.pgp_num_target = n
        elif var == "crush_rule":
            crush = m.crush
            rule = None
            if val in (r.name for r in crush.rules.values()):
                rule = crush.rule_by_name(val)
            elif re.fullmatch(r"\d+", val) and int(val) in crush.rules:
                rule = crush.rules[int(val)]
            if rule is None:
                raise _CmdError(-errno.ENOENT, f"crush rule {val} does not exist")
            if rule.type != ("erasure" if p.erasure else "replicated"):
                raise _einval(f"crush rule {val} type does not match pool")
            q.crush_rule = rule.id
        elif var in _BOOL_POOL_VARS:
            low = val.lower()
            if low not in ("true", "false", "1", "0", "yes", "no"):
                raise _einval("expecting value 'true', 'false', '0', or '1'")
            on = low in ("true", "1", "yes")
            if var == "hashpspool" and on != p.hashpspool and not a.sure():
                raise _CmdError(-errno.EPERM,
                                "are you SURE?  this will remap all placement groups in this "
                                "pool, this triggers large data movement, pass "
                                "--yes-i-really-mean-it if you really do.")
            bit = POOL_FLAGS[var]
            q.flags = (q.flags | bit) if on else (q.flags & ~bit)
        elif var == "pg_autoscale_mode":
            if val not in ("off", "warn", "on"):
                raise _einval(f"specified invalid mode {val}")
            q.pg_autoscale_mode = val
        else:
            raise _einval(f"unrecognized variable '{var}'")
        q.last_change = m.epoch
        self._publish(m)
        return 0, b"", f"set pool {p.id} {var} to {val}"

    def _cmd_set_quota(self, a: _Args, inbuf: bytes):
        p = self._pool_arg(a)
        field = a.str("field", required=True)
        val = a.str("val", required=True)
        if field not in ("max_objects", "max_bytes"):
            raise _einval(f"unrecognized field '{field}'; should be 'max_bytes' or 'max_objects'")
        try:
            n = _parse_iec(val)
        except ValueError as exc:
            raise _einval(f"error parsing value '{val}': {exc}") from None
        m = self._pending()
        q = m.pools[p.id]
        setattr(q, "quota_" + field, n)
        q.last_change = m.epoch
        self._publish(m)
        return 0, b"", f"set-quota {field} = {n} for pool {p.name}"

    def _cmd_get_quota(self, a: _Args, inbuf: bytes):
        p = self._pool_arg(a)
        doc = {"pool_name": p.name, "pool_id": p.id, "quota_max_objects": p.quota_max_objects,
               "current_num_objects": 0, "quota_max_bytes": p.quota_max_bytes,
               "current_num_bytes": 0}

        def plain() -> str:
            objs = (f"{si_u(p.quota_max_objects)} objects  (current num objects: 0 objects)"
                    if p.quota_max_objects else "N/A")
            nbytes = (f"{byte_u(p.quota_max_bytes)}  (current num bytes: 0 bytes)"
                      if p.quota_max_bytes else "N/A")
            return f"quotas for pool '{p.name}':\n  max objects: {objs}\n  max bytes  : {nbytes}\n"
        return self._out(a, doc, plain)

    # -- applications ---------------------------------------------------------------------
    def _cmd_app_enable(self, a: _Args, inbuf: bytes):
        p = self._pool_arg(a)
        app = a.str("app", required=True)
        if app in p.application_metadata:
            return 0, b"", f"enabled application '{app}' on pool '{p.name}'"
        if p.application_metadata and not a.sure():
            raise _CmdError(-errno.EPERM,
                            f"Are you SURE? Pool '{p.name}' already has an enabled application; "
                            f"pass --yes-i-really-mean-it to proceed anyway")
        if not app or len(app) > 128:
            raise _einval(f"application name '{app}' is invalid")
        m = self._pending()
        m.pools[p.id].application_metadata[app] = {}
        m.pools[p.id].last_change = m.epoch
        self._publish(m)
        return 0, b"", f"enabled application '{app}' on pool '{p.name}'"

    def _cmd_app_disable(self, a: _Args, inbuf: bytes):
        p = self._pool_arg(a)
        app = a.str("app", required=True)
        if not a.sure():
            raise _CmdError(-errno.EPERM,
                            "Are you SURE? Disabling an application within a pool might result "
                            "in loss of application functionality; pass --yes-i-really-mean-it "
                            "to proceed anyway")
        if app not in p.application_metadata:
            return 0, b"", f"application '{app}' is not enabled on pool '{p.name}'"
        m = self._pending()
        del m.pools[p.id].application_metadata[app]
        m.pools[p.id].last_change = m.epoch
        self._publish(m)
        return 0, b"", f"disable application '{app}' on pool '{p.name}'"

    def _cmd_app_set(self, a: _Args, inbuf: bytes):
        p = self._pool_arg(a)
        app = a.str("app", required=True)
        key = a.str("key", required=True)
        value = a.str("value", required=True)
        if app not in p.application_metadata:
            raise _CmdError(-errno.ENOENT, f"application '{app}' is not enabled on pool "
                                           f"'{p.name}'")
        m = self._pending()
        m.pools[p.id].application_metadata[app][key] = value
        m.pools[p.id].last_change = m.epoch
        self._publish(m)
        return 0, b"", f"set application '{app}' key '{key}' to '{value}' on pool '{p.name}'"

    def _cmd_app_rm(self, a: _Args, inbuf: bytes):
        p = self._pool_arg(a)
        app = a.str("app", required=True)
        key = a.str("key", required=True)
        if app not in p.application_metadata:
            raise _CmdError(-errno.ENOENT, f"application '{app}' is not enabled on pool "
                                           f"'{p.name}'")
        if key not in p.application_metadata[app]:
            return 0, b"", f"application '{app}' on pool '{p.name}' does not have key '{key}'"
        m = self._pending()
        del m.pools[p.id].application_metadata[app][key]
        m.pools[p.id].last_change = m.epoch
        self._publish(m)
        return 0, b"", f"removed application '{app}' key '{key}' on pool '{p.name}'"

    def _cmd_app_get(self, a: _Args, inbuf: bytes):
        p = self._pool_arg(a)
        app = a.str("app")
        key = a.str("key")
        fmt = a.fmt()
        if not app:
            return 0, dumps({k: dict(sorted(v.items())) for k, v in
                             sorted(p.application_metadata.items())}, fmt), ""
        if app not in p.application_metadata:
            raise _CmdError(-errno.ENOENT, f"pool '{p.name}' has no application '{app}'")
        meta = p.application_metadata[app]
        if not key:
            return 0, dumps(dict(sorted(meta.items())), fmt), ""
        if key not in meta:
            raise _CmdError(-errno.ENOENT, f"application '{app}' on pool '{p.name}' does not "
                                           f"have key '{key}'")
        if fmt == "plain":
            return 0, (meta[key] + "\n").encode(), ""
        return 0, dumps({key: meta[key]}, fmt), ""

    # -- pool snapshots, rename, stats ----------------------------------------------------
    def _cmd_mksnap(self, a: _Args, inbuf: bytes):
        p = self._pool_arg(a)
        snap = a.str("snap", required=True)
        if p.snap_mode == "selfmanaged":
            raise _einval(f"pool {p.name} is in unmanaged snaps mode")
        if p.snap_by_name(snap) is not None:
            return 0, b"", f"pool {p.name} snap {snap} already exists"
        ret = self.pool_snap_create(p.id, snap)
        if ret < 0:
            raise _CmdError(ret, f"({-ret}) {errno.errorcode.get(-ret, '')}")
        return 0, b"", f"created pool {p.name} snap {snap}"

    def _cmd_rmsnap(self, a: _Args, inbuf: bytes):
        p = self._pool_arg(a)
        snap = a.str("snap", required=True)
        if p.snap_mode == "selfmanaged":
            raise _einval(f"pool {p.name} is in unmanaged snaps mode")
        if p.snap_by_name(snap) is None:
            return 0, b"", f"pool {p.name} snap {snap} does not exist"
        self.pool_snap_remove(p.id, snap)
        return 0, b"", f"removed pool {p.name} snap {snap}"

    def _cmd_pool_rename(self, a: _Args, inbuf: bytes):
        src = a.str("srcpool", required=True)
        dst = a.str("destpool", required=True)
        m0 = self._osdmap
        if src not in m0.pool_names:
            if dst in m0.pool_names:
                return 0, b"", (f"pool '{src}' does not exist; pool '{dst}' does -- assuming "
                                f"successful rename")
            raise _CmdError(-errno.ENOENT, f"unrecognized pool '{src}'")
        if dst in m0.pool_names:
            raise _CmdError(-errno.EEXIST, f"pool '{dst}' already exists")
        if not dst:
            raise _einval("(22) Invalid argument")
        m = self._pending()
        pid = m.pool_names.pop(src)
        m.pool_names[dst] = pid
        m.pools[pid].name = dst
        m.pools[pid].last_change = m.epoch
        self._publish(m)
        return 0, b"", f"pool '{src}' renamed to '{dst}'"

    def _cmd_pool_stats(self, a: _Args, inbuf: bytes):
        name = a.str("pool_name")
        if name:
            p = self._osdmap.get_pool(name)
            if p is None:
                raise _CmdError(-errno.ENOENT, f"unrecognized pool '{name}'")
            pools = [p]
        else:
            pools = [self._osdmap.pools[i] for i in sorted(self._osdmap.pools)]
        doc = [{"pool_name": p.name, "pool_id": p.id, "recovery": {}, "recovery_rate": {},
                "client_io_rate": {}} for p in pools]
        return self._out(a, doc, lambda: "".join(
            f"pool {p.name} id {p.id}\n  nothing is going on\n\n" for p in pools))
