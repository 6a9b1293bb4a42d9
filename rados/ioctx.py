"""Ioctx: an I/O context on one pool (namespace, locator key, snap read/write context).

Every object call builds op tuples (docs/interfaces.md §2) and sends them as one request
through the Rados handle's ClusterClient; a failing reply becomes the exception the real
binding raises, with its message (`make_ex(ret, "Ioctx.write(pool): failed to write oid")`).

Invariants:
- A closed ioctx refuses every call with IoctxStateError ("The pool is closed").
- Checks librados makes on the client are made here, before anything is sent: a write while
  reading at a snapshot fails with EROFS; an object name or locator key over 2048 bytes or a
  namespace over 256 bytes fails with ENAMETOOLONG (the OSD's answer; sync calls raise it,
  aio calls complete with it).
- Ops of one ioctx on one object reach the OSD in call order (the Objecter keeps per-OSD
  order), whether sync or async.
"""
from __future__ import annotations

import errno
import threading
import time

from rados import _args
from rados._ioctx_aio import AioMixin
from rados._ioctx_extras import ExtrasMixin
from rados.constants import (
    CEPH_MAXSNAP, LIBRADOS_OPERATION_FULL_TRY, LIBRADOS_OPERATION_NOFLAG, LIBRADOS_SNAP_HEAD,
    MAX_ERRNO, MAX_OBJECT_NAME_LEN, MAX_OBJECT_NAMESPACE_LEN,
)
from rados.errors import IoctxStateError, errno_of, make_ex
from rados.objects import ObjectIterator, Snap, SnapIterator, XattrIterator
from rados.ops import (
    OmapIterator, ReadOp, WriteOp, omap_keys_handler, omap_vals_handler,
)

__all__ = ["Ioctx"]


class _Reply:
    """Stand-in for OSDOpReply when the client itself failed (timeout, transport)."""

    def __init__(self, result, outs=(), version=0):
        self.result = result
        self.outs = list(outs)
        self.version = version


