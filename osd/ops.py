"""Execute one client request (a compound op on one object) against the store.

`execute(store, req, env)` runs the op list of docs/interfaces.md section 2 in order through
an ObjectView, an overlay of the object that records each mutation as a transaction
primitive while answering later reads from the store plus the request's own changes. It
returns an ExecResult; the caller (the PG) applies `txn` to its store and replicates it.

Invariants:
- Nothing touches the store here: a request is applied by the caller from the returned
  transaction, all or nothing. The first failing op fails the whole request (result =
  its -errno, txn None); per-op rvals of the ops run before it are still reported.
- Object data is never copied for a write: primitives reference the client's bytes. The view
  materializes a private copy of an object's data only when a request reads data it has
  itself changed (rare: object-class methods doing read-modify-write).
- Snapshots follow Ceph: before the first change under a snap context newer than the
  object's SnapSet seq, the head is cloned as `snapc.snaps[0]` for the snap ids newer than
  that seq (osd/snaps.py); the clone primitive goes first in the transaction so it copies
  the head as it was before the request. Every write then narrows the newest clone's overlap.
- Errors are Ceph's errnos; no input raises out of `execute`.
"""
from __future__ import annotations

import errno
import logging
from dataclasses import dataclass, field

from osd.cls import WR, RD, ClsContext, ClsError, client_addr, lookup
from osd.messages import SNAP_HEAD, WRITE_OPS
from osd.object_view import ObjectView, OpError, check_extent
from osd.snaps import (
    add_clone, clone_snaps_for, extents_normalize, list_snaps_reply, resolve_read,
    subtract_modified, with_seq,
)
from osd.transaction import OP_CLONE, OP_SET_META, OP_TOUCH, Transaction

log = logging.getLogger("rayceph.osd")

MAX_ERRNO = 4095
MAX_XATTR_NAME = 100                # osd_max_attr_name_len
DEFAULT_WATCH_TIMEOUT_S = 30.0      # osd_client_watch_timeout
DEFAULT_NOTIFY_TIMEOUT_S = 30.0     # osd_default_notify_timeout

LIBRADOS_OPERATION_RETURNVEC = 1024
CMPXATTR_OPS = {1: "eq", 2: "ne", 3: "gt", 4: "gte", 5: "lt", 6: "lte"}

_BYTES = (bytes, bytearray, memoryview)


# -- argument checks ---------------------------------------------------------------------------
def _uint(value, what: str = "value") -> int:
    if type(value) is not int or value < 0:     # bool is excluded on purpose
        raise OpError(errno.EINVAL, f"{what} must be an int >= 0")
    return value


def _data(value) -> bytes:
    if type(value) is bytes:
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)     # the transaction must pickle; a memoryview does not
    raise OpError(errno.EINVAL, "data must be bytes")


def _str(value, what: str = "name") -> str:
    if type(value) is not str:
        raise OpError(errno.EINVAL, f"{what} must be str")
    return value


def _cmp(op: int, client_value: bytes, stored: bytes) -> bool:
    """Ceph's string comparison: the client's value against the stored one."""
    if op == 1:
        return client_value == stored
    if op == 2:
        return client_value != stored
    if op == 3:
        return client_value > stored
    if op == 4:
        return client_value >= stored
    if op == 5:
        return client_value < stored
    if op == 6:
        return client_value <= stored
    raise OpError(errno.EINVAL, f"bad comparison op {op!r}")


# -- request execution -------------------------------------------------------------------------
@dataclass
class OpEnv:
    """What the PG tells the executor about the request's surroundings."""
    pgid: int
    now: float                      # the OSD clock
    version: int                    # the PG version this request gets if it writes
    snapc: tuple | None = None      # effective (seq, snaps newest first), already validated
    watchers: dict = field(default_factory=dict)    # (gid, cookie) -> timeout_s, this object


@dataclass
class ExecResult:
    result: int
    outs: list
    version: int
    is_write: bool = False
    txn: Transaction | None = None
    effects: list = field(default_factory=list)   # ('watch'|'unwatch'|'notify', ...) for the service
    op_kind: str = "modify"                       # 'modify' | 'delete' (head gone after)
    num_rd: int = 0
    rd_bytes: int = 0
    num_wr: int = 0
    wr_bytes: int = 0


