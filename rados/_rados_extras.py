"""Rados calls around the edges of a cluster handle: mgr and PG commands, blocklisting,
ping_monitor, cluster statistics, service daemon registration and the cluster log feed.

There is no ceph-mgr in rayceph: `mgr_command` answers the commands a client of the mgr can
expect from what the monitor knows (forwarding them to it) and answers the rest like the
mgr does with no module for them, -EINVAL "No handler found". The cluster log feed polls
the monitor's `log last` and hands each new entry to the callback on its own thread.
"""
from __future__ import annotations

import errno
import json
import logging
import re
import threading
import time
from datetime import datetime

from rados import _args
from rados.constants import MONITOR_LEVELS
from rados.errors import Error, LogicError, errno_of, make_ex

log = logging.getLogger("rayceph.rados")

MONLOG_POLL_S = 1.0
RESERVED_SERVICES = ("osd", "mds", "client", "mon", "mgr")
_LEVEL_RANK = {"debug": 0, "info": 1, "sec": 2, "warn": 3, "warning": 3, "err": 4, "error": 4}
_PRIO_RANK = {"[DBG]": 0, "[INF]": 1, "[SEC]": 2, "[WRN]": 3, "[ERR]": 4}
_ADDR_RE = re.compile(r"^(?:(?:v1|v2|any):)?(\[[0-9a-fA-F:.]+\]|[0-9.]+|[0-9a-fA-F:]+)"
                      r"(?::(\d{1,5}))?(?:/(\d+))?$")


def _parse_addr(text: str) -> bool:
    """True if `text` is an entity_addr_t (ip[:port][/nonce], optionally v1:/v2:-typed)."""
    m = _ADDR_RE.match(text.strip())
    if not m:
        return False
    host = m.group(1).strip("[]")
    if "." in host and ":" not in host:
        parts = host.split(".")
        return len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)
    return ":" in host


