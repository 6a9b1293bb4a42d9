"""Executes the replayer's actions (rbd/mirror/replayer.py) between two clusters.

    runner = PoolReplayer(local_ioctx, remote_ioctx)   # one pool, one peer
    runner.replicate_once()     # every mirrored image of the remote pool, until idle
    runner.close()

`runner.stats` counts what this runner copied (bytes written to local images, journal
entries applied, mirror snapshots completed): a restarted replicator proves it resumed from
its commit position / last complete mirror snapshot by how little it had to copy.
`copy_bytes_per_second` simulates a slow link between the sites (0 = unthrottled);
`commit_age_s` is how often journal replay records its position (Ceph's
rbd_mirror_journal_commit_age, 5 s), so a replicator killed mid-replay loses at most that.

The runner holds a watch on both pools' `rbd_mirroring` while open, which is what makes the
statuses it writes read as "up" (spec 4.2). Local statuses go to the local pool
(`status_global_<gid>`), and a copy to the remote pool
(`remote_status_global_<gid>_<local mirror uuid>`), as rbd-mirror reports to a TX peer.
"""
from __future__ import annotations

import errno
import logging
import os
import time

from rbd.constants import (
    MIRROR_IMAGE_STATUS_STATE_ERROR, MIRROR_IMAGE_STATUS_STATE_REPLAYING,
    MIRROR_IMAGE_STATUS_STATE_STOPPED, MIRROR_IMAGE_STATUS_STATE_SYNCING,
    RBD_MIRROR_IMAGE_ENABLED, RBD_MIRROR_IMAGE_MODE_SNAPSHOT, RBD_MIRROR_MODE_DISABLED,
    RBD_SNAP_NAMESPACE_TYPE_USER,
)
from rbd.errors import RbdError
from rbd.mirror import replayer, store
from rbd.mirror.image_state import mirror_snaps

log = logging.getLogger("rayceph.rbd_mirror")
MAX_STEPS = 32
COPY_CHUNK = 4 << 20
IN_FLIGHT_NS = 5 * 10**9    # journal tids are ns clock values; a write lands well within this


def connect_peer(mon_host: str):
    """A connected rados.Rados for a peer's `mon_host`: a config file path, or
    `<cluster name>@<ray address>` (see mirror_peer_bootstrap_create)."""
    import rados
    if os.path.exists(mon_host):
        handle = rados.Rados(conffile=mon_host)
    elif "@" in mon_host:
        name, address = mon_host.split("@", 1)
        handle = rados.Rados(conffile="")
        handle.conf_set("rayceph_cluster_name", name)
        handle.conf_set("rayceph_ray_address", address)
    else:
        raise RbdError(-errno.EINVAL, "cannot reach peer %r" % mon_host)
    handle.connect()
    return handle


class _Throttle:
    """Paces copies to a byte rate (a token bucket without burst)."""

    def __init__(self, bytes_per_second: float):
        self.rate = float(bytes_per_second or 0)
        self._next = time.monotonic()

    def take(self, nbytes: int) -> None:
        if self.rate <= 0:
            return
        now = time.monotonic()
        start = max(now, self._next)
        self._next = start + nbytes / self.rate
        if self._next > now:
            time.sleep(self._next - now)


class _Progress:
    """Reports a sync's percent copied in the image status, at most every REPORT_S: as
    "bootstrapping, IMAGE_COPY/COPY_OBJECT N%" for a full copy, else in the replaying JSON
    (`replay_state` syncing, `syncing_percent`)."""
    REPORT_S = 0.5

    def __init__(self, runner, gid: str, bootstrap: bool, deltas):
        self.runner, self.gid, self.bootstrap = runner, gid, bootstrap
        self.total = sum(length for _, extents in deltas for _, length, _ in extents)
        self.done = 0
        self.last = time.monotonic()

    def status(self):
        pct = int(100 * self.done / self.total) if self.total else 100
        if self.bootstrap:
            return MIRROR_IMAGE_STATUS_STATE_SYNCING, \
                "bootstrapping, IMAGE_COPY/COPY_OBJECT %d%%" % pct
        return MIRROR_IMAGE_STATUS_STATE_REPLAYING, \
            replayer.replaying_description("syncing", syncing_percent=pct)

    def advance(self, nbytes: int) -> None:
        self.done += nbytes
        now = time.monotonic()
        if now - self.last >= self.REPORT_S:
            self.last = now
            self.runner._write_status(self.gid, self.status())


