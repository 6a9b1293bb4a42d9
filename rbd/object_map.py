"""The object map (object-map feature) and its fast-diff states.

One 2-bit state per data object (NONEXISTENT, EXISTS, PENDING, EXISTS_CLEAN) in
`rbd_object_map.<id>` for HEAD and `rbd_object_map.<id>.<%016x snap>` per snapshot (format:
osd/cls/rbd.py). EXISTS means "written since the previous snapshot"; taking a snapshot turns
HEAD's EXISTS entries into EXISTS_CLEAN, so fast-diff finds the objects changed between two
snapshots from the maps alone.

Invariants:
- HEAD's map is cached and changed only by the exclusive-lock owner (object-map requires
  exclusive-lock); the cache is loaded on lock acquisition and dropped on release. Updates
  go to RADOS before the data op they announce (`mark_exists`) or after the delete they
  record (`mark_removed`), so a crash leaves at worst an object marked existing.
- A map that cannot be trusted is flagged (RBD_FLAG_OBJECT_MAP_INVALID |
  RBD_FLAG_FAST_DIFF_INVALID) and ignored until `rebuild` clears the flags.
"""
from __future__ import annotations

import errno
import threading

from rbd.constants import (
    OBJECT_EXISTS, OBJECT_EXISTS_CLEAN, OBJECT_NONEXISTENT, RBD_FEATURE_FAST_DIFF,
    RBD_FEATURE_OBJECT_MAP, RBD_FLAG_FAST_DIFF_INVALID, RBD_FLAG_OBJECT_MAP_INVALID, SNAP_HEAD,
)
from rbd.errors import RbdError
from rbd.header import object_map_oid
from rbd.striping import num_objects

INVALID_FLAGS = RBD_FLAG_OBJECT_MAP_INVALID | RBD_FLAG_FAST_DIFF_INVALID


def om_get(bits, i: int) -> int:
    return (bits[i >> 2] >> ((i & 3) * 2)) & 3


def om_set(bits, i: int, state: int) -> None:
    shift = (i & 3) * 2
    bits[i >> 2] = (bits[i >> 2] & ~(3 << shift)) | (state << shift)


