"""The one place rbd reaches below the public `rados` API.

librbd needs things the Python `rados` binding does not offer: one compound op carrying the
image's snap context, reads at a snap id without touching the caller's Ioctx, sparse reads,
`list_snaps`, and many object ops in flight at once, gathered afterwards. This adapter wraps
a connected Ioctx's ClusterClient (`rados.client.ClusterClient.submit`, docs/interfaces.md
§8) for one pool and namespace; everything else in rbd talks to `RadosIO` only.

Invariants:
- A RadosIO never changes the caller's Ioctx (namespace, read snap, locator key): it copies
  the pool id and namespace at construction.
- Every wait is bounded (the client's op timeout); a timeout is -ETIMEDOUT like any error.
- Class-method arguments and results are msgpack (`osd.cls.pack/unpack`); failures come
  back as RbdError(-errno), never as rados exceptions.
"""
from __future__ import annotations

import errno
from concurrent.futures import Future

import msgpack

from rbd.errors import RbdError

SNAP_HEAD = 2**64 - 2
LIBRADOS_OPERATION_RETURNVEC = 1024
DEFAULT_WAIT_S = 120.0


def pack(obj) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def unpack(data: bytes):
    if not data:
        return None
    return msgpack.unpackb(data, raw=False, strict_map_key=False, use_list=True)


def client_of(ioctx):
    """The ClusterClient behind a connected rados.Ioctx."""
    rados = getattr(ioctx, "rados", None)
    require = getattr(rados, "_require_client", None)
    if require is not None:
        try:
            return require()
        except Exception as exc:
            raise RbdError(-errno.ENOTCONN, "rados handle is not connected: %s" % exc) from None
    candidates = [ioctx] + ([rados] if rados is not None else [])
    for obj in candidates:
        for attr in ("_client", "client", "_cluster_client", "cluster_client"):
            client = getattr(obj, attr, None)
            if client is not None and hasattr(client, "submit"):
                return client
    raise RbdError(-errno.ENOTCONN, "rados handle is not connected")


