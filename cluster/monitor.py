"""The monitor core: the cluster map service and Ceph's monitor commands, without Ray.

`MonitorCore` holds the current OSDMap and answers `handle_command` (Ceph's JSON commands,
output in Ceph's JSON and plain formats) and the internal calls of the client library.
It has no threads, no Ray and no clock of its own (the `clock` callable is injected).

Invariants:

* the published OSDMap is never mutated: every change is made on
  `osdmap.copy_for_next_epoch()` and published as a new epoch; a command that changes
  nothing publishes nothing;
* `handle_command` never raises: bad JSON, wrong types and handler bugs all become
  `(-errno, b'', message)`;
* other state (config-key store, service map, cluster log, mon config) is not part of
  the OSDMap and changes no epoch;
* gids are unique and increase (clients start at 4100).

The command handlers live in mixins: pg/health/status in mon_status.py (PG states from
the OSDs' reports, or from the map alone before any report), OSD boots, beacons, failure
reports and the map history in mon_failures.py; each OSD reports `memstore_device_bytes`
of capacity and nothing used.
"""
from __future__ import annotations

import errno
import json
import re
import time
from collections import deque
from typing import Any, Callable, Iterable, Optional

from .config import OPTIONS, parse_value, typed_value
from .osdmap import (FLAG_HASHPSPOOL, FLAG_POOL_SNAPS, FLAG_SELFMANAGED_SNAPS, OSDMAP_FLAGS,
                     POOL_FLAGS, SETTABLE_OSDMAP_FLAGS, OSDMap, Pool,
                     first_replicated_rule)
from .mon_format import (LEFT, MON_ADDR, MON_NAME, RIGHT, SEVERITY_RANK, _Args, _CmdError,
                         _einval, _osd_id, _parse_addr, _parse_iec, _pgid, byte_u, dumps, gnum,
                         num, osd_list, si_u, stamp, stamp_z, table, weightf)
from .mon_failures import FailureHandling
from .mon_status import StatusCommands

__all__ = ["MonitorCore", "CEPH_VERSION", "FIRST_GID"]

CEPH_VERSION = "ceph version 16.2.15 (rayceph) pacific (stable)"
FIRST_GID = 4100
LOG_MAX_ENTRIES = 10000
CONFIG_KEY_MAX_ENTRY_BYTES = 65536
DEFAULT_BLOCKLIST_S = 3600.0
_PRIORITIES = {"debug": "[DBG]", "info": "[INF]", "sec": "[SEC]", "warn": "[WRN]",
               "error": "[ERR]"}
_PRIO_RANK = {"[DBG]": 0, "[INF]": 1, "[SEC]": 2, "[WRN]": 3, "[ERR]": 4}
_BOOL_POOL_VARS = ("hashpspool", "nodelete", "nopgchange", "nosizechange",
                   "write_fadvise_dontneed", "noscrub", "nodeep-scrub", "bulk")







# --- the monitor -------------------------------------------------------------------------


