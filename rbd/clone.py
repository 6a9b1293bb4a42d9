"""Layering: clone (v1 and v2), flatten, children listings, parent detach.

Invariants:
- A clone is a format-2 image whose header has `parent` = (pool, namespace, image id,
  snap id) and an overlap (the parent snapshot's size at clone time, shrunk by resizes).
- Clone v1 needs a protected parent snapshot and registers the child in `rbd_children` of
  the child's pool; clone v2 attaches the child to the parent's header
  (`snap_children_<id>`, snapshot child count, op feature clone-parent) and marks the child
  with op feature clone-child.
- A child stays attached while HEAD or any of its snapshots still reads through the parent;
  when the last reference goes (flatten, snapshot removal, image removal) it detaches, and a
  trashed parent snapshot that loses its last child is removed.
- A failed clone leaves nothing behind: the half-made child is removed again.
"""
from __future__ import annotations

import errno
import logging

from rbd.constants import (
    RBD_FEATURE_DEEP_FLATTEN, RBD_FEATURE_LAYERING, RBD_FEATURES_ALL,
    RBD_OPERATION_FEATURE_CLONE_CHILD, RBD_PROTECTION_STATUS_PROTECTED,
    RBD_SNAP_NAMESPACE_TYPE_TRASH, SNAP_HEAD,
)
from rbd.errors import RbdError
from rbd.header import RBD_CHILDREN, ParentSpec, dir_get_name, header_oid

log = logging.getLogger("rayceph.rbd")

# features a clone does not inherit from its parent (librbd's implicit-enable set minus
# fast-diff, which follows object-map)
NOT_INHERITED = (1 << 1) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11)


def auto_clone_format(io) -> int:
    """`rbd_default_clone_format = auto`: v2 unless the cluster still admits pre-Mimic
    clients (when the OSDMap says so); v2 when it does not say."""
    osdmap = io.client.osdmap
    for attr in ("require_min_compat_client", "min_compat_client"):
        value = getattr(osdmap, attr, None)
        if isinstance(value, str) and value:
            order = ["argonaut", "bobtail", "cuttlefish", "dumpling", "emperor", "firefly",
                     "giant", "hammer", "infernalis", "jewel", "kraken", "luminous", "mimic"]
            if value in order and order.index(value) < order.index("mimic"):
                return 1
    return 2


def clone(p_io, p_name: str, p_snap, c_io, c_name: str, features=None, order=None,
          stripe_unit=None, stripe_count=None, data_pool=None, clone_format=None) -> None:
    from rbd import config
    from rbd import image_ctx as image_ctx_mod
    from rbd.rbd_api import create_image, remove_image_quiet

    if clone_format is None:
        value = str(config.get(c_io, "rbd_default_clone_format")).strip()
        if value == "1":
            clone_format = 1
        elif value == "2":
            clone_format = 2
        else:
            clone_format = auto_clone_format(c_io)
    if clone_format not in (1, 2):
        raise RbdError(-errno.EINVAL, "bad clone format")
    if features is not None and features & ~RBD_FEATURES_ALL:
        raise RbdError(-errno.ENOSYS, "unknown features")
    if clone_format == 1 and p_io.nspace != c_io.nspace:
        raise RbdError(-errno.EXDEV, "clone v2 required for cross-namespace clones")
    if isinstance(p_snap, int):
        parent = image_ctx_mod.open_image(p_io, name=p_name, snap_id=p_snap, read_only=True)
    else:
        parent = image_ctx_mod.open_image(p_io, name=p_name, snap_name=p_snap, read_only=True)
    try:
        if parent.snap_id == SNAP_HEAD:
            raise RbdError(-errno.EINVAL, "image to be cloned must be a snapshot")
        if parent.old_format:
            raise RbdError(-errno.EINVAL, "parent image must be in new format")
        snap = parent.info.snaps[parent.snap_id]
        if not parent.info.features & RBD_FEATURE_LAYERING:
            raise RbdError(-errno.ENOSYS, "parent image must support layering")
        if features is None:
            features = parent.info.features & ~NOT_INHERITED
        if not features & RBD_FEATURE_LAYERING:
            raise RbdError(-errno.EINVAL, "cloning image must support layering")
        if clone_format == 1 and snap.protection_status != RBD_PROTECTION_STATUS_PROTECTED:
            raise RbdError(-errno.EINVAL, "parent snapshot must be protected")
        if order is None or order == 0:
            order = parent.info.order
        spec = ParentSpec(p_io.pool, p_io.nspace, parent.id, parent.snap_id)
        child_id = create_image(c_io, c_name, snap.size, order=order, features=features,
                                stripe_unit=stripe_unit, stripe_count=stripe_count,
                                data_pool=data_pool, parent=(spec, snap.size))
        try:
            attach(parent, spec, c_io, child_id, clone_format)
        except BaseException:
            remove_image_quiet(c_io, c_name, child_id)
            raise
    finally:
        parent.close()