class _Run:
    """Per-request state shared by op handlers."""

    __slots__ = ("req", "env", "view", "is_write", "effects", "num_rd", "rd_bytes",
                 "num_wr", "wr_bytes", "op_index", "head_hobj")

    def __init__(self, req, env, view, is_write, head_hobj):
        self.req, self.env, self.view, self.is_write = req, env, view, is_write
        self.head_hobj = head_hobj
        self.effects: list = []
        self.num_rd = self.rd_bytes = self.num_wr = self.wr_bytes = 0
        self.op_index = 0


def classify(ops) -> bool:
    """True if the op list changes the object (a write). Raises OpError(EINVAL) for a
    malformed op list. A `call` is a write when its method is flagged WR."""
    if not isinstance(ops, (list, tuple)):
        raise OpError(errno.EINVAL, "ops must be a list")
    is_write = False
    for op in ops:
        if not isinstance(op, (tuple, list)) or not op or type(op[0]) is not str:
            raise OpError(errno.EINVAL, f"malformed op {op!r}")
        name = op[0]
        if name in WRITE_OPS:
            is_write = True
        elif name == "call" and len(op) == 4 and type(op[1]) is str and type(op[2]) is str:
            method = lookup(op[1], op[2])
            if method is not None and method.flags & WR:
                is_write = True
    return is_write


def head_of(req) -> tuple:
    return (req.pool, req.nspace, req.key, req.oid, SNAP_HEAD)


def execute(store, req, env: OpEnv, is_write: bool | None = None) -> ExecResult:
    """Run `req.ops`; never raises for bad input (the result carries the -errno)."""
    ops = req.ops
    try:
        if is_write is None:
            is_write = classify(ops)
    except OpError as exc:
        return ExecResult(-exc.errno, [], 0)
    outs: list = [(0, None)] * len(ops)
    head = head_of(req)
    if type(req.snapid) is not int:
        return ExecResult(-errno.EINVAL, outs, 0)

    if is_write:
        if req.snapid != SNAP_HEAD:
            return ExecResult(-errno.EROFS, outs, 0, is_write=True)
        view = ObjectView(store, head, Transaction(env.pgid))
    else:
        target = _read_target(store, head, req.snapid, ops)
        if isinstance(target, int):
            return ExecResult(target, outs, 0)
        view = ObjectView(store, target, None)

    run = _Run(req, env, view, is_write, head)
    for i, op in enumerate(ops):
        run.op_index = i
        handler = _HANDLERS.get(op[0])
        try:
            if handler is None:
                raise OpError(errno.EOPNOTSUPP, f"unknown op {op[0]!r}")
            fn, min_args, max_args = handler
            nargs = len(op) - 1
            if nargs < min_args or nargs > max_args:
                raise OpError(errno.EINVAL, f"{op[0]}: wrong number of arguments")
            rval, out = fn(run, *op[1:])
        except OpError as exc:
            rval = -exc.errno
            outs[i] = (rval, None)
            return ExecResult(rval, outs, view.version, is_write=is_write,
                              num_rd=run.num_rd, rd_bytes=run.rd_bytes)
        outs[i] = (rval, out)
        if rval < 0:    # cmpext mismatch: an rval that fails the request, with no exception
            return ExecResult(rval, outs, view.version, is_write=is_write,
                              num_rd=run.num_rd, rd_bytes=run.rd_bytes)

    if not is_write:
        return ExecResult(0, outs, view.version, effects=run.effects,
                          num_rd=run.num_rd, rd_bytes=run.rd_bytes)
    txn = _finish_write(view, env, req)
    return ExecResult(0, outs, env.version, is_write=True, txn=txn, effects=run.effects,
                      op_kind="delete" if view.existed and not view.exists else "modify",
                      num_rd=run.num_rd, rd_bytes=run.rd_bytes,
                      num_wr=run.num_wr, wr_bytes=run.wr_bytes)


