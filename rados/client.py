"""ClusterClient: one connected client of a rayceph cluster (librados' RadosClient).

It owns the transport, the MonClient (map + commands) and the Objecter (object ops), and
runs watches: a watch is registered on the object's primary, events are long-polled from the
OSDs that hold our watches, callbacks run on a small pool, and a watch whose primary changes
is re-registered on the new primary when the map moves (so watches survive a primary change).
See docs/interfaces.md §8.
"""
from __future__ import annotations

import errno
import itertools
import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from osd.messages import SNAP_HEAD, OSDOpReply
from rados.monc import MonClient
from rados.objecter import DEFAULT_OP_TIMEOUT_S, Objecter

log = logging.getLogger("rayceph.client")

_inprocess_lock = threading.Lock()
_inprocess_clusters: dict[str, object] = {}

WATCH_PING_S = 2.0
EVENT_POLL_S = 1.0


class _Watch:
    __slots__ = ("cookie", "pool", "oid", "nspace", "key", "callback", "error_callback",
                 "timeout_s", "osd_id", "last_confirmed")

    def __init__(self, cookie, pool, oid, nspace, key, callback, error_callback, timeout_s):
        self.cookie = cookie
        self.pool = pool
        self.oid = oid
        self.nspace = nspace
        self.key = key
        self.callback = callback
        self.error_callback = error_callback
        self.timeout_s = timeout_s
        self.osd_id = -1
        self.last_confirmed = time.monotonic()


def _inprocess_cluster(conf):
    from cluster.local_cluster import LocalCluster

    name = conf.get("rayceph_cluster_name") or "ceph"
    with _inprocess_lock:
        cluster = _inprocess_clusters.get(name)
        if cluster is None:
            cluster = _inprocess_clusters[name] = LocalCluster(conf, conf.get("fsid") or None)
        return cluster


def _cluster_conf(conf):
    """The configuration that describes the cluster to reach.

    With no config file read at all, that is the bundled default cluster
    (configs/default.conf), with whatever the caller set explicitly laid on top, so
    `Rados(conffile='')` on a machine without a ceph.conf gets the embedded cluster.
    """
    from cluster.config import OPTIONS, CephConfig, bundled_config_path

    if getattr(conf, "source_files", None):
        return conf
    base = CephConfig(name=conf.name, cluster=conf.cluster)
    base.read_file(bundled_config_path("default"))
    for option in OPTIONS:
        if conf.is_set(option):
            base.set(option, conf.get(option))
    return base


def connect(conf, entity: str = "client.admin", timeout: float = 0) -> "ClusterClient":
    """Reach the cluster `conf` names (starting the embedded one if needed) and register."""
    conf = _cluster_conf(conf)
    address = (conf.get("rayceph_ray_address") or "local").strip()
    if address == "inprocess":
        from rados.transport import InProcessTransport

        transport = InProcessTransport(_inprocess_cluster(conf))
    else:
        from cluster.bootstrap import NAMESPACE, ensure_embedded, messenger_type
        from rados.transport import RayTransport

        name = ensure_embedded(conf)
        transport = RayTransport(name, NAMESPACE, messenger_type(conf))
    return ClusterClient(conf, transport, entity, timeout or 30.0)


def _authenticate(conf, monc, entity: str):
    """cephx at connect (cluster/auth.py); the MonClient is closed when it fails."""
    from cluster.auth import client_authenticate

    try:
        session = client_authenticate(conf, monc.call, entity)
    except Exception:
        monc.close()
        raise
    if session is not None:
        session.start_renewal()
    return session


