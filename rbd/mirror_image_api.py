"""Mirroring entry points of rbd.Image (ImageMirrorMixin) and the image-level helpers the
replicator shares: mirror snapshots (create, update, remove, prune), primary-ness, removal.

The pool half (rbd.RBD's calls, statuses, peers) is rbd/mirror_api.py, which also re-exports
these names. Errors follow spec 4.3 / librbd's api/Mirror.cc.
"""
from __future__ import annotations

import errno
import uuid as uuidlib

from rbd.completion import Completion
from rbd.constants import (
    RBD_MIRROR_IMAGE_DISABLED, RBD_MIRROR_IMAGE_ENABLED, RBD_MIRROR_IMAGE_MODE_JOURNAL,
    RBD_MIRROR_IMAGE_MODE_SNAPSHOT, RBD_MIRROR_MODE_DISABLED, RBD_MIRROR_MODE_INIT_ONLY,
    RBD_MIRROR_MODE_POOL, RBD_MIRROR_PEER_DIRECTION_RX, RBD_SNAP_MIRROR_STATE_NON_PRIMARY_DEMOTED,
    RBD_SNAP_MIRROR_STATE_PRIMARY, RBD_SNAP_MIRROR_STATE_PRIMARY_DEMOTED,
    RBD_SNAP_NAMESPACE_TYPE_MIRROR,
)
from rbd.errors import InvalidArgument, RbdError, make_ex
from rbd.mirror import store
from rbd.mirror.image_state import is_primary, mirror_snaps, primary_snap_name
from rbd.mirror_api import (
    MAX_MIRRORING_SNAPSHOTS, _unsupported, _wrap, image_status, peers, pool_mode, status_up,
)


def create_mirror_snapshot(ctx, ioctx, record: dict, state: int, peer_uuids=None,
                           extra: dict | None = None) -> int:
    """Create a MIRROR-namespace snapshot on ctx (bypassing the non-primary guard)."""
    from rbd import snapshots
    primaryish = state in (RBD_SNAP_MIRROR_STATE_PRIMARY, RBD_SNAP_MIRROR_STATE_PRIMARY_DEMOTED)
    if peer_uuids is None:
        peer_uuids = [p["uuid"] for p in peers(ioctx)
                      if p["direction"] != RBD_MIRROR_PEER_DIRECTION_RX] if primaryish else []
    uid = str(uuidlib.uuid4())
    name = (primary_snap_name(record["global_id"], uid) if primaryish else
            ".mirror.non_primary.%s.%s" % (record["global_id"], uid))
    ns = {"type": RBD_SNAP_NAMESPACE_TYPE_MIRROR, "state": state,
          "mirror_peer_uuids": list(peer_uuids), "complete": primaryish,
          "primary_mirror_uuid": "", "primary_snap_id": 0, "last_copied_object_number": 0}
    ns.update(extra or {})
    old = ctx.mirror_bypass
    ctx.mirror_bypass = True
    try:
        snap_id = snapshots.create(ctx, name, ns)
        ctx.refresh()
    finally:
        ctx.mirror_bypass = old
    if primaryish:
        prune_primary_snapshots(ctx)
    return snap_id


def update_mirror_snapshot(ctx, snap_id: int, **updates) -> None:
    ctx.io.call(ctx.header_oid, "mirror_snapshot_update", {"snap_id": snap_id,
                                                           "updates": updates})
    ctx.notify_update()
    ctx.refresh()


def remove_snapshot(ctx, snap_id: int) -> None:
    from rbd import snapshots
    old = ctx.mirror_bypass
    ctx.mirror_bypass = True
    try:
        snapshots.remove(ctx, snap_id)
        ctx.refresh()
    finally:
        ctx.mirror_bypass = old