class MonitorCore(StatusCommands, FailureHandling):
    """The cluster map service (see the module docstring).

    `osdmap` is the first published map (normally `build_initial_osdmap`); the
    monitor options (pool defaults, `mon_allow_pool_delete`, ...) come from
    `osdmap.bootstrap_options` if the map has them, then from `conf` (a CephConfig)
    if given, else Ceph's defaults. `clock()` returns seconds since the epoch.
    """

    def __init__(self, osdmap: OSDMap, clock: Callable[[], float] = time.time, conf=None):
        self.clock = clock
        self._osdmap = osdmap
        self.options: dict[str, Any] = {name: typed_value(opt, opt.default)
                                        for name, opt in OPTIONS.items()
                                        if not name.startswith("rayceph_")}
        self.options.update(getattr(osdmap, "bootstrap_options", None) or {})
        if conf is not None:
            for name in list(self.options):
                if conf.is_set(name):
                    self.options[name] = conf.get_typed(name)
        self.config_db: dict[tuple[str, str], str] = {}
        self.config_key: dict[str, bytes] = {}
        self._next_gid = FIRST_GID
        self.services: dict[str, dict[str, dict]] = {}
        self.servicemap_epoch = 1
        self.servicemap_modified = clock()
        self._gid_service: dict[int, tuple[str, str]] = {}
        self.log: deque[dict] = deque(maxlen=LOG_MAX_ENTRIES)
        self._log_seq = 0
        self.start_time = clock()
        self._last_health: dict[str, str] = {}
        self._epoch_batch: Optional[list] = None      # [pending map, messages] (_one_epoch)
        from .mon_auth import AuthMonitor
        self.auth = AuthMonitor.attach(self, conf)      # auth none unless conf asks for cephx
        self._handlers = self._command_table()
        self._init_failure_handling()
        self._last_health = {k: v["summary"]["message"]
                             for k, v in self._health_checks(detail=False).items()}

    # == internal API used by the client library ==========================================
    def get_osdmap(self) -> OSDMap:
        """The current (published, immutable) OSDMap."""
        return self._osdmap

    @property
    def osdmap(self) -> OSDMap:
        return self._osdmap

    def alloc_gid(self) -> int:
        """A new client instance id (global id), unique and increasing from 4100."""
        gid = self._next_gid
        self._next_gid += 1
        return gid

    def pool_create(self, name: str, pg_num: Optional[int] = None,
                    pgp_num: Optional[int] = None, size: Optional[int] = None,
                    crush_rule: Optional[str | int] = None,
                    pool_type: str = "replicated", application: Optional[str] = None) -> int:
        """Create a replicated pool; returns its id (> 0) or -errno: -EEXIST if it exists,
        -EINVAL (bad name/type/size), -ERANGE (pg_num limits), -ENOENT (unknown rule)."""
        try:
            return self._pool_create(name, pg_num or 0, pgp_num or 0, size, crush_rule,
                                     pool_type, application)[0]
        except _CmdError as exc:
            return exc.ret

    def pool_delete(self, name: str) -> int:
        """Delete a pool: 0, -ENOENT if missing, -EPERM if deletion is disabled."""
        if self._osdmap.get_pool(name) is None:
            return -errno.ENOENT
        try:
            self._pool_delete(name)
        except _CmdError as exc:
            return exc.ret
        return 0

    def selfmanaged_snap_create(self, pool_id: int) -> int:
        """Allocate a self-managed snap id (> 0); -ENOENT no pool, -EINVAL if the pool
        uses pool snapshots. The first id of a pool is 2, as in Ceph."""
        pool = self._osdmap.pools.get(pool_id)
        if pool is None:
            return -errno.ENOENT
        if pool.snap_mode == "pool":
            return -errno.EINVAL
        m = self._pending()
        p = m.pools[pool_id]
        if p.snap_seq == 0:
            p.snap_seq = 1      # Ceph's kludge: the first self-managed snap id is 2
        p.snap_seq += 1
        p.snap_mode = "selfmanaged"
        p.flags |= FLAG_SELFMANAGED_SNAPS
        p.snap_epoch = p.last_change = m.epoch
        self._publish(m)
        return p.snap_seq

    def selfmanaged_snap_remove(self, pool_id: int, snapid: int) -> int:
        """Mark a self-managed snap removed (OSDs then trim it): 0; -ENOENT no pool or an
        id never allocated; -EINVAL if the pool uses pool snapshots. Idempotent."""
        pool = self._osdmap.pools.get(pool_id)
        if pool is None:
            return -errno.ENOENT
        if pool.snap_mode == "pool":
            return -errno.EINVAL
        if not isinstance(snapid, int) or snapid < 1 or snapid > pool.snap_seq:
            return -errno.ENOENT
        if snapid in pool.removed_snaps:
            return 0
        m = self._pending()
        p = m.pools[pool_id]
        p.removed_snaps.add(snapid)
        p.snap_seq += 1
        p.snap_epoch = p.last_change = m.epoch
        self._publish(m)
        return 0

    def pool_snap_create(self, pool_id: int, name: str) -> int:
        """Create pool snapshot `name`: 0; -ENOENT no pool, -EEXIST name taken, -EINVAL
        if the pool uses self-managed snapshots or the name is empty."""
        pool = self._osdmap.pools.get(pool_id)
        if pool is None:
            return -errno.ENOENT
        if pool.snap_mode == "selfmanaged":
            return -errno.EINVAL
        if not isinstance(name, str) or not name:
            return -errno.EINVAL
        if pool.snap_by_name(name) is not None:
            return -errno.EEXIST
        m = self._pending()
        p = m.pools[pool_id]
        p.snap_seq += 1
        p.snaps[p.snap_seq] = (name, self.clock())
        p.snap_mode = "pool"
        p.flags |= FLAG_POOL_SNAPS
        p.snap_epoch = p.last_change = m.epoch
        self._publish(m)
        return 0

    def pool_snap_remove(self, pool_id: int, name: str) -> int:
        """Remove pool snapshot `name`: 0; -ENOENT no pool or no such snapshot, -EINVAL if
        the pool uses self-managed snapshots."""
        pool = self._osdmap.pools.get(pool_id)
        if pool is None:
            return -errno.ENOENT
        if pool.snap_mode == "selfmanaged":
            return -errno.EINVAL
        snapid = pool.snap_by_name(name)
        if snapid is None:
            return -errno.ENOENT
        m = self._pending()
        p = m.pools[pool_id]
        del p.snaps[snapid]
        p.removed_snaps.add(snapid)
        p.snap_seq += 1
        p.snap_epoch = p.last_change = m.epoch
        self._publish(m)
        return 0

    def namespace_add(self, pool_id: int, ns: str) -> int:
        """Register namespace `ns` in the pool: 0; -ENOENT no pool, -EEXIST registered,
        -EINVAL empty or non-str name."""
        if pool_id not in self._osdmap.pools:
            return -errno.ENOENT
        if not isinstance(ns, str) or not ns:
            return -errno.EINVAL
        if ns in self._osdmap.namespaces.get(pool_id, ()):
            return -errno.EEXIST
        m = self._pending()
        m.namespaces.setdefault(pool_id, set()).add(ns)
        self._publish(m)
        return 0

    def namespace_remove(self, pool_id: int, ns: str) -> int:
        """Unregister namespace `ns`: 0; -ENOENT no pool or not registered."""
        if pool_id not in self._osdmap.pools or \
                ns not in self._osdmap.namespaces.get(pool_id, ()):
            return -errno.ENOENT
        m = self._pending()
        m.namespaces[pool_id].discard(ns)
        if not m.namespaces[pool_id]:
            del m.namespaces[pool_id]
        self._publish(m)
        return 0

    def namespace_list(self, pool_id: int) -> list[str] | int:
        """The pool's registered namespaces, sorted; -ENOENT if there is no such pool."""
        if pool_id not in self._osdmap.pools:
            return -errno.ENOENT
        return sorted(self._osdmap.namespaces.get(pool_id, ()))

    def set_osd_state(self, osd_id: int, up: Optional[bool] = None,
                      in_: Optional[bool] = None) -> int:
        """Mark an OSD up/down and/or in/out (None = leave): 0, -ENOENT if it does not
        exist. A new epoch only if something changed; `noup` keeps a down OSD down."""
        info = self._osdmap.osds.get(osd_id)
        if info is None or not info.exists:
            return -errno.ENOENT
        changed = (up is not None and up != info.up) or (in_ is not None and in_ != info.in_)
        if up and not info.up and "noup" in self._osdmap.flags:
            if in_ is None or in_ == info.in_:
                return 0
            up = None
        if not changed:
            return 0
        m = self._pending()
        messages = []
        if up is not None and up != info.up:
            self._mark_up(m, osd_id, up)
            messages.append(f"osd.{osd_id} {'boot' if up else 'marked down'}")
        if in_ is not None and in_ != info.in_:
            self._mark_in(m, osd_id, in_)
            messages.append(f"osd.{osd_id} marked {'in' if in_ else 'out'}")
        self._publish(m, messages)
        return 0

    def service_daemon_register(self, gid: int, service: str, daemon: str,
                                metadata: Optional[dict] = None) -> int:
        """Register (or re-register) daemon `daemon` of `service` for client `gid`: 0;
        -EINVAL for empty names."""
        if not isinstance(service, str) or not isinstance(daemon, str) or not service or \
                not daemon:
            return -errno.EINVAL
        now = self.clock()
        self.services.setdefault(service, {})[daemon] = {
            "start_epoch": self.servicemap_epoch + 1, "start_stamp": stamp(now), "gid": gid,
            "addr": f"127.0.0.1:0/{gid}", "metadata": dict(metadata or {}), "task_status": {}}
        self._gid_service[gid] = (service, daemon)
        self._bump_servicemap()
        return 0

    def service_daemon_update(self, gid: int, status: Optional[dict] = None) -> int:
        """Replace the status of the daemon `gid` registered: 0; -ENOENT if it has none."""
        key = self._gid_service.get(gid)
        if key is None or key[1] not in self.services.get(key[0], {}):
            return -errno.ENOENT
        self.services[key[0]][key[1]]["task_status"] = dict(status or {})
        self._bump_servicemap()
        return 0

    def events(self, since_seq: int = 0, channel: Optional[str] = "cluster") -> list[dict]:
        """Cluster log entries with seq > since_seq (all channels with channel None)."""
        return [dict(e) for e in self.log
                if e["seq"] > since_seq and (channel is None or e["channel"] == channel)]

    def health(self, detail: bool = False) -> dict:
        """Ceph's health JSON: {status, checks: {NAME: {severity, summary, detail?, muted}},
        mutes}."""
        checks = self._health_checks(detail)
        status = "HEALTH_OK"
        for check in checks.values():
            if SEVERITY_RANK[check["severity"]] > SEVERITY_RANK[status]:
                status = check["severity"]
        return {"status": status, "checks": checks, "mutes": []}

    # == map changes ========================================================================
    def _pending(self) -> OSDMap:
        batch = self._epoch_batch
        if batch is not None:
            if batch[0] is None:
                batch[0] = self._osdmap.copy_for_next_epoch(self.clock())
            return batch[0]
        return self._osdmap.copy_for_next_epoch(self.clock())

    def _publish(self, new: OSDMap, messages: Iterable[str] = ()) -> None:
        """Make `new` the current map and log what happened (and health transitions)."""
        batch = self._epoch_batch
        if batch is not None and new is batch[0]:
            batch[1].extend(messages)       # published when the batch ends (_one_epoch)
            return
        old, self._osdmap = self._osdmap, new
        self._after_publish(old, new)
        for msg in messages:
            self._log("[INF]", msg)
        self._log("[DBG]", f"osdmap e{new.epoch}: {new.num_osds} total, "
                           f"{new.num_up_osds} up, {new.num_in_osds} in")
        self._log_health_transitions()

    def _mark_up(self, m: OSDMap, osd_id: int, up: bool) -> None:
        info = m.osds[osd_id]
        now = self.clock()
        info.up = up
        if up:
            info.up_from = m.epoch
            info.down_stamp = 0.0
        else:
            info.down_at = m.epoch
            info.down_stamp = now
        m.last_up_change = now

    def _mark_in(self, m: OSDMap, osd_id: int, in_: bool) -> None:
        info = m.osds[osd_id]
        info.in_ = in_
        info.weight = 1.0 if in_ else 0.0
        m.last_in_change = self.clock()

    def _bump_servicemap(self) -> None:
        self.servicemap_epoch += 1
        self.servicemap_modified = self.clock()

    def _log(self, prio: str, message: str, channel: str = "cluster",
             name: str = f"mon.{MON_NAME}") -> None:
        self._log_seq += 1
        self.log.append({"name": name, "rank": "mon.0" if name.startswith("mon.") else name,
                         "addrs": {"addrvec": [{"type": "v2", "addr": MON_ADDR, "nonce": 0}]},
                         "stamp": stamp(self.clock()), "seq": self._log_seq,
                         "channel": channel, "priority": prio, "message": message})

    def _log_health_transitions(self) -> None:
        now = {k: v["summary"]["message"] for k, v in self._health_checks(False).items()}
        for name, msg in now.items():
            old = self._last_health.get(name)
            if old is None:
                self._log("[WRN]", f"Health check failed: {msg} ({name})")
            elif old != msg:
                self._log("[WRN]", f"Health check update: {msg} ({name})")
        for name, msg in self._last_health.items():
            if name not in now:
                self._log("[INF]", f"Health check cleared: {name} (was: {msg})")
        if self._last_health and not now:
            self._log("[INF]", "Cluster is now healthy")
        self._last_health = now

    # == command dispatch ===================================================================
    def auth_call(self, op: str, *args):
        """Authentication and the commands/calls of cephx sessions (cluster/mon_auth.py)."""
        return self.auth.rpc(self, op, *args)

    def handle_command(self, cmd: Any, inbuf: bytes = b"",
                       session: Any = "operator") -> tuple[int, bytes, str]:
        """Run one monitor command (a dict, or its JSON text, or a one-element list of it)
        and return (ret, outbuf, outs) as Ceph's monitor does. Never raises. With cephx, a
        client's `session` (gid, token) must be live and its mon caps allow the command;
        the default "operator" is the hosts' own channel (Ceph's admin socket)."""
        try:
            if isinstance(cmd, (bytes, bytearray)):
                cmd = cmd.decode("utf-8", "replace")
            if isinstance(cmd, list) and len(cmd) == 1 and isinstance(cmd[0], (str, dict)):
                cmd = cmd[0]
            if isinstance(cmd, str):
                try:
                    cmd = json.loads(cmd)
                except ValueError:
                    return -errno.EINVAL, b"", f"unparseable JSON {cmd}"
            if not isinstance(cmd, dict):
                try:
                    shown = json.dumps(cmd, separators=(",", ":"))
                except (TypeError, ValueError):
                    shown = repr(cmd)
                return -errno.EINVAL, b"", f"not JSON object {shown}"
            prefix = cmd.get("prefix")
            if prefix is None:
                return -errno.EINVAL, b"", "command prefix not found"
            if not isinstance(prefix, str):
                return -errno.EINVAL, b"", "command prefix must be a string"
            handler = self._handlers.get(" ".join(prefix.split()))
            if handler is None:
                return -errno.EINVAL, b"", "command not known"
            denied = self.auth.check_command(session, " ".join(prefix.split()), cmd)
            if denied:
                return denied
            if not isinstance(inbuf, (bytes, bytearray, memoryview)):
                inbuf = b"" if inbuf is None else str(inbuf).encode()
            ret, out, outs = handler(_Args(cmd), bytes(inbuf))
            return ret, out, outs
        except _CmdError as exc:
            return exc.ret, b"", exc.outs
        except Exception as exc:      # a handler bug must not take the monitor down
            return -errno.EINVAL, b"", f"{type(exc).__name__}: {exc}"

    def _command_table(self) -> dict[str, Callable]:
        t = {
            "status": self._cmd_status, "-s": self._cmd_status, "s": self._cmd_status,
            "health": self._cmd_health, "df": self._cmd_df, "fsid": self._cmd_fsid,
            "mon dump": self._cmd_mon_dump, "version": self._cmd_version,
            "osd dump": self._cmd_osd_dump, "osd tree": self._cmd_osd_tree,
            "osd ls": self._cmd_osd_ls, "osd stat": self._cmd_osd_stat,
            "osd map": self._cmd_osd_map, "osd lspools": self._cmd_lspools,
            "osd pool create": self._cmd_pool_create, "osd pool delete": self._cmd_pool_delete,
            "osd pool rm": self._cmd_pool_delete, "osd pool ls": self._cmd_pool_ls,
            "osd pool get": self._cmd_pool_get, "osd pool set": self._cmd_pool_set,
            "osd pool set-quota": self._cmd_set_quota, "osd pool get-quota": self._cmd_get_quota,
            "osd pool application enable": self._cmd_app_enable,
            "osd pool application disable": self._cmd_app_disable,
            "osd pool application get": self._cmd_app_get,
            "osd pool application set": self._cmd_app_set,
            "osd pool application rm": self._cmd_app_rm,
            "osd pool mksnap": self._cmd_mksnap, "osd pool rmsnap": self._cmd_rmsnap,
            "osd pool rename": self._cmd_pool_rename, "osd pool stats": self._cmd_pool_stats,
            "osd down": self._cmd_osd_down, "osd up": self._cmd_osd_up,
            "osd out": self._cmd_osd_out, "osd in": self._cmd_osd_in,
            "osd reweight": self._cmd_reweight, "osd primary-affinity": self._cmd_affinity,
            "osd set": self._cmd_osd_set, "osd unset": self._cmd_osd_unset,
            "osd crush dump": self._cmd_crush_dump, "osd crush tree": self._cmd_crush_tree,
            "osd crush rule ls": self._cmd_rule_ls, "osd crush rule list": self._cmd_rule_ls,
            "osd crush rule dump": self._cmd_rule_dump, "osd getcrushmap": self._cmd_getcrushmap,
            "pg dump": self._cmd_pg_dump, "pg stat": self._cmd_pg_stat,
            "pg map": self._cmd_pg_map, "pg ls": self._cmd_pg_ls,
            "osd blocklist": self._cmd_blocklist, "osd blacklist": self._cmd_blocklist,
            "osd blocklist ls": self._cmd_blocklist_ls,
            "osd blacklist ls": self._cmd_blocklist_ls,
            "log last": self._cmd_log_last, "log": self._cmd_log,
            "service dump": self._cmd_service_dump,
            "config set": self._cmd_config_set, "config get": self._cmd_config_get,
            "config rm": self._cmd_config_rm, "config dump": self._cmd_config_dump,
        }
        for op in ("get", "set", "put", "del", "rm", "exists", "ls", "list", "dump"):
            t[f"config-key {op}"] = getattr(self, f"_cmd_ck_{op}")
        t.update(self.auth.command_table())
        return t

    # -- helpers ------------------------------------------------------------------------
    @staticmethod
    def _out(a: _Args, obj: Any, plain: Callable[[], str] | str | None = None,
             outs: str = "") -> tuple[int, bytes, str]:
        fmt = a.fmt()
        if fmt != "plain" or plain is None:
            return 0, dumps(obj, fmt), outs
        text = plain() if callable(plain) else plain
        return 0, text.encode(), outs

    def _pool_arg(self, a: _Args, name: str = "pool") -> Pool:
        pname = a.str(name, required=True)
        pool = self._osdmap.get_pool(pname)
        if pool is None:
            raise _CmdError(-errno.ENOENT, f"unrecognized pool '{pname}'")
        return pool

    def _rule_name(self, rule_id: int) -> str:
        rule = self._osdmap.crush.rules.get(rule_id)
        return rule.name if rule is not None else str(rule_id)

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

    def _min_size_for(self, size: int) -> int:
        configured = int(self.options.get("osd_pool_default_min_size", 0))
        return min(configured, size) if configured else size - size // 2

    # == pools ================================================================================
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

    # == OSD states ===========================================================================
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
        proj = min(dev * total_w // w for w in weights.values() if w) if any(weights.values()) else 0
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

    # == blocklist ============================================================================
    def _expire_blocklist(self) -> None:
        now = self.clock()
        expired = [addr for addr, t in self._osdmap.blocklist.items() if t <= now]
        if expired:
            m = self._pending()
            for addr in expired:
                del m.blocklist[addr]
            self._publish(m)

    def _cmd_blocklist(self, a: _Args, inbuf: bytes):
        op = a.str("blocklistop") or a.str("blacklistop") or ""
        if op == "ls":
            return self._cmd_blocklist_ls(a, inbuf)
        text = a.str("addr", "")
        addr = _parse_addr(text)
        if addr is None:
            raise _einval(f"unable to parse address {text}")
        if op == "add":
            expire = a.float("expire", required=False) or DEFAULT_BLOCKLIST_S
            until = self.clock() + expire
            m = self._pending()
            m.blocklist[addr] = until
            self._publish(m)
            return 0, b"", f"blocklisting {addr} until {stamp(until)} ({gnum(expire)} sec)"
        if op == "rm":
            if addr not in self._osdmap.blocklist:
                return 0, b"", f"{addr} isn't blocklisted"
            m = self._pending()
            del m.blocklist[addr]
            self._publish(m)
            return 0, b"", f"un-blocklisting {addr}"
        raise _einval("bad or missing field 'blocklistop'")

    def _cmd_blocklist_ls(self, a: _Args, inbuf: bytes):
        self._expire_blocklist()
        entries = sorted(self._osdmap.blocklist.items())
        doc = [{"addr": addr, "until": stamp(t)} for addr, t in entries]
        return self._out(a, doc, lambda: "".join(f"{addr} {stamp(t)}\n" for addr, t in entries),
                         outs=f"listed {len(entries)} entries")

    # == cluster log, service map, mon config =================================================
    def _cmd_log_last(self, a: _Args, inbuf: bytes):
        n = a.int("num", 20)
        level = a.str("level", "info")
        channel = a.str("channel", "cluster")
        if level not in _PRIORITIES:
            raise _einval(f"invalid level '{level}'")
        floor = _PRIO_RANK[_PRIORITIES[level]]
        entries = [e for e in self.log if (channel in ("*", "all") or e["channel"] == channel)
                   and _PRIO_RANK[e["priority"]] >= floor]
        entries = entries[-n:] if n > 0 else []
        return self._out(a, entries, lambda: "".join(
            f"{e['stamp']} {e['name']} ({e['rank']}) {e['seq']} : {e['channel']} "
            f"{e['priority']} {e['message']}\n" for e in entries))

    def _cmd_log(self, a: _Args, inbuf: bytes):
        text = a.cmd.get("logtext")
        if isinstance(text, str):
            text = [text]
        if not isinstance(text, list):
            raise _einval("bad or missing field 'logtext'")
        self._log("[INF]", " ".join(str(t) for t in text), name="client.admin")
        return 0, b"", ""

    def _cmd_service_dump(self, a: _Args, inbuf: bytes):
        return self._out(a, self._servicemap_json(), None)

    def _cmd_config_set(self, a: _Args, inbuf: bytes):
        who = a.str("who", required=True)
        name = a.str("name", required=True)
        value = a.str("value", required=True)
        from .config import normalize_key

        key = normalize_key(name)
        opt = OPTIONS.get(key)
        if opt is None:
            raise _einval(f"unrecognized config option '{name}'")
        try:
            canonical = parse_value(opt, value)
        except ValueError as exc:
            raise _einval(f"error parsing value: {exc}") from None
        self.config_db[(who, key)] = canonical
        if who in ("global", "mon") and key in self.options:
            self.options[key] = typed_value(opt, canonical)
        return 0, b"", ""

    def _cmd_config_get(self, a: _Args, inbuf: bytes):
        who = a.str("who", required=True)
        from .config import normalize_key

        key = normalize_key(a.str("key", "") or "")
        if not key:
            values = {k: v for (w, k), v in self.config_db.items() if w in (who, "global")}
            return self._out(a, values, lambda: "".join(f"{k} {v}\n" for k, v in
                                                       sorted(values.items())))
        opt = OPTIONS.get(key)
        if opt is None:
            raise _CmdError(-errno.ENOENT, f"unrecognized key '{key}'")
        value = self.config_db.get((who, key), self.config_db.get(("global", key)))
        if value is None:
            value = str(self.options[key]).lower() if isinstance(self.options.get(key), bool) \
                else str(self.options.get(key, opt.default))
        return self._out(a, value, value + "\n")

    def _cmd_config_rm(self, a: _Args, inbuf: bytes):
        who = a.str("who", required=True)
        from .config import normalize_key

        key = normalize_key(a.str("name", required=True))
        self.config_db.pop((who, key), None)
        return 0, b"", ""

    def _cmd_config_dump(self, a: _Args, inbuf: bytes):
        rows = [{"section": w, "name": k, "value": v, "level": "basic", "can_update_at_runtime":
                 True, "mask": ""} for (w, k), v in sorted(self.config_db.items())]
        cols = [("WHO", LEFT, LEFT), ("MASK", LEFT, LEFT), ("LEVEL", LEFT, LEFT),
                ("OPTION", LEFT, LEFT), ("VALUE", LEFT, LEFT), ("RO", LEFT, LEFT)]
        return self._out(a, rows, lambda: "\n".join(table(cols, [
            [r["section"], "", "basic", r["name"], r["value"], ""] for r in rows])) + "\n")

    # == config-key ===========================================================================
    def _cmd_ck_get(self, a: _Args, inbuf: bytes):
        key = a.str("key", required=True)
        if key not in self.config_key:
            raise _CmdError(-errno.ENOENT, "")
        return 0, self.config_key[key], ""

    def _cmd_ck_set(self, a: _Args, inbuf: bytes):
        key = a.str("key", required=True)
        val = a.cmd.get("val")
        if val is None:
            data = bytes(inbuf)
        elif isinstance(val, str):
            data = val.encode()
        else:
            raise _einval("bad or missing field 'val'")
        if len(data) > CONFIG_KEY_MAX_ENTRY_BYTES:
            raise _CmdError(-errno.EFBIG, f"error: entry size limited to "
                                          f"{CONFIG_KEY_MAX_ENTRY_BYTES} bytes. Use 'mon config "
                                          f"key max entry size' to manually adjust")
        self.config_key[key] = data
        return 0, b"", f"set {key}"

    _cmd_ck_put = _cmd_ck_set

    def _cmd_ck_del(self, a: _Args, inbuf: bytes):
        self.config_key.pop(a.str("key", required=True), None)
        return 0, b"", "key deleted"

    _cmd_ck_rm = _cmd_ck_del

    def _cmd_ck_exists(self, a: _Args, inbuf: bytes):
        key = a.str("key", required=True)
        if key in self.config_key:
            return 0, b"", f"key '{key}' exists"
        raise _CmdError(-errno.ENOENT, f"key '{key}' doesn't exist")

    def _cmd_ck_ls(self, a: _Args, inbuf: bytes):
        keys = sorted(self.config_key)
        return 0, dumps(keys, "json" if a.fmt() == "json" else "json-pretty"), ""

    _cmd_ck_list = _cmd_ck_ls

    def _cmd_ck_dump(self, a: _Args, inbuf: bytes):
        prefix = a.str("key", "") or ""
        doc = {}
        for k in sorted(self.config_key):
            if not k.startswith(prefix):
                continue
            v = self.config_key[k]
            try:
                text = v.decode("utf-8")
                if any(ord(c) < 32 and c not in "\t\n\r" for c in text):
                    raise UnicodeDecodeError("utf-8", v, 0, 1, "binary")
                doc[k] = text
            except UnicodeDecodeError:
                doc[k] = f"<<< binary blob of length {len(v)} >>>"
        return 0, dumps(doc, "json" if a.fmt() == "json" else "json-pretty"), ""