class ClusterClient:
    def __init__(self, conf, transport, entity: str, timeout_s: float):
        self.conf = conf
        self.transport = transport
        self.name = entity
        self.monc = MonClient(transport, timeout_s)
        self.session = _authenticate(conf, self.monc, entity)   # cephx ticket, None for none
        self.gid = self.session.gid if self.session else self.monc.call("alloc_gid")
        self.fsid = self.monc.osdmap.fsid
        op_timeout = float(conf.get("rados_osd_op_timeout") or 0) or DEFAULT_OP_TIMEOUT_S
        self.op_timeout_s = op_timeout
        self.objecter = Objecter(self.monc, transport, self.gid, op_timeout)
        self._cookies = itertools.count(1)
        self._watches: dict[int, _Watch] = {}
        self._watch_lock = threading.Lock()
        self._callbacks = ThreadPoolExecutor(max_workers=4, thread_name_prefix="watch-cb")
        self._event_thread: threading.Thread | None = None
        self._closed = False
        self.monc.add_listener(self._on_new_map)

    @property
    def osdmap(self):
        return self.monc.osdmap

    # -- monitor ------------------------------------------------------------------------------
    def mon_command(self, cmd, inbuf: bytes = b"", timeout: float = 0):
        if self.session is not None:
            return tuple(self.monc.call("auth_call", "command", self.session.ident, cmd, inbuf,
                                        timeout_s=timeout or None))
        return self.monc.command(cmd, inbuf, timeout or None)

    def mon_call(self, method: str, *args):
        if self.session is not None:
            return self.monc.call("auth_call", "call", self.session.ident, method, *args)
        return self.monc.call(method, *args)

    def wait_for_latest_osdmap(self) -> int:
        return self.monc.refresh()

    # -- object ops ---------------------------------------------------------------------------
    def submit(self, pool: int, oid: str, ops: list, nspace: str = "", key: str = "",
               snapc=None, snapid: int = SNAP_HEAD, flags: int = 0, mtime=None) -> Future:
        return self.objecter.submit(pool, oid, ops, nspace, key, snapc, snapid, flags, mtime)

    def operate(self, pool: int, oid: str, ops: list, nspace: str = "", key: str = "",
                snapc=None, snapid: int = SNAP_HEAD, flags: int = 0, mtime=None) -> OSDOpReply:
        future = self.submit(pool, oid, ops, nspace, key, snapc, snapid, flags, mtime)
        try:
            return future.result(timeout=self.op_timeout_s + 5)
        except TimeoutError:
            return OSDOpReply(result=-errno.ETIMEDOUT)

    def _primaries_of_pool(self, pool: int) -> dict[int, list[int]]:
        osdmap = self.osdmap
        by_osd: dict[int, list[int]] = {}
        for seed in range(osdmap.pools[pool].pg_num):
            _, primary = osdmap.pg_to_acting(pool, seed)
            by_osd.setdefault(primary, []).append(seed)
        return by_osd

    def list_objects(self, pool: int, nspace: str):
        """Every object of the pool (in `nspace`, or all with ALL_NSPACES), PG by PG."""
        osdmap = self.osdmap
        if pool not in osdmap.pools:
            raise KeyError(pool)
        for seed in range(osdmap.pools[pool].pg_num):
            cursor = None
            while True:
                _, primary = self.osdmap.pg_to_acting(pool, seed)
                listed = self.transport.osd_call(
                    primary, "pgls", pool, seed, nspace, cursor, 1024, self.gid
                ).result(timeout=self.op_timeout_s)
                if isinstance(listed, int):        # refused by the OSD's cephx caps check
                    raise PermissionError(-listed, "error listing objects")
                entries, cursor = listed
                yield from entries
                if cursor is None:
                    break

    def pool_stats(self, pool: int) -> dict:
        totals: dict = {}
        futures = [self.transport.osd_call(osd_id, "pool_stats", pool)
                   for osd_id in self._primaries_of_pool(pool) if osd_id >= 0]
        for future in futures:
            for name, value in future.result(timeout=self.op_timeout_s).items():
                totals[name] = totals.get(name, 0) + value
        return totals

    def osd_command(self, osd_id: int, cmd, inbuf: bytes = b""):
        if osd_id not in self.osdmap.osds:
            return -errno.ENOENT, b"", f"osd.{osd_id} does not exist"
        try:
            return self.transport.osd_call(osd_id, "call", "command", cmd, inbuf).result(
                timeout=self.op_timeout_s)
        except Exception as exc:
            return -errno.ENXIO, b"", f"problem getting command descriptions from osd.{osd_id}: {exc}"

    # -- watch / notify -----------------------------------------------------------------------
    def watch(self, pool: int, oid: str, nspace: str, key: str, callback, error_callback,
              timeout_s: float) -> int:
        """Register a watch; returns its cookie. Raises nothing: the reply code is returned
        negative instead of a cookie when the OSD refuses (e.g. -ENOENT)."""
        cookie = next(self._cookies)
        watch = _Watch(cookie, pool, oid, nspace, key, callback, error_callback, timeout_s or 30)
        result = self._register(watch)
        if result < 0:
            return result
        with self._watch_lock:
            self._watches[cookie] = watch
            if self._event_thread is None:
                self._event_thread = threading.Thread(target=self._event_loop,
                                                      name="watch-events", daemon=True)
                self._event_thread.start()
        return cookie

    def _register(self, watch: _Watch) -> int:
        reply = self.operate(watch.pool, watch.oid, [("watch", watch.cookie, watch.timeout_s)],
                             watch.nspace, watch.key)
        if reply.result == 0:
            seed = self.osdmap.object_locator_to_pg(watch.pool, watch.oid, watch.nspace, watch.key)
            watch.osd_id = self.osdmap.pg_to_acting(watch.pool, seed)[1]
            watch.last_confirmed = time.monotonic()
        return reply.result

    def unwatch(self, cookie: int) -> int:
        with self._watch_lock:
            watch = self._watches.pop(cookie, None)
        if watch is None:
            return -errno.ENOENT
        reply = self.operate(watch.pool, watch.oid, [("unwatch", cookie)], watch.nspace, watch.key)
        return 0 if reply.result in (0, -errno.ENOENT) else reply.result

    def watch_check(self, cookie: int) -> float:
        """Seconds since the watch was last confirmed, or -ENOTCONN when it is gone."""
        watch = self._watches.get(cookie)
        if watch is None:
            return -errno.ENOTCONN
        return time.monotonic() - watch.last_confirmed

    def _on_new_map(self, old, new) -> None:
        with self._watch_lock:
            watches = list(self._watches.values())
        for watch in watches:
            if watch.pool not in new.pools:
                continue
            seed = new.object_locator_to_pg(watch.pool, watch.oid, watch.nspace, watch.key)
            if new.pg_to_acting(watch.pool, seed)[1] != watch.osd_id:
                self._callbacks.submit(self._reregister, watch)

    def _reregister(self, watch: _Watch) -> None:
        result = self._register(watch)
        if result < 0 and watch.error_callback is not None:
            watch.error_callback(watch.cookie, result)

    def _event_loop(self) -> None:
        polls: dict[int, Future] = {}
        last_ping = time.monotonic()
        while not self._closed:
            with self._watch_lock:
                osds = {w.osd_id for w in self._watches.values() if w.osd_id >= 0}
                if not self._watches:
                    self._event_thread = None
                    return
            for osd_id in osds - polls.keys():
                polls[osd_id] = self.transport.osd_call(osd_id, "wait_events", self.gid, EVENT_POLL_S)
            done, _ = wait(list(polls.values()), timeout=EVENT_POLL_S + 1, return_when=FIRST_COMPLETED)
            for osd_id, future in list(polls.items()):
                if future not in done:
                    continue
                del polls[osd_id]
                try:
                    events = future.result()
                except Exception:
                    continue
                for event in events:
                    self._callbacks.submit(self._dispatch, osd_id, event)
            if time.monotonic() - last_ping > WATCH_PING_S:
                last_ping = time.monotonic()
                self._ping_watches()

    def _ping_watches(self) -> None:
        with self._watch_lock:
            watches = list(self._watches.values())
        for watch in watches:
            if watch.osd_id < 0:
                continue
            try:
                alive = self.transport.osd_call(watch.osd_id, "watch_ping", self.gid,
                                                watch.cookie).result(timeout=5)
                if alive:
                    watch.last_confirmed = time.monotonic()
            except Exception:
                pass

    def _dispatch(self, osd_id: int, event) -> None:
        kind = event[0]
        if kind == "notify":
            _, notify_id, _oid, _nspace, _pool, cookie, notifier_gid, payload = event
            watch = self._watches.get(cookie)
            reply = b""
            if watch is not None:
                try:
                    out = watch.callback(notify_id, notifier_gid, cookie, payload)
                    if isinstance(out, (bytes, bytearray)):
                        reply = bytes(out)
                    elif isinstance(out, str):
                        reply = out.encode()
                except Exception:
                    log.exception("watch callback failed")
            try:
                self.transport.osd_call(osd_id, "notify_ack", notify_id, self.gid, cookie, reply)
            except Exception:
                pass
        elif kind == "error":
            _, cookie, err = event[:3]
            watch = self._watches.get(cookie)
            if watch is not None and watch.error_callback is not None:
                try:
                    watch.error_callback(cookie, err)
                except Exception:
                    log.exception("watch error callback failed")

    # -- lifecycle ----------------------------------------------------------------------------
    def shutdown(self) -> None:
        if self._closed:
            return
        for cookie in list(self._watches):
            try:
                self.unwatch(cookie)
            except Exception:
                pass
        self._closed = True
        if self.session is not None:
            self.session.logout()
        self.objecter.close()
        self.monc.close()
        self._callbacks.shutdown(wait=False)