def prune_primary_snapshots(ctx) -> None:
    """Keep at most MAX_MIRRORING_SNAPSHOTS mirror snapshots: drop the oldest primary ones."""
    snaps = mirror_snaps(ctx.info)
    while len(snaps) > MAX_MIRRORING_SNAPSHOTS:
        victim = next((s for s in snaps[:-1] if s.namespace.get("state") in (
            RBD_SNAP_MIRROR_STATE_PRIMARY, RBD_SNAP_MIRROR_STATE_PRIMARY_DEMOTED)), None)
        if victim is None:
            return
        remove_snapshot(ctx, victim.id)
        snaps = mirror_snaps(ctx.info)


def disable_for_remove(io, ctx) -> None:
    """Called by image removal: a mirror-enabled image loses its mirror snapshots and
    records (as librbd's remove disables mirroring); a non-primary one is refused (EINVAL)
    unless only the rbd-mirror daemon (ctx.mirror_bypass) removes it."""
    ioctx = getattr(io, "ioctx", None)
    if ctx.old_format or ioctx is None or ioctx.get_pool_id() != io.pool:
        return
    rec = store.get(ioctx, "image_" + ctx.id)
    if rec is None:
        return
    if not image_is_primary(ioctx, ctx, rec) and not ctx.mirror_bypass:
        raise RbdError(-errno.EINVAL, "mirrored image is not primary")
    if rec.get("mode") == RBD_MIRROR_IMAGE_MODE_JOURNAL:
        from rbd.mirror import journal
        journal.remove(ioctx, ctx.id)
    if mirror_snaps(ctx.info):
        # removal's own context has no watch (no exclusive lock): use a full open
        from rbd.image_ctx import open_image
        wctx = open_image(io, image_id=ctx.id)
        try:
            for snap in mirror_snaps(wctx.info):
                remove_snapshot(wctx, snap.id)
        finally:
            wctx.close()
        ctx.refresh()
    gid = rec["global_id"]
    keys = ["image_" + ctx.id, "global_" + gid, "status_global_" + gid]
    keys += list(store.get_all(ioctx, "remote_status_global_%s_" % gid))
    store.put(ioctx, {}, remove=keys)


def image_is_primary(ioctx, ctx, rec) -> bool:
    if rec is not None and rec.get("mode") == RBD_MIRROR_IMAGE_MODE_JOURNAL:
        from rbd.mirror import journal
        return journal.tag_is_primary(journal.get_tag(ioctx, ctx.id))
    return is_primary(ctx.info)