class RadosIO:
    """Object ops on one pool/namespace of one connected client."""

    def __init__(self, ioctx, pool: int | None = None, nspace: str | None = None):
        self.ioctx = ioctx
        self.rados = ioctx.rados
        self.client = client_of(ioctx)
        self.pool = ioctx.get_pool_id() if pool is None else pool
        self.nspace = (ioctx.get_namespace() or "") if nspace is None else nspace
        self.wait_s = float(getattr(self.client, "op_timeout_s", 0) or DEFAULT_WAIT_S) + 5.0

    # -- identity ------------------------------------------------------------------------------
    @property
    def gid(self) -> int:
        return self.client.gid

    @property
    def entity(self) -> str:
        return "client.%d" % self.client.gid

    @property
    def addr(self) -> str:
        return "127.0.0.1:0/%d" % self.client.gid

    def pool_name(self) -> str | None:
        osdmap = self.client.osdmap
        pool = osdmap.pools.get(self.pool)
        if pool is None:
            return None
        name = getattr(pool, "name", None)
        if name:
            return name
        for pname, pid in getattr(osdmap, "pool_names", {}).items():
            if pid == self.pool:
                return pname
        return None

    def pool_exists(self) -> bool:
        return self.pool in self.client.osdmap.pools

    def with_pool(self, pool: int, nspace: str | None = None) -> "RadosIO":
        """The same client on another pool (and namespace; default: this one's)."""
        if pool == self.pool and (nspace is None or nspace == self.nspace):
            return self
        clone = RadosIO.__new__(RadosIO)
        clone.ioctx = self.ioctx
        clone.rados = self.rados
        clone.client = self.client
        clone.pool = pool
        clone.nspace = self.nspace if nspace is None else nspace
        clone.wait_s = self.wait_s
        return clone

    def conf_get(self, option: str):
        try:
            return self.rados.conf_get(option)
        except Exception:
            return None

    # -- ops -----------------------------------------------------------------------------------
    def submit(self, oid: str, ops: list, snapc=None, snapid: int = SNAP_HEAD,
               flags: int = 0) -> Future:
        return self.client.submit(self.pool, oid, ops, self.nspace, "", snapc, snapid, flags)

    def wait(self, future: Future):
        try:
            return future.result(timeout=self.wait_s)
        except TimeoutError:
            raise RbdError(-errno.ETIMEDOUT, "osd op timed out") from None

    def operate(self, oid: str, ops: list, snapc=None, snapid: int = SNAP_HEAD, flags: int = 0):
        return self.wait(self.submit(oid, ops, snapc, snapid, flags))

    def gather(self, futures: list) -> list:
        return [self.wait(f) for f in futures]

    # -- object class calls --------------------------------------------------------------------
    def call_future(self, oid: str, method: str, args=None, cls: str = "rbd", snapc=None,
                    snapid: int = SNAP_HEAD, returnvec: bool = False) -> Future:
        indata = pack(args) if args is not None else b""
        flags = LIBRADOS_OPERATION_RETURNVEC if returnvec else 0
        return self.submit(oid, [("call", cls, method, indata)], snapc, snapid, flags)

    def call_result(self, reply, decode: bool = True):
        if reply.result < 0:
            raise RbdError(reply.result)
        rval, out = reply.outs[0] if reply.outs else (0, b"")
        if rval < 0:
            raise RbdError(rval)
        if not decode:
            return out or b""
        return unpack(out or b"")

    def call(self, oid: str, method: str, args=None, cls: str = "rbd", snapid: int = SNAP_HEAD,
             returnvec: bool = False, decode: bool = True):
        """Run cls.method on oid; return the decoded result; RbdError(-errno) on failure."""
        reply = self.wait(self.call_future(oid, method, args, cls, snapid=snapid,
                                           returnvec=returnvec))
        return self.call_result(reply, decode)

    def call_raw(self, oid: str, cls: str, method: str, indata: bytes, write: bool = False):
        """A class call with caller-encoded input; returns (ret, out bytes)."""
        flags = LIBRADOS_OPERATION_RETURNVEC if write else 0
        reply = self.operate(oid, [("call", cls, method, indata)], flags=flags)
        if reply.result < 0:
            return reply.result, b""
        rval, out = reply.outs[0] if reply.outs else (0, b"")
        return rval, out or b""

    # -- simple object helpers -----------------------------------------------------------------
    def remove(self, oid: str, snapc=None) -> int:
        return self.operate(oid, [("remove",)], snapc=snapc).result

    def exists(self, oid: str) -> bool:
        reply = self.operate(oid, [("stat",)])
        if reply.result == -errno.ENOENT:
            return False
        if reply.result < 0:
            raise RbdError(reply.result)
        return True

    def list_snaps(self, oid: str):
        reply = self.operate(oid, [("list_snaps",)])
        if reply.result < 0:
            return reply.result
        return reply.outs[0][1]

    def list_objects(self):
        """Names of the objects in this pool/namespace."""
        try:
            for _, oid, _ in self.client.list_objects(self.pool, self.nspace):
                yield oid
        except KeyError:
            return

    # -- self-managed snapshots ----------------------------------------------------------------
    def _mon_call(self, method: str, *args):
        """(ret, result) of a MonitorCore internal call."""
        call = getattr(self.rados, "_mon_call", None)
        try:
            if call is not None:
                return call(method, *args)
            return 0, self.client.mon_call(method, *args)
        except Exception as exc:
            err = getattr(exc, "errno", None) or errno.EIO
            return -abs(err), None

    def selfmanaged_snap_create(self) -> int:
        ret, snap_id = self._mon_call("selfmanaged_snap_create", self.pool)
        if ret != 0:
            raise RbdError(ret, "cannot allocate a snapshot id")
        return int(snap_id)

    def selfmanaged_snap_remove(self, snap_id: int) -> None:
        # a failure only leaks the id; never fail an rbd call for it
        self._mon_call("selfmanaged_snap_remove", self.pool, snap_id)

    # -- watch / notify ------------------------------------------------------------------------
    def watch(self, oid: str, callback, error_callback=None, timeout_s: float = 30.0) -> int:
        cookie = self.client.watch(self.pool, oid, self.nspace, "", callback, error_callback,
                                   timeout_s)
        if cookie < 0:
            raise RbdError(cookie, "watch failed")
        return cookie

    def unwatch(self, cookie: int) -> None:
        try:
            self.client.unwatch(cookie)
        except Exception:
            pass

    def notify(self, oid: str, payload: bytes, timeout_ms: int = 5000):
        """Notify the watchers of oid; returns (acks [(gid, cookie, bytes)], timeouts)."""
        reply = self.operate(oid, [("notify", 0, payload, timeout_ms)])
        out = reply.outs[0][1] if reply.outs and reply.outs[0][1] is not None else ([], [])
        if reply.result < 0 and reply.result != -errno.ETIMEDOUT:
            raise RbdError(reply.result, "notify failed")
        acks, timeouts = out
        return list(acks), list(timeouts)

    def list_watchers(self, oid: str) -> list[dict]:
        reply = self.operate(oid, [("list_watchers",)])
        if reply.result < 0:
            raise RbdError(reply.result)
        return list(reply.outs[0][1] or [])