def _read_target(store, head, snapid: int, ops):
    """The object a read request reads (head or clone), or -ENOENT."""
    meta = store.get_meta(head)
    if meta is None:
        return -errno.ENOENT
    head_exists = not meta.whiteout
    if ops and all(op[0] == "list_snaps" for op in ops):
        return head     # answered from the SnapSet, which a whiteout head still carries
    which = resolve_read(meta.snapset, head_exists, snapid)
    if which is None:
        return -errno.ENOENT
    if which == SNAP_HEAD:
        return head
    return head[:4] + (which,)


def _finish_write(view: ObjectView, env: OpEnv, req) -> Transaction:
    """Prepend the snapshot clone if due, append the object info (or whiteout)."""
    head = view.hobj
    txn = view.txn
    snapset = view.snapset
    prefix = None
    snapc = env.snapc
    if snapc is not None and snapc[0] > (snapset.seq if snapset is not None else 0):
        new_snaps = clone_snaps_for(snapset, snapc[1])
        if view.existed and new_snaps:
            cloneid = new_snaps[0]
            prefix = (OP_CLONE, head, head[:4] + (cloneid,))
            snapset = add_clone(snapset, cloneid, new_snaps, view.base_size)
        snapset = with_seq(snapset, snapc[0])
    if view.modified and snapset is not None and snapset.clones:
        snapset = subtract_modified(snapset, extents_normalize(view.modified))
    mtime = req.mtime if isinstance(req.mtime, (int, float)) and req.mtime else env.now
    ops = txn.ops
    if prefix is not None:
        ops.insert(0, prefix)
    if view.exists:
        ops.append((OP_SET_META, head, env.version, float(mtime), snapset, False))
    elif snapset is not None and snapset.clones:
        if not view.in_store:
            ops.append((OP_TOUCH, head))
        ops.append((OP_SET_META, head, env.version, float(mtime), snapset, True))
    elif view.in_store:
        txn.remove(head)    # a whiteout left with nothing to carry
    return txn


# -- op handlers: fn(run, *args) -> (rval, out) --------------------------------------------------
def _op_create(run, exclusive=False):
    run.view.create(bool(exclusive))
    run.num_wr += 1
    return 0, None


def _op_write(run, offset, data):
    offset, data = _uint(offset, "offset"), _data(data)
    run.view.write(offset, data)
    run.num_wr += 1
    run.wr_bytes += len(data)
    return 0, None


def _op_write_full(run, data):
    data = _data(data)
    run.view.write_full(data)
    run.num_wr += 1
    run.wr_bytes += len(data)
    return 0, None


