"""Live migration of an image (Ceph's `rbd migration prepare|execute|commit|abort`) and
import-only migration from a source spec (`--import-only --source-spec`).

Lifecycle (states are RBD_IMAGE_MIGRATION_STATE_*, kept in both headers' `migration` record,
osd/cls/rbd_migration.py):
- prepare: the source leaves the directory for the trash (source MIGRATION), gets a "src"
  record (PREPARING) and becomes unopenable for writing (EROFS); the destination is created
  with the requested features/order/striping/data pool, gets a "dst" record, and the
  source's user snapshots are recreated on it (each remembers the source snapshot it reads
  through to); image metadata is copied; both go to PREPARED. From then on the destination
  serves reads and writes: absent objects read through to the source, writes deep-copy the
  object first (rbd/migration_io.py).
- execute: EXECUTING, every object still reading through is deep-copied, EXECUTED.
- commit (EXECUTED only): the destination's record goes, then the source (snapshots, data,
  header, trash entry). An import leaves its source alone.
- abort (any state): the destination (with whatever was written to it) is removed, the
  source loses its record and comes back under its name with its data and snapshots.

Invariants:
- A failed prepare undoes every step it made (the source is back under its name).
- The source is never written by a migration: only its header record and its directory /
  trash entries change, so abort returns it exactly as it was.
"""
from __future__ import annotations

import errno
import json
from dataclasses import dataclass

from rbd.constants import (
    RBD_FEATURE_LAYERING, RBD_FEATURES_ALL, RBD_IMAGE_MIGRATION_STATE_ABORTING,
    RBD_IMAGE_MIGRATION_STATE_EXECUTED, RBD_IMAGE_MIGRATION_STATE_EXECUTING,
    RBD_IMAGE_MIGRATION_STATE_PREPARED, RBD_IMAGE_MIGRATION_STATE_PREPARING,
    RBD_SNAP_NAMESPACE_TYPE_USER, RBD_TRASH_IMAGE_SOURCE_MIGRATION, SNAP_HEAD, UINT64_MAX,
)
from rbd.errors import RbdError
from rbd.header import dir_get_name, get_image_id, get_image_info, header_oid

STATE_NAMES = {-1: "unknown", 0: "error", 1: "preparing", 2: "prepared", 3: "executing",
               4: "executed", 5: "aborting"}


def check_open(ctx) -> None:
    """ImageCtx.open's gate (Ceph's refresh): a source opens read-only only (EROFS); a
    destination still being prepared does not open (EBUSY, Ceph retries instead) and one being
    aborted opens read-only only (EROFS)."""
    record = ctx.info.migration if ctx.info is not None else None
    if not isinstance(record, dict):
        return
    state = record.get("state")
    if record.get("header_type") == "src":
        if not ctx.read_only:
            raise RbdError(-errno.EROFS, "image being migrated")
    elif state == RBD_IMAGE_MIGRATION_STATE_PREPARING:
        raise RbdError(-errno.EBUSY, "migration is being prepared")
    elif state == RBD_IMAGE_MIGRATION_STATE_ABORTING and not ctx.read_only:
        raise RbdError(-errno.EROFS, "migration is being aborted")


# -- the two sides of one migration ------------------------------------------------------------
@dataclass
class Sides:
    dst_io: object
    dst_id: str
    record: dict                   # the destination's record
    src_io: object | None          # None for an import
    src_id: str
    src_name: str

    @property
    def state(self) -> int:
        return int(self.record["state"])

    def set_state(self, state: int, description: str = "") -> None:
        """Source first, so a destination never shows a state its source has not reached."""
        args = {"state": state, "description": description}
        if self.src_io is not None:
            self.src_io.call(header_oid(self.src_id), "migration_set_state", args)
        self.dst_io.call(header_oid(self.dst_id), "migration_set_state", args)
        self.record = dict(self.record, state=state, state_description=description)
        _notify(self.dst_io, self.dst_id)


