"""ObjectView: one object as the store has it plus a request's pending changes.

osd/ops.py executes a request's ops through a view: each mutation is recorded as a
transaction primitive (in op order) and reflected in the view, so later ops of the same
request read what earlier ones wrote, while the store itself is not touched until the
whole request succeeds.

Invariants:
- The store is only read, never written, here.
- A write references the caller's bytes; the view copies an object's data only when the
  request reads back data it has changed itself (then it materializes a private copy).
- `modified` lists the head extents the request changed (for snapshot overlaps); `exists`,
  `size`, xattrs, omap and header always describe the object as the request has left it.
- Errors are ClsError(errno) (aliased OpError): ENOENT for a missing object, ENODATA for a
  missing xattr, EEXIST for an exclusive create, EFBIG past the max object size, EROFS for
  a change through a read-only view.
"""
from __future__ import annotations

import errno

from osd.cls import ClsError
from osd.transaction import Transaction

OpError = ClsError          # one error type from the overlay, op handlers and cls methods

MAX_OBJECT_SIZE = 128 << 20         # osd_max_object_size


def check_extent(offset: int, length: int) -> None:
    """EFBIG for an extent reaching past the max object size (Ceph's check_offset_and_length)."""
    if offset >= MAX_OBJECT_SIZE or length > MAX_OBJECT_SIZE or offset + length > MAX_OBJECT_SIZE:
        raise OpError(errno.EFBIG)


