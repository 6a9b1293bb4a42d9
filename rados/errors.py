"""The exception tree and errno table of Ceph's `rados` binding, and `make_ex`.

Invariants:
- Class names, the class hierarchy, the errno → class table and `str(e)` are those of the
  real binding: `str(ObjectNotFound("error opening pool 'x'", errno=2))` is
  `"[errno 2] RADOS object not found (error opening pool 'x')"`; without an errno the
  `[errno N] ` part is absent.
- Every exception pickles with its class, errno, message (and `ExtendMismatch.offset`):
  Ceph's own `__reduce__` reads a missing attribute; ours re-creates the exception from the
  message the caller passed, so the prefix is not applied twice.
"""
from __future__ import annotations

import builtins
import errno as _errno

from rados.constants import MAX_ERRNO

__all__ = [
    "Error", "InvalidArgumentError", "ExtendMismatch", "OSError", "InterruptedOrTimeoutError",
    "PermissionError", "PermissionDeniedError", "ObjectNotFound", "NoData", "ObjectExists",
    "ObjectBusy", "IOError", "NoSpace", "NotConnected", "RadosStateError", "IoctxStateError",
    "ObjectStateError", "LogicError", "TimedOut", "InProgress", "IsConnected",
    "ConnectionShutdown", "errno_to_exception", "make_ex",
]


class Error(Exception):
    """Base of every rados error: `Error(message, errno=None)`; `.errno` is positive or None."""

    _prefix = ""

    def __init__(self, message, errno=None):
        self._message = message
        text = "%s (%s)" % (self._prefix, message) if self._prefix else message
        super().__init__(text)
        self.errno = errno

    def __str__(self):
        msg = super().__str__()
        if self.errno is None:
            return msg
        return "[errno {0}] {1}".format(self.errno, msg)

    def __reduce__(self):
        return (_rebuild, (self.__class__, self._message, self.errno), self.__dict__)


def _rebuild(cls, message, errno):
    """Unpickle without calling a subclass __init__ whose signature may differ."""
    exc = cls.__new__(cls)
    Error.__init__(exc, message, errno)
    return exc


class InvalidArgumentError(Error):
    _prefix = "RADOS invalid argument"


class ExtendMismatch(Error):
    """A cmpext mismatch: `.offset` is the first differing byte, `.errno` MAX_ERRNO + offset."""

    _prefix = "object content does not match"

    def __init__(self, message, errno, offset):
        super().__init__(message, errno)
        self.offset = offset


class OSError(Error):
    """An errno without a more specific class."""


class InterruptedOrTimeoutError(OSError):
    _prefix = "RADOS interrupted or timeout"


class PermissionError(OSError):
    _prefix = "RADOS permission error"


class PermissionDeniedError(OSError):
    _prefix = "RADOS permission denied"


class ObjectNotFound(OSError):
    _prefix = "RADOS object not found"


class NoData(OSError):
    _prefix = "RADOS no data"


class ObjectExists(OSError):
    _prefix = "RADOS object exists"


class ObjectBusy(OSError):
    _prefix = "RADOS object busy"


class IOError(OSError):
    _prefix = "RADOS I/O error"


class NoSpace(OSError):
    _prefix = "RADOS no space"


class NotConnected(OSError):
    _prefix = "RADOS not connected"


class RadosStateError(Error):
    _prefix = "RADOS rados state"


class IoctxStateError(Error):
    _prefix = "RADOS Ioctx state error"


class ObjectStateError(Error):
    _prefix = "RADOS object state error"


class LogicError(Error):
    _prefix = "RADOS logic error"


class TimedOut(OSError):
    _prefix = "RADOS timed out"


class InProgress(Error):
    _prefix = "RADOS in progress error"


class IsConnected(Error):
    _prefix = "RADOS is connected error"


class ConnectionShutdown(OSError):
    _prefix = "RADOS connection was shutdown"


errno_to_exception = {
    _errno.EPERM: PermissionError,
    _errno.ENOENT: ObjectNotFound,
    _errno.EIO: IOError,
    _errno.ENOSPC: NoSpace,
    _errno.EEXIST: ObjectExists,
    _errno.EBUSY: ObjectBusy,
    _errno.ENODATA: NoData,
    _errno.EINTR: InterruptedOrTimeoutError,
    _errno.ETIMEDOUT: TimedOut,
    _errno.EACCES: PermissionDeniedError,
    _errno.EINPROGRESS: InProgress,
    _errno.EISCONN: IsConnected,
    _errno.EINVAL: InvalidArgumentError,
    _errno.ENOTCONN: NotConnected,
    _errno.ESHUTDOWN: ConnectionShutdown,
}


def make_ex(ret: int, msg: str) -> Error:
    """The exception librados' return code `ret` (negative or positive errno) maps to."""
    ret = abs(int(ret))
    cls = errno_to_exception.get(ret)
    if cls is not None:
        return cls(msg, errno=ret)
    if ret > MAX_ERRNO:
        return ExtendMismatch(msg, ret, ret - MAX_ERRNO)
    return OSError(msg, errno=ret)


def errno_of(exc: BaseException) -> int:
    """A positive errno for an exception raised below us (transport, client, timeouts)."""
    code = getattr(exc, "errno", None)
    if isinstance(code, int) and code > 0:
        return code
    if isinstance(exc, (TimeoutError, builtins.TimeoutError)):
        return _errno.ETIMEDOUT
    if isinstance(exc, ConnectionError):
        return _errno.ENOTCONN
    return _errno.EIO