def _notify(io, image_id: str) -> None:
    from rbd.clone import _notify_header
    _notify_header(io, image_id)


def resolve(io, name: str) -> Sides:
    """Both sides of the migration `name` (either side's name) takes part in.
    RbdError: ENOENT (no such image), EINVAL (image is not migrating)."""
    image_id = get_image_id(io, name)
    record = get_image_info(io, image_id).migration
    if not isinstance(record, dict):
        raise RbdError(-errno.EINVAL, "image is not migrating")
    if record["header_type"] == "src":
        dst_io = io.with_pool(record["pool_id"], record.get("pool_namespace", ""))
        dst_record = get_image_info(dst_io, record["image_id"]).migration
        if not isinstance(dst_record, dict):
            raise RbdError(-errno.EINVAL, "migration destination lost its record")
        return Sides(dst_io, record["image_id"], dst_record, io, image_id, name)
    if record.get("source_spec"):
        return Sides(io, image_id, record, None, "", "")
    src_io = io.with_pool(record["pool_id"], record.get("pool_namespace", ""))
    return Sides(io, image_id, record, src_io, record["image_id"], record["image_name"])


def status(io, name: str) -> dict:
    sides = resolve(io, name)
    record = sides.record
    try:
        dst_name = dir_get_name(sides.dst_io, sides.dst_id)
    except RbdError:
        dst_name = ""
    return {
        "source_pool_id": record["pool_id"],
        "source_pool_namespace": record.get("pool_namespace", ""),
        "source_image_name": record.get("image_name", ""),
        "source_image_id": record["image_id"],
        # the Pacific binding fills dest_pool_id from the source pool id; kept as it is
        "dest_pool_id": record["pool_id"],
        "dest_pool_namespace": sides.dst_io.nspace,
        "dest_image_name": dst_name,
        "dest_image_id": sides.dst_id,
        "state": sides.state,
        "state_description": record.get("state_description", ""),
    }


def source_spec(ctx) -> dict:
    """Image.migration_source_spec(): the import's spec, or the native spec of a live
    migration's other side. ENOENT when the image is not migrating."""
    from rbd.migration_source import native_spec, parse_spec
    record = get_image_info(ctx.io, ctx.id).migration if ctx.id else None
    if not isinstance(record, dict):
        raise RbdError(-errno.ENOENT, "image is not migrating")
    if record.get("source_spec"):
        return parse_spec(record["source_spec"])
    return native_spec(record["pool_id"], record.get("pool_namespace", ""),
                       record.get("image_name", ""), record["image_id"])


# -- prepare -----------------------------------------------------------------------------------
def _open_writable(io, image_id: str):
    """The destination opened by the migration itself (whatever its state)."""
    from rbd.image_ctx import ImageCtx
    ctx = ImageCtx(io, image_id=image_id)
    ctx.ignore_migrating = True
    try:
        ctx.open()
    except BaseException:
        ctx.close()
        raise
    return ctx


def _dest_params(src_ctx, features, order, stripe_unit, stripe_count, data_pool):
    """Ceph's defaults: the source's features, order and striping; its data pool too."""
    from rbd.copy import NOT_COPIED
    if src_ctx is not None:
        if features is None:
            features = src_ctx.info.features & ~NOT_COPIED
        if not order:
            order = src_ctx.info.order
        if stripe_unit is None and stripe_count is None and src_ctx.info.stripe_unit:
            stripe_unit, stripe_count = src_ctx.info.stripe_unit, src_ctx.info.stripe_count
        if data_pool is None and src_ctx.info.data_pool_id >= 0:
            pool = src_ctx.io.client.osdmap.pools.get(src_ctx.info.data_pool_id)
            data_pool = getattr(pool, "name", None)
    if features is not None and features & ~RBD_FEATURES_ALL:
        raise RbdError(-errno.ENOSYS, "librbd does not support requested features")
    return features, order, stripe_unit, stripe_count, data_pool


