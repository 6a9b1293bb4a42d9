"""The OSD's object store: the ObjectStore interface and MemStore, Ceph's memstore.

An object is named by an HObject `(pool, nspace, key, oid, snap)` (SNAP_HEAD for heads) and
holds data bytes, xattrs, an omap (sorted string keys -> bytes) with a header, and object
info: user version, mtime, the head's SnapSet and the whiteout flag (a head deleted while
clones remain; it is kept only to carry the SnapSet).

Invariants of MemStore:
- `apply_transaction` validates the whole transaction against the current state before the
  first change and then applies every primitive: a transaction is applied whole or not at all.
- Object data is one bytearray grown in place; its allocation stays within ~1.2x the data
  size (CPython over-allocates bytearrays by 1/8; a shrink that leaves more slack re-fits it),
  and a removed object's memory is freed.
- Omap keys live in a dict plus a sorted key list, so a range query (start_after / prefix /
  max) costs O(log n + k).
- Every object is filed under the (pool, pgid) given by the transaction that created it, in a
  sorted index ordered by (nspace, oid, key, snap) (the store knows nothing else about PGs),
  with per-PG counters kept in step: num_objects (heads incl. whiteouts, and clones, as Ceph
  counts them), num_object_clones, num_whiteouts, num_bytes (data bytes of heads and clones).
"""
from __future__ import annotations

import errno
from bisect import bisect_left, bisect_right, insort
from typing import Iterator, NamedTuple

from osd.messages import SNAP_HEAD
from osd.snaps import SnapSet
from osd.transaction import (
    OP_CLONE, OP_OMAP_CLEAR, OP_OMAP_RMKEYS, OP_OMAP_RMRANGE, OP_OMAP_SETHEADER,
    OP_OMAP_SETKEYS, OP_REMOVE, OP_RMATTR, OP_SET_META, OP_SETATTRS, OP_TOUCH, OP_TRUNCATE,
    OP_WRITE, OP_ZERO, Transaction,
)

# primitive code -> tuple length, checked before anything is applied
_ARITY = {OP_TOUCH: 2, OP_WRITE: 4, OP_ZERO: 4, OP_TRUNCATE: 3, OP_REMOVE: 2, OP_CLONE: 3,
          OP_SETATTRS: 3, OP_RMATTR: 3, OP_OMAP_SETKEYS: 3, OP_OMAP_RMKEYS: 3,
          OP_OMAP_RMRANGE: 4, OP_OMAP_CLEAR: 2, OP_OMAP_SETHEADER: 3, OP_SET_META: 6}
_SLACK_RATIO = 1.2
_SLACK_BYTES = 64


class TransactionError(Exception):
    """A transaction that cannot apply to the current state; nothing was changed."""

    def __init__(self, err: int, message: str):
        super().__init__(message)
        self.errno = err


class ObjectMeta(NamedTuple):
    size: int
    version: int
    mtime: float
    snapset: SnapSet | None
    whiteout: bool


def sort_key(hobj) -> tuple:
    """Listing order inside a PG: (nspace, oid, key, snap)."""
    return (hobj[1], hobj[3], hobj[2], hobj[4])


def _hobj_of(pool: int, sk: tuple) -> tuple:
    return (pool, sk[0], sk[2], sk[1], sk[3])


def _stats_zero() -> dict:
    return {"num_objects": 0, "num_object_clones": 0, "num_whiteouts": 0, "num_bytes": 0}


