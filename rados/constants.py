"""Numeric constants of Ceph's `rados` Python binding (values are librados' C values).

Everything here is re-exported by `rados/__init__.py`; code written for Ceph imports these
names at module import time, so none may go missing (see shared/spec/api_names.txt).
"""
from __future__ import annotations

# Per-op flags (rados_*_op_set_flags on the last op).
LIBRADOS_OP_FLAG_EXCL = 0x1
LIBRADOS_OP_FLAG_FAILOK = 0x2
LIBRADOS_OP_FLAG_FADVISE_RANDOM = 0x4
LIBRADOS_OP_FLAG_FADVISE_SEQUENTIAL = 0x8
LIBRADOS_OP_FLAG_FADVISE_WILLNEED = 0x10
LIBRADOS_OP_FLAG_FADVISE_DONTNEED = 0x20
LIBRADOS_OP_FLAG_FADVISE_NOCACHE = 0x40
LIBRADOS_OP_FLAG_FADVISE_FUA = 0x80

# cmpxattr / omap_cmp comparison operators.
LIBRADOS_CMPXATTR_OP_EQ = 1
LIBRADOS_CMPXATTR_OP_NE = 2
LIBRADOS_CMPXATTR_OP_GT = 3
LIBRADOS_CMPXATTR_OP_GTE = 4
LIBRADOS_CMPXATTR_OP_LT = 5
LIBRADOS_CMPXATTR_OP_LTE = 6

# Whole-operation flags (operate_*_op flags argument).
LIBRADOS_OPERATION_NOFLAG = 0
LIBRADOS_OPERATION_BALANCE_READS = 1
LIBRADOS_OPERATION_LOCALIZE_READS = 2
LIBRADOS_OPERATION_ORDER_READS_WRITES = 4
LIBRADOS_OPERATION_IGNORE_CACHE = 8
LIBRADOS_OPERATION_SKIPRWLOCKS = 16
LIBRADOS_OPERATION_IGNORE_OVERLAY = 32
LIBRADOS_OPERATION_FULL_TRY = 64
LIBRADOS_OPERATION_FULL_FORCE = 128
LIBRADOS_OPERATION_IGNORE_REDIRECT = 256
LIBRADOS_OPERATION_ORDERSNAP = 512
LIBRADOS_OPERATION_RETURNVEC = 1024

LIBRADOS_SNAP_HEAD = 2**64 - 2       # C (uint64_t)-2
LIBRADOS_SNAP_DIR = 2**64 - 1        # C (uint64_t)-1
CEPH_MAXSNAP = 2**64 - 3             # largest id a snap context may carry
LIBRADOS_ALL_NSPACES = "\x01"

LIBRADOS_CREATE_EXCLUSIVE = 1
LIBRADOS_CREATE_IDEMPOTENT = 0

# cmpext mismatch is reported as -MAX_ERRNO - offset.
MAX_ERRNO = 4095

ANONYMOUS_AUID = 0xffffffffffffffff
ADMIN_AUID = 0

MONITOR_LEVELS = ["debug", "info", "warn", "warning", "err", "error", "sec"]

LIBRADOS_SUPPORTS_WATCH = True
LIBRADOS_SUPPORTS_SERVICES = True
LIBRADOS_SUPPORTS_GETADDRS = True
LIBRADOS_SUPPORTS_APP_METADATA = True

# cls_lock flags (rados_lock_* flags argument).
LIBRADOS_LOCK_FLAG_RENEW = 0x1        # LOCK_FLAG_MAY_RENEW
LIBRADOS_LOCK_FLAG_MAY_RENEW = 0x1
LIBRADOS_LOCK_FLAG_MUST_RENEW = 0x2

# The version of librados this module stands in for (Squid's librados is 3.0.0).
LIBRADOS_VER_MAJOR = 3
LIBRADOS_VER_MINOR = 0
LIBRADOS_VER_EXTRA = 0

# osd_max_object_name_len / osd_max_object_namespace_len defaults: longer → ENAMETOOLONG.
MAX_OBJECT_NAME_LEN = 2048
MAX_OBJECT_NAMESPACE_LEN = 256

# What `rados/__init__.py` re-exports: the binding's names (the limits above stay internal).
__all__ = sorted(name for name in dir() if name.isupper() and name not in (
    "CEPH_MAXSNAP", "MAX_OBJECT_NAME_LEN", "MAX_OBJECT_NAMESPACE_LEN"))
