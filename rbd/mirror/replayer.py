"""The pure core of snapshot-based replay (spec 4.6): image states in, actions out.

`plan(remote, local)` looks at plain descriptions of the remote (primary) and local
(non-primary) images and returns (status, actions). It performs no I/O; rbd/mirror/runner.py
executes the actions and calls plan() again until it returns no actions.

An image view is a dict:
    {"name", "size", "order", "features", "resync_requested": bool,
     "mirror_snaps": [{"id", "state", "complete", "primary_mirror_uuid", "primary_snap_id",
                       "last_copied_object_number", "mirror_peer_uuids"}]   (oldest first),
     "user_snaps": [{"id", "name", "size"}]}
`remote` is None when the remote image is gone; `local` is None before bootstrap.

Actions (tuples, executed in order):
    ("create_local",)                          create the local image (same name/size/order/
                                               features, the remote's global id), non-primary
    ("resync",)                                delete the local image (a bootstrap follows)
    ("sync", from_remote_snap|None, to_remote_snap, [user snap ids in between], state)
                                               copy data at each point, create the local user
                                               snapshots, then the NON_PRIMARY[_DEMOTED] snapshot
                                               (complete=False) for to_remote_snap
    ("complete", to_remote_snap)               mark that local non-primary snapshot complete
    ("remove_local_user_snaps", [names])       user snapshots removed on the primary
    ("unlink_peer", remote_snap_id)            drop our peer uuid from an old remote snapshot
    ("prune_local", [local snap ids])          old non-primary snapshots no longer needed
Status: (state int, description str) as spec 4.5.
"""
from __future__ import annotations

import json

from rbd.constants import (
    MIRROR_IMAGE_STATUS_STATE_ERROR, MIRROR_IMAGE_STATUS_STATE_REPLAYING,
    MIRROR_IMAGE_STATUS_STATE_STOPPED, MIRROR_IMAGE_STATUS_STATE_SYNCING,
    MIRROR_IMAGE_STATUS_STATE_UNKNOWN, RBD_SNAP_MIRROR_STATE_NON_PRIMARY,
    RBD_SNAP_MIRROR_STATE_NON_PRIMARY_DEMOTED, RBD_SNAP_MIRROR_STATE_PRIMARY,
    RBD_SNAP_MIRROR_STATE_PRIMARY_DEMOTED,
)

PRIMARY = (RBD_SNAP_MIRROR_STATE_PRIMARY, RBD_SNAP_MIRROR_STATE_PRIMARY_DEMOTED)
NON_PRIMARY = (RBD_SNAP_MIRROR_STATE_NON_PRIMARY, RBD_SNAP_MIRROR_STATE_NON_PRIMARY_DEMOTED)


def _primary(view) -> bool:
    snaps = view["mirror_snaps"]
    return not snaps or snaps[-1]["state"] == RBD_SNAP_MIRROR_STATE_PRIMARY


def replaying_description(state: str = "idle", **extra) -> str:
    doc = {"bytes_per_second": 0.0, "bytes_per_snapshot": 0.0, "replay_state": state}
    doc.update(extra)
    return "replaying, " + json.dumps(doc, sort_keys=True)


def remote_base(remote, local):
    """The remote mirror snapshot id the local image is in sync with: None when nothing was
    synced yet; 'split-brain' when the local history is not part of the remote's."""
    snaps = local["mirror_snaps"]
    if not snaps:
        return None
    remote_ids = {s["id"]: s for s in remote["mirror_snaps"]}
    complete = [s for s in snaps if s["state"] in PRIMARY or s.get("complete")]
    if not complete:
        return None
    last = complete[-1]
    if last["state"] in NON_PRIMARY:
        return last["primary_snap_id"] if last["primary_snap_id"] in remote_ids \
            else "split-brain"
    # local was a primary that got demoted: the remote must have synced that demotion
    if last["state"] == RBD_SNAP_MIRROR_STATE_PRIMARY_DEMOTED:
        for s in remote["mirror_snaps"]:
            if (s["state"] == RBD_SNAP_MIRROR_STATE_NON_PRIMARY_DEMOTED and s.get("complete")
                    and s["primary_snap_id"] == last["id"]):
                return s["id"]
    return "split-brain"