class ObjectStore:
    """What an OSD needs from its store. Reads return copies or immutable values; callers
    must not mutate what they get back.

    A `durable` store keeps what it holds across an OSD restart (osd/lmdb_store.py) and with
    it the PGs' metadata (log entries, peering info), which `apply_transaction` persists in
    the same atomic step as the objects (`pg_meta`). MemStore is not durable: it ignores
    `pg_meta` (the PGs keep that state in memory) and a restarted OSD gets a new, empty one.
    """

    durable = False

    def apply_transaction(self, txn: Transaction, pg_meta=None) -> None:
        """Apply all of `txn` or, raising TransactionError, none of it. `pg_meta`, for a
        durable store: (pool, pgid, {name: value or None to delete}) stored with it."""
        raise NotImplementedError

    def load_pg_meta(self) -> dict:
        """{(pool, pgid): {name: value}} of every PG with metadata (durable stores)."""
        return {}

    def remove_pg_meta(self, pool: int, pgid: int) -> None:
        """Forget a PG's metadata (its copy was deleted)."""

    def get_store_meta(self, name: str, default=None):
        """Store-wide metadata (e.g. the epoch the store was born in)."""
        return default

    def set_store_meta(self, name: str, value) -> None:
        pass

    def close(self) -> None:
        pass

    def exists(self, hobj) -> bool:
        """The object is in the store (a whiteout head counts)."""
        raise NotImplementedError

    def get_meta(self, hobj) -> ObjectMeta | None:
        raise NotImplementedError

    def read(self, hobj, offset: int = 0, length: int = 0) -> bytes | None:
        """Bytes [offset, offset+length) clipped to the size (length 0 = to the end)."""
        raise NotImplementedError

    def getattr(self, hobj, name: str) -> bytes | None:
        raise NotImplementedError

    def getattrs(self, hobj) -> dict:
        raise NotImplementedError

    def omap_get_header(self, hobj) -> bytes:
        raise NotImplementedError

    def omap_iter(self, hobj, start_after: str = "", prefix: str = "") -> Iterator:
        """(key, value) in key order, keys > start_after that start with prefix."""
        raise NotImplementedError

    def omap_get_values(self, hobj, keys) -> dict:
        raise NotImplementedError

    def list_pg(self, pool: int, pgid: int, start_after: tuple | None = None) -> Iterator:
        """HObjects of a PG in sort_key order, strictly after the sort key `start_after`."""
        raise NotImplementedError

    def list_pgs(self) -> list[tuple[int, int]]:
        raise NotImplementedError

    def remove_pg(self, pool: int, pgid: int) -> int:
        """Drop every object of a PG (pool deleted); returns how many."""
        raise NotImplementedError

    def pg_stats(self, pool: int, pgid: int) -> dict:
        raise NotImplementedError

    def pool_stats(self, pool: int) -> dict:
        raise NotImplementedError

    def used_bytes(self) -> int:
        raise NotImplementedError


class _Omap:
    """Sorted omap: dict for lookups, sorted key list for ranges."""

    __slots__ = ("vals", "keys")

    def __init__(self, vals: dict | None = None, keys: list | None = None):
        self.vals: dict[str, bytes] = vals if vals is not None else {}
        self.keys: list[str] = keys if keys is not None else []

    def copy(self) -> "_Omap":
        return _Omap(dict(self.vals), list(self.keys))

    def set(self, kv: dict) -> None:
        vals = self.vals
        new = [k for k in kv if k not in vals]
        for k, v in kv.items():
            vals[k] = v if type(v) is bytes else bytes(v)
        if not new:
            return
        # Many new keys at once: one sort beats repeated O(n) insertions.
        if len(new) > 8:
            self.keys.extend(new)
            self.keys.sort()
        else:
            for k in new:
                insort(self.keys, k)

    def rm(self, keys) -> None:
        vals = self.vals
        gone = [k for k in dict.fromkeys(keys) if k in vals]     # a key may be listed twice
        for k in gone:
            del vals[k]
        if len(gone) > 8:
            self.keys = sorted(vals)
        else:
            for k in gone:
                i = bisect_left(self.keys, k)
                del self.keys[i]

    def rm_range(self, start: str, end: str) -> None:
        i = bisect_left(self.keys, start)
        j = bisect_left(self.keys, end)
        if i >= j:
            return
        for k in self.keys[i:j]:
            del self.vals[k]
        del self.keys[i:j]

    def iter_from(self, start_after: str, prefix: str) -> Iterator:
        keys, vals = self.keys, self.vals
        i = bisect_right(keys, start_after)
        if prefix > start_after:
            i = max(i, bisect_left(keys, prefix))
        n = len(keys)
        while i < n:
            k = keys[i]
            if prefix and not k.startswith(prefix):
                return
            yield k, vals[k]
            i += 1


class _Obj:
    __slots__ = ("data", "xattrs", "omap", "header", "version", "mtime", "snapset",
                 "whiteout", "pgid", "index")

    def __init__(self, pgid: int, index: "_PGIndex"):
        self.data = bytearray()
        self.xattrs: dict[str, bytes] | None = None
        self.omap: _Omap | None = None
        self.header = b""
        self.version = 0
        self.mtime = 0.0
        self.snapset: SnapSet | None = None
        self.whiteout = False
        self.pgid = pgid
        self.index = index      # the _PGIndex this object is filed in (for its counters)


class _PGIndex:
    __slots__ = ("keys", "stats")

    def __init__(self):
        self.keys: list[tuple] = []
        self.stats = _stats_zero()


def _fit(data: bytearray) -> bytearray:
    """Re-fit a bytearray whose allocation has too much slack after a shrink."""
    if data.__alloc__() > len(data) * _SLACK_RATIO + _SLACK_BYTES:
        return bytearray(data)
    return data


