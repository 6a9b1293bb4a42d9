"""Image copies (copy, deep_copy) and sparsify.

- copy: a new image with the source's data as seen by the current view (HEAD or snapshot)
  and its metadata; zero data is not written (the copy stays sparse).
- deep_copy: the same plus every snapshot, replayed oldest first (resize, changed extents,
  snapshot create), and the parent link unless `flatten`.
- sparsify: data objects (or their tails) that hold only zeros are removed (truncated).
Both copies remove the destination again if they fail.
"""
from __future__ import annotations

import errno

from rbd import io as image_io
from rbd.constants import (
    RBD_FEATURE_DATA_POOL, RBD_FEATURE_MIGRATING, RBD_FEATURE_NON_PRIMARY,
    RBD_FEATURE_OPERATIONS, RBD_FEATURE_STRIPINGV2, RBD_PROTECTION_STATUS_PROTECTED,
    RBD_SNAP_NAMESPACE_TYPE_USER, SNAP_HEAD,
)
from rbd.errors import RbdError
from rbd.striping import num_objects

NOT_COPIED = (RBD_FEATURE_OPERATIONS | RBD_FEATURE_MIGRATING | RBD_FEATURE_NON_PRIMARY
              | RBD_FEATURE_DATA_POOL | RBD_FEATURE_STRIPINGV2 | (1 << 11))
BATCH_OBJECTS = 16


def _dest_params(ctx, features, order, stripe_unit, stripe_count):
    if features is None:
        features = ctx.info.features & ~NOT_COPIED
    if not order:
        order = ctx.info.order
    if stripe_unit is None and stripe_count is None and ctx.info.stripe_unit:
        stripe_unit, stripe_count = ctx.info.stripe_unit, ctx.info.stripe_count
    return features, order, stripe_unit, stripe_count


def _copy_metadata(ctx, dest) -> None:
    start = ""
    while True:
        page = ctx.io.call(ctx.header_oid, "metadata_list", {"start": start, "max": 64}) or {}
        if page:
            dest.io.call(dest.header_oid, "metadata_set", {"data": page})
        if len(page) < 64:
            return
        start = max(page)


def _copy_range(ctx, snap_id: int, dest, extents) -> None:
    """Write the data of `extents` of ctx at snap_id into dest (zero pieces skipped)."""
    for off, length in extents:
        pieces = image_io.read_sparse(ctx, snap_id, off, length)
        pendings = []
        for p_off, data in pieces:
            if not any(data):
                continue
            pendings.append(image_io.start_write(dest, p_off, data))
        for pending in pendings:
            pending.finish()


def _batches(ctx, size: int):
    step = ctx.layout.period * BATCH_OBJECTS
    off = 0
    while off < size:
        yield off, min(step, size - off)
        off += step


def copy(ctx, dest_io, dest_name, features, order, stripe_unit, stripe_count, data_pool):
    from rbd.image_ctx import ImageCtx
    from rbd.rbd_api import create_image, remove_image
    ctx.require_snap()
    size = ctx.size_at()
    features, order, stripe_unit, stripe_count = _dest_params(
        ctx, features, order, stripe_unit, stripe_count)
    create_image(dest_io, dest_name, size, order=order, features=features,
                 stripe_unit=stripe_unit, stripe_count=stripe_count, data_pool=data_pool)
    dest = ImageCtx(dest_io, name=dest_name)
    try:
        dest.open()
        for off, length in _batches(ctx, size):
            _copy_range(ctx, ctx.snap_id, dest, [(off, length)])
        _copy_metadata(ctx, dest)
        dest.close()
    except BaseException:
        dest.close()
        try:
            remove_image(dest_io, dest_name)
        except RbdError:
            pass
        raise