def om_new(count: int) -> bytearray:
    return bytearray((count + 3) // 4)


class ObjectMap:
    def __init__(self, ctx):
        self.ctx = ctx
        self.count = 0
        self.bits: bytearray | None = None
        self.mutex = threading.Lock()

    # -- state ---------------------------------------------------------------------------------
    def enabled(self) -> bool:
        ctx = self.ctx
        return (not ctx.old_format and ctx.info is not None
                and bool(ctx.info.features & RBD_FEATURE_OBJECT_MAP))

    def active(self) -> bool:
        """HEAD's map is loaded, valid and ours to maintain."""
        return self.bits is not None and self.enabled() and self.ctx.exclusive_lock.owner

    def state(self, objectno: int) -> int | None:
        """Cached HEAD state, or None when the map cannot be used."""
        if not self.active():
            return None
        if objectno >= self.count:
            return OBJECT_NONEXISTENT
        return om_get(self.bits, objectno)

    def header_refreshed(self, old, new) -> None:
        if not self.enabled() or new.flags & RBD_FLAG_OBJECT_MAP_INVALID:
            self.bits = None

    def on_lock_acquired(self) -> None:
        if self.enabled():
            self.load_head()

    def on_lock_released(self) -> None:
        self.bits = None

    def load_head(self) -> None:
        ctx = self.ctx
        if ctx.info.flags & RBD_FLAG_OBJECT_MAP_INVALID:
            self.bits = None
            return
        loaded = load(ctx, SNAP_HEAD)
        if loaded is None:
            self.invalidate()
            return
        count, bits = loaded
        expected = num_objects(ctx.layout, ctx.info.size)
        if count != expected:
            ctx.io.call(object_map_oid(ctx.id), "object_map_resize",
                        {"count": expected, "force": True})
            loaded = load(ctx, SNAP_HEAD)
            count, bits = loaded if loaded is not None else (0, None)
        with self.mutex:
            self.count, self.bits = count, bits

    def invalidate(self, snap_id: int = SNAP_HEAD) -> None:
        """Flag the map (HEAD or a snapshot's) invalid and stop using it."""
        ctx = self.ctx
        args = {"flags": INVALID_FLAGS, "mask": INVALID_FLAGS}
        if snap_id != SNAP_HEAD:
            args["snap_id"] = snap_id
        try:
            ctx.io.call(ctx.header_oid, "set_flags", args)
        except RbdError:
            pass
        if snap_id == SNAP_HEAD:
            self.bits = None

    # -- updates around data ops ---------------------------------------------------------------
    def _update(self, objnos: list[int], state: int) -> None:
        ctx = self.ctx
        try:
            ctx.io.call(object_map_oid(ctx.id), "object_map_update",
                        {"objects": objnos, "state": state})
        except RbdError:
            self.invalidate()
            return
        with self.mutex:
            if self.bits is not None:
                for i in objnos:
                    if i < self.count:
                        om_set(self.bits, i, state)

    def mark_exists(self, objnos) -> None:
        """Before writing: mark objects EXISTS (skipping those already marked)."""
        if not self.active():
            return
        todo = sorted({i for i in objnos if i < self.count and om_get(self.bits, i) != OBJECT_EXISTS})
        if todo:
            self._update(todo, OBJECT_EXISTS)

    def mark_removed(self, objnos) -> None:
        """After removing objects: mark them NONEXISTENT."""
        if not self.active():
            return
        todo = sorted({i for i in objnos if i < self.count
                       and om_get(self.bits, i) != OBJECT_NONEXISTENT})
        if todo:
            self._update(todo, OBJECT_NONEXISTENT)

    def resize(self, new_size: int) -> None:
        if not self.active():
            return
        ctx = self.ctx
        new_count = num_objects(ctx.layout, new_size)
        ctx.io.call(object_map_oid(ctx.id), "object_map_resize",
                    {"count": new_count, "force": True})
        with self.mutex:
            bits = om_new(new_count)
            for i in range(min(self.count, new_count)):
                om_set(bits, i, om_get(self.bits, i))
            self.count, self.bits = new_count, bits

    # -- snapshots -----------------------------------------------------------------------------
    def snapshot_add(self, snap_id: int) -> None:
        """Copy HEAD's map for a new snapshot; HEAD's EXISTS entries become EXISTS_CLEAN."""
        if not self.enabled():
            return
        ctx = self.ctx
        loaded = load(ctx, SNAP_HEAD)
        if loaded is None:
            self.invalidate()
            self.invalidate(snap_id)
            return
        count, bits = loaded
        ctx.io.call(object_map_oid(ctx.id, snap_id), "object_map_save",
                    {"count": count, "bits": bytes(bits)})
        ctx.io.call(object_map_oid(ctx.id), "object_map_snap_add")
        with self.mutex:
            if self.bits is not None:
                for i in range(self.count):
                    if om_get(self.bits, i) == OBJECT_EXISTS:
                        om_set(self.bits, i, OBJECT_EXISTS_CLEAN)

    def snapshot_remove(self, snap_id: int, next_snap_id: int) -> None:
        """Fold a removed snapshot's dirty entries into the next newer map, drop its map."""
        ctx = self.ctx
        loaded = load(ctx, snap_id)
        if loaded is not None and self.enabled():
            count, bits = loaded
            try:
                ctx.io.call(object_map_oid(ctx.id, next_snap_id), "object_map_snap_remove",
                            {"count": count, "bits": bytes(bits)})
            except RbdError as exc:
                if exc.ret != -errno.ENOENT:
                    raise
            if next_snap_id == SNAP_HEAD:
                with self.mutex:
                    if self.bits is not None:
                        for i in range(min(count, self.count)):
                            if om_get(bits, i) == OBJECT_EXISTS and \
                                    om_get(self.bits, i) == OBJECT_EXISTS_CLEAN:
                                om_set(self.bits, i, OBJECT_EXISTS)
        ctx.io.remove(object_map_oid(ctx.id, snap_id))

    def rollback(self, snap_id: int) -> None:
        """HEAD's map := the snapshot's (all entries dirty: HEAD changed)."""
        if not self.enabled():
            return
        ctx = self.ctx
        loaded = load(ctx, snap_id)
        if loaded is None:
            self.invalidate()
            return
        count, bits = loaded
        for i in range(count):
            if om_get(bits, i) == OBJECT_EXISTS_CLEAN:
                om_set(bits, i, OBJECT_EXISTS)
        ctx.io.call(object_map_oid(ctx.id), "object_map_save",
                    {"count": count, "bits": bytes(bits)})
        with self.mutex:
            if self.bits is not None:
                self.count, self.bits = count, bits


def load(ctx, snap_id: int):
    """(count, bits) of a stored map, or None when it is missing."""
    try:
        out = ctx.io.call(object_map_oid(ctx.id, snap_id), "object_map_load")
    except RbdError as exc:
        if exc.ret == -errno.ENOENT:
            return None
        raise
    return int(out["count"]), bytearray(out["bits"])


def create(io, image_id: str, count: int) -> None:
    io.call(object_map_oid(image_id), "object_map_save",
            {"count": count, "bits": bytes(om_new(count))})


def usable_for_diff(ctx, snap_ids) -> bool:
    """Fast-diff can answer for these maps (feature on, no invalid flag on any of them)."""
    info = ctx.info
    if not info.features & RBD_FEATURE_FAST_DIFF or not info.features & RBD_FEATURE_OBJECT_MAP:
        return False
    for snap_id in snap_ids:
        flags = info.flags if snap_id == SNAP_HEAD else info.snaps[snap_id].flags
        if flags & (RBD_FLAG_OBJECT_MAP_INVALID | RBD_FLAG_FAST_DIFF_INVALID):
            return False
    return True


def rebuild(ctx, on_progress=None) -> None:
    """Recompute HEAD's and every snapshot's map from the data objects (list_snaps)."""
    from rbd import io as image_io
    layout = ctx.layout
    heads_count = num_objects(layout, ctx.info.size)
    snaps = sorted(ctx.info.snaps)
    counts = {SNAP_HEAD: heads_count}
    for s in snaps:
        counts[s] = num_objects(layout, ctx.info.snaps[s].size)
    total = max(counts.values()) if counts else 0
    maps = {k: om_new(v) for k, v in counts.items()}
    for objectno, snapset in image_io.list_snaps_many(ctx, range(total)):
        if snapset is None:
            continue
        prev_exists = False
        prev_version = None
        for snap_id in snaps + [SNAP_HEAD]:
            if objectno >= counts[snap_id]:
                continue
            version = image_io.version_at(snapset, snap_id)
            if version is None:
                state = OBJECT_NONEXISTENT
            elif prev_exists and version == prev_version:
                state = OBJECT_EXISTS_CLEAN
            else:
                state = OBJECT_EXISTS
            om_set(maps[snap_id], objectno, state)
            prev_exists = version is not None
            prev_version = version
        if on_progress is not None:
            on_progress(objectno + 1, total)
    for snap_id in snaps:
        ctx.io.call(object_map_oid(ctx.id, snap_id), "object_map_save",
                    {"count": counts[snap_id], "bits": bytes(maps[snap_id])})
        ctx.io.call(ctx.header_oid, "set_flags", {"flags": 0, "mask": INVALID_FLAGS,
                                                  "snap_id": snap_id})
    ctx.io.call(object_map_oid(ctx.id), "object_map_save",
                {"count": heads_count, "bits": bytes(maps[SNAP_HEAD])})
    ctx.io.call(ctx.header_oid, "set_flags", {"flags": 0, "mask": INVALID_FLAGS})
    with ctx.object_map.mutex:
        if ctx.exclusive_lock.owner:
            ctx.object_map.count = heads_count
            ctx.object_map.bits = maps[SNAP_HEAD]
