"""rayceph's `rados`: a drop-in replacement for Ceph's `rados` Python binding.

Code and tests written for Ceph's binding run unchanged: same classes, constants, return
values, exceptions (class, errno and `str(e)`). Everything public is assembled here from
small private modules:

    errors.py        exception classes, errno table, make_ex
    constants.py     LIBRADOS_* and friends
    rados_handle.py  Rados (configuration, connection, pools, commands)
    ioctx.py         Ioctx (object I/O, xattrs, snapshots, compound ops, omap)
    ops.py           WriteOp, ReadOp, WriteOpCtx, ReadOpCtx, OmapIterator
    completion.py    Completion and the finisher thread that runs aio callbacks
    objects.py       Object, iterators, Snap, Version, Watch, MonitorLog

The cluster underneath is reached through rados/client.py (ClusterClient).
"""
from rados._args import cstr, cstr_list, decode_cstr, flatten_dict, opt, requires
from rados.completion import Completion
from rados.constants import *  # noqa: F401,F403 - the binding exports every constant
from rados.constants import __all__ as _constants_all
from rados.errors import (
    ConnectionShutdown, Error, ExtendMismatch, InProgress, InterruptedOrTimeoutError,
    InvalidArgumentError, IoctxStateError, IOError, IsConnected, LogicError, NoData, NoSpace,
    NotConnected, ObjectBusy, ObjectExists, ObjectNotFound, ObjectStateError, OSError,
    PermissionDeniedError, PermissionError, RadosStateError, TimedOut, errno_to_exception,
    make_ex,
)
from rados.ioctx import Ioctx
from rados.objects import (
    MonitorLog, Object, ObjectIterator, Snap, SnapIterator, Version, Watch, XattrIterator,
)
from rados.ops import OmapIterator, ReadOp, ReadOpCtx, WriteOp, WriteOpCtx
from rados.rados_handle import Rados

__all__ = list(_constants_all) + [
    # classes
    "Rados", "Ioctx", "Completion", "WriteOp", "ReadOp", "WriteOpCtx", "ReadOpCtx",
    "OmapIterator", "Object", "ObjectIterator", "XattrIterator", "SnapIterator", "Snap",
    "Version", "Watch", "MonitorLog",
    # exceptions
    "Error", "InvalidArgumentError", "ExtendMismatch", "OSError", "InterruptedOrTimeoutError",
    "PermissionError", "PermissionDeniedError", "ObjectNotFound", "NoData", "ObjectExists",
    "ObjectBusy", "IOError", "NoSpace", "NotConnected", "RadosStateError", "IoctxStateError",
    "ObjectStateError", "LogicError", "TimedOut", "InProgress", "IsConnected",
    "ConnectionShutdown",
    # helpers the binding exposes
    "cstr", "cstr_list", "decode_cstr", "flatten_dict", "requires", "opt", "make_ex",
    "errno_to_exception",
]

del _constants_all
