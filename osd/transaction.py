"""Transactions: the primitive mutations an ObjectStore applies atomically.

A Transaction is what a primary builds while executing a client request (osd/ops.py), applies
to its own store, and ships unchanged to every replica inside a RepOp, so replicas never
re-run the client's ops (an object-class method runs once, on the primary).

Invariants:
- `ops` is a plain list of tuples `(code, hobj, *args)` with ints, strs, bytes, dicts and
  tuples only: it pickles cheaply and the same list can be sent to every replica.
- Data buffers are referenced, not copied: the store copies bytes into the object when it
  applies the write, which is the one copy a write needs.
- Nothing here reads a store: a Transaction is a description, validated and applied by
  `ObjectStore.apply_transaction` all-or-nothing.
- All objects of one Transaction belong to one PG (`pgid`): the store files objects it
  creates under (hobj.pool, pgid) for listing.
"""
from __future__ import annotations

# Op codes: small ints pickle in one byte. Keep them stable: they cross the wire in RepOps.
OP_TOUCH = 1            # (OP_TOUCH, hobj)                       create if absent
OP_WRITE = 2            # (OP_WRITE, hobj, offset, data)         create if absent, extends
OP_ZERO = 3             # (OP_ZERO, hobj, offset, length)        object must exist, may extend
OP_TRUNCATE = 4         # (OP_TRUNCATE, hobj, size)              object must exist
OP_REMOVE = 5           # (OP_REMOVE, hobj)                      object must exist
OP_CLONE = 6            # (OP_CLONE, src, dst)                   src must exist; dst replaced
OP_SETATTRS = 7         # (OP_SETATTRS, hobj, {name: bytes})     create if absent
OP_RMATTR = 8           # (OP_RMATTR, hobj, name)                object must exist
OP_OMAP_SETKEYS = 9     # (OP_OMAP_SETKEYS, hobj, {key: bytes})  create if absent
OP_OMAP_RMKEYS = 10     # (OP_OMAP_RMKEYS, hobj, (key, ...))     object must exist
OP_OMAP_RMRANGE = 11    # (OP_OMAP_RMRANGE, hobj, start, end)    half-open; object must exist
OP_OMAP_CLEAR = 12      # (OP_OMAP_CLEAR, hobj)                  object must exist
OP_OMAP_SETHEADER = 13  # (OP_OMAP_SETHEADER, hobj, bytes)       create if absent
OP_SET_META = 14        # (OP_SET_META, hobj, version, mtime, snapset, whiteout)  must exist

OP_NAMES = {
    OP_TOUCH: "touch", OP_WRITE: "write", OP_ZERO: "zero", OP_TRUNCATE: "truncate",
    OP_REMOVE: "remove", OP_CLONE: "clone", OP_SETATTRS: "setattrs", OP_RMATTR: "rmattr",
    OP_OMAP_SETKEYS: "omap_setkeys", OP_OMAP_RMKEYS: "omap_rmkeys",
    OP_OMAP_RMRANGE: "omap_rmrange", OP_OMAP_CLEAR: "omap_clear",
    OP_OMAP_SETHEADER: "omap_setheader", OP_SET_META: "set_meta",
}


class Transaction:
    """An ordered list of primitive mutations on objects of one PG."""

    __slots__ = ("pgid", "ops")

    def __init__(self, pgid: int = 0, ops: list | None = None):
        self.pgid = pgid
        self.ops: list[tuple] = [] if ops is None else ops

    def __len__(self) -> int:
        return len(self.ops)

    def __iter__(self):
        return iter(self.ops)

    def __repr__(self) -> str:
        names = ", ".join(OP_NAMES.get(op[0], str(op[0])) for op in self.ops)
        return f"Transaction(pgid={self.pgid}, [{names}])"

    def __reduce__(self):
        return (Transaction, (self.pgid, self.ops))

    def extend(self, other: "Transaction") -> None:
        self.ops.extend(other.ops)

    # -- builders: one per primitive ---------------------------------------------------------
    def touch(self, hobj) -> None:
        self.ops.append((OP_TOUCH, hobj))

    def write(self, hobj, offset: int, data) -> None:
        self.ops.append((OP_WRITE, hobj, offset, data))

    def zero(self, hobj, offset: int, length: int) -> None:
        self.ops.append((OP_ZERO, hobj, offset, length))

    def truncate(self, hobj, size: int) -> None:
        self.ops.append((OP_TRUNCATE, hobj, size))

    def remove(self, hobj) -> None:
        self.ops.append((OP_REMOVE, hobj))

    def clone(self, src, dst) -> None:
        """dst := copy of src (data, xattrs, omap, header, version, mtime; not the snapset)."""
        self.ops.append((OP_CLONE, src, dst))

    def setattrs(self, hobj, attrs: dict) -> None:
        self.ops.append((OP_SETATTRS, hobj, attrs))

    def rmattr(self, hobj, name: str) -> None:
        self.ops.append((OP_RMATTR, hobj, name))

    def omap_setkeys(self, hobj, kv: dict) -> None:
        self.ops.append((OP_OMAP_SETKEYS, hobj, kv))

    def omap_rmkeys(self, hobj, keys) -> None:
        self.ops.append((OP_OMAP_RMKEYS, hobj, tuple(keys)))

    def omap_rmrange(self, hobj, start: str, end: str) -> None:
        self.ops.append((OP_OMAP_RMRANGE, hobj, start, end))

    def omap_clear(self, hobj) -> None:
        self.ops.append((OP_OMAP_CLEAR, hobj))

    def omap_setheader(self, hobj, header: bytes) -> None:
        self.ops.append((OP_OMAP_SETHEADER, hobj, header))

    def set_meta(self, hobj, version: int, mtime: float, snapset=None,
                 whiteout: bool = False) -> None:
        """Object info: user version, mtime, the head's SnapSet (None for clones or objects
        never written under a snap context) and the whiteout flag (head deleted, clones kept)."""
        self.ops.append((OP_SET_META, hobj, version, mtime, snapset, whiteout))