def deep_copy(ctx, dest_io, dest_name, features, order, stripe_unit, stripe_count, data_pool,
              clone_format, flatten):
    from rbd import clone as clone_mod
    from rbd import diff
    from rbd import snapshots
    from rbd.image import _resize
    from rbd.image_ctx import ImageCtx
    from rbd.rbd_api import create_image
    ctx.require_snap()
    end_snap = ctx.snap_id
    features, order, stripe_unit, stripe_count = _dest_params(
        ctx, features, order, stripe_unit, stripe_count)
    snaps = [ctx.info.snaps[s] for s in sorted(ctx.info.snaps)
             if (end_snap == SNAP_HEAD or s <= end_snap)
             and ctx.info.snaps[s].namespace_type == RBD_SNAP_NAMESPACE_TYPE_USER]
    first_size = snaps[0].size if snaps else ctx.size_at()
    first_parent = ctx.parent_at(snaps[0].id if snaps else end_snap)
    keep_parent = first_parent is not None and not flatten
    if keep_parent:
        if clone_format is None:
            clone_format = 2
        create_image(dest_io, dest_name, first_size, order=order, features=features,
                     stripe_unit=stripe_unit, stripe_count=stripe_count, data_pool=data_pool,
                     parent=(first_parent.spec, first_parent.overlap))
    else:
        create_image(dest_io, dest_name, first_size, order=order, features=features,
                     stripe_unit=stripe_unit, stripe_count=stripe_count, data_pool=data_pool)
    dest = ImageCtx(dest_io, name=dest_name)
    try:
        dest.open()
        if keep_parent:
            pctx = ctx.parent_ctx(first_parent)
            clone_mod.attach(pctx, first_parent.spec, dest_io, dest.id, clone_format)
            dest.refresh()
        prev = None
        for target in [s.id for s in snaps] + ([SNAP_HEAD] if end_snap == SNAP_HEAD else []):
            size = ctx.size_at(target)
            if dest.info.size != size:
                _resize(dest, size, None)
            for off, n, exists in diff.compute(ctx, 0, max(size, 1), prev, target,
                                               not keep_parent, False):
                if exists:
                    _copy_range(ctx, target, dest, [(off, n)])
                elif off < size:
                    image_io.start_write_zeroes(dest, off, min(n, size - off)).finish()
            if target != SNAP_HEAD:
                snap = ctx.info.snaps[target]
                snapshots.create(dest, snap.name)
                if snap.protection_status == RBD_PROTECTION_STATUS_PROTECTED:
                    snapshots.protect(dest, snap.name)
            prev = target
        _copy_metadata(ctx, dest)
        dest.close()
    except BaseException:
        dest.close()
        _remove_deep_copy(dest_io, dest_name)
        raise


def _remove_deep_copy(io, name) -> None:
    from rbd import snapshots
    from rbd.image_ctx import ImageCtx
    from rbd.rbd_api import remove_image
    ctx = ImageCtx(io, name=name, watch=False)
    try:
        ctx.open()
        for snap_id in sorted(ctx.info.snaps):
            snap = ctx.info.snaps[snap_id]
            if snap.protection_status != 0:
                ctx.io.call(ctx.header_oid, "set_protection_status",
                            {"snap_id": snap_id, "status": 0})
                ctx.refresh()
            snapshots.remove_record(ctx, snap_id)
    except RbdError:
        pass
    finally:
        ctx.close()
    try:
        remove_image(io, name)
    except RbdError:
        pass


def sparsify(ctx, sparse_size: int) -> None:
    """Drop zero data: all-zero objects go away (or are emptied inside a clone's overlap),
    zero tails are truncated, aligned zero runs of sparse_size bytes are zeroed."""
    if sparse_size < 4096 or sparse_size & (sparse_size - 1):
        raise RbdError(-errno.EINVAL, "sparse size should be power of two not less than 4096")
    ctx.require_writable()
    ctx.exclusive_lock.ensure_owner()
    layout = ctx.layout
    object_size = layout.object_size
    count = num_objects(layout, ctx.info.size)
    parent = ctx.info.parent
    limit = min(parent.overlap, ctx.info.size) if parent is not None else 0
    # a migration destination's empty objects hide its source: keep them like a clone's
    from rbd import migration_io
    migration_limit = migration_io.copyup_limit(ctx)
    limit = max(limit, migration_limit)
    reqs = []
    for start in range(0, count, image_io.GATHER_BATCH):
        batch = range(start, min(count, start + image_io.GATHER_BATCH))
        futures = [ctx.data_io.submit(ctx.data_oid(n), [("read", 0, object_size)]) for n in batch]
        for objectno, future in zip(batch, futures):
            reply = ctx.data_io.wait(future)
            if reply.result == -errno.ENOENT:
                continue
            if reply.result < 0:
                raise RbdError(reply.result, "read failed")
            data = reply.outs[0][1] or b""
            in_clone = (parent is not None or migration_limit) \
                and image_io.object_min_offset(layout, objectno) < limit
            stripped = data.rstrip(b"\0")
            if not stripped:
                ops = [("truncate", 0)] if in_clone else [("remove",)]
                reqs.append(image_io.ObjWrite(objectno, ops, creates=False,
                                              remove=not in_clone, copyup=False))
                continue
            ops = []
            end = -(-len(stripped) // sparse_size) * sparse_size
            if end < len(data):
                ops.append(("truncate", end))
            for off in range(0, min(end, len(data)), sparse_size):
                block = data[off:off + sparse_size]
                if len(block) == sparse_size and not any(block):
                    ops.append(("zero", off, sparse_size))
            if ops:
                reqs.append(image_io.ObjWrite(objectno, ops, creates=False, copyup=False))
    for i in range(0, len(reqs), image_io.GATHER_BATCH):
        image_io.start_writes(ctx, reqs[i:i + image_io.GATHER_BATCH], 0,
                              internal=True).finish()
