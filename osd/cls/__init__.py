"""Object classes (Ceph's cls): methods that run on the primary OSD against one object.

A method is registered by class and method name with its flags and is called with a
ClsContext and the client's input bytes:

    from osd.cls import register, ClsError, RD, WR
    @register("hello", "say_hello", RD)
    def say_hello(ctx: ClsContext, indata: bytes) -> bytes | None: ...

Invariants:
- The registry (class, method) -> ClsMethod is the only module-level mutable state of the
  OSD core. The shipped classes (hello, lock, version, rbd) are imported lazily on the first
  lookup, so importing osd.cls never imports them (they import this module).
- Data returned by a method of a write request reaches the client only with the request
  flag LIBRADOS_OPERATION_RETURNVEC (1024), as in Ceph; reads always return it.
- A method fails by raising ClsError(errno); the request then applies nothing. Any change a
  method makes goes through the ClsContext into the request's transaction, so a method runs
  once, on the primary, and replicas receive only its effects.
- A method not flagged RD that reads object data, xattrs or omap, or one not flagged WR that
  changes the object, fails with -EIO after it returns (as Ceph's OSD enforces).
"""
from __future__ import annotations

import errno
import importlib
import logging
from typing import Callable, NamedTuple

import msgpack

log = logging.getLogger("rayceph.osd")

RD = 1
WR = 2
PROMOTE = 8     # accepted for Ceph compatibility; means nothing here (no cache tiers)

SHIPPED_CLASSES = ("hello", "lock", "version", "rbd")


class ClsError(Exception):
    """Raised by a method (or by the context on its behalf) to fail with -errno.

    `errno` is stored positive whatever sign is passed. `out` is data a method wants to
    return with its error (the client sees it only with the RETURNVEC flag)."""

    def __init__(self, err: int, message: str = "", out: bytes = b""):
        err = abs(int(err))
        super().__init__(message or errno.errorcode.get(err, str(err)))
        self.errno = err
        self.out = out

    def __reduce__(self):
        return (ClsError, (self.errno, str(self), self.out))


class ClsMethod(NamedTuple):
    cls: str
    name: str
    flags: int
    func: Callable


_methods: dict[tuple[str, str], ClsMethod] = {}
_loaded = False


def register(cls: str, method: str, flags: int):
    """Decorator: register `func` as `cls.method` with RD/WR flags (re-registering replaces)."""
    if not flags & (RD | WR):
        raise ValueError(f"{cls}.{method}: flags must include RD or WR")

    def decorate(func):
        _methods[(cls, method)] = ClsMethod(cls, method, flags, func)
        return func
    return decorate