def _check_source(ctx, dst_features) -> None:
    """Ceph's refusals before anything changes."""
    from rbd import clone as clone_mod
    info = ctx.info
    if info.migration:
        raise RbdError(-errno.EBUSY, "image is already migrating")
    if ctx.io.list_watchers(ctx.header_oid):
        raise RbdError(-errno.EBUSY, "image has watchers - not migrating")
    if info.group:
        raise RbdError(-errno.EMLINK, "image is in a group - not migrating")
    for snap_id in sorted(info.snaps):
        if info.snaps[snap_id].namespace_type != RBD_SNAP_NAMESPACE_TYPE_USER:
            raise RbdError(-errno.EBUSY, "image has non-user type snapshots that are not "
                           "supported")
    for snap_id in sorted(info.snaps):
        if clone_mod.children_of(ctx, snap_id):
            features = info.features if dst_features is None else dst_features
            if not features & RBD_FEATURE_LAYERING:
                raise RbdError(-errno.EINVAL, "can't migrate to destination without layering "
                               "feature: image has children")
            raise RbdError(-errno.ENOSYS, "migrating an image with clones is not supported "
                           "by rayceph (children would need relinking)")


def _dst_record(state, pool_id, nspace, image_name, image_id, spec, overlap, snaps,
                flatten) -> dict:
    return {"header_type": "dst", "pool_id": pool_id, "pool_namespace": nspace,
            "image_name": image_name, "image_id": image_id, "source_spec": spec,
            "state": state, "state_description": "", "flatten": bool(flatten),
            "overlap": overlap, "snaps": snaps}


def _recreate_snapshots(dst, source) -> list:
    """Recreate the source's user snapshots on dst, oldest first; returns the dst record's
    `snaps` list [[dst id, source id, overlap]]."""
    from rbd import snapshots
    from rbd.image import _resize
    out = []
    for src_snap, name, size, protected in source.snapshots():
        if dst.info.size != size:
            _resize(dst, size, None)
        snap_id = dst.data_io.selfmanaged_snap_create()
        try:
            dst.io.call(dst.header_oid, "snapshot_add", {
                "snap_id": snap_id, "name": name,
                "namespace": {"type": RBD_SNAP_NAMESPACE_TYPE_USER},
                "migration_source_snap": src_snap, "migration_overlap": size})
        except RbdError:
            dst.data_io.selfmanaged_snap_remove(snap_id)
            raise
        try:
            dst.object_map.snapshot_add(snap_id)
        except RbdError:
            dst.object_map.invalidate(snap_id)
        dst.refresh()
        if protected and dst.info.features & RBD_FEATURE_LAYERING:
            snapshots.protect(dst, name)
        out.append([snap_id, src_snap, size])
    return out


def _build_destination(dst_io, dst_name, source, size, params, record_base) -> str:
    """Create the destination, its record (PREPARING), its snapshots; record -> PREPARED.
    Returns its id; on failure removes whatever was made."""
    from rbd.image import _resize
    from rbd.rbd_api import create_image
    features, order, stripe_unit, stripe_count, data_pool = params
    snaps = source.snapshots()
    first_size = snaps[0][2] if snaps else size
    dst_id = create_image(dst_io, dst_name, first_size, order=order, features=features,
                          stripe_unit=stripe_unit, stripe_count=stripe_count,
                          data_pool=data_pool)
    try:
        dst_io.call(header_oid(dst_id), "migration_set", {"record": _dst_record(
            RBD_IMAGE_MIGRATION_STATE_PREPARING, overlap=size, snaps=[], **record_base)})
        dst = _open_writable(dst_io, dst_id)
        try:
            snap_list = _recreate_snapshots(dst, source)
            if dst.info.size != size:
                _resize(dst, size, None)
            src_ctx = getattr(source, "ctx", None)
            if src_ctx is not None:
                from rbd.copy import _copy_metadata
                _copy_metadata(src_ctx, dst)
                if src_ctx.info.snap_limit < UINT64_MAX:
                    dst.io.call(dst.header_oid, "snap_set_limit",
                                {"limit": src_ctx.info.snap_limit})
        finally:
            dst.close()
        dst_io.call(header_oid(dst_id), "migration_set", {"record": _dst_record(
            RBD_IMAGE_MIGRATION_STATE_PREPARED, overlap=size, snaps=snap_list, **record_base)})
    except BaseException:
        _remove_destination(dst_io, dst_id, dst_name)
        raise
    return dst_id