class ImageMirrorMixin:
    def _mirror_record(self, ctx):
        return store.get(self._ioctx_for_mirror(), "image_" + ctx.id)

    def _ioctx_for_mirror(self):
        return self.ioctx

    def _mirror_ctx(self):
        ctx = self._enter()
        if ctx.old_format:
            raise make_ex(-errno.EINVAL, "format 1 images cannot be mirrored")
        ctx.refresh()
        return ctx

    def mirror_image_enable(self, mode=RBD_MIRROR_IMAGE_MODE_JOURNAL):
        self.require_not_closed()
        if mode not in (RBD_MIRROR_IMAGE_MODE_JOURNAL, RBD_MIRROR_IMAGE_MODE_SNAPSHOT):
            raise InvalidArgument("error enabling mirroring for image %s: invalid mode"
                                  % self.name)
        ctx = self._mirror_ctx()
        ioctx = self._ioctx_for_mirror()
        with _wrap("error enabling mirroring for image %s" % self.name):
            pmode = pool_mode(ioctx)
            if pmode in (RBD_MIRROR_MODE_DISABLED, RBD_MIRROR_MODE_INIT_ONLY):
                raise RbdError(-errno.EINVAL, "mirroring is not enabled for the pool")
            if pmode == RBD_MIRROR_MODE_POOL:
                raise RbdError(-errno.EINVAL, "cannot enable mirroring in current pool mode")
            rec = store.get(ioctx, "image_" + ctx.id)
            if rec is not None:
                if rec["mode"] != mode:
                    raise RbdError(-errno.EINVAL, "mirroring already enabled in other mode")
                return
            if ctx.info.parent is not None:
                raise RbdError(-errno.EINVAL, "cloned images cannot be mirrored here")
            rec = {"mode": mode, "global_id": str(uuidlib.uuid4()),
                   "state": RBD_MIRROR_IMAGE_ENABLED}
            if mode == RBD_MIRROR_IMAGE_MODE_JOURNAL:
                from rbd.constants import RBD_FEATURE_EXCLUSIVE_LOCK, RBD_FEATURE_JOURNALING
                from rbd.mirror import journal
                if not ctx.info.features & RBD_FEATURE_JOURNALING:
                    if not ctx.info.features & RBD_FEATURE_EXCLUSIVE_LOCK:
                        raise RbdError(-errno.EINVAL, "journaling requires exclusive-lock")
                    from rbd.image import _update_features
                    _update_features(ctx, RBD_FEATURE_JOURNALING, True)
                    ctx.refresh()
                journal.set_tag(ioctx, ctx.id, {"owner": "", "demoted": False})
                store.put(ioctx, {"image_" + ctx.id: rec,
                                  "global_" + rec["global_id"]: ctx.id})
                return
            store.put(ioctx, {"image_" + ctx.id: rec, "global_" + rec["global_id"]: ctx.id})
            try:
                create_mirror_snapshot(ctx, ioctx, rec, RBD_SNAP_MIRROR_STATE_PRIMARY)
            except BaseException:
                store.put(ioctx, {}, remove=("image_" + ctx.id, "global_" + rec["global_id"]))
                raise

    def mirror_image_disable(self, force):
        self.require_not_closed()
        ctx = self._mirror_ctx()
        ioctx = self._ioctx_for_mirror()
        with _wrap("error disabling mirroring for image %s" % self.name):
            rec = store.get(ioctx, "image_" + ctx.id)
            if rec is None:
                return
            if not image_is_primary(ioctx, ctx, rec) and not force:
                raise RbdError(-errno.EINVAL, "mirrored image is not primary; use force")
            if rec["mode"] == RBD_MIRROR_IMAGE_MODE_JOURNAL:
                from rbd.mirror import journal
                journal.remove(ioctx, ctx.id)
            rec["state"] = 0  # RBD_MIRROR_IMAGE_DISABLING
            store.put(ioctx, {"image_" + ctx.id: rec})
            for snap in mirror_snaps(ctx.info):
                remove_snapshot(ctx, snap.id)
            gid = rec["global_id"]
            keys = ["image_" + ctx.id, "global_" + gid, "status_global_" + gid]
            keys += list(store.get_all(ioctx, "remote_status_global_%s_" % gid))
            store.put(ioctx, {}, remove=keys)

    def _require_snapshot_mode(self, ctx, what):
        rec = store.get(self._ioctx_for_mirror(), "image_" + ctx.id)
        if rec is None:
            raise RbdError(-errno.EINVAL, "mirroring is not enabled")
        return rec

    def mirror_image_promote(self, force):
        self.require_not_closed()
        ctx = self._mirror_ctx()
        ioctx = self._ioctx_for_mirror()
        with _wrap("error promoting image %s to primary" % self.name):
            rec = self._require_snapshot_mode(ctx, "promote")
            if rec["mode"] == RBD_MIRROR_IMAGE_MODE_JOURNAL:
                return _journal_promote(ioctx, ctx, rec, force)
            if is_primary(ctx.info):
                raise RbdError(-errno.EINVAL, "image is already primary")
            snaps = mirror_snaps(ctx.info)
            newest = snaps[-1] if snaps else None
            ns = newest.namespace if newest else {}
            if not force:
                demoted_here = ns.get("state") == RBD_SNAP_MIRROR_STATE_PRIMARY_DEMOTED
                synced_demotion = (ns.get("state") == RBD_SNAP_MIRROR_STATE_NON_PRIMARY_DEMOTED
                                   and ns.get("complete"))
                if not (demoted_here or synced_demotion):
                    raise RbdError(-errno.EBUSY, "remote image is still primary or the "
                                   "demotion has not been replicated")
            elif newest is not None and not ns.get("complete"):
                # roll back to the newest complete non-primary snapshot, drop the partial one
                done = [s for s in snaps if s.namespace.get("complete")]
                if done:
                    old = ctx.mirror_bypass
                    ctx.mirror_bypass = True
                    try:
                        _rollback_to(ctx, done[-1].id)
                    finally:
                        ctx.mirror_bypass = old
                remove_snapshot(ctx, newest.id)
            create_mirror_snapshot(ctx, ioctx, rec, RBD_SNAP_MIRROR_STATE_PRIMARY)
            if rec.get("resync_requested"):
                rec.pop("resync_requested")
                store.put(ioctx, {"image_" + ctx.id: rec})

    def mirror_image_demote(self):
        self.require_not_closed()
        ctx = self._mirror_ctx()
        ioctx = self._ioctx_for_mirror()
        with _wrap("error demoting image %s to secondary" % self.name):
            rec = self._require_snapshot_mode(ctx, "demote")
            if rec["mode"] == RBD_MIRROR_IMAGE_MODE_JOURNAL:
                from rbd.mirror import journal
                tag = journal.get_tag(ioctx, ctx.id)
                if not journal.tag_is_primary(tag):
                    raise RbdError(-errno.EINVAL, "image is not primary")
                journal.append(ctx, {"op": "demote"})
                journal.set_tag(ioctx, ctx.id, {"owner": "", "demoted": True})
                ctx.notify_update()
                return
            if not is_primary(ctx.info):
                raise RbdError(-errno.EINVAL, "image is not primary")
            create_mirror_snapshot(ctx, ioctx, rec, RBD_SNAP_MIRROR_STATE_PRIMARY_DEMOTED)

    def mirror_image_resync(self):
        self.require_not_closed()
        ctx = self._mirror_ctx()
        ioctx = self._ioctx_for_mirror()
        with _wrap("error to resync image %s" % self.name):
            rec = self._require_snapshot_mode(ctx, "resync")
            if image_is_primary(ioctx, ctx, rec):
                raise RbdError(-errno.EINVAL, "cannot resync a primary image")
            rec["resync_requested"] = True
            store.put(ioctx, {"image_" + ctx.id: rec})

    def mirror_image_create_snapshot(self, flags=0):
        self.require_not_closed()
        if not isinstance(flags, int):
            raise TypeError("flags must be an int")
        ctx = self._mirror_ctx()
        ioctx = self._ioctx_for_mirror()
        with _wrap("error creating mirror snapshot for image %s" % self.name):
            rec = self._require_snapshot_mode(ctx, "snapshot")
            if rec["mode"] != RBD_MIRROR_IMAGE_MODE_SNAPSHOT:
                raise RbdError(-errno.EINVAL, "image is not in snapshot mirroring mode")
            if not is_primary(ctx.info):
                raise RbdError(-errno.EINVAL, "image is not primary")
            return create_mirror_snapshot(ctx, ioctx, rec, RBD_SNAP_MIRROR_STATE_PRIMARY)

    def aio_mirror_image_create_snapshot(self, flags, oncomplete):
        self.require_not_closed()
        holder = {}
        comp = Completion(None, oncomplete, lambda c: (holder.get("snap_id"),))

        def run():
            holder["snap_id"] = self.mirror_image_create_snapshot(flags)
            return 0
        return comp._run(run)

    def mirror_image_get_info(self):
        self.require_not_closed()
        ctx = self._mirror_ctx()
        with _wrap("error getting mirror info for image %s" % self.name):
            rec = store.get(self._ioctx_for_mirror(), "image_" + ctx.id)
            if rec is None:
                return {"global_id": "", "state": RBD_MIRROR_IMAGE_DISABLED, "primary": False}
            return {"global_id": rec["global_id"], "state": rec["state"],
                    "primary": image_is_primary(self._ioctx_for_mirror(), ctx, rec)}

    def aio_mirror_image_get_info(self, oncomplete):
        self.require_not_closed()
        holder = {}
        comp = Completion(None, oncomplete, lambda c: (holder.get("info"),))

        def run():
            holder["info"] = self.mirror_image_get_info()
            return 0
        return comp._run(run)

    def mirror_image_get_mode(self):
        self.require_not_closed()
        ctx = self._mirror_ctx()
        with _wrap("error getting mirror mode for image %s" % self.name):
            rec = store.get(self._ioctx_for_mirror(), "image_" + ctx.id)
            if rec is None:
                raise RbdError(-errno.EINVAL, "mirroring is not enabled")
            return rec["mode"]

    def aio_mirror_image_get_mode(self, oncomplete):
        self.require_not_closed()
        holder = {}
        comp = Completion(None, oncomplete, lambda c: (holder.get("mode"),))

        def run():
            holder["mode"] = self.mirror_image_get_mode()
            return 0
        return comp._run(run)

    def mirror_image_get_status(self):
        self.require_not_closed()
        ctx = self._mirror_ctx()
        ioctx = self._ioctx_for_mirror()
        with _wrap("error getting mirror status for image %s" % self.name):
            rec = store.get(ioctx, "image_" + ctx.id)
            if rec is None:
                rec = {"global_id": "", "state": RBD_MIRROR_IMAGE_DISABLED}
                return image_status(ioctx, ctx.id, self.name, rec, False)
            return image_status(ioctx, ctx.id, self.name, rec,
                                image_is_primary(ioctx, ctx, rec))

    def mirror_image_get_instance_id(self):
        self.require_not_closed()
        ctx = self._mirror_ctx()
        ioctx = self._ioctx_for_mirror()
        with _wrap("error getting mirror instance id for image %s" % self.name):
            rec = store.get(ioctx, "image_" + ctx.id)
            st = store.get(ioctx, "status_global_" + rec["global_id"]) if rec else None
            if st is None or not status_up(ioctx, st):
                raise RbdError(-errno.ENOENT, "no running instance")
            return str(st["instance_id"])

    def encryption_format(self, format, passphrase, cipher_alg=1):
        self.require_not_closed()
        _unsupported("encryption")

    def encryption_load(self, format, passphrase):
        self.require_not_closed()
        _unsupported("encryption")

    def encryption_load2(self, specs):
        self.require_not_closed()
        _unsupported("encryption")


def _rollback_to(ctx, snap_id: int) -> None:
    """Roll HEAD back to snapshot snap_id (any namespace)."""
    from rbd import snapshots
    snapshots.rollback(ctx, None, snap_id=snap_id)


def _journal_promote(ioctx, ctx, rec, force) -> None:
    """Journal mode: a non-forced promote needs the remote demotion replayed here
    (EBUSY otherwise); the new tag says whether the promotion followed a clean demotion,
    which the old primary's daemon checks before following us (else split-brain)."""
    from rbd.mirror import journal
    tag = journal.get_tag(ioctx, ctx.id)
    if journal.tag_is_primary(tag):
        raise RbdError(-errno.EINVAL, "image is already primary")
    clean = bool(tag.get("remote_demoted")) or (tag.get("owner", "") == "" and
                                                bool(tag.get("demoted")))
    if not force and not clean:
        raise RbdError(-errno.EBUSY, "remote image is still primary or the demotion has "
                       "not been replicated")
    journal.set_tag(ioctx, ctx.id, {"owner": "", "demoted": False,
                                    "promoted_cleanly": clean})
    ctx.notify_update()
    if rec.get("resync_requested"):
        rec.pop("resync_requested")
        store.put(ioctx, {"image_" + ctx.id: rec})