def _view(img, ioctx):
    """The replayer's description of an open rbd.Image."""
    ctx = img._ctx
    ctx.refresh()
    info = ctx.info
    rec = store.get(ioctx, "image_" + ctx.id) or {}
    return {
        "name": img.name, "id": ctx.id, "size": info.size, "order": info.order,
        "features": info.features, "resync_requested": bool(rec.get("resync_requested")),
        "mirror_snaps": [dict(s.namespace, id=s.id) for s in mirror_snaps(info)],
        "user_snaps": [{"id": s.id, "name": s.name, "size": s.size}
                       for i, s in sorted(info.snaps.items())
                       if s.namespace_type == RBD_SNAP_NAMESPACE_TYPE_USER],
    }


class PoolReplayer:
    def __init__(self, local_ioctx, remote_ioctx, copy_bytes_per_second: float = 0,
                 commit_age_s: float = 5.0):
        self.local = local_ioctx
        self.remote = remote_ioctx
        self.stats = {"bytes_copied": 0, "entries_replayed": 0, "snapshots_synced": 0}
        self.throttle = _Throttle(copy_bytes_per_second)
        self.commit_age_s = float(commit_age_s)
        self.local_mirror_uuid = store.get(local_ioctx, "mirror_uuid") or ""
        self.remote_mirror_uuid = store.get(remote_ioctx, "mirror_uuid") or ""
        self.local_instance = str(local_ioctx.rados.get_instance_id())
        self.remote_instance = str(remote_ioctx.rados.get_instance_id())
        self._watches = []
        for io in (local_ioctx, remote_ioctx):
            store.put(io, {})     # make sure rbd_mirroring exists before watching it
            self._watches.append(io.watch(store.RBD_MIRRORING, lambda *a: None))
        self.last_status: dict[str, tuple] = {}
        self._ping_remote()

    def _ping_remote(self):
        """Record our mirror uuid and last-seen time in the remote pool's peer entry for
        this site (Ceph's daemons "ping" their TX peers)."""
        from rbd.mirror_api import _site_name, peers
        site = _site_name(self.local.rados)
        for p in peers(self.remote):
            if p["site_name"] == site:
                p.update(mirror_uuid=self.local_mirror_uuid, last_seen=time.time())
                store.put(self.remote, {"mirror_peer_" + p["uuid"]: p})

    def close(self):
        for w in self._watches:
            try:
                w.close()
            except Exception:
                pass
        self._watches = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- peers ---------------------------------------------------------------------------------
    def _remote_peer_uuid(self):
        """Our peer uuid in the remote pool (linked into its primary snapshots)."""
        from rbd.mirror_api import _site_name, peers
        site = _site_name(self.local.rados)
        for p in peers(self.remote):
            if p["site_name"] == site or (self.local_mirror_uuid and
                                          p.get("mirror_uuid") == self.local_mirror_uuid):
                return p["uuid"]
        return ""

    # -- one pass ------------------------------------------------------------------------------
    def replicate_once(self) -> dict:
        """Replay every mirrored image of the remote pool (either mode) until idle; returns
        {global_id: (state, description)}."""
        if store.get(self.local, "mirror_mode", RBD_MIRROR_MODE_DISABLED) == \
                RBD_MIRROR_MODE_DISABLED:
            return {}
        out = {}
        remote_images = store.get_all(self.remote, "image_")
        gids = {rec["global_id"]: key[len("image_"):] for key, rec in remote_images.items()}
        modes = {rec["global_id"]: rec.get("mode") for rec in remote_images.values()}
        for key, rec in store.get_all(self.local, "image_").items():
            gids.setdefault(rec["global_id"], None)
            modes.setdefault(rec["global_id"], rec.get("mode"))
        for gid, remote_id in sorted(gids.items()):
            try:
                if modes[gid] == RBD_MIRROR_IMAGE_MODE_SNAPSHOT:
                    out[gid] = self.replay_image(gid, remote_id)
                else:
                    out[gid] = self.replay_journal_image(gid, remote_id)
            except Exception as exc:
                log.exception("replaying %s failed", gid)
                out[gid] = (MIRROR_IMAGE_STATUS_STATE_ERROR, "error: %s" % exc)
                self._write_status(gid, out[gid])
        return out

    def replay_image(self, gid: str, remote_id: str | None):
        status = None
        for _ in range(MAX_STEPS):
            remote_img = self._open(self.remote, remote_id)
            local_id = store.get(self.local, "global_" + gid)
            local_img = self._open(self.local, local_id)
            try:
                rview = _view(remote_img, self.remote) if remote_img else None
                lview = _view(local_img, self.local) if local_img else None
                status, actions = replayer.plan(rview, lview, self.local_mirror_uuid)
                self._write_status(gid, status)
                if not actions:
                    return status
                for action in actions:
                    self._execute(action, gid, remote_img, local_img, rview)
                    if action[0] in ("create_local", "resync"):
                        break
            finally:
                for img in (remote_img, local_img):
                    if img is not None:
                        img.close()
        return status

    def _open(self, ioctx, image_id):
        import rbd
        if not image_id:
            return None
        try:
            return rbd.Image(ioctx, image_id=image_id)
        except rbd.ImageNotFound:
            return None

    def _write_status(self, gid, status):
        state, desc = status
        now = time.time()
        self.last_status[gid] = status
        store.put(self.local, {"status_global_" + gid: {
            "state": state, "description": desc, "last_update": now,
            "instance_id": self.local_instance}})
        if self.local_mirror_uuid and store.get(self.remote, "global_" + gid) is not None:
            if state == MIRROR_IMAGE_STATUS_STATE_STOPPED:
                return      # "local image is primary" is no news for the peer
            store.put(self.remote, {"remote_status_global_%s_%s" % (gid, self.local_mirror_uuid): {
                "state": state, "description": desc, "last_update": now,
                "instance_id": self.remote_instance}})

    # -- actions -------------------------------------------------------------------------------
    def _copy(self, img, data: bytes, off: int) -> None:
        # throttled copies go in pieces of ~1/10 s so the rate holds within a big extent
        piece = max(64 << 10, int(self.throttle.rate / 10)) if self.throttle.rate else len(data)
        view = memoryview(data)
        for pos in range(0, len(data), piece or 1):
            chunk = bytes(view[pos:pos + piece])
            self.throttle.take(len(chunk))
            img.write(chunk, off + pos)
            self.stats["bytes_copied"] += len(chunk)

    def _execute(self, action, gid, remote_img, local_img, rview):
        kind = action[0]
        if kind == "create_local":
            self._create_local(gid, rview)
        elif kind == "resync":
            self._delete_local(gid, local_img)
        elif kind == "remove_local_user_snaps":
            ctx = local_img._ctx
            ctx.mirror_bypass = True
            for name in action[1]:
                local_img.remove_snap(name)
        elif kind == "sync":
            self._sync(gid, remote_img, local_img, *action[1:])
        elif kind == "complete":
            ctx = local_img._ctx
            ctx.refresh()
            for s in mirror_snaps(ctx.info):
                if s.namespace.get("primary_snap_id") == action[1] and \
                        not s.namespace.get("complete"):
                    from rbd.mirror_image_api import update_mirror_snapshot
                    update_mirror_snapshot(ctx, s.id, complete=True)
                    self.stats["snapshots_synced"] += 1
        elif kind == "unlink_peer":
            peer = self._remote_peer_uuid()
            if peer:
                try:
                    remote_img._ctx.io.call(remote_img._ctx.header_oid,
                                            "mirror_snapshot_unlink_peer",
                                            {"snap_id": action[1], "peer_uuid": peer})
                except RbdError as exc:
                    if exc.ret != -errno.ENOENT:
                        raise
        elif kind == "prune_local":
            from rbd.mirror_image_api import remove_snapshot
            for snap_id in action[1]:
                remove_snapshot(local_img._ctx, snap_id)
        else:
            raise RbdError(-errno.EINVAL, "unknown action %r" % (kind,))

    def _create_local(self, gid, rview):
        import rbd
        from rbd.mirror_image_api import create_mirror_snapshot
        r = rbd.RBD()
        r.create(self.local, rview["name"], rview["size"], order=rview["order"],
                 features=rview["features"] & ~(1 << 8) & ~(1 << 6))  # not data-pool/journal
        with rbd.Image(self.local, rview["name"]) as img:
            ctx = img._ctx
            rec = {"mode": RBD_MIRROR_IMAGE_MODE_SNAPSHOT, "global_id": gid,
                   "state": RBD_MIRROR_IMAGE_ENABLED}
            store.put(self.local, {"image_" + ctx.id: rec, "global_" + gid: ctx.id})
            # an initial, empty non-primary snapshot marks the image non-primary at once;
            # it names no remote snapshot (primary_snap_id 0) and is pruned later
            from rbd.constants import RBD_SNAP_MIRROR_STATE_NON_PRIMARY
            create_mirror_snapshot(ctx, self.local, rec, RBD_SNAP_MIRROR_STATE_NON_PRIMARY,
                                   extra={"primary_mirror_uuid": self.remote_mirror_uuid,
                                          "complete": False, "primary_snap_id": 0})

    def _delete_local(self, gid, local_img):
        import rbd
        from rbd.mirror_image_api import remove_snapshot
        ctx = local_img._ctx
        ctx.mirror_bypass = True
        name, image_id = local_img.name, ctx.id
        for s in sorted(ctx.info.snaps):
            snap = ctx.info.snaps[s]
            if snap.protection_status == 2:
                ctx.io.call(ctx.header_oid, "set_protection_status",
                            {"snap_id": s, "status": 0})
            remove_snapshot(ctx, s)
        local_img.close()
        store.put(self.local, {}, remove=("image_" + image_id, "global_" + gid))
        from rbd.mirror import journal
        journal.remove(self.local, image_id)
        rbd.RBD().remove(self.local, name)

    @staticmethod
    def _delta(rctx, prev, point):
        """(image size at `point`, extents [(off, len, exists)]) that make a copy of the
        remote at snapshot `prev` (None: an empty image) equal to it at `point` (None: HEAD)."""
        from rbd import diff as diff_mod
        end_snap = rctx.snap_id if point is None else point
        size = rctx.size_at(end_snap)
        extents = diff_mod.compute(rctx, 0, max(size, rctx.size_at(prev) if prev else 0),
                                   prev, end_snap, False, False)
        return size, [(off, min(off + length, size) - off, exists)
                      for off, length, exists in extents if off < size]

    def _copy_delta(self, remote_img, local_img, point, delta, progress=None) -> None:
        """Apply `delta` (from _delta) to local HEAD, reading the remote at `point`."""
        size, extents = delta
        if local_img._ctx.info.size != size:
            local_img.resize(size)
        if point is not None:
            remote_img.set_snap_by_id(point)
        try:
            for off, length, exists in extents:
                pos, off_end = off, off + length
                while pos < off_end:
                    n = min(COPY_CHUNK, off_end - pos)
                    if exists:
                        self._copy(local_img, remote_img.read(pos, n), pos)
                    else:
                        local_img.discard(pos, n)
                    pos += n
                    if progress is not None:
                        progress.advance(n)
        finally:
            remote_img.set_snap(None)

    @staticmethod
    def _copy_user_snap(rctx, local_img, snap_id) -> None:
        snap = rctx.info.snaps[snap_id]
        if local_img._ctx.info.snap_by_name(snap.name) is None:
            local_img.create_snap(snap.name)
            if snap.protection_status == 2:
                local_img.protect_snap(snap.name)

    def _sync(self, gid, remote_img, local_img, from_snap, to_snap, between, state):
        from rbd.mirror_image_api import create_mirror_snapshot
        lctx = local_img._ctx
        lctx.mirror_bypass = True
        rctx = remote_img._ctx
        points = list(between) + [to_snap]
        prev = from_snap
        if prev is None and lctx.info.size:
            # full sync over existing data (resync onto an image, or a pruned base): start
            # from zeros
            local_img.discard(0, lctx.info.size)
        deltas, base = [], prev
        for point in points:
            deltas.append(self._delta(rctx, base, point))
            base = point
        progress = _Progress(self, gid, from_snap is None, deltas)
        for point, delta in zip(points, deltas):
            self._copy_delta(remote_img, local_img, point, delta, progress)
            if point != to_snap:
                self._copy_user_snap(rctx, local_img, point)
        # local user snapshots created before this point but now protected/unprotected
        extra = {"primary_mirror_uuid": self.remote_mirror_uuid, "primary_snap_id": to_snap,
                 "complete": False, "last_copied_object_number": 0}
        rec = store.get(self.local, "image_" + lctx.id)
        # drop the bootstrap placeholder snapshot(s)
        from rbd.mirror_image_api import remove_snapshot
        for s in mirror_snaps(lctx.info):
            if s.namespace.get("primary_snap_id") == 0 and not s.namespace.get("complete"):
                remove_snapshot(lctx, s.id)
        create_mirror_snapshot(lctx, self.local, rec, state, peer_uuids=[], extra=extra)


    # -- journal mode ----------------------------------------------------------------------------
    def replay_journal_image(self, gid: str, remote_id: str | None):
        from rbd.mirror import journal
        from rbd.mirror.replayer import journal_plan
        status = None
        me = self.local_mirror_uuid
        for _ in range(MAX_STEPS):
            local_id = store.get(self.local, "global_" + gid)
            remote_img = self._open(self.remote, remote_id)
            local_img = self._open(self.local, local_id)
            try:
                rtag = journal.get_tag(self.remote, remote_id) if remote_img else None
                ltag = journal.get_tag(self.local, local_id) if local_img else None
                rec = store.get(self.local, "image_" + local_id) if local_id else None
                committed = journal.committed(self.remote, remote_id, me) if remote_img \
                    else None
                pending = journal.entries(self.remote, remote_id, committed or 0) \
                    if remote_img and committed is not None else []
                status, actions = journal_plan(
                    rtag, remote_img is not None, ltag, local_img is not None,
                    bool(rec and (rec.get("resync_requested") or rec.get("bootstrapping"))),
                    len(pending), committed)
                self._write_status(gid, status)
                if not actions:
                    return status
                kind = actions[0][0]
                if kind == "bootstrap":
                    self._journal_bootstrap(gid, remote_img)
                elif kind == "resync":
                    self._delete_local(gid, local_img)
                    local_img = None
                elif kind == "adopt":
                    journal.set_tag(self.local, local_id, {"owner": self.remote_mirror_uuid,
                                                           "demoted": False})
                    journal.register_client(self.remote, remote_id, me, 0)
                elif kind == "replay":
                    self._journal_replay(remote_id, local_img, pending)
            finally:
                for img in (remote_img, local_img):
                    if img is not None:
                        img.close()
        return status

    def _journal_bootstrap(self, gid, remote_img):
        import rbd
        from rbd.mirror import journal
        rctx = remote_img._ctx
        # register first: events after this point are replayed over the copy. An event is
        # journaled before its write lands, so the newest ones may be missing from the
        # copy: start the replay IN_FLIGHT_NS earlier (replaying an applied write again is
        # harmless, the events after it follow in order)
        newest = journal.last_tid(self.remote, rctx.id)
        journal.commit_and_trim(self.remote, rctx.id, self.local_mirror_uuid,
                                max(0, newest - IN_FLIGHT_NS) if newest else 0)
        r = rbd.RBD()
        r.create(self.local, remote_img.name, rctx.info.size, order=rctx.info.order,
                 features=rctx.info.features & ~(1 << 8))
        with rbd.Image(self.local, remote_img.name) as img:
            ctx = img._ctx
            journal.set_tag(self.local, ctx.id, {"owner": self.remote_mirror_uuid,
                                                 "demoted": False})
            # until the copy is done the image is only a partial one: a replicator killed
            # before then must start the bootstrap over (replay alone would miss data)
            rec = {"mode": 0, "global_id": gid, "state": RBD_MIRROR_IMAGE_ENABLED,
                   "bootstrapping": True}
            store.put(self.local, {"image_" + ctx.id: rec, "global_" + gid: ctx.id})
            ctx.mirror_bypass = True
            # user snapshots first, oldest first, each as a delta over the previous one
            points = [i for i in sorted(rctx.info.snaps)
                      if rctx.info.snaps[i].namespace_type == RBD_SNAP_NAMESPACE_TYPE_USER]
            deltas, base = [], None
            for point in points + [None]:
                deltas.append(self._delta(rctx, base, point))
                base = point
            progress = _Progress(self, gid, True, deltas)
            for point, delta in zip(points + [None], deltas):
                self._copy_delta(remote_img, img, point, delta, progress)
                if point is not None:
                    self._copy_user_snap(rctx, img, point)
            rec.pop("bootstrapping")
            store.put(self.local, {"image_" + ctx.id: rec})

    def _journal_replay(self, remote_id, local_img, pending):
        from rbd.mirror import journal
        ctx = local_img._ctx
        ctx.mirror_bypass = True
        last = None
        committed_at = time.monotonic()
        for tid, ev in pending:
            op = ev.get("op")
            if op == "write":
                data = journal.decode_data(ev)
                if ev["off"] + len(data) > ctx.info.size:
                    data = data[:max(0, ctx.info.size - ev["off"])]
                if data:
                    self._copy(local_img, data, ev["off"])
            elif op in ("discard", "zero"):
                (local_img.discard if op == "discard" else local_img.write_zeroes)(
                    ev["off"], ev["len"])
            elif op == "resize":
                local_img.resize(ev["size"])
            elif op == "snap_create":
                if ctx.info.snap_by_name(ev["name"]) is None:
                    local_img.create_snap(ev["name"])
                    ctx.refresh()
            elif op == "demote":
                tag = journal.get_tag(self.local, ctx.id) or {}
                tag["remote_demoted"] = True
                journal.set_tag(self.local, ctx.id, tag)
            last = tid
            self.stats["entries_replayed"] += 1
            if time.monotonic() - committed_at >= self.commit_age_s:
                journal.commit_and_trim(self.remote, remote_id, self.local_mirror_uuid, last)
                committed_at = time.monotonic()
        if last is not None:
            journal.commit_and_trim(self.remote, remote_id, self.local_mirror_uuid, last)
