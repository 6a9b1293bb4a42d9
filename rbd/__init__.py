"""rayceph's `rbd`: a drop-in replacement for Ceph's `rbd` Python binding.

Images are laid out in RADOS as librbd's format 2 (rbd_directory, rbd_id.<name>,
rbd_header.<id>, rbd_data.<id>.<objno>, object maps, rbd_children), their metadata is
changed by the `rbd` object class on the OSDs (osd/cls/rbd.py), and their data is striped
over objects and written with the image's snapshot context. The public surface is
assembled here from small modules:

    errors.py       exception tree, errno tables, cstr/decode_cstr
    constants.py    RBD_* constants
    features.py     feature names and rules
    striping.py     image extents <-> object extents (pure)
    rbd_api.py      class RBD (create, clone, list, remove, rename, pool_init, ...)
    image.py        class Image
    image_ctx.py    the state of one open image (header, snapshot view, watch)
    io.py           reads, writes, discards, copy-ups, trims
    snapshots.py    snapshot create/remove/rollback/protect
    clone.py        clones, flatten, children
    diff.py         diff_iterate
    object_map.py   object map / fast-diff
    locks.py        exclusive lock and advisory locks
    completion.py   rbd.Completion
    copy.py         copy, deep_copy, sparsify
    pool_features.py, mirror_api.py   later issues (FunctionNotSupported for now)
    _rados_io.py    the one adapter below the public rados API
"""
from rbd.completion import Completion
from rbd.constants import *  # noqa: F401,F403 - the binding exports every constant
from rbd.constants import __dict__ as _constants_dict
from rbd.errors import (
    ECANCELED, ArgumentOutOfRange, ConnectionShutdown, DiskQuotaExceeded, Error,
    FunctionNotSupported, ImageBusy, ImageExists, ImageHasSnapshots, ImageMemberOfGroup,
    ImageNotFound, IncompleteWriteError, InvalidArgument, IOError, LogicError, NoSpace,
    ObjectExists, ObjectNotFound, OperationCanceled, OperationNotSupported, OSError,
    PermissionError, ReadOnlyImage, Timeout, cstr, decode_cstr, errno_to_exception,
    group_errno_to_exception, make_ex,
)
from rbd.image import Image
from rbd.iterators import (
    ChildIterator, ConfigImageIterator, ImageIterator, LockOwnerIterator, MetadataIterator,
    SnapIterator, TrashIterator, WatcherIterator,
)
from rbd.mirror_api import (  # mirroring iterators (spec 1A.7)
    MirrorImageInfoIterator, MirrorImageInstanceIdIterator, MirrorImageStatusIterator,
    MirrorPeerIterator,
)
from rbd.pool_features import Group
from rbd.rbd_api import RBD

# C-only names the Python binding does not export
for _name in ("RBD_FEATURE_DIRTY_CACHE", "RBD_FEATURES_DEFAULT", "RBD_FEATURES_DISABLE_ONLY",
              "RBD_FEATURES_INTERNAL", "RBD_FEATURES_IMPLICIT_ENABLE", "SNAP_HEAD", "UINT64_MAX",
              "OBJECT_NONEXISTENT", "OBJECT_EXISTS", "OBJECT_PENDING", "OBJECT_EXISTS_CLEAN",
              "RBD_PROTECTION_STATUS_UNPROTECTED", "RBD_PROTECTION_STATUS_UNPROTECTING",
              "RBD_PROTECTION_STATUS_PROTECTED"):
    globals().pop(_name, None)

_CONSTANTS = sorted(k for k in _constants_dict if k.isupper() and k in globals())

__all__ = _CONSTANTS + [
    "RBD", "Image", "Group", "Completion", "ImageIterator", "SnapIterator", "TrashIterator",
    "ChildIterator", "WatcherIterator", "LockOwnerIterator", "MetadataIterator",
    "ConfigImageIterator", "MirrorPeerIterator", "MirrorImageStatusIterator",
    "MirrorImageInstanceIdIterator", "MirrorImageInfoIterator",
    "Error", "OSError", "PermissionError", "ImageNotFound", "ObjectNotFound", "ImageExists",
    "ObjectExists", "IOError", "NoSpace", "IncompleteWriteError", "InvalidArgument",
    "LogicError", "ReadOnlyImage", "ImageBusy", "ImageHasSnapshots", "FunctionNotSupported",
    "ArgumentOutOfRange", "ConnectionShutdown", "Timeout", "DiskQuotaExceeded",
    "OperationNotSupported", "OperationCanceled", "ImageMemberOfGroup", "ECANCELED",
    "errno_to_exception", "group_errno_to_exception", "cstr", "decode_cstr",
]

del _constants_dict, _name
