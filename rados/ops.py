"""Compound operations: WriteOp, ReadOp (and their context-manager forms) and OmapIterator.

An op object only collects op tuples (docs/interfaces.md §2) and, for reads, the handlers
that turn each op's output into what the caller sees. `Ioctx.operate_*` sends them as one
request, applied atomically by the OSD. As in librados (whose Objecter moves the op vector
into the request), operating consumes the ops: the same WriteOp can then collect a new set.

Arguments are checked as the Cython binding checks them (see rados/_args.py): data must be
bytes, names str or bytes, offsets/lengths non-negative C integers.
"""
from __future__ import annotations

from rados import _args
from rados.constants import LIBRADOS_CMPXATTR_OP_EQ, LIBRADOS_OPERATION_NOFLAG

__all__ = ["WriteOp", "ReadOp", "WriteOpCtx", "ReadOpCtx", "OmapIterator"]


class _Op:
    """Shared state: the op tuples, per-op output handlers and the flags."""

    def __init__(self):
        self._ops: list[tuple] = []
        self._handlers: list = []
        self.flags = LIBRADOS_OPERATION_NOFLAG

    def create(self):
        self._ops, self._handlers = [], []
        return self

    def release(self):
        self._ops, self._handlers = [], []

    def set_flags(self, flags: int = LIBRADOS_OPERATION_NOFLAG):
        """Flags of the last op (LIBRADOS_OP_FLAG_*); kept, the OSD ignores them."""
        self.flags = _args.sint(flags, "int")

    def _add(self, op: tuple, handler=None) -> None:
        self._ops.append(op)
        self._handlers.append(handler)

    def _take(self) -> tuple[list, list]:
        """Hand the collected ops to a request and start afresh (librados moves them)."""
        ops, handlers = self._ops, self._handlers
        self._ops, self._handlers = [], []
        return ops, handlers

    def cmpext(self, cmp_buf: bytes, offset: int = 0):
        """Compare object data at `offset` with `cmp_buf`; a mismatch fails the whole op with
        -MAX_ERRNO - mismatch_offset (raised as ExtendMismatch by operate)."""
        cmp_buf = _args.data(cmp_buf)
        offset = _args.uint(offset, "uint64_t")
        self._add(("cmpext", offset, cmp_buf))


class WriteOp(_Op):
    """Mutations applied atomically to one object by `Ioctx.operate_write_op`."""

    def new(self, exclusive: int | None = None):
        """Create the object; with LIBRADOS_CREATE_EXCLUSIVE fail with EEXIST if it exists."""
        excl = 0 if exclusive is None else _args.sint(exclusive, "int")
        self._add(("create", bool(excl)))

    def remove(self):
        self._add(("remove",))

    def set_xattr(self, xattr_name: str, xattr_value: bytes):
        name = _args.to_str(xattr_name, "xattr_name")
        self._add(("setxattr", name, _args.data(xattr_value)))

    def rm_xattr(self, xattr_name: str):
        self._add(("rmxattr", _args.to_str(xattr_name, "xattr_name")))

    def append(self, to_write: bytes):
        self._add(("append", _args.data(to_write)))

    def write_full(self, to_write: bytes):
        self._add(("write_full", _args.data(to_write)))

    def write(self, to_write: bytes, offset: int = 0):
        data = _args.data(to_write)
        self._add(("write", _args.uint(offset, "uint64_t"), data))

    def assert_version(self, version: int):
        self._add(("assert_version", _args.uint(version, "uint64_t")))

    def zero(self, offset: int, length: int):
        self._add(("zero", _args.uint(offset, "uint64_t"), _args.uint(length, "uint64_t")))

    def truncate(self, offset: int):
        self._add(("truncate", _args.uint(offset, "uint64_t")))

    def execute(self, cls: str, method: str, data: bytes):
        cls_name = _args.to_str(cls, "cls")
        method_name = _args.to_str(method, "method")
        self._add(("call", cls_name, method_name, _args.data(data)))

    def writesame(self, to_write: bytes, write_len: int, offset: int = 0):
        data = _args.data(to_write)
        write_len = _args.uint(write_len, "size_t")
        offset = _args.uint(offset, "uint64_t")
        self._add(("writesame", offset, write_len, data))

    def omap_cmp(self, key: str, val: str, cmp_op: int = LIBRADOS_CMPXATTR_OP_EQ):
        """Fail the op with ECANCELED unless omap[key] compares to `val` with `cmp_op`."""
        key_s = _args.to_str(key, "key")
        val_b = _args.cstr(val, "val")
        op = _args.uint(cmp_op, "uint8_t", 8)
        self._add(("omap_cmp", {key_s: (val_b, op)}))


class ReadOp(_Op):
    """Reads applied together to one object by `Ioctx.operate_read_op`."""


class OpCtx:
    def __enter__(self):
        return self.create()

    def __exit__(self, type_, msg, traceback):
        self.release()
        return False


class WriteOpCtx(WriteOp, OpCtx):
    """`with WriteOpCtx() as op:` — a WriteOp released on exit."""


class ReadOpCtx(ReadOp, OpCtx):
    """`with ReadOpCtx() as op:` — a ReadOp released on exit."""


class OmapIterator:
    """Yields `(key, value_or_None)` in key order; empty until the read op has run."""

    def __init__(self, ioctx, omap_key_type=bytes.decode):
        self.ioctx = ioctx
        self.omap_key_type = omap_key_type
        self._items: list = []
        self._pos = 0

    def _fill(self, items) -> None:
        self._items = list(items)
        self._pos = 0

    def __iter__(self):
        return self

    def __next__(self):
        if self._pos >= len(self._items):
            raise StopIteration()
        key, val = self._items[self._pos]
        self._pos += 1
        if self.omap_key_type is not bytes.decode:
            key = self.omap_key_type(key.encode("utf-8", "surrogateescape"))
        return (key, val)


def omap_vals_handler(it: OmapIterator):
    def handle(out) -> None:
        vals = out[0] if isinstance(out, tuple) else out
        it._fill(sorted((k, bytes(v)) for k, v in vals.items()))
    return handle


def omap_keys_handler(it: OmapIterator):
    def handle(out) -> None:
        keys = out[0] if isinstance(out, tuple) else out
        it._fill((k, None) for k in sorted(keys))
    return handle