def _op_writesame(run, offset, write_len, data):
    offset, write_len, data = _uint(offset, "offset"), _uint(write_len, "write_len"), _data(data)
    if not data or write_len % len(data):
        raise OpError(errno.EINVAL, "write_len must be a multiple of the data length")
    check_extent(offset, write_len)
    run.view.write(offset, data * (write_len // len(data)))
    run.num_wr += 1
    run.wr_bytes += write_len
    return 0, None


def _op_append(run, data):
    data = _data(data)
    run.view.write(run.view.size, data)
    run.num_wr += 1
    run.wr_bytes += len(data)
    return 0, None


def _op_truncate(run, size):
    run.view.truncate(_uint(size, "size"))
    run.num_wr += 1
    return 0, None


def _op_zero(run, offset, length):
    run.view.zero(_uint(offset, "offset"), _uint(length, "length"))
    run.num_wr += 1
    return 0, None


def _op_remove(run):
    run.view.remove()
    run.num_wr += 1
    return 0, None


def _op_setxattr(run, name, value):
    name, value = _str(name), _data(value)
    if len(name) > MAX_XATTR_NAME:
        raise OpError(errno.ENAMETOOLONG)
    run.view.setxattr(name, value)
    run.num_wr += 1
    return 0, None


def _op_rmxattr(run, name):
    run.view.rmxattr(_str(name))
    run.num_wr += 1
    return 0, None


def _op_omap_set(run, kv):
    if not isinstance(kv, dict):
        raise OpError(errno.EINVAL, "omap_set takes a dict")
    clean = {_str(k, "omap key"): _data(v) for k, v in kv.items()}
    run.view.omap_set(clean)
    run.num_wr += 1
    return 0, None


def _op_omap_rm_keys(run, keys):
    if not isinstance(keys, (list, tuple, set, frozenset)):
        raise OpError(errno.EINVAL, "omap_rm_keys takes a list")
    run.view.omap_rm_keys([_str(k, "omap key") for k in keys])
    run.num_wr += 1
    return 0, None


def _op_omap_rm_range(run, start, end):
    run.view.omap_rm_range(_str(start, "omap key"), _str(end, "omap key"))
    run.num_wr += 1
    return 0, None


def _op_omap_clear(run):
    run.view.omap_clear()
    run.num_wr += 1
    return 0, None


def _op_omap_set_header(run, data):
    run.view.omap_set_header(_data(data))
    run.num_wr += 1
    return 0, None


def _op_call(run, cls, method_name, indata):
    cls, method_name, indata = _str(cls, "class"), _str(method_name, "method"), _data(indata)
    method = lookup(cls, method_name)
    if method is None:
        raise OpError(errno.EOPNOTSUPP, f"no method {cls}.{method_name}")
    view, env, req = run.view, run.env, run.req
    watchers = env.watchers
    ctx = ClsContext(view, gid=req.reqid[0], now=env.now,
                     snap_seq=env.snapc[0] if env.snapc else 0,
                     watchers=lambda: _watcher_list(watchers), reqid=req.reqid,
                     pool=req.pool, nspace=req.nspace, oid=req.oid)
    error = None
    out = None
    try:
        out = method.func(ctx, indata)
    except ClsError as exc:
        error = exc
    except Exception:
        log.exception("cls method %s.%s raised", cls, method_name)
        error = OpError(errno.EIO)
    # Checked even when the method failed: a RD-only method that tried to write (and got
    # EROFS in a read request) is reported as Ceph does, with EIO.
    if ctx.num_read and not method.flags & RD:
        raise OpError(errno.EIO, f"{cls}.{method_name} read but is not flagged RD")
    if ctx.num_write and not method.flags & WR:
        raise OpError(errno.EIO, f"{cls}.{method_name} wrote but is not flagged WR")
    if error is not None:
        raise error
    if out is None:
        out = b""
    elif not isinstance(out, (bytes, bytearray, memoryview)):
        log.error("cls method %s.%s returned %s, not bytes", cls, method_name, type(out))
        raise OpError(errno.EIO)
    out = bytes(out)
    run.num_rd += ctx.num_read and 1
    run.num_wr += ctx.num_write and 1
    if run.is_write and not run.req.flags & LIBRADOS_OPERATION_RETURNVEC:
        out = b""       # Ceph returns no data from write ops unless RETURNVEC is set
    return 0, out


def _op_rollback(run, snapid):
    snapid = _uint(snapid, "snapid")
    view = run.view
    which = resolve_read(view.snapset, view.existed, snapid)
    if which == SNAP_HEAD:
        pass        # the head is what the object looked like at the snap
    elif which is None:
        if view.exists:
            view.remove()       # the object did not exist at the snap
    else:
        clone_hobj = view.hobj[:4] + (which,)
        meta = view.store.get_meta(clone_hobj)
        if meta is None:
            raise OpError(errno.EIO, f"clone {which} of {view.hobj!r} is missing")
        view.rollback_to_clone(clone_hobj, meta.size)
    run.num_wr += 1
    return 0, None


def _op_assert_exists(run):
    run.view._require()
    return 0, None


def _op_assert_version(run, version):
    version = _uint(version, "version")
    current = run.view.version if run.view.exists else 0
    if version == 0:
        raise OpError(errno.EINVAL)
    if version < current:
        raise OpError(errno.ERANGE)
    if version > current:
        raise OpError(errno.EOVERFLOW)
    return 0, None


def _op_cmpext(run, offset, data):
    offset, data = _uint(offset, "offset"), _data(data)
    view = run.view
    current = view.read(offset, len(data)) if view.exists and data else b""
    run.num_rd += 1
    if len(current) < len(data):
        current += bytes(len(data) - len(current))     # compared against zeros past the end
    if current == data:
        return 0, 0
    for i in range(len(data)):
        if current[i] != data[i]:
            rval = -MAX_ERRNO - i
            return rval, rval
    return 0, 0  # pragma: no cover - unequal bytes of equal length differ somewhere


def _op_cmpxattr(run, name, op, value):
    name, value = _str(name), _data(value)
    if type(op) is not int or op not in CMPXATTR_OPS:
        raise OpError(errno.EINVAL, f"bad comparison op {op!r}")
    stored = run.view.getxattr(name)
    run.num_rd += 1
    if not _cmp(op, value, stored if stored is not None else b""):
        raise OpError(errno.ECANCELED)
    return 0, None


def _op_omap_cmp(run, assertions):
    if not isinstance(assertions, dict):
        raise OpError(errno.EINVAL, "omap_cmp takes {key: (value, op)}")
    checks = []
    for key, spec in assertions.items():
        if not isinstance(spec, (tuple, list)) or len(spec) != 2:
            raise OpError(errno.EINVAL, "omap_cmp takes {key: (value, op)}")
        value, op = _data(spec[0]), spec[1]
        if type(op) is not int or op not in CMPXATTR_OPS:
            raise OpError(errno.EINVAL, f"bad comparison op {op!r}")
        checks.append((_str(key, "omap key"), value, op))
    found = run.view.omap_get_vals_by_keys([k for k, _, _ in checks])
    run.num_rd += 1
    for key, value, op in checks:
        if key not in found or not _cmp(op, value, found[key]):
            raise OpError(errno.ECANCELED)
    return 0, None


def _op_read(run, offset, length):
    offset, length = _uint(offset, "offset"), _uint(length, "length")
    data = run.view.read(offset, length)
    run.num_rd += 1
    run.rd_bytes += len(data)
    return 0, data


def _op_sparse_read(run, offset, length):
    offset, length = _uint(offset, "offset"), _uint(length, "length")
    data = run.view.read(offset, length)
    run.num_rd += 1
    run.rd_bytes += len(data)
    # Like memstore, the store keeps no holes: the extent that exists is one data extent.
    return 0, ([(offset, len(data))] if data else [], data)


def _op_stat(run):
    view = run.view
    view._require()
    run.num_rd += 1
    return 0, (view.size, view.mtime)


def _op_getxattr(run, name):
    value = run.view.getxattr(_str(name))
    run.num_rd += 1
    if value is None:
        raise OpError(errno.ENODATA)
    return 0, value


def _op_getxattrs(run):
    run.num_rd += 1
    return 0, run.view.getxattrs()


def _op_omap_get_vals(run, start_after, filter_prefix, max_return):
    start_after = "" if start_after is None else _str(start_after, "start_after")
    filter_prefix = "" if filter_prefix is None else _str(filter_prefix, "filter_prefix")
    vals, more = run.view.omap_get_vals(start_after, filter_prefix, _uint(max_return))
    run.num_rd += 1
    return 0, (vals, more)


def _op_omap_get_keys(run, start_after, max_return):
    start_after = "" if start_after is None else _str(start_after, "start_after")
    keys, more = run.view.omap_get_keys(start_after, _uint(max_return))
    run.num_rd += 1
    return 0, (keys, more)


def _op_omap_get_vals_by_keys(run, keys):
    if not isinstance(keys, (list, tuple, set, frozenset)):
        raise OpError(errno.EINVAL, "omap_get_vals_by_keys takes a list")
    run.num_rd += 1
    return 0, run.view.omap_get_vals_by_keys([_str(k, "omap key") for k in keys])


def _op_omap_get_header(run):
    run.num_rd += 1
    return 0, run.view.omap_get_header()


def _op_list_snaps(run):
    # The head's SnapSet and size as the store has them, whatever snap the request reads.
    meta = run.view.store.get_meta(run.head_hobj)
    run.num_rd += 1
    if meta is None:
        raise OpError(errno.ENOENT)
    head_exists = not meta.whiteout
    return 0, list_snaps_reply(meta.snapset, head_exists, meta.size if head_exists else 0)


def _watcher_list(watchers: dict) -> list[dict]:
    return [{"name": f"client.{gid}", "cookie": cookie, "addr": client_addr(gid)}
            for (gid, cookie) in sorted(watchers)]


def _op_list_watchers(run):
    run.view._require()
    return 0, _watcher_list(run.env.watchers)


def _op_watch(run, cookie, timeout_s=0):
    if type(cookie) is not int or not isinstance(timeout_s, (int, float)) or timeout_s < 0:
        raise OpError(errno.EINVAL, "watch takes (cookie: int, timeout_s >= 0)")
    run.view._require()
    run.view._mutating()
    run.effects.append(("watch", cookie, float(timeout_s) or DEFAULT_WATCH_TIMEOUT_S))
    return 0, None


def _op_unwatch(run, cookie):
    if type(cookie) is not int:
        raise OpError(errno.EINVAL, "unwatch takes a cookie")
    run.view._mutating()
    if (run.req.reqid[0], cookie) not in run.env.watchers:
        raise OpError(errno.ENOENT)
    run.effects.append(("unwatch", cookie))
    return 0, None


def _op_notify(run, cookie, data, timeout_ms=0):
    data = _data(data)
    if not isinstance(timeout_ms, (int, float)) or timeout_ms < 0:
        raise OpError(errno.EINVAL, "notify timeout must be >= 0")
    run.view._require()
    timeout_s = timeout_ms / 1000.0 if timeout_ms else DEFAULT_NOTIFY_TIMEOUT_S
    run.effects.append(("notify", run.op_index, cookie, data, timeout_s))
    return 0, None


_HANDLERS = {
    # name: (handler, min args, max args)
    "create": (_op_create, 0, 1),
    "write": (_op_write, 2, 2),
    "write_full": (_op_write_full, 1, 1),
    "writesame": (_op_writesame, 3, 3),
    "append": (_op_append, 1, 1),
    "truncate": (_op_truncate, 1, 1),
    "zero": (_op_zero, 2, 2),
    "remove": (_op_remove, 0, 0),
    "setxattr": (_op_setxattr, 2, 2),
    "rmxattr": (_op_rmxattr, 1, 1),
    "omap_set": (_op_omap_set, 1, 1),
    "omap_rm_keys": (_op_omap_rm_keys, 1, 1),
    "omap_rm_range": (_op_omap_rm_range, 2, 2),
    "omap_clear": (_op_omap_clear, 0, 0),
    "omap_set_header": (_op_omap_set_header, 1, 1),
    "call": (_op_call, 3, 3),
    "rollback": (_op_rollback, 1, 1),
    "assert_exists": (_op_assert_exists, 0, 0),
    "assert_version": (_op_assert_version, 1, 1),
    "cmpext": (_op_cmpext, 2, 2),
    "cmpxattr": (_op_cmpxattr, 3, 3),
    "omap_cmp": (_op_omap_cmp, 1, 1),
    "read": (_op_read, 2, 2),
    "sparse_read": (_op_sparse_read, 2, 2),
    "stat": (_op_stat, 0, 0),
    "getxattr": (_op_getxattr, 1, 1),
    "getxattrs": (_op_getxattrs, 0, 0),
    "omap_get_vals": (_op_omap_get_vals, 3, 3),
    "omap_get_keys": (_op_omap_get_keys, 2, 2),
    "omap_get_vals_by_keys": (_op_omap_get_vals_by_keys, 1, 1),
    "omap_get_header": (_op_omap_get_header, 0, 0),
    "list_snaps": (_op_list_snaps, 0, 0),
    "list_watchers": (_op_list_watchers, 0, 0),
    "watch": (_op_watch, 1, 2),
    "unwatch": (_op_unwatch, 1, 1),
    "notify": (_op_notify, 2, 3),
}

SUPPORTED_OPS = frozenset(_HANDLERS)
