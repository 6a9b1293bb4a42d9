"""Image snapshots on self-managed RADOS snapshots (spec 3.1/3.2).

Invariants:
- A snapshot id comes from the pool that holds the data objects (the data pool when there
  is one), so the snap context of data writes only names ids of that pool.
- Create: writes are blocked and drained, the id is allocated, `snapshot_add` records it
  (EEXIST/EDQUOT roll the id back), the object map is copied, and writes resume with the
  new snap context. No data is copied: the OSD clones objects on their next write.
- Remove: protected -> EBUSY; a snapshot clone-v2 children still use goes to the trash
  namespace instead; otherwise record, object map and RADOS id go away, and a clone whose
  last reference to its parent vanished detaches from it.
- Rollback: HEAD takes the snapshot's size, overlap, object map and, object by object, data.
"""
from __future__ import annotations

import errno

from rbd.constants import (
    RBD_FEATURE_LAYERING, RBD_PROTECTION_STATUS_PROTECTED, RBD_PROTECTION_STATUS_UNPROTECTED,
    RBD_PROTECTION_STATUS_UNPROTECTING, RBD_SNAP_NAMESPACE_TYPE_TRASH,
    RBD_SNAP_NAMESPACE_TYPE_USER, RBD_SNAP_REMOVE_FLATTEN, RBD_SNAP_REMOVE_UNPROTECT, SNAP_HEAD,
)
from rbd.errors import RbdError
from rbd.striping import num_objects


def _lookup(ctx, name: str, ns_type: int | None = RBD_SNAP_NAMESPACE_TYPE_USER):
    snap = ctx.info.snap_by_name(name, ns_type)
    if snap is None:
        raise RbdError(-errno.ENOENT, "snapshot %s not found" % name)
    return snap


def create(ctx, name: str, namespace: dict | None = None) -> int:
    """Create snapshot `name`; returns its id. EEXIST, EDQUOT, EROFS, EINVAL."""
    ctx.require_writable_or_snap_view()
    if not name:
        raise RbdError(-errno.EINVAL, "empty snapshot name")
    ctx.exclusive_lock.ensure_owner()
    namespace = namespace or {"type": RBD_SNAP_NAMESPACE_TYPE_USER}
    if ctx.old_format:
        from rbd import format1
        return format1.snap_create(ctx, name)
    ctx.block_io()
    try:
        snap_id = ctx.data_io.selfmanaged_snap_create()
        try:
            ctx.io.call(ctx.header_oid, "snapshot_add",
                        {"snap_id": snap_id, "name": name, "namespace": namespace})
        except RbdError:
            ctx.data_io.selfmanaged_snap_remove(snap_id)
            raise
        try:
            ctx.object_map.snapshot_add(snap_id)
        except RbdError:
            ctx.object_map.invalidate(snap_id)
        ctx.notify_update()
    finally:
        ctx.unblock_io()
    return snap_id


def remove(ctx, snap_id: int, flags: int = 0, on_progress=None) -> None:
    """Remove a snapshot by id. EBUSY (protected / v1 children), ENOENT."""
    ctx.require_writable_or_snap_view()
    snap = ctx.info.snaps.get(snap_id)
    if snap is None:
        raise RbdError(-errno.ENOENT, "snapshot not found")
    ctx.exclusive_lock.ensure_owner()
    if ctx.old_format:
        from rbd import format1
        format1.snap_remove(ctx, snap_id)
        return
    if flags & RBD_SNAP_REMOVE_FLATTEN or flags & RBD_SNAP_REMOVE_UNPROTECT:
        from rbd import clone as clone_mod
        if flags & RBD_SNAP_REMOVE_FLATTEN:
            clone_mod.flatten_children(ctx, snap_id, on_progress)
        if snap.protection_status != RBD_PROTECTION_STATUS_UNPROTECTED:
            unprotect(ctx, snap.name, snap.namespace_type)
        ctx.refresh()
        snap = ctx.info.snaps[snap_id]
    if snap.protection_status != RBD_PROTECTION_STATUS_UNPROTECTED:
        raise RbdError(-errno.EBUSY, "snapshot is protected")
    if snap.child_count > 0:
        if snap.namespace_type == RBD_SNAP_NAMESPACE_TYPE_TRASH:
            raise RbdError(-errno.EBUSY, "snapshot still has clones")
        ctx.io.call(ctx.header_oid, "snapshot_trash_add", {"snap_id": snap_id})
        ctx.notify_update()
        return
    remove_record(ctx, snap_id)
    if on_progress is not None:
        on_progress(1, 1)


def remove_record(ctx, snap_id: int) -> None:
    """Delete the snapshot record, its object map and its RADOS id."""
    info = ctx.info
    snap = info.snaps[snap_id]
    ctx.io.call(ctx.header_oid, "snapshot_remove", {"snap_id": snap_id})
    newer = [s for s in info.snaps if s > snap_id]
    next_id = min(newer) if newer else SNAP_HEAD
    try:
        ctx.object_map.snapshot_remove(snap_id, next_id)
    except RbdError:
        ctx.object_map.invalidate(next_id)
    ctx.data_io.selfmanaged_snap_remove(snap_id)
    ctx.notify_update()
    if snap.parent is not None:
        from rbd import clone as clone_mod
        clone_mod.maybe_detach_parent(ctx, snap.parent.spec)