def _load_shipped() -> None:
    """Import the shipped classes once. A class that is absent is skipped; one that fails
    to import is logged and skipped, so one broken class cannot take the others down (its
    methods then answer -EOPNOTSUPP)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for name in SHIPPED_CLASSES:
        module = f"osd.cls.{name}"
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                log.exception("object class %s failed to load", name)
        except Exception:
            log.exception("object class %s failed to load", name)


def lookup(cls: str, method: str) -> ClsMethod | None:
    """The registered method, or None (the OSD answers -EOPNOTSUPP, as Ceph does for both
    unknown classes and unknown methods)."""
    _load_shipped()
    return _methods.get((cls, method))


def classes() -> list[str]:
    _load_shipped()
    return sorted({cls for cls, _ in _methods})


def pack(obj) -> bytes:
    """Encode arguments/results of our own classes: msgpack with bin types."""
    return msgpack.packb(obj, use_bin_type=True)


def unpack(data: bytes, expect: type | None = None):
    """Decode msgpack input; ClsError(EINVAL) if it is not valid (or not of type `expect`)."""
    try:
        obj = msgpack.unpackb(data, raw=False, strict_map_key=False, use_list=True)
    except Exception as exc:
        raise ClsError(errno.EINVAL, f"cannot decode input: {exc}") from None
    if expect is not None and not isinstance(obj, expect):
        raise ClsError(errno.EINVAL, f"input must be a {expect.__name__}")
    return obj


def client_addr(gid: int) -> str:
    """The address we report for a client (entity_addr_t style; there is no real socket)."""
    return f"127.0.0.1:0/{gid}"


class ClsContext:
    """What a method sees: the object as this request has left it so far, plus the caller.

    Reads see the request's earlier changes; writes are recorded in the request's
    transaction. Errors are ClsError: ENOENT for a missing object (read, stat, remove,
    getxattrs, omap reads), ENODATA for a missing xattr, ENOENT for a missing omap key
    (`omap_get`), EEXIST for an exclusive create of an existing object.
    """

    def __init__(self, view, *, gid: int, now: float, snap_seq: int = 0,
                 watchers: Callable[[], list] | None = None, reqid=(0, 0),
                 pool: int = 0, nspace: str = "", oid: str = ""):
        self._view = view
        self._gid = gid
        self._now = now
        self._snap_seq = snap_seq
        self._watchers = watchers
        self._reqid = reqid
        self._pool, self._nspace, self._oid = pool, nspace, oid
        self.num_read = 0
        self.num_write = 0

    # -- the caller and the request ------------------------------------------------------------
    def client_gid(self) -> int:
        return self._gid

    def client_name(self) -> str:
        return f"client.{self._gid}"

    def client_addr(self) -> str:
        return client_addr(self._gid)

    def reqid(self) -> tuple[int, int]:
        return self._reqid

    def now(self) -> float:
        """The OSD's (injectable) clock, seconds since the epoch."""
        return self._now

    def snap_seq(self) -> int:
        """The request's snap context seq (0 without one)."""
        return self._snap_seq

    def oid(self) -> str:
        return self._oid

    def nspace(self) -> str:
        return self._nspace

    def pool(self) -> int:
        return self._pool

    def watchers(self) -> list[dict]:
        """[{'name': 'client.<gid>', 'cookie': int, 'addr': str}] of the object's watches."""
        return self._watchers() if self._watchers is not None else []

    # -- object data ---------------------------------------------------------------------------
    def exists(self) -> bool:
        return self._view.exists

    def stat(self) -> tuple[int, float]:
        view = self._view
        if not view.exists:
            raise ClsError(errno.ENOENT)
        return view.size, view.mtime

    def read(self, offset: int = 0, length: int = 0) -> bytes:
        """Bytes [offset, offset+length) (length 0 = to the end)."""
        self.num_read += 1
        return self._view.read(_uint(offset), _uint(length))

    def write(self, offset: int, data: bytes) -> None:
        self.num_write += 1
        self._view.write(_uint(offset), _as_bytes(data))

    def write_full(self, data: bytes) -> None:
        self.num_write += 1
        self._view.write_full(_as_bytes(data))

    def append(self, data: bytes) -> None:
        self.num_write += 1
        self._view.write(self._view.size, _as_bytes(data))

    def truncate(self, size: int) -> None:
        self.num_write += 1
        self._view.truncate(_uint(size))

    def zero(self, offset: int, length: int) -> None:
        self.num_write += 1
        self._view.zero(_uint(offset), _uint(length))

    def create(self, exclusive: bool) -> None:
        self.num_write += 1
        self._view.create(exclusive)

    def remove(self) -> None:
        self.num_write += 1
        self._view.remove()

    # -- xattrs --------------------------------------------------------------------------------
    def getxattr(self, name: str) -> bytes:
        self.num_read += 1
        value = self._view.getxattr(name)
        if value is None:
            raise ClsError(errno.ENODATA)
        return value

    def getxattrs(self) -> dict[str, bytes]:
        self.num_read += 1
        return self._view.getxattrs()

    def setxattr(self, name: str, value: bytes) -> None:
        self.num_write += 1
        self._view.setxattr(name, _as_bytes(value))

    def rmxattr(self, name: str) -> None:
        self.num_write += 1
        self._view.rmxattr(name)

    # -- omap ----------------------------------------------------------------------------------
    def omap_get(self, key: str) -> bytes:
        self.num_read += 1
        value = self._view.omap_get_vals_by_keys([key]).get(key)
        if value is None:
            raise ClsError(errno.ENOENT)
        return value

    def omap_get_vals(self, start_after: str = "", filter_prefix: str = "",
                      max_return: int = 2**31) -> dict[str, bytes]:
        self.num_read += 1
        return self._view.omap_get_vals(start_after, filter_prefix, max_return)[0]

    def omap_get_vals_more(self, start_after: str = "", filter_prefix: str = "",
                           max_return: int = 2**31) -> tuple[dict[str, bytes], bool]:
        """Like omap_get_vals, plus whether more keys follow (for paging)."""
        self.num_read += 1
        return self._view.omap_get_vals(start_after, filter_prefix, max_return)

    def omap_get_keys(self, start_after: str = "", max_return: int = 2**31) -> list[str]:
        self.num_read += 1
        return self._view.omap_get_keys(start_after, max_return)[0]

    def omap_get_vals_by_keys(self, keys) -> dict[str, bytes]:
        self.num_read += 1
        return self._view.omap_get_vals_by_keys(keys)

    def omap_set(self, kv: dict) -> None:
        self.num_write += 1
        self._view.omap_set({k: _as_bytes(v) for k, v in kv.items()})

    def omap_rm_keys(self, keys) -> None:
        self.num_write += 1
        self._view.omap_rm_keys(list(keys))

    def omap_rm_range(self, start: str, end: str) -> None:
        self.num_write += 1
        self._view.omap_rm_range(start, end)

    def omap_clear(self) -> None:
        self.num_write += 1
        self._view.omap_clear()

    def omap_get_header(self) -> bytes:
        self.num_read += 1
        return self._view.omap_get_header()

    def omap_set_header(self, data: bytes) -> None:
        self.num_write += 1
        self._view.omap_set_header(_as_bytes(data))


def _uint(value) -> int:
    if type(value) is not int or value < 0:
        raise ClsError(errno.EINVAL, f"expected an int >= 0, got {value!r}")
    return value


def _as_bytes(data) -> bytes:
    if type(data) is bytes:
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, str):
        return data.encode()
    raise ClsError(errno.EINVAL, f"expected bytes, got {type(data).__name__}")