def prepare(src_io, src_name, dst_io, dst_name, features=None, order=None, stripe_unit=None,
            stripe_count=None, data_pool=None, flatten=False) -> None:
    """Link a new destination image to the source image `src_name` (see the module doc).
    RbdError: ENOENT, EBUSY (watchers / already migrating / non-user snapshots), EMLINK
    (group member), EEXIST (destination name taken), EINVAL, ENOSYS, EDOM."""
    from rbd.migration_source import NativeSource
    from rbd.pool_features import require_namespace, trash_move_image, trash_restore_image
    from rbd.rbd_api import _image_exists
    require_namespace(src_io)
    require_namespace(dst_io)
    source = NativeSource.open_image(src_io, None, name=src_name)
    try:
        src_ctx = source.ctx
        params = _dest_params(src_ctx, features, order, stripe_unit, stripe_count, data_pool)
        _check_source(src_ctx, params[0])
        same_name = (src_io.pool, src_io.nspace, src_name) == (dst_io.pool, dst_io.nspace,
                                                              dst_name)
        if not same_name and _image_exists(dst_io, dst_name):
            raise RbdError(-errno.EEXIST, "rbd image %s already exists" % dst_name)
        src_id = src_ctx.id
        size = src_ctx.info.size
        trash_move_image(src_io, src_name, 0, RBD_TRASH_IMAGE_SOURCE_MIGRATION)
        try:
            src_record_set = False
            base = {"pool_id": src_io.pool, "nspace": src_io.nspace, "image_name": src_name,
                    "image_id": src_id, "spec": "", "flatten": flatten}
            # the source's record needs the destination id: create first, then link both
            dst_id = _build_destination(dst_io, dst_name, source, size, params, base)
            try:
                src_io.call(header_oid(src_id), "migration_set", {"record": {
                    "header_type": "src", "pool_id": dst_io.pool,
                    "pool_namespace": dst_io.nspace, "image_name": dst_name,
                    "image_id": dst_id, "source_spec": "",
                    "state": RBD_IMAGE_MIGRATION_STATE_PREPARED, "state_description": ""},
                    "exclusive": True})
                src_record_set = True
            except BaseException:
                _remove_destination(dst_io, dst_id, dst_name)
                raise
        except BaseException:
            if src_record_set:
                src_io.call(header_oid(src_id), "migration_remove")
            trash_restore_image(src_io, src_id, src_name)
            raise
    finally:
        source.close()


def prepare_import(spec_json, dst_io, dst_name, features=None, order=None, stripe_unit=None,
                   stripe_count=None, data_pool=None) -> None:
    """Create `dst_name` reading through to the source a spec names; the source is only read.
    RbdError: EINVAL (bad spec), ENOENT (missing source), ENOSYS (unsupported format or
    stream), EEXIST (name taken)."""
    from rbd.migration_source import open_source, parse_spec
    from rbd.pool_features import require_namespace
    from rbd.rbd_api import _image_exists
    require_namespace(dst_io)
    spec = parse_spec(spec_json)
    source = open_source(dst_io, spec)
    try:
        src_ctx = getattr(source, "ctx", None)
        params = _dest_params(src_ctx, features, order, stripe_unit, stripe_count, data_pool)
        if _image_exists(dst_io, dst_name):
            raise RbdError(-errno.EEXIST, "rbd image %s already exists" % dst_name)
        base = {"pool_id": -1, "nspace": "", "image_name": "", "image_id": "",
                "spec": json.dumps(spec, sort_keys=True), "flatten": False}
        _build_destination(dst_io, dst_name, source, source.size_at(SNAP_HEAD), params, base)
    finally:
        source.close()


