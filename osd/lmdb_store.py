"""LmdbStore: an ObjectStore that keeps its objects and PG metadata on disk in LMDB.

The persistent counterpart of MemStore (`objectstore = lmdb` in the config, one data dir
per OSD). An OSD restarted on the same directory comes back with its objects, its PG logs
and peering info, and catches up by log-based recovery; a MemStore OSD comes back empty.

Design: MemStore is the read path (every object also lives in memory, so reads and the
executor cost what they cost on MemStore) and LMDB the durable copy. `apply_transaction`
validates and applies the transaction in memory, then writes the new state of every object
it touched, plus the PG metadata given with it, in one LMDB write transaction: a
transaction is on disk whole or not at all (a crash in between leaves the old state, which
the in-memory copy of a dead process no longer contradicts). Opening a directory loads it
all back into memory.

Layout (one LMDB environment, named databases):
  objects  key(hobj) -> (pgid, version, mtime, snapset, whiteout, xattrs, header, size)
  data     key(hobj) + chunk index (4 bytes) -> bytes (64 KiB chunks; a missing chunk is
           zeros up to the size)
  omap     key(hobj) + b"\\0" + utf-8 key -> bytes
  pgmeta   pool (8 bytes) + pgid (8 bytes) + name -> pickled value
  meta     name -> pickled value (store-wide: the epoch the store was born in)
key(hobj) is an order-preserving encoding of (pool, nspace, oid, key, snap), so a prefix scan
finds one object's chunks or omap keys.
"""
from __future__ import annotations

import os
import pickle
import struct

import lmdb

from osd.object_store import MemStore, TransactionError
from osd.transaction import (
    OP_CLONE, OP_OMAP_CLEAR, OP_OMAP_RMKEYS, OP_OMAP_RMRANGE, OP_OMAP_SETHEADER,
    OP_OMAP_SETKEYS, OP_REMOVE, OP_RMATTR, OP_SET_META, OP_SETATTRS, OP_TOUCH, OP_TRUNCATE,
    OP_WRITE, OP_ZERO, Transaction,
)

CHUNK = 64 << 10
DEFAULT_MAP_SIZE = 1 << 36          # address space only; the file grows as data does

_PICKLE = pickle.HIGHEST_PROTOCOL


def _s(text: str) -> bytes:
    """An order-preserving, self-delimiting encoding of a str (0x00 escaped as 0x00 0xff)."""
    return text.encode("utf-8", "surrogatepass").replace(b"\0", b"\0\xff") + b"\0\0"


def hobj_key(hobj) -> bytes:
    pool, nspace, key, oid, snap = hobj
    return struct.pack(">q", pool) + _s(nspace) + _s(oid) + _s(key) + struct.pack(">Q", snap)


def _pg_prefix(pool: int, pgid: int) -> bytes:
    return struct.pack(">qq", pool, pgid)