class RadosExtrasMixin:
    # -- commands to the mgr and to PGs -------------------------------------------------------
    def mgr_command(self, cmd, inbuf, timeout=0, target=None):
        """Send a command to the (simulated) mgr: (ret, outbuf, outs); never raises."""
        self.require_state("connected")
        cmd = _args.cstr(cmd, "cmd")
        inbuf = _args.cstr(inbuf, "inbuf")
        _args.to_str(target, "target", opt=True)
        try:
            cmd_dict = json.loads(cmd.decode("utf-8"))
            prefix = cmd_dict.get("prefix", "")
        except (ValueError, AttributeError):
            return -errno.EINVAL, b"", "unparseable JSON"
        if prefix in ("service dump", "service status"):
            return self._service_dump(prefix)
        ret, outbuf, outs = self._mon_command_dict(cmd_dict, inbuf, float(timeout or 0))
        if ret == -errno.EINVAL and _is_unknown_command(outs):
            if prefix == "pg ls" and cmd_dict.get("states") == ["inconsistent"]:
                # no scrub here, so nothing is ever found inconsistent
                return 0, json.dumps({"pg_ready": True, "pg_stats": []}).encode(), ""
            return -errno.EINVAL, b"", "No handler found for '%s'" % prefix
        return ret, outbuf, outs

    def pg_command(self, pgid, cmd, inbuf, timeout=0):
        """Send a command to the primary OSD of PG `pgid` ('<pool>.<seed hex>')."""
        self.require_state("connected")
        pgid = _args.to_str(pgid, "pgid")
        cmd = _args.cstr(cmd, "cmd").decode("utf-8", "replace")
        inbuf = _args.cstr(inbuf, "inbuf")
        pool_s, dot, seed_s = pgid.partition(".")
        try:
            pool, seed = int(pool_s), int(seed_s, 16)
        except ValueError:
            return -errno.EINVAL, b"", "invalid pgid '%s'" % pgid
        if not dot:
            return -errno.EINVAL, b"", "invalid pgid '%s'" % pgid
        osdmap = self._osdmap()
        if pool not in osdmap.pools or seed >= osdmap.pools[pool].pg_num:
            return -errno.ENOENT, b"", "pg %s does not exist" % pgid
        _, primary = osdmap.pg_to_acting(pool, seed)
        if primary < 0:
            return -errno.EAGAIN, b"", "pg %s has no primary osd" % pgid
        try:
            ret, outbuf, outs = self._require_client().osd_command(primary, cmd, inbuf)
        except Exception as exc:
            return -errno_of(exc), b"", str(exc)
        return int(ret), bytes(outbuf or b""), str(outs or "")

    def _check_mon_target(self, target: str) -> int:
        """0 if `target` names a monitor (by name or rank), else -ENOENT."""
        ret, outbuf, _ = self._mon_command_dict({"prefix": "mon dump", "format": "json"})
        if ret < 0:
            return 0        # cannot tell: let the command through
        try:
            mons = json.loads(outbuf.decode("utf-8")).get("mons", [])
        except (ValueError, AttributeError):
            return 0
        for mon in mons:
            if target in (str(mon.get("name")), str(mon.get("rank"))):
                return 0
        return -errno.ENOENT

    def get_inconsistent_pgs(self, pool_id) -> list:
        """PG ids of the pool that scrub found inconsistent."""
        self.require_state("connected")
        pool_id = _args.sint(pool_id, "int64_t", 64)
        if pool_id not in self._osdmap().pools:
            raise make_ex(-errno.ENOENT, "error calling inconsistent_pg_list")
        cmd = json.dumps({"prefix": "pg ls", "pool": pool_id, "states": ["inconsistent"],
                          "format": "json"})
        ret, outbuf, _ = self.mgr_command(cmd, b"")
        if ret < 0:
            raise make_ex(ret, "error calling inconsistent_pg_list")
        if not outbuf:
            return []
        try:
            doc = json.loads(outbuf.decode("utf-8"))
        except ValueError:
            raise make_ex(-errno.EINVAL, "error calling inconsistent_pg_list") from None
        stats = doc.get("pg_stats", []) if isinstance(doc, dict) else doc
        return [entry["pgid"] for entry in stats if "pgid" in entry]

    # -- cluster ------------------------------------------------------------------------------
    def blocklist_add(self, client_address, expire_seconds=0):
        """Blocklist a client address ('ip:port/nonce'); its ops then fail."""
        self.require_state("connected")
        address = _args.to_str(client_address, "client_address")
        expire = _args.uint(expire_seconds, "uint32_t", 32)
        msg = "error blocklisting client '%s'" % client_address
        addrs = [a for a in address.strip("[]").split(",") if a] if address.startswith("[") \
            else [address]
        if not addrs or not all(_parse_addr(a) for a in addrs):
            raise make_ex(-errno.EINVAL, msg)
        for addr in addrs:
            cmd = {"prefix": "osd blocklist", "blocklistop": "add", "addr": addr}
            if expire:
                cmd["expire"] = float(expire)
            ret, _, _ = self._mon_command_dict(cmd)
            if ret == -errno.EINVAL:
                legacy = dict(cmd, prefix="osd blocklist add")
                del legacy["blocklistop"]
                ret, _, _ = self._mon_command_dict(legacy)
            if ret < 0:
                raise make_ex(ret, msg)
        self._refresh_map()

    def ping_monitor(self, mon_id):
        """JSON status (with 'health') of monitor `mon_id`; ObjectNotFound if unknown."""
        self.require_state("configuring", "connected")
        mon_id = _args.to_str(mon_id, "mon_id")
        if self.state == "connected":
            return self._ping(self, mon_id)
        from rados.rados_handle import Rados
        probe = Rados(name=self._entity)
        probe._conf = self._conf
        probe.connect()
        try:
            return self._ping(probe, mon_id)
        finally:
            probe.shutdown()

    @staticmethod
    def _ping(handle, mon_id: str) -> str:
        if handle._check_mon_target(mon_id) < 0:
            raise make_ex(-errno.ENOENT, "error calling ping_monitor")
        ret, outbuf, outs = handle._mon_command_dict({"prefix": "health", "format": "json"})
        try:
            health = json.loads(outbuf.decode("utf-8")) if ret == 0 and outbuf else None
        except ValueError:
            health = None
        if not isinstance(health, dict):
            health = {"status": "HEALTH_OK" if ret == 0 else "HEALTH_WARN", "checks": {}}
        ret, outbuf, _ = handle._mon_command_dict({"prefix": "mon dump", "format": "json"})
        try:
            monmap = json.loads(outbuf.decode("utf-8")) if ret == 0 else {}
        except ValueError:
            monmap = {}
        return json.dumps({"health": health,
                           "mon_status": {"name": mon_id, "state": "leader",
                                          "monmap": monmap}})

    def get_cluster_stats(self) -> dict:
        """{'kb', 'kb_used', 'kb_avail', 'num_objects'} of the whole cluster: capacity from
        the monitor's `df`, usage from the OSDs' pool statistics (raw: times pool size)."""
        self.require_state("connected")
        msg = "Rados.get_cluster_stats(%s): get_stats failed" % self.rados_id
        ret, outbuf, _ = self._mon_command_dict({"prefix": "df", "format": "json"})
        if ret < 0:
            raise make_ex(ret, msg)
        try:
            stats = json.loads(outbuf.decode("utf-8")).get("stats", {})
            total = int(stats.get("total_bytes", 0))
            used = int(stats.get("total_used_raw_bytes", 0) or stats.get("total_used_bytes", 0))
        except (ValueError, AttributeError, TypeError):
            raise make_ex(-errno.EINVAL, msg) from None
        client = self._require_client()
        num_objects = stored_raw = 0
        for pool_id, pool in sorted(self._osdmap().pools.items()):
            try:
                pstats = client.pool_stats(pool_id) or {}
            except Exception as exc:
                raise make_ex(-errno_of(exc), msg) from None
            num_objects += int(pstats.get("num_objects", 0))
            stored_raw += int(pstats.get("num_bytes", 0)) * int(getattr(pool, "size", 1) or 1)
        used = max(used, stored_raw)
        return {"kb": total >> 10, "kb_used": (used + 1023) >> 10,
                "kb_avail": max(total - used, 0) >> 10, "num_objects": num_objects}

    # -- service daemons ----------------------------------------------------------------------
    def service_daemon_register(self, service, daemon, metadata):
        """Register this handle as daemon `daemon` of service `service` with `metadata`
        (str → str); ObjectExists if already registered, InvalidArgumentError for Ceph's own
        daemon types."""
        service_s = _args.to_str(service, "service")
        daemon_s = _args.to_str(daemon, "daemon")
        _args.flatten_dict(metadata, "metadata")
        msg = "error calling service_register()"
        if self._service is not None:
            raise make_ex(-errno.EEXIST, msg)
        if service_s in RESERVED_SERVICES or not service_s or not daemon_s:
            raise make_ex(-errno.EINVAL, msg)
        self._service = {"service": service_s, "daemon": daemon_s, "metadata": dict(metadata),
                         "status": {}, "since": time.time()}
        if self.state == "connected":
            self._push_service("service_daemon_register", service_s, daemon_s, dict(metadata))

    def service_daemon_update(self, status):
        """Replace this daemon's status dict (str → str); NotConnected before registering."""
        _args.flatten_dict(status, "status")
        if self._service is None:
            raise make_ex(-errno.ENOTCONN, "error calling service_daemon_update()")
        self._service["status"] = dict(status)
        if self.state == "connected":
            self._push_service("service_daemon_update", dict(status))

    def _push_service(self, method: str, *args) -> None:
        """Tell the monitor (it keeps the state for `service dump`); ours stays either way."""
        try:
            ret, _ = self._mon_call(method, self.get_instance_id(), *args)
        except Error:
            return
        if ret < 0:
            log.debug("monitor did not take %s: %d", method, ret)

    def _service_dump(self, prefix: str):
        ret, outbuf, outs = self._mon_command_dict({"prefix": prefix, "format": "json"})
        if ret == 0:
            return ret, outbuf, outs
        services: dict = {}
        svc = self._service
        if svc is not None:
            services[svc["service"]] = {"daemons": {svc["daemon"]: {
                "gid": self.get_instance_id(), "metadata": svc["metadata"],
                "status": svc["status"],
                "start_stamp": datetime.fromtimestamp(svc["since"]).isoformat()}}}
        return 0, json.dumps({"epoch": 1, "services": services}).encode(), ""

    def _after_connect(self) -> None:
        svc = self._service
        if svc is not None:
            self._push_service("service_daemon_register", svc["service"], svc["daemon"],
                               svc["metadata"])
            if svc["status"]:
                self._push_service("service_daemon_update", svc["status"])

    # -- cluster log --------------------------------------------------------------------------
    def monitor_log(self, level, callback=None, arg=None):
        """Call callback(arg, line, who, sec, nsec, seq, level, msg) for each cluster log
        entry at `level` or above (the recent ones first); callback None stops."""
        self._monitor_log(level, callback, arg, 1)

    def monitor_log2(self, level, callback=None, arg=None):
        """As monitor_log, with callback(arg, line, channel, name, who, sec, nsec, seq,
        level, msg)."""
        self._monitor_log(level, callback, arg, 2)

    def _monitor_log(self, level, callback, arg, version: int) -> None:
        if level not in MONITOR_LEVELS:
            raise LogicError("invalid monitor level " + str(level))
        if callback is not None and not callable(callback):
            raise LogicError("callback must be a callable function or None")
        self._stop_monitor_log()
        if callback is None:
            self.monitor_callback = None
            self.monitor_callback2 = None
            return
        self.require_state("connected")
        ret, _, _ = self._mon_command_dict({"prefix": "log last", "num": 1, "level": "debug",
                                            "channel": "cluster", "format": "json"})
        if ret < 0:
            raise make_ex(-errno.EOPNOTSUPP if ret == -errno.EINVAL else ret,
                          "error calling rados_monitor_log")
        cb = (callback, arg)
        feed = _MonitorLogFeed(self, level, cb, version)
        self._monlog = feed
        feed.start()
        self.monitor_callback = cb if version == 1 else None
        self.monitor_callback2 = cb if version == 2 else None

    def _stop_monitor_log(self) -> None:
        feed, self._monlog = getattr(self, "_monlog", None), None
        if feed is not None:
            feed.stop()