def attach(parent_ctx, spec: ParentSpec, c_io, child_id: str, clone_format: int) -> None:
    """Register the child with its parent (v1: rbd_children; v2: parent header)."""
    if clone_format == 1:
        c_io.call(RBD_CHILDREN, "add_child", {"parent": spec.as_list(), "child_id": child_id})
        return
    parent_ctx.io.call(header_oid(spec.image_id), "child_attach",
                       {"snap_id": spec.snap_id, "child": [c_io.pool, c_io.nspace, child_id]})
    c_io.call(header_oid(child_id), "set_op_features",
              {"op_features": RBD_OPERATION_FEATURE_CLONE_CHILD,
               "mask": RBD_OPERATION_FEATURE_CLONE_CHILD})
    parent_ctx.send_notify({"op": "header_update"})


def detach(c_io, child_id: str, spec: ParentSpec) -> None:
    """Undo attach (both formats; whichever registration exists goes away). A trashed
    parent snapshot that loses its last child is removed."""
    try:
        c_io.call(RBD_CHILDREN, "remove_child", {"parent": spec.as_list(), "child_id": child_id})
    except RbdError as exc:
        if exc.ret != -errno.ENOENT:
            raise
    if not c_io.client.osdmap.pools.get(spec.pool):
        return
    p_io = c_io.with_pool(spec.pool, spec.nspace)
    try:
        out = p_io.call(header_oid(spec.image_id), "child_detach",
                        {"snap_id": spec.snap_id, "child": [c_io.pool, c_io.nspace, child_id]},
                        returnvec=True)
    except RbdError as exc:
        if exc.ret == -errno.ENOENT:
            return
        raise
    try:
        c_io.call(header_oid(child_id), "set_op_features",
                  {"op_features": 0, "mask": RBD_OPERATION_FEATURE_CLONE_CHILD})
    except RbdError:
        pass
    _notify_header(p_io, spec.image_id)
    if out and out.get("child_count") == 0 \
            and out.get("namespace_type") == RBD_SNAP_NAMESPACE_TYPE_TRASH:
        _reap_trashed_snapshot(p_io, spec)


def _notify_header(io, image_id: str) -> None:
    from rbd._rados_io import pack
    try:
        io.notify(header_oid(image_id), pack({"op": "header_update", "gid": io.gid,
                                              "cookie": 0}), 5000)
    except RbdError:
        pass


def _reap_trashed_snapshot(p_io, spec: ParentSpec) -> None:
    from rbd import snapshots
    from rbd.image_ctx import ImageCtx
    ctx = ImageCtx(p_io, image_id=spec.image_id, watch=False)
    try:
        ctx.open()
        snap = ctx.info.snaps.get(spec.snap_id)
        if snap is not None and snap.namespace_type == RBD_SNAP_NAMESPACE_TYPE_TRASH \
                and snap.child_count == 0:
            snapshots.remove_record(ctx, spec.snap_id)
    except RbdError as exc:
        log.debug("could not remove trashed snapshot %s: %s", spec, exc)
    finally:
        ctx.close()


def maybe_detach_parent(ctx, spec: ParentSpec) -> None:
    """Detach from `spec` when neither HEAD nor any snapshot reads through it anymore."""
    info = ctx.info
    if info.parent is not None and info.parent.spec == spec:
        return
    for snap in info.snaps.values():
        if snap.parent is not None and snap.parent.spec == spec:
            return
    detach(ctx.io, ctx.id, spec)