def _bad(message: str) -> TransactionError:
    return TransactionError(errno.EINVAL, message)


def _check_hobj(hobj) -> None:
    if (type(hobj) is not tuple or len(hobj) != 5 or type(hobj[0]) is not int
            or type(hobj[1]) is not str or type(hobj[2]) is not str
            or type(hobj[3]) is not str or type(hobj[4]) is not int):
        raise _bad(f"malformed hobject {hobj!r}")


def _check_data(data, what: str) -> None:
    if type(data) is bytes or type(data) is bytearray:
        return
    if isinstance(data, memoryview) and data.itemsize == 1 and data.c_contiguous:
        return
    raise _bad(f"{what} must be bytes")


def _check_uint(value, what: str) -> None:
    if type(value) is not int or value < 0:
        raise _bad(f"{what} must be an int >= 0, got {value!r}")


class MemStore(ObjectStore):
    """All objects in memory. Not thread-safe: its OSD applies transactions one at a time."""

    def __init__(self):
        self._objects: dict[tuple, _Obj] = {}
        self._pgs: dict[tuple[int, int], _PGIndex] = {}
        self._bytes = 0
        self._store_meta: dict = {}

    def get_store_meta(self, name: str, default=None):
        return self._store_meta.get(name, default)

    def set_store_meta(self, name: str, value) -> None:
        self._store_meta[name] = value

    # -- reads ---------------------------------------------------------------------------------
    def exists(self, hobj) -> bool:
        return hobj in self._objects

    def get_meta(self, hobj) -> ObjectMeta | None:
        obj = self._objects.get(hobj)
        if obj is None:
            return None
        return ObjectMeta(len(obj.data), obj.version, obj.mtime, obj.snapset, obj.whiteout)

    def read(self, hobj, offset: int = 0, length: int = 0) -> bytes | None:
        obj = self._objects.get(hobj)
        if obj is None:
            return None
        data = obj.data
        size = len(data)
        if offset >= size:
            return b""
        end = size if length <= 0 else min(size, offset + length)
        if offset == 0 and end == size:
            return bytes(data)
        with memoryview(data) as view:
            return bytes(view[offset:end])

    def getattr(self, hobj, name: str) -> bytes | None:
        obj = self._objects.get(hobj)
        if obj is None or obj.xattrs is None:
            return None
        return obj.xattrs.get(name)

    def getattrs(self, hobj) -> dict:
        obj = self._objects.get(hobj)
        if obj is None or obj.xattrs is None:
            return {}
        return dict(sorted(obj.xattrs.items()))

    def omap_get_header(self, hobj) -> bytes:
        obj = self._objects.get(hobj)
        return obj.header if obj is not None else b""

    def omap_iter(self, hobj, start_after: str = "", prefix: str = "") -> Iterator:
        obj = self._objects.get(hobj)
        if obj is None or obj.omap is None:
            return iter(())
        return obj.omap.iter_from(start_after, prefix)

    def omap_get_values(self, hobj, keys) -> dict:
        obj = self._objects.get(hobj)
        if obj is None or obj.omap is None:
            return {}
        vals = obj.omap.vals
        return {k: vals[k] for k in sorted(set(keys)) if k in vals}

    def omap_size(self, hobj) -> int:
        obj = self._objects.get(hobj)
        return 0 if obj is None or obj.omap is None else len(obj.omap.keys)

    # -- listing and stats ---------------------------------------------------------------------
    def list_pg(self, pool: int, pgid: int, start_after: tuple | None = None) -> Iterator:
        index = self._pgs.get((pool, pgid))
        if index is None:
            return
        keys = index.keys
        i = 0 if start_after is None else bisect_right(keys, start_after)
        while i < len(keys):
            yield _hobj_of(pool, keys[i])
            i += 1

    def list_pgs(self) -> list[tuple[int, int]]:
        return sorted(self._pgs)

    def remove_pg(self, pool: int, pgid: int) -> int:
        index = self._pgs.pop((pool, pgid), None)
        if index is None:
            return 0
        for sk in index.keys:
            obj = self._objects.pop(_hobj_of(pool, sk))
            self._bytes -= len(obj.data)
        return len(index.keys)

    def pg_stats(self, pool: int, pgid: int) -> dict:
        index = self._pgs.get((pool, pgid))
        return dict(index.stats) if index is not None else _stats_zero()

    def pool_stats(self, pool: int) -> dict:
        total = _stats_zero()
        for (p, _), index in self._pgs.items():
            if p == pool:
                for name, value in index.stats.items():
                    total[name] += value
        return total

    def used_bytes(self) -> int:
        return self._bytes

    # -- transactions --------------------------------------------------------------------------
    def apply_transaction(self, txn: Transaction, pg_meta=None) -> None:
        self._validate(txn)
        pgid = txn.pgid
        objects = self._objects
        for op in txn.ops:
            code, hobj = op[0], op[1]
            if code == OP_WRITE:
                obj = objects.get(hobj) or self._create(hobj, pgid)
                self._write(obj, op[2], op[3])
            elif code == OP_SET_META:
                obj = objects[hobj]
                obj.version, obj.mtime, obj.snapset = op[2], op[3], op[4]
                if obj.whiteout != op[5]:
                    obj.whiteout = op[5]
                    obj.index.stats["num_whiteouts"] += 1 if op[5] else -1
            elif code == OP_TOUCH:
                if hobj not in objects:
                    self._create(hobj, pgid)
            elif code == OP_ZERO:
                self._zero(objects[hobj], op[2], op[3])
            elif code == OP_TRUNCATE:
                self._truncate(objects[hobj], op[2])
            elif code == OP_REMOVE:
                self._remove(hobj)
            elif code == OP_CLONE:
                self._clone(op[1], op[2], pgid)
            elif code == OP_SETATTRS:
                obj = objects.get(hobj) or self._create(hobj, pgid)
                if obj.xattrs is None:
                    obj.xattrs = {}
                for name, value in op[2].items():
                    obj.xattrs[name] = value if type(value) is bytes else bytes(value)
            elif code == OP_RMATTR:
                obj = objects[hobj]
                if obj.xattrs:
                    obj.xattrs.pop(op[2], None)
            elif code == OP_OMAP_SETKEYS:
                obj = objects.get(hobj) or self._create(hobj, pgid)
                if obj.omap is None:
                    obj.omap = _Omap()
                obj.omap.set(op[2])
            elif code == OP_OMAP_RMKEYS:
                obj = objects[hobj]
                if obj.omap is not None:
                    obj.omap.rm(op[2])
            elif code == OP_OMAP_RMRANGE:
                obj = objects[hobj]
                if obj.omap is not None:
                    obj.omap.rm_range(op[2], op[3])
            elif code == OP_OMAP_CLEAR:
                objects[hobj].omap = None
            elif code == OP_OMAP_SETHEADER:
                obj = objects.get(hobj) or self._create(hobj, pgid)
                obj.header = op[2] if type(op[2]) is bytes else bytes(op[2])

    def _validate(self, txn: Transaction) -> None:
        """Raise TransactionError unless every primitive applies, in order, to the current
        state. Tracks creations/removals made by earlier primitives of the same txn."""
        if type(txn.pgid) is not int or txn.pgid < 0:
            raise _bad(f"bad pgid {txn.pgid!r}")
        objects = self._objects
        present: dict[tuple, bool] = {}

        def exists(h) -> bool:
            known = present.get(h)
            return (h in objects) if known is None else known

        def need(h, what) -> None:
            if not exists(h):
                raise TransactionError(errno.ENOENT, f"{what}: no object {h!r}")

        for op in txn.ops:
            if type(op) is not tuple or len(op) < 2 or len(op) != _ARITY.get(op[0], -1):
                raise _bad(f"malformed primitive {op!r}")
            code, hobj = op[0], op[1]
            _check_hobj(hobj)
            if code == OP_WRITE:
                _check_uint(op[2], "write offset")
                _check_data(op[3], "write data")
                present[hobj] = True
            elif code == OP_SET_META:
                need(hobj, "set_meta")
                if type(op[2]) is not int or type(op[3]) not in (int, float):
                    raise _bad("set_meta version/mtime")
                if op[4] is not None and not isinstance(op[4], SnapSet):
                    raise _bad("set_meta snapset")
                if type(op[5]) is not bool:
                    raise _bad("set_meta whiteout")
            elif code == OP_TOUCH:
                present[hobj] = True
            elif code == OP_ZERO:
                need(hobj, "zero")
                _check_uint(op[2], "zero offset")
                _check_uint(op[3], "zero length")
            elif code == OP_TRUNCATE:
                need(hobj, "truncate")
                _check_uint(op[2], "truncate size")
            elif code == OP_REMOVE:
                need(hobj, "remove")
                present[hobj] = False
            elif code == OP_CLONE:
                need(hobj, "clone source")
                dst = op[2]
                _check_hobj(dst)
                if dst == hobj:
                    raise _bad("clone onto itself")
                present[dst] = True
            elif code == OP_SETATTRS:
                self._check_map(op[2], "xattr")
                present[hobj] = True
            elif code == OP_RMATTR:
                need(hobj, "rmattr")
                if type(op[2]) is not str:
                    raise _bad("xattr name must be str")
            elif code == OP_OMAP_SETKEYS:
                self._check_map(op[2], "omap")
                present[hobj] = True
            elif code == OP_OMAP_RMKEYS:
                need(hobj, "omap_rmkeys")
                if type(op[2]) not in (tuple, list) or not all(type(k) is str for k in op[2]):
                    raise _bad("omap keys must be str")
            elif code == OP_OMAP_RMRANGE:
                need(hobj, "omap_rmrange")
                if type(op[2]) is not str or type(op[3]) is not str:
                    raise _bad("omap range bounds must be str")
            elif code == OP_OMAP_CLEAR:
                need(hobj, "omap_clear")
            elif code == OP_OMAP_SETHEADER:
                _check_data(op[2], "omap header")
                present[hobj] = True
            else:
                raise _bad(f"unknown primitive {code!r}")

    @staticmethod
    def _check_map(kv, what: str) -> None:
        if not isinstance(kv, dict):
            raise _bad(f"{what} map must be a dict")
        for k, v in kv.items():
            if type(k) is not str:
                raise _bad(f"{what} keys must be str")
            _check_data(v, f"{what} values")

    # -- primitives (state already validated) --------------------------------------------------
    def _index(self, pool: int, pgid: int) -> _PGIndex:
        index = self._pgs.get((pool, pgid))
        if index is None:
            index = self._pgs[(pool, pgid)] = _PGIndex()
        return index

    def _create(self, hobj, pgid: int) -> _Obj:
        index = self._index(hobj[0], pgid)
        obj = _Obj(pgid, index)
        self._objects[hobj] = obj
        insort(index.keys, sort_key(hobj))
        index.stats["num_objects"] += 1
        if hobj[4] != SNAP_HEAD:
            index.stats["num_object_clones"] += 1
        return obj

    def _remove(self, hobj) -> None:
        obj = self._objects.pop(hobj)
        index = obj.index
        del index.keys[bisect_left(index.keys, sort_key(hobj))]
        stats = index.stats
        stats["num_objects"] -= 1
        stats["num_bytes"] -= len(obj.data)
        if hobj[4] != SNAP_HEAD:
            stats["num_object_clones"] -= 1
        if obj.whiteout:
            stats["num_whiteouts"] -= 1
        self._bytes -= len(obj.data)
        if not index.keys:
            del self._pgs[(hobj[0], obj.pgid)]

    def _write(self, obj: _Obj, offset: int, data) -> None:
        buf = obj.data
        before = len(buf)
        end = offset + len(data)
        if before == 0 and offset == 0:
            # A write into an empty object (write_full, a fresh object): one copy, no growth.
            obj.data = bytearray(data)
            self._bytes_changed(obj, end)
            return
        if offset > before:
            if before == 0:
                # First write into an empty object at an offset (rbd's random 4K writes):
                # allocate it once at its exact size instead of growing twice.
                obj.data = buf = bytearray(end)
            else:
                buf.extend(bytes(offset - before))
        buf[offset:end] = data
        self._bytes_changed(obj, len(buf) - before)

    def _zero(self, obj: _Obj, offset: int, length: int) -> None:
        buf = obj.data
        before = len(buf)
        end = offset + length
        if end > before:
            buf.extend(bytes(end - before))
        if offset < before:
            buf[offset:min(end, before)] = bytes(min(end, before) - offset)
        self._bytes_changed(obj, len(buf) - before)

    def _truncate(self, obj: _Obj, size: int) -> None:
        buf = obj.data
        before = len(buf)
        if size < before:
            del buf[size:]
            obj.data = _fit(buf)
        elif size > before:
            buf.extend(bytes(size - before))
        self._bytes_changed(obj, size - before)

    def _clone(self, src, dst, pgid: int) -> None:
        source = self._objects[src]
        if dst in self._objects:
            self._remove(dst)
        obj = self._create(dst, pgid)
        obj.data = bytearray(source.data)
        obj.xattrs = dict(source.xattrs) if source.xattrs else None
        obj.omap = source.omap.copy() if source.omap is not None else None
        obj.header = source.header
        obj.version, obj.mtime = source.version, source.mtime
        self._bytes_changed(obj, len(obj.data))

    def _bytes_changed(self, obj: _Obj, delta: int) -> None:
        if delta:
            obj.index.stats["num_bytes"] += delta
            self._bytes += delta