class LmdbStore(MemStore):
    """MemStore in memory, every change persisted to LMDB (see the module docstring)."""

    durable = True

    def __init__(self, path: str, sync: bool = True, map_size: int = DEFAULT_MAP_SIZE):
        super().__init__()
        os.makedirs(path, exist_ok=True)
        self.path = path
        self.env = lmdb.open(path, map_size=map_size, max_dbs=8, sync=sync, metasync=sync,
                             writemap=False, lock=True)
        self._objects_db = self.env.open_db(b"objects")
        self._data_db = self.env.open_db(b"data")
        self._omap_db = self.env.open_db(b"omap")
        self._pgmeta_db = self.env.open_db(b"pgmeta")
        self._meta_db = self.env.open_db(b"meta")
        self._pgmeta: dict = {}
        self._load()

    # -- open ----------------------------------------------------------------------------------
    def _load(self) -> None:
        with self.env.begin() as txn:
            for k, v in txn.cursor(self._meta_db):
                self._store_meta[k.decode()] = pickle.loads(v)
            for k, v in txn.cursor(self._pgmeta_db):
                pool, pgid = struct.unpack(">qq", k[:16])
                self._pgmeta.setdefault((pool, pgid), {})[k[16:].decode()] = pickle.loads(v)
            by_pg: dict[int, list] = {}
            for k, v in txn.cursor(self._objects_db):
                (hobj, pgid, version, mtime, snapset, whiteout, xattrs, header,
                 size) = pickle.loads(v)
                data = bytearray(size)
                cur = txn.cursor(self._data_db)
                if size and cur.set_range(k):
                    for ck, cv in cur:
                        if not ck.startswith(k) or len(ck) != len(k) + 4:
                            break
                        off = struct.unpack(">I", ck[len(k):])[0] * CHUNK
                        data[off:off + len(cv)] = cv
                omap = {}
                cur = txn.cursor(self._omap_db)
                prefix = k + b"\0"
                if cur.set_range(prefix):
                    for ok, ov in cur:
                        if not ok.startswith(prefix):
                            break
                        omap[ok[len(prefix):].decode("utf-8", "surrogatepass")] = bytes(ov)
                ops = by_pg.setdefault(pgid, [])
                ops.append((OP_TOUCH, hobj))
                if size:
                    ops.append((OP_WRITE, hobj, 0, bytes(data)))
                if xattrs:
                    ops.append((OP_SETATTRS, hobj, xattrs))
                if omap:
                    ops.append((OP_OMAP_SETKEYS, hobj, omap))
                if header:
                    ops.append((OP_OMAP_SETHEADER, hobj, header))
                ops.append((OP_SET_META, hobj, version, mtime, snapset, whiteout))
        for pgid, ops in by_pg.items():
            MemStore.apply_transaction(self, Transaction(pgid, ops))

    # -- metadata ------------------------------------------------------------------------------
    def load_pg_meta(self) -> dict:
        return {k: dict(v) for k, v in self._pgmeta.items()}

    def set_store_meta(self, name: str, value) -> None:
        self._store_meta[name] = value
        with self.env.begin(write=True) as txn:
            txn.put(name.encode(), pickle.dumps(value, _PICKLE), db=self._meta_db)

    def remove_pg_meta(self, pool: int, pgid: int) -> None:
        self._pgmeta.pop((pool, pgid), None)
        prefix = _pg_prefix(pool, pgid)
        with self.env.begin(write=True) as txn:
            self._delete_prefix(txn, self._pgmeta_db, prefix)

    # -- writes --------------------------------------------------------------------------------
    def apply_transaction(self, txn: Transaction, pg_meta=None) -> None:
        # which objects, and which parts of them, the transaction changes
        touched: dict[tuple, dict] = {}

        def t(hobj) -> dict:
            d = touched.get(hobj)
            if d is None:
                d = touched[hobj] = {"full": False, "chunks": set(), "omap": set(),
                                     "omap_all": False}
            return d

        for op in txn.ops:
            if type(op) is not tuple or len(op) < 2:
                break       # MemStore's validation rejects it below
            code, hobj = op[0], op[1]
            if code in (OP_WRITE, OP_ZERO):
                length = len(op[3]) if code == OP_WRITE and hasattr(op[3], "__len__") \
                    else (op[3] if code == OP_ZERO and type(op[3]) is int else 0)
                if type(op[2]) is int and length:
                    t(hobj)["chunks"].update(range(op[2] // CHUNK,
                                                   (op[2] + length - 1) // CHUNK + 1))
                else:
                    t(hobj)
            elif code == OP_TRUNCATE:
                t(hobj)["truncate"] = True
            elif code in (OP_REMOVE,):
                t(hobj)["full"] = True
            elif code == OP_CLONE:
                if len(op) > 2:
                    t(op[2])["full"] = True
            elif code == OP_OMAP_SETKEYS:
                if isinstance(op[2], dict):
                    t(hobj)["omap"].update(op[2])
            elif code == OP_OMAP_RMKEYS:
                if isinstance(op[2], (tuple, list)):
                    t(hobj)["omap"].update(op[2])
            elif code in (OP_OMAP_RMRANGE, OP_OMAP_CLEAR):
                t(hobj)["omap_all"] = True
            else:   # touch, setattrs, rmattr, set_meta, omap header
                t(hobj)
        for hobj, d in touched.items():
            if hobj not in self._objects:
                d["full"] = True        # created now (or absent): write it whole
        super().apply_transaction(txn)      # validates; raises before anything changed
        with self.env.begin(write=True) as w:
            for hobj, d in touched.items():
                self._persist(w, hobj, d)
            if pg_meta is not None:
                pool, pgid, names = pg_meta
                mem = self._pgmeta.setdefault((pool, pgid), {})
                prefix = _pg_prefix(pool, pgid)
                for name, value in names.items():
                    k = prefix + name.encode()
                    if value is None:
                        w.delete(k, db=self._pgmeta_db)
                        mem.pop(name, None)
                    else:
                        w.put(k, pickle.dumps(value, _PICKLE), db=self._pgmeta_db)
                        mem[name] = value

    def remove_pg(self, pool: int, pgid: int) -> int:
        hobjs = list(self.list_pg(pool, pgid))
        n = super().remove_pg(pool, pgid)
        with self.env.begin(write=True) as w:
            for hobj in hobjs:
                self._erase(w, hobj_key(hobj))
        return n

    def _delete_prefix(self, w, db, prefix: bytes) -> None:
        cur = w.cursor(db)
        if not cur.set_range(prefix):
            return
        while cur.key().startswith(prefix):
            if not cur.delete():
                break

    def _erase(self, w, k: bytes) -> None:
        w.delete(k, db=self._objects_db)
        self._delete_prefix(w, self._data_db, k)
        self._delete_prefix(w, self._omap_db, k + b"\0")

    def _persist(self, w, hobj, d: dict) -> None:
        k = hobj_key(hobj)
        obj = self._objects.get(hobj)
        if obj is None:
            self._erase(w, k)
            return
        size = len(obj.data)
        w.put(k, pickle.dumps((hobj, obj.pgid, obj.version, obj.mtime, obj.snapset,
                               obj.whiteout, dict(obj.xattrs or {}), obj.header, size),
                              _PICKLE), db=self._objects_db)
        if d["full"] or d.get("truncate"):
            self._delete_prefix(w, self._data_db, k)
            chunks = range((size + CHUNK - 1) // CHUNK)
        else:
            chunks = sorted(d["chunks"])
        view = memoryview(obj.data)
        try:
            for i in chunks:
                piece = view[i * CHUNK:(i + 1) * CHUNK]
                ck = k + struct.pack(">I", i)
                if len(piece):
                    w.put(ck, bytes(piece), db=self._data_db)
                else:
                    w.delete(ck, db=self._data_db)
        finally:
            view.release()
        omap = obj.omap
        prefix = k + b"\0"
        if d["full"] or d["omap_all"]:
            self._delete_prefix(w, self._omap_db, prefix)
            if omap is not None:
                for ok, ov in omap.vals.items():
                    w.put(prefix + ok.encode("utf-8", "surrogatepass"), ov, db=self._omap_db)
        else:
            for ok in d["omap"]:
                if type(ok) is not str:
                    continue
                full = prefix + ok.encode("utf-8", "surrogatepass")
                value = omap.vals.get(ok) if omap is not None else None
                if value is None:
                    w.delete(full, db=self._omap_db)
                else:
                    w.put(full, value, db=self._omap_db)

    def close(self) -> None:
        env, self.env = getattr(self, "env", None), None
        if env is not None:
            env.close()


__all__ = ["LmdbStore", "TransactionError", "hobj_key"]
