"""The `rbd` exception tree, the errno tables and the name helpers of Ceph's binding.

Invariants:
- `Error` is the root; `OSError(Error)` carries `.errno` and renders `"[errno N] msg"`;
  every errno-specific class derives from `OSError` and prefixes its message, e.g.
  `ImageNotFound("x", errno=2)` -> `"[errno 2] RBD image not found (x)"`.
- Two tables map an errno to a class: `errno_to_exception` for image and pool calls,
  `group_errno_to_exception` for group calls (ENOENT/EEXIST differ). `make_ex` picks one.
- Every exception pickles to an equal exception: `__reduce__` returns the class with the
  caller's original message and errno (Ceph's own binding reads a missing attribute there).
- Name arguments go through `cstr`: str or bytes, anything else is `InvalidArgument`
  (the rados binding raises TypeError instead; rbd does not).
"""
from __future__ import annotations

import errno as _errno

ECANCELED = _errno.ECANCELED


class Error(Exception):
    """Root of the rbd exceptions."""

    def __init__(self, message="", errno=None):
        super().__init__(message)
        self._rbd_message = message
        self.errno = errno

    def __reduce__(self):
        return (self.__class__, (self._rbd_message, self.errno))


class OSError(Error):  # noqa: A001 - the binding's name
    """An error with an errno; str() is "[errno N] message"."""

    _prefix: str | None = None

    def __init__(self, message="", errno=None):
        raw = message
        if self._prefix is not None:
            message = "%s (%s)" % (self._prefix, message)
        Exception.__init__(self, message)
        self._rbd_message = raw
        self.errno = errno

    def __str__(self):
        msg = super().__str__()
        if self.errno is None:
            return msg
        return "[errno {0}] {1}".format(self.errno, msg)


def _subclass(name: str, prefix: str, doc: str):
    cls = type(name, (OSError,), {"_prefix": prefix, "__doc__": doc, "__module__": "rbd"})
    return cls


PermissionError = _subclass("PermissionError", "RBD permission error", "EPERM")  # noqa: A001
ImageNotFound = _subclass("ImageNotFound", "RBD image not found", "ENOENT on image calls")
ObjectNotFound = _subclass("ObjectNotFound", "RBD object not found", "ENOENT on group calls")
ImageExists = _subclass("ImageExists", "RBD image already exists", "EEXIST on image calls")
ObjectExists = _subclass("ObjectExists", "RBD object already exists", "EEXIST on group calls")
IOError = _subclass("IOError", "RBD I/O error", "EIO")  # noqa: A001
NoSpace = _subclass("NoSpace", "RBD insufficient space available", "ENOSPC")
IncompleteWriteError = _subclass("IncompleteWriteError", "RBD incomplete write",
                                 "a write ran past the end of the image")
InvalidArgument = _subclass("InvalidArgument", "RBD invalid argument", "EINVAL")
LogicError = _subclass("LogicError", "RBD logic error", "should never happen")
ReadOnlyImage = _subclass("ReadOnlyImage", "RBD read-only image", "EROFS")
ImageBusy = _subclass("ImageBusy", "RBD image is busy", "EBUSY")
ImageHasSnapshots = _subclass("ImageHasSnapshots", "RBD image has snapshots", "ENOTEMPTY")
FunctionNotSupported = _subclass("FunctionNotSupported", "RBD function not supported", "ENOSYS")
ArgumentOutOfRange = _subclass("ArgumentOutOfRange", "RBD arguments out of range", "EDOM")
ConnectionShutdown = _subclass("ConnectionShutdown", "RBD connection was shutdown", "ESHUTDOWN")
Timeout = _subclass("Timeout", "RBD operation timeout", "ETIMEDOUT")
DiskQuotaExceeded = _subclass("DiskQuotaExceeded", "RBD disk quota exceeded", "EDQUOT")
OperationNotSupported = _subclass("OperationNotSupported", "RBD operation not supported",
                                  "EOPNOTSUPP")
OperationCanceled = _subclass("OperationCanceled", "RBD operation canceled", "ECANCELED")
ImageMemberOfGroup = _subclass("ImageMemberOfGroup", "RBD image is member of group", "EMLINK")

errno_to_exception = {
    _errno.EPERM: PermissionError,
    _errno.ENOENT: ImageNotFound,
    _errno.EIO: IOError,
    _errno.ENOSPC: NoSpace,
    _errno.EEXIST: ImageExists,
    _errno.EINVAL: InvalidArgument,
    _errno.EROFS: ReadOnlyImage,
    _errno.EBUSY: ImageBusy,
    _errno.ENOTEMPTY: ImageHasSnapshots,
    _errno.ENOSYS: FunctionNotSupported,
    _errno.EDOM: ArgumentOutOfRange,
    _errno.ESHUTDOWN: ConnectionShutdown,
    _errno.ETIMEDOUT: Timeout,
    _errno.EDQUOT: DiskQuotaExceeded,
    _errno.EOPNOTSUPP: OperationNotSupported,
    _errno.ECANCELED: OperationCanceled,
}

group_errno_to_exception = dict(errno_to_exception)
group_errno_to_exception[_errno.ENOENT] = ObjectNotFound
group_errno_to_exception[_errno.EEXIST] = ObjectExists


def make_ex(ret: int, msg: str, exception_map=None) -> OSError:
    """The exception the binding raises for return code `ret` (sign ignored)."""
    if exception_map is None:
        exception_map = errno_to_exception
    ret = abs(ret)
    cls = exception_map.get(ret)
    if cls is None:
        return OSError(msg, errno=ret)
    return cls(msg, errno=ret)


class RbdError(Exception):
    """Internal: a librbd-level failure with a negative errno, turned into the public
    exception by the API layer (`raise make_ex(...)`). Never escapes `rbd`."""

    def __init__(self, ret: int, what: str = ""):
        super().__init__(what or _errno.errorcode.get(abs(ret), str(ret)))
        self.ret = -abs(ret)
        self.what = what


def cstr(val, name, encoding="utf-8", opt=False):
    """Name argument -> bytes; None allowed when `opt`; other types -> InvalidArgument."""
    if opt and val is None:
        return None
    if isinstance(val, bytes):
        return val
    if isinstance(val, str):
        return val.encode(encoding)
    raise InvalidArgument("%s must be a string" % name)


def decode_cstr(val, encoding="utf-8"):
    if val is None:
        return None
    if isinstance(val, str):
        return val
    return val.decode(encoding)


def name_arg(val, name, opt=False) -> str | None:
    """Name argument -> str (what the rest of rbd uses internally)."""
    raw = cstr(val, name, opt=opt)
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgument("%s must be valid utf-8" % name) from None