# -- execute / commit / abort ------------------------------------------------------------------
def execute(io, name: str, on_progress=None) -> None:
    """Deep-copy everything still read through. EINVAL unless PREPARED (or EXECUTING: an
    interrupted execute resumes)."""
    from rbd import migration_io
    sides = resolve(io, name)
    if sides.state not in (RBD_IMAGE_MIGRATION_STATE_PREPARED,
                           RBD_IMAGE_MIGRATION_STATE_EXECUTING):
        raise RbdError(-errno.EINVAL, "current migration state is '%s' (should be 'prepared')"
                       % STATE_NAMES.get(sides.state, sides.state))
    sides.set_state(RBD_IMAGE_MIGRATION_STATE_EXECUTING)
    dst = _open_writable(sides.dst_io, sides.dst_id)
    try:
        dst.exclusive_lock.ensure_owner()
        migration_io.copy_all(dst, on_progress)
    finally:
        dst.close()
    sides.set_state(RBD_IMAGE_MIGRATION_STATE_EXECUTED)


def commit(io, name: str, on_progress=None) -> None:
    """Finish an executed migration: the destination stands alone, the source is deleted
    (an import's source is left alone). EINVAL unless EXECUTED."""
    sides = resolve(io, name)
    if sides.state != RBD_IMAGE_MIGRATION_STATE_EXECUTED:
        raise RbdError(-errno.EINVAL, "migration not executed")
    sides.dst_io.call(header_oid(sides.dst_id), "migration_remove")
    _notify(sides.dst_io, sides.dst_id)
    if sides.src_io is None:
        if on_progress is not None:
            on_progress(0, 0)
        return
    from rbd.pool_features import trash_remove_image
    sides.src_io.call(header_oid(sides.src_id), "migration_remove")
    _purge_snapshots(sides.src_io, sides.src_id)
    trash_remove_image(sides.src_io, sides.src_id, True, on_progress)


def abort(io, name: str, on_progress=None) -> None:
    """Remove the destination and give the source back, in any state. EBUSY while the
    destination is open elsewhere (nothing changed then)."""
    from rbd.pool_features import trash_restore_image
    sides = resolve(io, name)
    if sides.dst_io.list_watchers(header_oid(sides.dst_id)):
        raise RbdError(-errno.EBUSY, "image has watchers - cannot abort migration")
    sides.set_state(RBD_IMAGE_MIGRATION_STATE_ABORTING)
    try:
        dst_name = dir_get_name(sides.dst_io, sides.dst_id)
    except RbdError:
        dst_name = None
    _remove_destination(sides.dst_io, sides.dst_id, dst_name, on_progress)
    if sides.src_io is not None:
        sides.src_io.call(header_oid(sides.src_id), "migration_remove")
        trash_restore_image(sides.src_io, sides.src_id, sides.src_name)


def _purge_snapshots(io, image_id: str) -> None:
    """Unprotect and delete every snapshot (their clones were refused at prepare)."""
    from rbd import snapshots
    ctx = _open_writable(io, image_id)
    try:
        for snap_id in sorted(ctx.info.snaps):
            snap = ctx.info.snaps[snap_id]
            if snap.protection_status != 0:
                ctx.io.call(ctx.header_oid, "set_protection_status",
                            {"snap_id": snap_id, "status": 0})
                ctx.refresh()
            snapshots.remove_record(ctx, snap_id)
    finally:
        ctx.close()


def _remove_destination(io, image_id: str, name, on_progress=None) -> None:
    """Delete a destination whatever was written to it: record, snapshots, data, names."""
    from rbd.rbd_api import remove_image
    try:
        io.call(header_oid(image_id), "migration_remove")
    except RbdError as exc:
        if exc.ret != -errno.ENOENT:
            raise
    _purge_snapshots(io, image_id)
    remove_image(io, name, image_id, on_progress)