def rename(ctx, src: str, dest: str) -> None:
    ctx.require_writable_or_snap_view()
    snap = _lookup(ctx, src)
    if not dest:
        raise RbdError(-errno.EINVAL, "empty snapshot name")
    if ctx.info.snap_by_name(dest) is not None:
        raise RbdError(-errno.EEXIST, "snapshot %s exists" % dest)
    ctx.exclusive_lock.ensure_owner()
    if ctx.old_format:
        raise RbdError(-errno.EOPNOTSUPP, "format 1 snapshots cannot be renamed")
    ctx.io.call(ctx.header_oid, "snapshot_rename", {"snap_id": snap.id, "name": dest})
    ctx.notify_update()


def protect(ctx, name: str) -> None:
    ctx.require_writable_or_snap_view()
    snap = _lookup(ctx, name)
    if not ctx.info.features & RBD_FEATURE_LAYERING:
        raise RbdError(-errno.ENOSYS, "image must support layering")
    if snap.protection_status == RBD_PROTECTION_STATUS_PROTECTED:
        raise RbdError(-errno.EBUSY, "snapshot is already protected")
    ctx.exclusive_lock.ensure_owner()
    ctx.io.call(ctx.header_oid, "set_protection_status",
                {"snap_id": snap.id, "status": RBD_PROTECTION_STATUS_PROTECTED})
    ctx.notify_update()


def unprotect(ctx, name: str, ns_type: int = RBD_SNAP_NAMESPACE_TYPE_USER) -> None:
    """EINVAL if not protected, EBUSY while clones (v1 anywhere, v2 attached) exist."""
    ctx.require_writable_or_snap_view()
    snap = _lookup(ctx, name, ns_type)
    if not ctx.info.features & RBD_FEATURE_LAYERING:
        raise RbdError(-errno.ENOSYS, "image must support layering")
    if snap.protection_status == RBD_PROTECTION_STATUS_UNPROTECTED:
        raise RbdError(-errno.EINVAL, "snapshot is already unprotected")
    ctx.exclusive_lock.ensure_owner()
    ctx.io.call(ctx.header_oid, "set_protection_status",
                {"snap_id": snap.id, "status": RBD_PROTECTION_STATUS_UNPROTECTING})
    from rbd import clone as clone_mod
    try:
        busy = snap.child_count > 0 or bool(clone_mod.v1_children(ctx, snap.id))
    except RbdError:
        busy = True
    status = RBD_PROTECTION_STATUS_PROTECTED if busy else RBD_PROTECTION_STATUS_UNPROTECTED
    ctx.io.call(ctx.header_oid, "set_protection_status", {"snap_id": snap.id, "status": status})
    ctx.notify_update()
    if busy:
        raise RbdError(-errno.EBUSY, "snapshot has clones")


def set_limit(ctx, limit: int) -> None:
    ctx.require_writable_or_snap_view()
    ctx.exclusive_lock.ensure_owner()
    ctx.io.call(ctx.header_oid, "snap_set_limit", {"limit": limit})
    ctx.notify_update()


def rollback(ctx, name: str, on_progress=None, snap_id: int | None = None) -> None:
    ctx.require_writable()
    # snap_id: mirroring rolls back to a MIRROR-namespace snapshot (force promote)
    snap = _lookup(ctx, name) if snap_id is None else ctx.info.snaps[snap_id]
    ctx.exclusive_lock.ensure_owner()
    if ctx.old_format:
        from rbd import format1
        format1.snap_rollback(ctx, snap, on_progress)
        return
    ctx.block_io()
    try:
        from rbd import io as image_io
        info = ctx.info
        layout = ctx.layout
        head_size = info.size
        if head_size > snap.size:
            image_io.trim(ctx, head_size, snap.size)
        if head_size != snap.size:
            ctx.io.call(ctx.header_oid, "set_size", {"size": snap.size})
            ctx.refresh()
        # HEAD reads through the parent exactly as the snapshot does (also after a
        # flatten that left the snapshot attached: the link comes back)
        if snap.parent is not None:
            overlap = min(snap.parent.overlap, snap.size)
            if info.parent is None:
                ctx.io.call(ctx.header_oid, "set_parent",
                            {"parent": snap.parent.spec.as_list(), "overlap": overlap})
            elif snap.parent.spec == info.parent.spec:
                ctx.io.call(ctx.header_oid, "set_parent_overlap", {"overlap": overlap})
            ctx.refresh()
        elif info.parent is not None:
            # the snapshot was taken after a flatten: HEAD must not read through either
            ctx.io.call(ctx.header_oid, "remove_parent", {"detach_snapshots": False})
            ctx.refresh()
        count = max(num_objects(layout, snap.size), num_objects(layout, head_size))
        image_io.rollback_objects(ctx, snap.id, count, on_progress)
        ctx.object_map.rollback(snap.id)
        ctx.notify_update()
        if info.parent is not None and ctx.info.parent is None:
            from rbd import clone as clone_mod
            clone_mod.maybe_detach_parent(ctx, info.parent.spec)
    finally:
        ctx.unblock_io()