def plan(remote, local, local_mirror_uuid: str = "", peer_uuid: str = ""):
    """(status, actions) for one step of replay of one image."""
    if remote is None:
        return (MIRROR_IMAGE_STATUS_STATE_ERROR, "remote image does not exist"), []
    if local is None:
        if not remote["mirror_snaps"]:
            return (MIRROR_IMAGE_STATUS_STATE_UNKNOWN, "remote image has no mirror snapshot"), []
        return (MIRROR_IMAGE_STATUS_STATE_SYNCING, "bootstrapping, IMAGE_SYNC"), \
            [("create_local",)]
    if local.get("resync_requested") and not _primary(local):
        return (MIRROR_IMAGE_STATUS_STATE_SYNCING, "bootstrapping, resync requested"), \
            [("resync",)]
    local_primary = _primary(local)
    remote_primary = _primary(remote)
    if local_primary:
        if remote_primary:
            return (MIRROR_IMAGE_STATUS_STATE_ERROR, "split-brain"), []
        return (MIRROR_IMAGE_STATUS_STATE_STOPPED, "local image is primary"), []
    # the placeholder made at bootstrap (primary_snap_id 0) names no remote snapshot
    lsnaps = [s for s in local["mirror_snaps"]
              if not (s["state"] in NON_PRIMARY and not s.get("primary_snap_id"))]
    local = dict(local, mirror_snaps=lsnaps)
    # resume an incomplete non-primary snapshot
    if lsnaps and lsnaps[-1]["state"] in NON_PRIMARY and not lsnaps[-1].get("complete"):
        inc = lsnaps[-1]
        if inc["primary_snap_id"] in {s["id"] for s in remote["mirror_snaps"]}:
            return (MIRROR_IMAGE_STATUS_STATE_SYNCING, "syncing"), \
                [("complete", inc["primary_snap_id"])]
        return (MIRROR_IMAGE_STATUS_STATE_ERROR, "split-brain"), []
    base = remote_base(remote, local)
    if base == "split-brain":
        return (MIRROR_IMAGE_STATUS_STATE_ERROR, "split-brain"), []
    candidates = [s for s in remote["mirror_snaps"] if s["state"] in PRIMARY
                  and s.get("complete", True) and (base is None or s["id"] > base)]
    actions = []
    # prune: local non-primary snapshots older than the newest complete one
    complete_np = [s for s in lsnaps if s["state"] in NON_PRIMARY and s.get("complete")]
    old = [s["id"] for s in complete_np[:-1]]
    if not candidates:
        if old:
            actions.append(("prune_local", old))
        newest = remote["mirror_snaps"][-1] if remote["mirror_snaps"] else None
        if newest is not None and newest["state"] == RBD_SNAP_MIRROR_STATE_PRIMARY_DEMOTED:
            return (MIRROR_IMAGE_STATUS_STATE_UNKNOWN, "remote image demoted"), actions
        if not remote_primary:
            return (MIRROR_IMAGE_STATUS_STATE_UNKNOWN, "remote image is not primary"), actions
        return (MIRROR_IMAGE_STATUS_STATE_REPLAYING, replaying_description()), actions
    # bootstrap copies straight to the newest; afterwards one snapshot at a time
    target = candidates[-1] if base is None else candidates[0]
    lower = base if base is not None else -1
    between = [u["id"] for u in remote["user_snaps"] if lower < u["id"] < target["id"]]
    state = (RBD_SNAP_MIRROR_STATE_NON_PRIMARY_DEMOTED
             if target["state"] == RBD_SNAP_MIRROR_STATE_PRIMARY_DEMOTED
             else RBD_SNAP_MIRROR_STATE_NON_PRIMARY)
    remote_names = {u["name"] for u in remote["user_snaps"]}
    gone = [u["name"] for u in local["user_snaps"] if u["name"] not in remote_names]
    if gone:
        actions.append(("remove_local_user_snaps", gone))
    actions.append(("sync", base, target["id"], between, state))
    actions.append(("complete", target["id"]))
    if base is not None:
        actions.append(("unlink_peer", base))
    desc = "bootstrapping, IMAGE_SYNC" if base is None else replaying_description("syncing")
    st = MIRROR_IMAGE_STATUS_STATE_SYNCING if base is None else \
        MIRROR_IMAGE_STATUS_STATE_REPLAYING
    return (st, desc), actions


# -- journal mode --------------------------------------------------------------------------------
def journal_plan(remote_tag, remote_exists: bool, local_tag, local_exists: bool,
                 resync: bool, pending: int, committed):
    """(status, actions) for a journal-mode image. Tags as rbd/mirror/journal.py (None: a
    primary with no tag). `pending` = remote entries after our committed position,
    `committed` = our registered position on the remote journal (None: not registered).

    Actions: ("bootstrap",) create the local image, register, full copy of HEAD;
    ("resync",); ("adopt",) a demoted local primary follows the remote promoted after our
    demotion; ("replay",) apply pending entries in order, commit, trim."""
    def primary(tag):
        return tag is None or (tag.get("owner", "") == "" and not tag.get("demoted"))
    if not remote_exists:
        return (MIRROR_IMAGE_STATUS_STATE_ERROR, "remote image does not exist"), []
    if not local_exists:
        if not primary(remote_tag):
            return (MIRROR_IMAGE_STATUS_STATE_UNKNOWN, "remote image is not primary"), []
        return (MIRROR_IMAGE_STATUS_STATE_SYNCING, "bootstrapping, IMAGE_SYNC"), \
            [("bootstrap",)]
    if resync and not primary(local_tag):
        return (MIRROR_IMAGE_STATUS_STATE_SYNCING, "bootstrapping, resync requested"), \
            [("resync",)]
    if primary(local_tag):
        if primary(remote_tag):
            return (MIRROR_IMAGE_STATUS_STATE_ERROR, "split-brain"), []
        return (MIRROR_IMAGE_STATUS_STATE_STOPPED, "local image is primary"), []
    if local_tag.get("owner", "") == "":
        # we are a demoted primary
        if primary(remote_tag):
            if remote_tag.get("promoted_cleanly"):
                return (MIRROR_IMAGE_STATUS_STATE_SYNCING, "starting replay"), [("adopt",)]
            return (MIRROR_IMAGE_STATUS_STATE_ERROR, "split-brain"), []
        return (MIRROR_IMAGE_STATUS_STATE_UNKNOWN, "remote image is not primary"), []
    if committed is None:
        return (MIRROR_IMAGE_STATUS_STATE_ERROR, "split-brain"), []
    if pending:
        return (MIRROR_IMAGE_STATUS_STATE_REPLAYING, journal_description(pending)), \
            [("replay",)]
    if remote_tag is not None and remote_tag.get("demoted"):
        return (MIRROR_IMAGE_STATUS_STATE_UNKNOWN, "remote image demoted"), []
    if not primary(remote_tag):
        return (MIRROR_IMAGE_STATUS_STATE_UNKNOWN, "remote image is not primary"), []
    return (MIRROR_IMAGE_STATUS_STATE_REPLAYING, journal_description(0)), []


def journal_description(behind: int) -> str:
    doc = {"bytes_per_second": 0.0, "entries_behind_primary": behind,
           "entries_per_second": 0.0}
    return "replaying, " + json.dumps(doc, sort_keys=True)