class Ioctx(AioMixin, ExtrasMixin):
    """I/O context on one pool. Attributes: `rados`, `name`, `state` ('open'/'closed'),
    `locator_key`, `nspace`."""

    def __init__(self, rados, name, pool_id=None):
        self.name = name
        self.rados = rados
        self.state = "open"
        self.locator_key = ""
        self.nspace = ""
        self.lock = threading.Lock()
        self.safe_completions: list = []
        self.complete_completions: list = []
        if pool_id is None:
            pool_id = rados._lookup_pool(_args.to_str(name, "name"))
            if pool_id < 0:
                raise make_ex(pool_id, "error opening pool '%s'" % name)
        self._pool_id = pool_id
        self._pool_name = name
        self._snapid = LIBRADOS_SNAP_HEAD
        self._snapc = None
        self._extra_flags = 0
        self._last_version = 0
        self._inflight = 0
        self._inflight_cond = threading.Condition()

    # -- state --------------------------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, type_, value, traceback):
        self.close()
        return False

    def require_ioctx_open(self):
        """Raise IoctxStateError unless the ioctx is open."""
        if self.state != "open":
            raise IoctxStateError("The pool is %s" % self.state)

    def close(self):
        """Close the ioctx; later calls raise IoctxStateError."""
        if self.state == "open":
            self.state = "closed"

    def dup(self):
        """A new ioctx on the same pool and namespace."""
        self.require_ioctx_open()
        ioctx = self.rados.open_ioctx2(self.get_pool_id())
        ioctx.set_namespace(self.get_namespace())
        return ioctx

    # -- context ------------------------------------------------------------------------------
    def get_pool_id(self) -> int:
        self.require_ioctx_open()
        return self._pool_id

    def get_pool_name(self) -> str:
        self.require_ioctx_open()
        return self._pool_name

    def set_namespace(self, nspace):
        """Namespace for later calls; None or '' is the default one, LIBRADOS_ALL_NSPACES
        lists every namespace."""
        self.require_ioctx_open()
        if nspace is None:
            nspace = ""
        self.nspace = _args.to_str(nspace, "nspace")

    def get_namespace(self) -> str:
        self.require_ioctx_open()
        return self.nspace

    def set_locator_key(self, loc_key):
        self.require_ioctx_open()
        _args.cstr(loc_key, "loc_key")
        self.locator_key = loc_key

    def get_locator_key(self):
        return self.locator_key

    def set_read(self, snap_id: int):
        """Read at snapshot `snap_id` (LIBRADOS_SNAP_HEAD: back to the head); writes then fail
        with EROFS."""
        self.require_ioctx_open()
        self._snapid = _args.uint(snap_id, "rados_snap_t")

    def get_last_version(self) -> int:
        """The object version the last completed op on this ioctx saw."""
        self.require_ioctx_open()
        return int(self._last_version)

    def alignment(self):
        """Required append alignment of the pool (stripe width of EC pools), else None."""
        self.require_ioctx_open()
        pool = self._pool()
        if pool is None:
            raise make_ex(-errno.ENOENT, "error checking alignment")
        required = getattr(pool, "requires_aligned_append", None)
        if required is None:
            required = getattr(pool, "type", getattr(pool, "pool_type", "")) in ("erasure", 3)
        if not required:
            return None
        return int(getattr(pool, "stripe_width", 0) or 0) or None

    def set_osdmap_full_try(self):
        self.require_ioctx_open()
        self._extra_flags |= LIBRADOS_OPERATION_FULL_TRY

    def unset_osdmap_full_try(self):
        self.require_ioctx_open()
        self._extra_flags &= ~LIBRADOS_OPERATION_FULL_TRY

    set_pool_full_try = set_osdmap_full_try
    unset_pool_full_try = unset_osdmap_full_try

    # -- plumbing -----------------------------------------------------------------------------
    def _client(self):
        return self.rados._require_client()

    def _pool(self):
        return self.rados._osdmap_pool(self._pool_id)

    def _oid(self, key, name="key") -> str:
        return _args.to_str(key, name)

    def _precheck(self, oid: str, write) -> int:
        """librados' client-side refusals: 0 or -errno. `write` is True for a write, False
        for a read and None for an object class call (the method decides)."""
        if write is True and self._snapid != LIBRADOS_SNAP_HEAD:
            return -errno.EROFS
        if len(oid.encode("utf-8", "surrogateescape")) > MAX_OBJECT_NAME_LEN:
            return -errno.ENAMETOOLONG
        if len(_args.cstr(self.locator_key or "", "loc_key")) > MAX_OBJECT_NAME_LEN:
            return -errno.ENAMETOOLONG
        if len(self.nspace.encode("utf-8", "surrogateescape")) > MAX_OBJECT_NAMESPACE_LEN:
            return -errno.ENAMETOOLONG
        return 0

    def _target(self, flags: int = 0, mtime=None, write=False, at_head: bool = False) -> dict:
        """Where and how a request goes: namespace, locator key, snap context (writes and
        class calls), snap id (reads at the ioctx's read snap unless `at_head`)."""
        key = self.locator_key or ""
        if isinstance(key, bytes):
            key = key.decode("utf-8", "surrogateescape")
        snapid = LIBRADOS_SNAP_HEAD if (write is True or at_head) else self._snapid
        return dict(nspace=self.nspace, key=key,
                    snapc=self._snapc if write is not False else None,
                    snapid=snapid, flags=(flags | self._extra_flags), mtime=mtime)

    def _send(self, oid: str, ops: list, *, write, flags: int = 0, mtime=None):
        """Run one request synchronously; never raises (failures come back as -errno)."""
        try:
            reply = self._client().operate(self._pool_id, oid, ops,
                                           **self._target(flags, mtime, write))
        except Exception as exc:
            return _Reply(-errno_of(exc))
        if reply.result >= 0 or reply.version:
            self._last_version = reply.version or self._last_version
        return reply

    def _operate(self, oid: str, ops: list, msg: str, *, write, flags: int = 0,
                 mtime=None):
        """Run one request; raise make_ex(result, msg) if it fails. Returns the reply."""
        err = self._precheck(oid, write)
        if err:
            raise make_ex(err, msg)
        reply = self._send(oid, ops, write=write, flags=flags, mtime=mtime)
        if reply.result < 0:
            raise make_ex(reply.result, msg)
        return reply

    @staticmethod
    def _out(reply, index: int = 0):
        try:
            return reply.outs[index][1]
        except (IndexError, TypeError):
            return None

    # -- synchronous object I/O ---------------------------------------------------------------
    def write(self, key, data, offset=0):
        """Write `data` at `offset` (extends the object); returns 0."""
        self.require_ioctx_open()
        oid = self._oid(key)
        data = _args.data(data)
        offset = _args.uint(offset, "uint64_t")
        self._operate(oid, [("write", offset, data)],
                      "Ioctx.write(%s): failed to write %s" % (self.name, key), write=True)
        return 0

    def write_full(self, key, data):
        """Replace the object's data with `data`; returns 0."""
        self.require_ioctx_open()
        oid = self._oid(key)
        data = _args.data(data)
        self._operate(oid, [("write_full", data)],
                      "Ioctx.write_full(%s): failed to write %s" % (self.name, key), write=True)
        return 0

    def writesame(self, key, data, write_len, offset=0):
        """Write `data` repeatedly to fill `write_len` bytes at `offset`."""
        self.require_ioctx_open()
        oid = self._oid(key)
        data = _args.data(data)
        write_len = _args.uint(write_len, "size_t")
        offset = _args.uint(offset, "uint64_t")
        self._operate(oid, [("writesame", offset, write_len, data)],
                      "Ioctx.writesame(%s): failed to write %s" % (self.name, key), write=True)

    def append(self, key, data):
        """Append `data`; returns 0."""
        self.require_ioctx_open()
        oid = self._oid(key)
        data = _args.data(data)
        self._operate(oid, [("append", data)],
                      "Ioctx.append(%s): failed to append %s" % (self.name, key), write=True)
        return 0

    def read(self, key, length=8192, offset=0) -> bytes:
        """Up to `length` bytes at `offset`; ObjectNotFound if the object does not exist."""
        self.require_ioctx_open()
        oid = self._oid(key)
        offset = _args.uint(offset, "uint64_t")
        length = _args.uint(length, "size_t")
        msg = "Ioctx.read(%s): failed to read %s" % (self.name, key)
        reply = self._operate(oid, [("read", offset, length)], msg, write=False)
        data = self._out(reply) or b""
        if length == 0 and data:
            # librados reads into a caller buffer of `length` bytes: nothing fits in 0.
            raise make_ex(-errno.ERANGE, msg)
        return bytes(data[:length]) if length else b""

    def stat(self, key):
        """(size, time.struct_time of the mtime in local time); ObjectNotFound if absent."""
        self.require_ioctx_open()
        oid = self._oid(key)
        reply = self._operate(oid, [("stat",)], "Failed to stat %r" % key, write=False)
        size, mtime = self._out(reply)
        return size, time.localtime(int(mtime))

    def trunc(self, key, size):
        """Truncate (or extend with zeros) the object to `size`; returns 0."""
        self.require_ioctx_open()
        oid = self._oid(key)
        size = _args.uint(size, "uint64_t")
        self._operate(oid, [("truncate", size)],
                      "Ioctx.trunc(%s): failed to truncate %s" % (self.name, key), write=True)
        return 0

    def remove_object(self, key) -> bool:
        """Remove the object; returns True, ObjectNotFound if it does not exist."""
        self.require_ioctx_open()
        oid = self._oid(key)
        self._operate(oid, [("remove",)], "Failed to remove '%s'" % key, write=True)
        return True

    def cmpext(self, key, cmp_buf, offset=0) -> int:
        """0 if the object's data at `offset` equals `cmp_buf`, else -MAX_ERRNO - offset of
        the first difference."""
        self.require_ioctx_open()
        oid = self._oid(key)
        cmp_buf = _args.data(cmp_buf)
        offset = _args.uint(offset, "uint64_t")
        err = self._precheck(oid, False)
        reply = _Reply(err) if err else self._send(oid, [("cmpext", offset, cmp_buf)],
                                                   write=False)
        ret = reply.result
        if not (ret <= -MAX_ERRNO or ret == 0):
            raise AssertionError("Ioctx.cmpext(%s): failed to compare %s" % (self.name, key))
        return ret

    # -- extended attributes ------------------------------------------------------------------
    def get_xattr(self, key, xattr_name) -> bytes:
        """The value of one xattr; NoData if it is not set."""
        self.require_ioctx_open()
        oid = self._oid(key)
        name = _args.to_str(xattr_name, "xattr_name")
        reply = self._operate(oid, [("getxattr", name)], "Failed to get xattr %r" % xattr_name,
                              write=False)
        return bytes(self._out(reply) or b"")

    def get_xattrs(self, oid) -> XattrIterator:
        """Iterator of (name, value) of every xattr of the object."""
        self.require_ioctx_open()
        return XattrIterator(self, oid)

    def _getxattrs(self, key) -> dict:
        oid = self._oid(key, "oid")
        reply = self._operate(oid, [("getxattrs",)],
                              "Failed to get rados xattrs for object %r" % key, write=False)
        return dict(self._out(reply) or {})

    def set_xattr(self, key, xattr_name, xattr_value) -> bool:
        """Set one xattr; returns True."""
        self.require_ioctx_open()
        oid = self._oid(key)
        name = _args.to_str(xattr_name, "xattr_name")
        value = _args.data(xattr_value)
        self._operate(oid, [("setxattr", name, value)], "Failed to set xattr %r" % xattr_name,
                      write=True)
        return True

    def rm_xattr(self, key, xattr_name) -> bool:
        """Remove one xattr; returns True, NoData if it is not set."""
        self.require_ioctx_open()
        oid = self._oid(key)
        name = _args.to_str(xattr_name, "xattr_name")
        self._operate(oid, [("rmxattr", name)],
                      "Failed to delete key %r xattr %r" % (key, xattr_name), write=True)
        return True

    # -- listing ------------------------------------------------------------------------------
    def list_objects(self) -> ObjectIterator:
        """Iterator of rados.Object in the current namespace (all with LIBRADOS_ALL_NSPACES)."""
        self.require_ioctx_open()
        return ObjectIterator(self)

    def _list_entries(self):
        return iter(self._client().list_objects(self._pool_id, self.nspace))

    # -- pool snapshots -----------------------------------------------------------------------
    def create_snap(self, snap_name):
        """Take a pool snapshot (InvalidArgumentError if the pool uses self-managed snaps,
        ObjectExists if the name is taken)."""
        self.require_ioctx_open()
        name = _args.to_str(snap_name, "snap_name")
        ret, _ = self.rados._mon_call("pool_snap_create", self._pool_id, name)
        if ret != 0:
            raise make_ex(ret, "Failed to create snap %s" % snap_name)

    def remove_snap(self, snap_name):
        self.require_ioctx_open()
        name = _args.to_str(snap_name, "snap_name")
        ret, _ = self.rados._mon_call("pool_snap_remove", self._pool_id, name)
        if ret != 0:
            raise make_ex(ret, "Failed to remove snap %s" % snap_name)

    def _pool_snaps(self) -> list:
        """[(snap_id, name)] of the pool snapshots, oldest first."""
        pool = self._pool()
        if pool is None:
            raise make_ex(-errno.ENOENT, "error calling rados_snap_list for ioctx '%s'"
                          % self.name)
        snaps = getattr(pool, "snaps", None) or {}
        return [(sid, _snap_name(info)) for sid, info in sorted(snaps.items())]

    def _snap_lookup(self, name: str) -> int:
        for sid, sname in self._pool_snaps():
            if sname == name:
                return sid
        return -errno.ENOENT

    def _snap_stamp(self, snap_id: int) -> float:
        pool = self._pool()
        info = (getattr(pool, "snaps", None) or {}).get(snap_id) if pool is not None else None
        if info is None:
            raise make_ex(-errno.ENOENT, "Failed to retrieve the timestamp")
        return _snap_stamp(info)

    def list_snaps(self) -> SnapIterator:
        """Iterator of the pool's snapshots (Snap), oldest first."""
        self.require_ioctx_open()
        return SnapIterator(self)

    def lookup_snap(self, snap_name) -> Snap:
        """The pool snapshot called `snap_name`; ObjectNotFound if there is none."""
        self.require_ioctx_open()
        name = _args.to_str(snap_name, "snap_name")
        snap_id = self._snap_lookup(name)
        if snap_id < 0:
            self.rados._refresh_map()
            snap_id = self._snap_lookup(name)
        if snap_id < 0:
            raise make_ex(snap_id, "Failed to lookup snap %s" % snap_name)
        return Snap(self, snap_name, snap_id)

    def get_snap_stamp(self, snap_id):
        """Creation time (datetime) of pool snapshot `snap_id` (not in Ceph's binding)."""
        self.require_ioctx_open()
        from datetime import datetime
        return datetime.fromtimestamp(self._snap_stamp(_args.uint(snap_id, "rados_snap_t")))

    def snap_rollback(self, oid, snap_name):
        """Roll object `oid` back to pool snapshot `snap_name`."""
        self.require_ioctx_open()
        obj = self._oid(oid, "oid")
        name = _args.to_str(snap_name, "snap_name")
        snap_id = self._snap_lookup(name)
        if snap_id < 0:
            raise make_ex(snap_id, "Failed to rollback %s" % oid)
        self._operate(obj, [("rollback", snap_id)], "Failed to rollback %s" % oid, write=True)

    # -- self-managed snapshots ---------------------------------------------------------------
    def create_self_managed_snap(self) -> int:
        """Allocate a self-managed snapshot id of the pool (InvalidArgumentError if the pool
        has pool snapshots)."""
        self.require_ioctx_open()
        ret, snap_id = self.rados._mon_call("selfmanaged_snap_create", self._pool_id)
        if ret != 0:
            raise make_ex(ret, "Failed to create self-managed snapshot")
        return int(snap_id)

    def remove_self_managed_snap(self, snap_id):
        self.require_ioctx_open()
        snap_id = _args.uint(snap_id, "rados_snap_t")
        ret, _ = self.rados._mon_call("selfmanaged_snap_remove", self._pool_id, snap_id)
        if ret != 0:
            raise make_ex(ret, "Failed to remove self-managed snapshot")

    def set_self_managed_snap_write(self, snaps):
        """Snap context of later writes: seq = newest id, snaps sorted newest first.
        Duplicate or out-of-range ids → InvalidArgumentError."""
        self.require_ioctx_open()
        sorted_snaps = []
        snap_seq = 0
        if snaps:
            sorted_snaps = sorted([int(x) for x in snaps], reverse=True)
            snap_seq = sorted_snaps[0]
        snap_seq = _args.uint(snap_seq, "rados_snap_t")
        sorted_snaps = [_args.uint(s, "rados_snap_t") for s in sorted_snaps]
        valid = snap_seq <= CEPH_MAXSNAP and all(
            a > b for a, b in zip(sorted_snaps, sorted_snaps[1:]))
        if not valid:
            raise make_ex(-errno.EINVAL, "Failed to update snapshot write context")
        self._snapc = (snap_seq, sorted_snaps) if (snap_seq or sorted_snaps) else None

    def rollback_self_managed_snap(self, oid, snap_id):
        """Roll object `oid` back to self-managed snapshot `snap_id`."""
        self.require_ioctx_open()
        obj = self._oid(oid, "oid")
        snap_id = _args.uint(snap_id, "rados_snap_t")
        self._operate(obj, [("rollback", snap_id)], "Failed to rollback %s" % oid, write=True)

    # -- compound ops -------------------------------------------------------------------------
    def create_write_op(self) -> WriteOp:
        self.require_ioctx_open()
        return WriteOp().create()

    def create_read_op(self) -> ReadOp:
        self.require_ioctx_open()
        return ReadOp().create()

    def release_write_op(self, write_op):
        self.require_ioctx_open()
        write_op.release()

    def release_read_op(self, read_op):
        self.require_ioctx_open()
        read_op.release()

    @staticmethod
    def _check_op(op, cls, name):
        if not isinstance(op, cls):
            raise TypeError("Argument '%s' has incorrect type (expected rados.%s, got %s)"
                            % (name, cls.__name__, type(op).__name__))

    def operate_write_op(self, write_op, oid, mtime=0, flags=LIBRADOS_OPERATION_NOFLAG):
        """Apply every op of `write_op` to `oid` atomically."""
        self.require_ioctx_open()
        self._check_op(write_op, WriteOp, "write_op")
        obj = self._oid(oid, "oid")
        mtime = _args.sint(mtime, "time_t", 64)
        flags = _args.sint(flags, "int")
        ops, _ = write_op._take()
        if not ops:
            return
        self._operate(obj, ops, "Failed to operate write op for oid %s" % oid, write=True,
                      flags=flags, mtime=float(mtime) if mtime else None)

    def operate_read_op(self, read_op, oid, flag=LIBRADOS_OPERATION_NOFLAG):
        """Run every op of `read_op` on `oid`; results land in the iterators they returned."""
        self.require_ioctx_open()
        self._check_op(read_op, ReadOp, "read_op")
        obj = self._oid(oid, "oid")
        flag = _args.sint(flag, "int")
        ops, handlers = read_op._take()
        if not ops:
            return
        msg = "Failed to operate read op for oid %s" % oid
        err = self._precheck(obj, False)
        if err:
            raise make_ex(err, msg)
        reply = self._send(obj, ops, write=False, flags=flag)
        _run_handlers(reply, handlers)
        if reply.result < 0:
            raise make_ex(reply.result, msg)

    # -- omap (attached to ops) ---------------------------------------------------------------
    def set_omap(self, write_op, keys, values):
        """Add an op setting omap keys[i] = values[i] (str keys, bytes values)."""
        if len(keys) != len(values):
            from rados.errors import Error
            raise Error("Rados(): keys and values must have the same number of items")
        self._check_op(write_op, WriteOp, "write_op")
        keys = [k.decode("utf-8", "surrogateescape") for k in _args.cstr_list(keys, "keys")]
        values = _args.cstr_list(values, "values")
        write_op._add(("omap_set", dict(zip(keys, values))))

    def remove_omap_keys(self, write_op, keys):
        self._check_op(write_op, WriteOp, "write_op")
        keys = [k.decode("utf-8", "surrogateescape") for k in _args.cstr_list(keys, "keys")]
        write_op._add(("omap_rm_keys", keys))

    def clear_omap(self, write_op):
        self._check_op(write_op, WriteOp, "write_op")
        write_op._add(("omap_clear",))

    def remove_omap_range2(self, write_op, key_begin, key_end):
        """Add an op removing omap keys in [key_begin, key_end)."""
        self._check_op(write_op, WriteOp, "write_op")
        begin = _args.to_str(key_begin, "key_begin")
        end = _args.to_str(key_end, "key_end")
        write_op._add(("omap_rm_range", begin, end))

    def get_omap_vals(self, read_op, start_after, filter_prefix, max_return,
                      omap_key_type=bytes.decode):
        """Add an op reading up to `max_return` (key, value) pairs after `start_after` whose
        keys start with `filter_prefix`; returns (OmapIterator, 0), filled by operate."""
        self._check_op(read_op, ReadOp, "read_op")
        start = _args.to_str(start_after, "start_after") if start_after else ""
        prefix = _args.to_str(filter_prefix, "filter_prefix") if filter_prefix else ""
        max_return = _args.sint(max_return, "int")
        it = OmapIterator(self, omap_key_type)
        read_op._add(("omap_get_vals", start, prefix, _as_uint64(max_return)),
                     omap_vals_handler(it))
        return it, 0

    def get_omap_keys(self, read_op, start_after, max_return, omap_key_type=bytes.decode):
        """Add an op reading up to `max_return` keys after `start_after`; (OmapIterator of
        (key, None), 0)."""
        self._check_op(read_op, ReadOp, "read_op")
        start = _args.to_str(start_after, "start_after") if start_after else ""
        max_return = _args.sint(max_return, "int")
        it = OmapIterator(self, omap_key_type)
        read_op._add(("omap_get_keys", start, _as_uint64(max_return)), omap_keys_handler(it))
        return it, 0

    def get_omap_vals_by_keys(self, read_op, keys, omap_key_type=bytes.decode):
        """Add an op reading the given keys (missing ones are skipped); (OmapIterator, 0)."""
        self._check_op(read_op, ReadOp, "read_op")
        keys = [k.decode("utf-8", "surrogateescape") for k in _args.cstr_list(keys, "keys")]
        it = OmapIterator(self, omap_key_type)
        read_op._add(("omap_get_vals_by_keys", keys), omap_vals_handler(it))
        return it, 0


def _as_uint64(count: int) -> int:
    # The binding hands an int to librados' uint64_t max_return: -1 means "no limit".
    return count & 0xFFFFFFFFFFFFFFFF


def _run_handlers(reply, handlers) -> None:
    """Hand each op's output to its handler (ops that ran before a failure included)."""
    for index, handler in enumerate(handlers):
        if handler is None or index >= len(reply.outs):
            continue
        rval, out = reply.outs[index]
        if out is None or (rval is not None and rval < 0):
            continue
        try:
            handler(out)
        except (TypeError, ValueError, AttributeError):  # an output we cannot read: no data
            continue


def _snap_name(info) -> str:
    if isinstance(info, (tuple, list)):
        return info[0]
    if isinstance(info, dict):
        return info.get("name")
    return getattr(info, "name", str(info))


def _snap_stamp(info) -> float:
    if isinstance(info, (tuple, list)):
        return float(info[1])
    if isinstance(info, dict):
        return float(info.get("stamp", 0))
    return float(getattr(info, "stamp", 0))
