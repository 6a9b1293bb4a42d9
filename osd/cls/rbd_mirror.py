"""Mirroring methods of the `rbd` object class (registered under class "rbd").

Loaded by a one-line import at the end of osd/cls/rbd.py. Only what the client cannot do
atomically itself lives here: updating the MIRROR namespace of a snapshot record (copy
progress / completion on a non-primary snapshot, unlinking a peer from a primary one).
"""
from __future__ import annotations

import errno

from osd.cls import RD, WR, ClsError, register
from osd.cls.rbd import _args, _put_snapshot, _require_header, _snapshot

SNAP_NS_MIRROR = 3
_MUTABLE = {"complete", "last_copied_object_number", "mirror_peer_uuids", "state"}


@register("rbd", "mirror_snapshot_update", RD | WR)
def mirror_snapshot_update(ctx, indata):
    """Merge `updates` (a dict of mutable mirror-namespace fields) into snapshot `snap_id`.
    ENOENT: no such snapshot; EINVAL: not a mirror snapshot or an unknown field."""
    _require_header(ctx)
    args = _args(indata)
    snap_id = args.get("snap_id")
    updates = args.get("updates")
    if not isinstance(snap_id, int) or not isinstance(updates, dict):
        raise ClsError(errno.EINVAL, "snap_id and updates required")
    if set(updates) - _MUTABLE:
        raise ClsError(errno.EINVAL, "immutable mirror snapshot field")
    snap = _snapshot(ctx, snap_id)
    ns = dict(snap.get("namespace") or {})
    if ns.get("type") != SNAP_NS_MIRROR:
        raise ClsError(errno.EINVAL, "not a mirror snapshot")
    ns.update(updates)
    snap["namespace"] = ns
    _put_snapshot(ctx, snap)
    return None


@register("rbd", "mirror_snapshot_unlink_peer", RD | WR)
def mirror_snapshot_unlink_peer(ctx, indata):
    """Remove `peer_uuid` from the snapshot's mirror_peer_uuids (ENOENT if not linked)."""
    _require_header(ctx)
    args = _args(indata)
    snap = _snapshot(ctx, int(args.get("snap_id", -1)))
    ns = dict(snap.get("namespace") or {})
    if ns.get("type") != SNAP_NS_MIRROR:
        raise ClsError(errno.EINVAL, "not a mirror snapshot")
    peers = list(ns.get("mirror_peer_uuids") or [])
    if args.get("peer_uuid") not in peers:
        raise ClsError(errno.ENOENT, "peer not linked")
    peers.remove(args.get("peer_uuid"))
    ns["mirror_peer_uuids"] = peers
    snap["namespace"] = ns
    _put_snapshot(ctx, snap)
    return None
