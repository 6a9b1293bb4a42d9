"""Feature names, the features <-> string conversions, and the feature rules librbd enforces.

Invariants kept here (pure, no I/O):
- `features_to_string` lists names alphabetically (librbd keeps them in a sorted map) and
  refuses unknown bits with EINVAL; `features_from_string("")` is the default set (61).
- `validate_create_features` is the one place that decides which feature sets an image may
  be created with (dependencies, internal bits, unknown bits); `validate_update` decides
  which bits `update_features` may flip and what else flips with them.
"""
from __future__ import annotations

import errno

from rbd.constants import (
    RBD_FEATURE_DATA_POOL, RBD_FEATURE_DEEP_FLATTEN, RBD_FEATURE_DIRTY_CACHE,
    RBD_FEATURE_EXCLUSIVE_LOCK, RBD_FEATURE_FAST_DIFF, RBD_FEATURE_JOURNALING,
    RBD_FEATURE_LAYERING, RBD_FEATURE_MIGRATING, RBD_FEATURE_NON_PRIMARY,
    RBD_FEATURE_OBJECT_MAP, RBD_FEATURE_OPERATIONS, RBD_FEATURE_STRIPINGV2,
    RBD_FEATURES_ALL, RBD_FEATURES_DEFAULT, RBD_FEATURES_INTERNAL, RBD_FEATURES_MUTABLE,
    RBD_OPERATION_FEATURE_CLONE_CHILD, RBD_OPERATION_FEATURE_CLONE_PARENT,
    RBD_OPERATION_FEATURE_GROUP, RBD_OPERATION_FEATURE_SNAP_TRASH,
)
from rbd.errors import RbdError

FEATURE_NAMES = {
    RBD_FEATURE_LAYERING: "layering",
    RBD_FEATURE_STRIPINGV2: "striping",
    RBD_FEATURE_EXCLUSIVE_LOCK: "exclusive-lock",
    RBD_FEATURE_OBJECT_MAP: "object-map",
    RBD_FEATURE_FAST_DIFF: "fast-diff",
    RBD_FEATURE_DEEP_FLATTEN: "deep-flatten",
    RBD_FEATURE_JOURNALING: "journaling",
    RBD_FEATURE_DATA_POOL: "data-pool",
    RBD_FEATURE_OPERATIONS: "operations",
    RBD_FEATURE_MIGRATING: "migrating",
    RBD_FEATURE_NON_PRIMARY: "non-primary",
    RBD_FEATURE_DIRTY_CACHE: "dirty-cache",
}
FEATURES_BY_NAME = {name: bit for bit, name in FEATURE_NAMES.items()}

OP_FEATURE_NAMES = {
    RBD_OPERATION_FEATURE_CLONE_PARENT: "clone-parent",
    RBD_OPERATION_FEATURE_CLONE_CHILD: "clone-child",
    RBD_OPERATION_FEATURE_GROUP: "group",
    RBD_OPERATION_FEATURE_SNAP_TRASH: "snap-trash",
}

# what each feature needs enabled
FEATURE_DEPENDENCIES = {
    RBD_FEATURE_OBJECT_MAP: RBD_FEATURE_EXCLUSIVE_LOCK,
    RBD_FEATURE_FAST_DIFF: RBD_FEATURE_OBJECT_MAP,
    RBD_FEATURE_JOURNALING: RBD_FEATURE_EXCLUSIVE_LOCK,
}


def features_to_string(features: int) -> str:
    """Alphabetical, comma separated. Unknown bits -> RbdError(-EINVAL)."""
    if features < 0 or features & ~RBD_FEATURES_ALL:
        raise RbdError(-errno.EINVAL, "unknown feature bits")
    names = sorted(FEATURE_NAMES[bit] for bit in FEATURE_NAMES if features & bit)
    return ",".join(names)


def features_from_string(value: str) -> int:
    """Names separated by ',', ' ' or '+', or a number. '' -> the default set.
    Unknown names or bits -> RbdError(-EINVAL)."""
    value = value.strip()
    if not value:
        return RBD_FEATURES_DEFAULT
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is not None:
        if number < 0 or number & ~RBD_FEATURES_ALL:
            raise RbdError(-errno.EINVAL, "unknown feature bits")
        return number
    features = 0
    for token in value.replace("+", ",").replace(" ", ",").split(","):
        token = token.strip()
        if not token:
            continue
        bit = FEATURES_BY_NAME.get(token)
        if bit is None:
            raise RbdError(-errno.EINVAL, "ignoring unknown feature %s" % token)
        features |= bit
    return features


def validate_create_features(features: int) -> None:
    """Raise RbdError for a feature set an image may not be created with."""
    if features & ~RBD_FEATURES_ALL:
        raise RbdError(-errno.ENOSYS, "librbd does not support requested features")
    if features & RBD_FEATURES_INTERNAL:
        raise RbdError(-errno.EINVAL, "cannot use internally controlled features")
    if features & RBD_FEATURE_NON_PRIMARY:
        raise RbdError(-errno.EINVAL, "cannot use internally controlled features")
    for bit, needed in FEATURE_DEPENDENCIES.items():
        if features & bit and not features & needed:
            raise RbdError(-errno.EINVAL, "%s requires %s" % (FEATURE_NAMES[bit],
                                                             FEATURE_NAMES[needed]))


def validate_update(current: int, features: int, enabled: bool) -> tuple[int, int]:
    """For `update_features(features, enabled)` on an image with `current` features return
    (new features, changed mask). Raise RbdError as librbd does:
    - bits outside the mutable set (or deep-flatten when enabling) -> EINVAL
    - enabling a feature whose dependency is missing -> EINVAL
    - disabling a feature another enabled feature needs -> EINVAL
    Enabling object-map also enables nothing else; enabling fast-diff needs object-map.
    Disabling object-map also disables fast-diff (librbd does the same)."""
    if features & ~RBD_FEATURES_ALL:
        raise RbdError(-errno.EINVAL, "unknown features")
    if enabled:
        if features & ~RBD_FEATURES_MUTABLE:
            raise RbdError(-errno.EINVAL, "cannot update immutable features")
        if features & (RBD_FEATURE_NON_PRIMARY | RBD_FEATURE_DIRTY_CACHE):
            raise RbdError(-errno.EINVAL, "cannot update internal features")
        features &= ~current
        new = current | features
        for bit, needed in FEATURE_DEPENDENCIES.items():
            if new & bit and features & bit and not new & needed:
                raise RbdError(-errno.EINVAL, "%s requires %s" % (FEATURE_NAMES[bit],
                                                                 FEATURE_NAMES[needed]))
        return new, features
    if features & ~(RBD_FEATURES_MUTABLE | RBD_FEATURE_DEEP_FLATTEN):
        raise RbdError(-errno.EINVAL, "cannot update immutable features")
    if features & (RBD_FEATURE_NON_PRIMARY | RBD_FEATURE_DIRTY_CACHE):
        raise RbdError(-errno.EINVAL, "cannot update internal features")
    features &= current
    if features & RBD_FEATURE_OBJECT_MAP:
        features |= current & RBD_FEATURE_FAST_DIFF
    new = current & ~features
    for bit, needed in FEATURE_DEPENDENCIES.items():
        if new & bit and not new & needed:
            raise RbdError(-errno.EINVAL, "cannot disable %s: %s depends on it"
                           % (FEATURE_NAMES[needed], FEATURE_NAMES[bit]))
    return new, features