def flatten(ctx, on_progress=None) -> None:
    """Copy every parent-backed object into the child and drop the parent link. EINVAL for
    a non-clone, EROFS at a snapshot or read-only."""
    from rbd import io as image_io
    ctx.require_writable()
    if ctx.info.parent is None:
        raise RbdError(-errno.EINVAL, "image has no parent")
    ctx.exclusive_lock.ensure_owner()
    if ctx.info.parent is None:
        raise RbdError(-errno.EINVAL, "image has no parent")
    spec = ctx.info.parent.spec
    image_io.copyup_all(ctx, on_progress)
    deep = bool(ctx.info.features & RBD_FEATURE_DEEP_FLATTEN)
    try:
        ctx.io.call(ctx.header_oid, "remove_parent", {"detach_snapshots": deep})
    except RbdError as exc:
        if exc.ret != -errno.ENOENT:
            raise
    ctx.refresh()
    maybe_detach_parent(ctx, spec)
    ctx.notify_update()


# -- children ------------------------------------------------------------------------------------
def _pool_ios(io):
    """One RadosIO per pool of the cluster (same namespace as io, plus the default one)."""
    out = []
    for pool_id in sorted(io.client.osdmap.pools):
        out.append(io.with_pool(pool_id, io.nspace))
        if io.nspace:
            out.append(io.with_pool(pool_id, ""))
    return out


def v1_children(ctx, snap_id: int) -> list[tuple]:
    """[(child RadosIO, child id)] registered in any pool's rbd_children for this snap."""
    spec = [ctx.io.pool, ctx.io.nspace, ctx.id, snap_id]
    out = []
    for io in _pool_ios(ctx.io):
        try:
            ids = io.call(RBD_CHILDREN, "get_children", {"parent": spec}) or []
        except RbdError as exc:
            if exc.ret in (-errno.ENOENT, -errno.EOPNOTSUPP):
                continue
            raise
        out.extend((io, child_id) for child_id in ids)
    return out


def v2_children(ctx, snap_id: int) -> list[tuple]:
    try:
        children = ctx.io.call(ctx.header_oid, "children_list", {"snap_id": snap_id}) or []
    except RbdError as exc:
        if exc.ret == -errno.ENOENT:
            return []
        raise
    out = []
    for pool, nspace, child_id in children:
        if not ctx.io.client.osdmap.pools.get(pool):
            continue
        out.append((ctx.io.with_pool(pool, nspace), child_id))
    return out


def children_of(ctx, snap_id: int) -> list[dict]:
    """{'pool','pool_namespace','image','id','trash'} for the clones of one snapshot, sorted
    by pool name, namespace and image name."""
    if snap_id == SNAP_HEAD:
        return []
    seen = set()
    out = []
    for io, child_id in v1_children(ctx, snap_id) + v2_children(ctx, snap_id):
        key = (io.pool, io.nspace, child_id)
        if key in seen:
            continue
        seen.add(key)
        try:
            name = dir_get_name(io, child_id)
            trash = False
        except RbdError:
            name = _trash_name(io, child_id)
            trash = True
            if name is None:
                continue
        out.append({"pool": io.pool_name() or str(io.pool), "pool_namespace": io.nspace,
                    "image": name, "id": child_id, "trash": trash, "_io": io})
    out.sort(key=lambda c: (c["pool"], c["pool_namespace"], c["image"]))
    return out


def _trash_name(io, image_id: str):
    """The original name of a child that sits in the trash (None if unknown)."""
    try:
        from rbd import pool_features
        return pool_features.trash_image_name(io, image_id)
    except Exception:
        return None


def descendants_of(ctx, snap_id: int) -> list[dict]:
    from rbd.image_ctx import ImageCtx
    out = []
    for child in children_of(ctx, snap_id):
        out.append(child)
        child_ctx = ImageCtx(child["_io"], image_id=child["id"], read_only=True, watch=False)
        try:
            child_ctx.open()
            for child_snap in sorted(child_ctx.info.snaps):
                out.extend(descendants_of(child_ctx, child_snap))
        except RbdError:
            continue
        finally:
            child_ctx.close()
    return out


def flatten_children(ctx, snap_id: int, on_progress=None) -> None:
    """remove_snap2(..., RBD_SNAP_REMOVE_FLATTEN): flatten every clone of the snapshot."""
    from rbd.image_ctx import ImageCtx
    for child in children_of(ctx, snap_id):
        child_ctx = ImageCtx(child["_io"], image_id=child["id"])
        try:
            child_ctx.open()
            flatten(child_ctx, on_progress)
        finally:
            child_ctx.close()
