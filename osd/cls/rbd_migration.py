"""Live-migration methods of the `rbd` object class (registered under class "rbd").

Loaded by a one-line import at the end of osd/cls/rbd.py, like rbd_mirror.py.

The header key `migration` holds one msgpack record (our encoding, Ceph's MigrationSpec
fields): `header_type` ("src" on the image being migrated away, "dst" on the new image),
the other side's `pool_id`, `pool_namespace`, `image_name`, `image_id`, `source_spec` (the
JSON of an import, '' for a live migration), `state`, `state_description`, `flatten`, and on
a destination `overlap` (bytes of HEAD that still read through to the source) and `snaps`
([[dst snap id, source snap id, overlap]]: what each destination snapshot reads through to).

Invariants:
- A header has the `migrating` incompatible feature bit exactly while it has a record, so an
  old client that does not know migration cannot open either side.
- A destination's overlap only shrinks (set_size), like a clone's parent overlap; every
  snapshot taken on a destination records the source snapshot it reads and its overlap.
"""
from __future__ import annotations

import errno

from osd.cls import RD, WR, ClsError, pack, register, unpack
from osd.cls.rbd import _args, _get, _omap_opt, _require_header, _u64_key, enc_u64

RBD_FEATURE_MIGRATING = 1 << 9
SNAP_HEAD = 2**64 - 2
STATES = range(-1, 6)       # RBD_IMAGE_MIGRATION_STATE_UNKNOWN .. _ABORTING
HEADER_TYPES = ("src", "dst")


def load(ctx) -> dict | None:
    raw = _omap_opt(ctx, "migration")
    return unpack(raw) if raw is not None else None


def _store(ctx, record: dict) -> None:
    ctx.omap_set({"migration": pack(record)})


def _valid(record) -> bool:
    if not isinstance(record, dict) or record.get("header_type") not in HEADER_TYPES:
        return False
    if record.get("state") not in STATES:
        return False
    if not isinstance(record.get("pool_id"), int) or not isinstance(record.get("image_id"), str):
        return False
    if record["header_type"] == "dst":
        if not isinstance(record.get("overlap"), int) or record["overlap"] < 0:
            return False
        if not isinstance(record.get("snaps"), list):
            return False
    return True


@register("rbd", "migration_set", RD | WR)
def migration_set(ctx, indata):
    """Store `record` (replacing one that exists unless `exclusive`: then EEXIST) and set the
    migrating feature bit. EINVAL: malformed record."""
    args = _args(indata)
    record = args.get("record")
    if not _valid(record):
        raise ClsError(errno.EINVAL)
    _require_header(ctx)
    if args.get("exclusive") and load(ctx) is not None:
        raise ClsError(errno.EEXIST)
    _store(ctx, dict(record))
    features = _u64_key(ctx, "features")
    ctx.omap_set({"features": enc_u64(features | RBD_FEATURE_MIGRATING)})
    return None


@register("rbd", "migration_get", RD)
def migration_get(ctx, indata):
    """The record; ENOENT when the image is not migrating."""
    _require_header(ctx)
    record = load(ctx)
    if record is None:
        raise ClsError(errno.ENOENT)
    return pack(record)


@register("rbd", "migration_set_state", RD | WR)
def migration_set_state(ctx, indata):
    """Set `state` and `description`. ENOENT: not migrating; EINVAL: unknown state."""
    args = _args(indata)
    state = _get(args, "state", int)
    description = _get(args, "description", str, False, "")
    if state not in STATES:
        raise ClsError(errno.EINVAL)
    _require_header(ctx)
    record = load(ctx)
    if record is None:
        raise ClsError(errno.ENOENT)
    record["state"] = state
    record["state_description"] = description
    _store(ctx, record)
    return None


@register("rbd", "migration_remove", RD | WR)
def migration_remove(ctx, indata):
    """Drop the record and the migrating feature bit. ENOENT: not migrating."""
    _require_header(ctx)
    if load(ctx) is None:
        raise ClsError(errno.ENOENT)
    ctx.omap_rm_keys(["migration"])
    features = _u64_key(ctx, "features")
    ctx.omap_set({"features": enc_u64(features & ~RBD_FEATURE_MIGRATING)})
    return None


# -- hooks called by rbd.set_size / rbd.snapshot_add -------------------------------------------
def on_set_size(ctx, size: int) -> None:
    """A destination that shrinks stops reading through past the new end, for good."""
    record = load(ctx)
    if record is not None and record.get("header_type") == "dst" and record["overlap"] > size:
        record["overlap"] = size
        _store(ctx, record)


def on_snapshot_add(ctx, snap_id: int, image_size: int, args: dict) -> None:
    """Remember what a new destination snapshot reads through to: the source snapshot the
    migration recreated it from (`migration_source_snap`, with `migration_overlap`), else the
    source HEAD as of now (the source does not change while it is being migrated)."""
    record = load(ctx)
    if record is None or record.get("header_type") != "dst":
        return
    source_snap = args.get("migration_source_snap", SNAP_HEAD)
    overlap = args.get("migration_overlap", min(record["overlap"], image_size))
    if not isinstance(source_snap, int) or not isinstance(overlap, int) or overlap < 0:
        raise ClsError(errno.EINVAL)
    record["snaps"] = [s for s in record["snaps"] if s[0] != snap_id] + [
        [snap_id, source_snap, min(overlap, image_size)]]
    _store(ctx, record)
