"""Pure helpers over an image's snapshot records (HeaderInfo.snaps) for mirroring."""
from __future__ import annotations

from rbd.constants import (
    RBD_SNAP_MIRROR_STATE_NON_PRIMARY, RBD_SNAP_MIRROR_STATE_NON_PRIMARY_DEMOTED,
    RBD_SNAP_MIRROR_STATE_PRIMARY, RBD_SNAP_MIRROR_STATE_PRIMARY_DEMOTED,
    RBD_SNAP_NAMESPACE_TYPE_MIRROR,
)

PRIMARY_STATES = (RBD_SNAP_MIRROR_STATE_PRIMARY, RBD_SNAP_MIRROR_STATE_PRIMARY_DEMOTED)
NON_PRIMARY_STATES = (RBD_SNAP_MIRROR_STATE_NON_PRIMARY,
                      RBD_SNAP_MIRROR_STATE_NON_PRIMARY_DEMOTED)


def mirror_snaps(info) -> list:
    """The MIRROR-namespace SnapInfo records, oldest first."""
    return [info.snaps[i] for i in sorted(info.snaps)
            if info.snaps[i].namespace_type == RBD_SNAP_NAMESPACE_TYPE_MIRROR]


def newest_mirror_state(info):
    snaps = mirror_snaps(info)
    return snaps[-1].namespace.get("state") if snaps else None


def is_primary(info) -> bool:
    """Snapshot mode: primary iff the newest mirror snapshot is PRIMARY. An image without
    mirror snapshots (journal mode or not mirrored) is primary."""
    state = newest_mirror_state(info)
    return state is None or state == RBD_SNAP_MIRROR_STATE_PRIMARY


def is_non_primary(info) -> bool:
    return not is_primary(info)


def primary_snap_name(global_id: str, uuid: str) -> str:
    return ".mirror.primary.%s.%s" % (global_id, uuid)


def non_primary_snap_name(global_id: str, uuid: str) -> str:
    return ".mirror.non_primary.%s.%s" % (global_id, uuid)