class ObjectView:
    """One object as the store has it plus this request's pending changes.

    `src` is the store object whose data/xattrs/omap are the base (the object itself, a
    clone after a rollback, None once removed); pending changes are kept per kind on top.
    Mutations append primitives to `txn` in op order.
    """

    def __init__(self, store, hobj, txn: Transaction | None):
        self.store = store
        self.hobj = hobj
        self.txn = txn                      # None: read-only view
        meta = store.get_meta(hobj)
        self.in_store = meta is not None    # a store object is present (whiteouts count)
        self.exists = meta is not None and not meta.whiteout
        self.existed = self.exists
        self.size = meta.size if self.exists else 0
        self.base_size = self.size
        self.version = meta.version if meta is not None else 0
        self.mtime = meta.mtime if meta is not None else 0.0
        self.snapset = meta.snapset if meta is not None else None
        self.src = hobj if self.exists else None
        self._data_ops: list | None = None  # pending data changes not folded into _shadow
        self._shadow: bytearray | None = None
        self._xattrs: dict | None = None    # name -> bytes | None (removed)
        self._xattrs_reset = False
        self._omap: dict | None = None      # key -> bytes | None (removed)
        self._omap_reset = False
        self._header: bytes | None = None
        self.modified: list[tuple[int, int]] = []     # head extents this request changed

    # -- bookkeeping ---------------------------------------------------------------------------
    def _mutating(self) -> Transaction:
        if self.txn is None:
            raise OpError(errno.EROFS)
        return self.txn

    def _materialize(self) -> None:
        self.in_store = True
        if not self.exists:
            self.exists = True
            self.size = 0

    def _reset(self) -> None:
        """The object is gone (removed): forget the base entirely."""
        self.src = None
        self.exists = False
        self.size = 0
        self._data_ops = []
        self._shadow = None
        self._xattrs, self._xattrs_reset = {}, True
        self._omap, self._omap_reset = {}, True
        self._header = b""

    def _data_op(self, op: tuple) -> None:
        if self._shadow is not None:
            _apply_data_op(self._shadow, op)
        else:
            if self._data_ops is None:
                self._data_ops = []
            self._data_ops.append(op)

    def _require(self) -> None:
        if not self.exists:
            raise OpError(errno.ENOENT)

    # -- data ----------------------------------------------------------------------------------
    def read(self, offset: int = 0, length: int = 0) -> bytes:
        self._require()
        size = self.size
        if offset >= size:
            return b""
        end = size if length <= 0 else min(size, offset + length)
        if self._data_ops is None and self._shadow is None:
            return self.store.read(self.src, offset, end - offset) if self.src else bytes(end - offset)
        if self._shadow is None:
            base = self.store.read(self.src) if self.src else b""
            self._shadow = bytearray(base)
            for op in self._data_ops:
                _apply_data_op(self._shadow, op)
            self._data_ops = None
        return bytes(self._shadow[offset:end])

    def write(self, offset: int, data: bytes) -> None:
        txn = self._mutating()
        check_extent(offset, len(data))
        if not data:
            # Ceph: a zero-length write creates the object and extends it to `offset`.
            if offset > self.size and self.exists:
                self.truncate(offset)
                return
            if not self.exists:
                txn.touch(self.hobj)
                self._materialize()
                if offset > 0:
                    self.truncate(offset)
            return
        txn.write(self.hobj, offset, data)
        self._materialize()
        end = offset + len(data)
        if end > self.size:
            self.size = end
        self._data_op(("w", offset, data))
        self.modified.append((offset, len(data)))

    def write_full(self, data: bytes) -> None:
        txn = self._mutating()
        check_extent(0, len(data))
        if self.exists and self.size:
            txn.truncate(self.hobj, 0)
            self.modified.append((0, self.size))
            self._data_op(("t", 0))
            self.size = 0
        if data:
            self.write(0, data)
        elif not self.exists:
            txn.touch(self.hobj)
            self._materialize()

    def truncate(self, size: int) -> None:
        txn = self._mutating()
        check_extent(size, 0)
        if not self.exists:
            return      # Ceph: truncate of a missing object is a no-op
        old = self.size
        if size == old:
            return
        txn.truncate(self.hobj, size)
        if size < old:
            self.modified.append((size, old - size))
        self.size = size
        self._data_op(("t", size))

    def zero(self, offset: int, length: int) -> None:
        txn = self._mutating()
        check_extent(offset, length)
        if not self.exists or offset >= self.size or length == 0:
            return      # Ceph: no-op on a missing object; never extends
        length = min(length, self.size - offset)
        txn.zero(self.hobj, offset, length)
        self._data_op(("z", offset, length))
        self.modified.append((offset, length))

    def create(self, exclusive: bool) -> None:
        txn = self._mutating()
        if self.exists:
            if exclusive:
                raise OpError(errno.EEXIST)
            return
        txn.touch(self.hobj)
        self._materialize()

    def remove(self) -> None:
        txn = self._mutating()
        self._require()
        txn.remove(self.hobj)
        if self.size:
            self.modified.append((0, self.size))
        self._reset()
        self.in_store = False

    def rollback_to_clone(self, clone_hobj, clone_size: int) -> None:
        """Head := the clone (data, xattrs, omap, header)."""
        txn = self._mutating()
        txn.clone(clone_hobj, self.hobj)
        span = max(self.size, clone_size)
        if span:
            self.modified.append((0, span))
        self._reset()
        self.src = clone_hobj
        self._data_ops = None
        self._xattrs, self._xattrs_reset = None, False
        self._omap, self._omap_reset = None, False
        self._header = None
        self.exists = self.in_store = True
        self.size = clone_size

    # -- xattrs --------------------------------------------------------------------------------
    def getxattr(self, name: str) -> bytes | None:
        self._require()
        if self._xattrs is not None and name in self._xattrs:
            return self._xattrs[name]
        if self._xattrs_reset or self.src is None:
            return None
        return self.store.getattr(self.src, name)

    def getxattrs(self) -> dict:
        self._require()
        base = {} if (self._xattrs_reset or self.src is None) else self.store.getattrs(self.src)
        if self._xattrs:
            for name, value in self._xattrs.items():
                if value is None:
                    base.pop(name, None)
                else:
                    base[name] = value
            base = dict(sorted(base.items()))
        return base

    def setxattr(self, name: str, value: bytes) -> None:
        txn = self._mutating()
        txn.setattrs(self.hobj, {name: value})
        self._materialize()
        if self._xattrs is None:
            self._xattrs = {}
        self._xattrs[name] = value

    def rmxattr(self, name: str) -> None:
        txn = self._mutating()
        if self.getxattr(name) is None:     # also ENOENT for a missing object
            raise OpError(errno.ENODATA)
        txn.rmattr(self.hobj, name)
        if self._xattrs is None:
            self._xattrs = {}
        self._xattrs[name] = None

    # -- omap ----------------------------------------------------------------------------------
    def _omap_iter(self, start_after: str, prefix: str):
        """(key, value) in key order through the overlay: O(log n + k) on the store."""
        base = iter(()) if (self._omap_reset or self.src is None) else \
            self.store.omap_iter(self.src, start_after, prefix)
        if not self._omap:
            yield from base
            return
        pending = sorted(k for k in self._omap
                         if k > start_after and k.startswith(prefix))
        i = 0
        changes = self._omap
        for key, value in base:
            while i < len(pending) and pending[i] < key:
                v = changes[pending[i]]
                if v is not None:
                    yield pending[i], v
                i += 1
            if i < len(pending) and pending[i] == key:
                i += 1
            if key in changes:
                value = changes[key]
                if value is None:
                    continue
            yield key, value
        while i < len(pending):
            v = changes[pending[i]]
            if v is not None:
                yield pending[i], v
            i += 1

    def omap_get_vals(self, start_after: str, prefix: str, max_return: int):
        self._require()
        out: dict[str, bytes] = {}
        more = False
        for key, value in self._omap_iter(start_after, prefix):
            if len(out) >= max_return:
                more = True
                break
            out[key] = value
        return out, more

    def omap_get_keys(self, start_after: str, max_return: int):
        vals, more = self.omap_get_vals(start_after, "", max_return)
        return list(vals), more

    def omap_get_vals_by_keys(self, keys) -> dict:
        self._require()
        keys = sorted(set(keys))
        if self._omap_reset or self.src is None:
            found = {}
        else:
            found = self.store.omap_get_values(self.src, keys)
        if self._omap:
            for key in keys:
                if key in self._omap:
                    value = self._omap[key]
                    if value is None:
                        found.pop(key, None)
                    else:
                        found[key] = value
            found = dict(sorted(found.items()))
        return found

    def omap_set(self, kv: dict) -> None:
        txn = self._mutating()
        if not kv:
            if not self.exists:
                txn.touch(self.hobj)
                self._materialize()
            return
        txn.omap_setkeys(self.hobj, kv)
        self._materialize()
        if self._omap is None:
            self._omap = {}
        self._omap.update(kv)

    def omap_rm_keys(self, keys) -> None:
        txn = self._mutating()
        self._require()
        if not keys:
            return
        txn.omap_rmkeys(self.hobj, keys)
        if self._omap is None:
            self._omap = {}
        for key in keys:
            self._omap[key] = None

    def omap_rm_range(self, start: str, end: str) -> None:
        txn = self._mutating()
        self._require()
        if start >= end:
            return
        txn.omap_rmrange(self.hobj, start, end)
        if self._omap is None:
            self._omap = {}
        doomed = [k for k in self._omap if start <= k < end]
        if not self._omap_reset and self.src is not None:
            # The store iterates keys > start_after; `start` itself is looked up apart.
            if start in self.store.omap_get_values(self.src, [start]):
                doomed.append(start)
            for key, _ in self.store.omap_iter(self.src, start, ""):
                if key >= end:
                    break
                doomed.append(key)
        for key in doomed:
            self._omap[key] = None

    def omap_clear(self) -> None:
        txn = self._mutating()
        self._require()
        txn.omap_clear(self.hobj)
        self._omap, self._omap_reset = {}, True

    def omap_get_header(self) -> bytes:
        self._require()
        if self._header is not None:
            return self._header
        return self.store.omap_get_header(self.src) if self.src is not None else b""

    def omap_set_header(self, data: bytes) -> None:
        txn = self._mutating()
        txn.omap_setheader(self.hobj, data)
        self._materialize()
        self._header = data


def _apply_data_op(buf: bytearray, op: tuple) -> None:
    kind = op[0]
    if kind == "w":
        offset, data = op[1], op[2]
        if offset > len(buf):
            buf.extend(bytes(offset - len(buf)))
        buf[offset:offset + len(data)] = data
    elif kind == "t":
        size = op[1]
        if size < len(buf):
            del buf[size:]
        else:
            buf.extend(bytes(size - len(buf)))
    elif kind == "z":
        offset, length = op[1], op[2]
        buf[offset:offset + length] = bytes(length)