def _is_unknown_command(outs: str) -> bool:
    text = (outs or "").lower()
    return any(w in text for w in ("unknown command", "not known", "unrecognized",
                                   "no handler", "invalid command"))


class _MonitorLogFeed:
    """Polls `log last` and delivers entries newer than the last one seen, in seq order."""

    def __init__(self, rados, level: str, cb, version: int):
        self.rados = rados
        self.min_rank = _LEVEL_RANK.get(level, 0)
        self.cb = cb
        self.version = version
        self._stop = threading.Event()
        self._last_seq = -1
        self._thread = threading.Thread(target=self._run, name="rados-monitor-log", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._poll()
            except Exception:
                log.debug("monitor log poll failed", exc_info=True)
            self._stop.wait(MONLOG_POLL_S)

    def _poll(self) -> None:
        ret, outbuf, _ = self.rados._mon_command_dict(
            {"prefix": "log last", "num": 1000, "level": "debug", "channel": "cluster",
             "format": "json"})
        if ret < 0 or not outbuf:
            return
        entries = json.loads(outbuf.decode("utf-8"))
        for entry in sorted(entries, key=lambda e: int(e.get("seq", 0))):
            seq = int(entry.get("seq", 0))
            if seq <= self._last_seq or self._stop.is_set():
                continue
            self._last_seq = seq
            prio = str(entry.get("priority", "[INF]"))
            if _PRIO_RANK.get(prio, 1) < self.min_rank:
                continue
            self._deliver(entry, seq, prio)

    def _deliver(self, entry: dict, seq: int, prio: str) -> None:
        stamp = entry.get("stamp", 0)
        if isinstance(stamp, str):
            try:
                stamp = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
            except ValueError:
                stamp = 0.0
        sec = int(stamp)
        nsec = int(round((float(stamp) - sec) * 1e9))
        name = str(entry.get("name", "mon.?"))
        who = str(entry.get("rank", name))
        channel = str(entry.get("channel", "cluster"))
        msg = str(entry.get("message", ""))
        stamp_s = datetime.fromtimestamp(float(stamp)).isoformat(sep=" ")
        line = "%s %s (%s) %d : %s %s %s" % (stamp_s, name, who, seq, channel, prio, msg)
        fn, arg = self.cb
        enc = str.encode
        try:
            if self.version == 1:
                fn(arg, enc(line), enc(name), sec, nsec, seq, enc(prio), enc(msg))
            else:
                fn(arg, enc(line), enc(channel), enc(name), enc(who), sec, nsec, seq,
                   enc(prio), enc(msg))
        except Exception:
            log.exception("monitor log callback raised")
