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
of capacity and nothing used. Pool commands are in mon_pools.py; OSD state, CRUSH, `df`,
`osd dump` and `version` in mon_osd_commands.py; the blocklist, cluster log, service map,
mon config and config-key store in mon_config.py. This module keeps the state, the
internal calls, the map changes every mixin goes through and the command table.
"""
from __future__ import annotations

import errno
import json
import time
from collections import deque
from typing import Any, Callable, Iterable, Optional

from .config import OPTIONS, typed_value
from .osdmap import FLAG_POOL_SNAPS, FLAG_SELFMANAGED_SNAPS, OSDMap
from .mon_format import MON_ADDR, MON_NAME, SEVERITY_RANK, _Args, _CmdError, dumps, stamp
from .mon_config import ConfigCommands
from .mon_failures import FailureHandling
from .mon_osd_commands import CEPH_VERSION, OsdCommands
from .mon_pools import PoolCommands
from .mon_status import StatusCommands

__all__ = ["MonitorCore", "CEPH_VERSION", "FIRST_GID"]

FIRST_GID = 4100
LOG_MAX_ENTRIES = 10000


# --- the monitor -------------------------------------------------------------------------


class MonitorCore(StatusCommands, FailureHandling, PoolCommands, OsdCommands,
                  ConfigCommands):
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
