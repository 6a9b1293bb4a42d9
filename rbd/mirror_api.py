"""Mirroring entry points of rbd.RBD (PoolMirrorMixin) and rbd.Image (ImageMirrorMixin).

Pool state lives in the pool's `rbd_mirroring` omap (rbd/mirror/store.py); per-image
primary-ness in snapshot mode is the state of the newest MIRROR-namespace snapshot
(rbd/mirror/image_state.py); in journal mode it is the image journal's tag
(rbd/mirror/journal.py). Encryption is not implemented (FunctionNotSupported, ENOSYS).
Errors follow spec 4.3 / librbd's api/Mirror.cc.
"""
from __future__ import annotations

import base64
import binascii
import errno
import json
import uuid as uuidlib
from datetime import datetime, timezone

from rbd.completion import Completion
from rbd.constants import (
    MIRROR_IMAGE_STATUS_STATE_ERROR, MIRROR_IMAGE_STATUS_STATE_REPLAYING,
    MIRROR_IMAGE_STATUS_STATE_STOPPED, MIRROR_IMAGE_STATUS_STATE_UNKNOWN,
    RBD_MIRROR_IMAGE_DISABLED, RBD_MIRROR_IMAGE_ENABLED, RBD_MIRROR_IMAGE_MODE_JOURNAL,
    RBD_MIRROR_IMAGE_MODE_SNAPSHOT, RBD_MIRROR_MODE_DISABLED, RBD_MIRROR_MODE_IMAGE,
    RBD_MIRROR_MODE_INIT_ONLY, RBD_MIRROR_MODE_POOL, RBD_MIRROR_PEER_DIRECTION_RX,
    RBD_MIRROR_PEER_DIRECTION_RX_TX, RBD_MIRROR_PEER_DIRECTION_TX,
    RBD_SNAP_MIRROR_STATE_NON_PRIMARY, RBD_SNAP_MIRROR_STATE_NON_PRIMARY_DEMOTED,
    RBD_SNAP_MIRROR_STATE_PRIMARY, RBD_SNAP_MIRROR_STATE_PRIMARY_DEMOTED,
    RBD_SNAP_NAMESPACE_TYPE_MIRROR,
)
from rbd.errors import FunctionNotSupported, InvalidArgument, RbdError, cstr, decode_cstr, make_ex
from rbd.mirror import store
from rbd.mirror.image_state import is_primary, mirror_snaps, primary_snap_name

MAX_MIRRORING_SNAPSHOTS = 5
PEER_CLIENT_ID = "rbd-mirror-peer"


def _unsupported(feature: str):
    raise FunctionNotSupported("%s is not supported yet" % feature, errno=errno.ENOSYS)


def _raise(ret: int, msg: str):
    raise make_ex(ret, msg)


def _wrap(msg):
    from rbd.image import _errors
    return _errors(msg)


def _dt(ts):
    return datetime.fromtimestamp(float(ts), timezone.utc).replace(tzinfo=None)


# -- iterators (spec 1A.7) ---------------------------------------------------------------------
class _ListIterator:
    def __init__(self, items):
        self._items = list(items)

    def __iter__(self):
        return iter(self._items)


class MirrorPeerIterator(_ListIterator):
    """{'uuid','direction','site_name','cluster_name','mirror_uuid','client_name'}"""


class MirrorImageStatusIterator(_ListIterator):
    """Like Image.mirror_image_get_status() without info['primary']."""


class MirrorImageInstanceIdIterator(_ListIterator):
    """(image_id, instance_id)"""


class MirrorImageInfoIterator(_ListIterator):
    """(image_id, {'mode','global_id','state','primary'})"""


# -- shared helpers ----------------------------------------------------------------------------
def pool_mode(ioctx) -> int:
    return int(store.get(ioctx, "mirror_mode", RBD_MIRROR_MODE_DISABLED))


def peers(ioctx) -> list[dict]:
    return [v for k, v in sorted(store.get_all(ioctx, "mirror_peer_").items())]


def status_up(ioctx, status: dict) -> bool:
    """A status is up while the instance that wrote it still watches rbd_mirroring."""
    inst = str(status.get("instance_id", ""))
    if not inst:
        return False
    try:
        watchers = ioctx.list_watchers(store.RBD_MIRRORING)
    except Exception:
        return False
    return any(str(w.get("name", "")).rsplit(".", 1)[-1] == inst for w in watchers)


def _status_dict(ioctx, status: dict) -> dict:
    up = status_up(ioctx, status)
    state = int(status.get("state", MIRROR_IMAGE_STATUS_STATE_UNKNOWN))
    return {"state": state if up else MIRROR_IMAGE_STATUS_STATE_UNKNOWN,
            "description": status.get("description", ""),
            "last_update": _dt(status.get("last_update", 0)), "up": up}


def image_status(ioctx, image_id: str, name: str, record: dict, primary) -> dict:
    gid = record["global_id"]
    info = {"global_id": gid, "state": record.get("state", RBD_MIRROR_IMAGE_ENABLED)}
    if primary is not None:
        info["primary"] = primary
    out = {"name": name, "id": image_id, "info": info}
    local = store.get(ioctx, "status_global_" + gid)
    if local is not None:
        out.update(_status_dict(ioctx, local))
    remotes = []
    prefix = "remote_status_global_%s_" % gid
    for key, st in sorted(store.get_all(ioctx, prefix).items()):
        d = _status_dict(ioctx, st)
        d["mirror_uuid"] = key[len(prefix):]
        remotes.append({k: d[k] for k in ("mirror_uuid", "state", "description",
                                          "last_update", "up")})
    out["remote_statuses"] = remotes
    return out


def _site_name(cluster) -> str:
    name = store.config_key_get(cluster, store.SITE_NAME_KEY)
    return name if name else cluster.get_fsid()


def _conffile_of(cluster) -> str:
    conf = getattr(cluster, "conf", None) or getattr(cluster, "_conf", None)
    files = list(getattr(conf, "source_files", None) or [])
    return files[0] if files else ""


def _check_peer_uuid(ioctx, uuid):
    uuid = decode_cstr(cstr(uuid, "uuid"))
    rec = store.get(ioctx, "mirror_peer_" + uuid)
    if rec is None:
        _raise(-errno.ENOENT, "mirror peer %s not found" % uuid)
    return uuid, rec


class PoolMirrorMixin:
    # -- site name (cluster wide) --------------------------------------------------------------
    def mirror_site_name_get(self, rados):
        with _wrap("error getting site name"):
            return _site_name(rados)

    def mirror_site_name_set(self, rados, site_name):
        site_name = decode_cstr(cstr(site_name, "site_name"))
        with _wrap("error setting site name"):
            store.config_key_set(rados, store.SITE_NAME_KEY, site_name or None)

    # -- pool mode -----------------------------------------------------------------------------
    def mirror_mode_get(self, ioctx):
        with _wrap("error getting mirror mode"):
            return pool_mode(ioctx)

    def mirror_mode_set(self, ioctx, mirror_mode):
        if not isinstance(mirror_mode, int) or mirror_mode not in (
                RBD_MIRROR_MODE_DISABLED, RBD_MIRROR_MODE_IMAGE, RBD_MIRROR_MODE_POOL,
                RBD_MIRROR_MODE_INIT_ONLY):
            raise InvalidArgument("error setting mirror mode: invalid mirror mode")
        with _wrap("error setting mirror mode"):
            current = pool_mode(ioctx)
            if mirror_mode == current:
                return
            images = store.get_all(ioctx, "image_")
            if mirror_mode == RBD_MIRROR_MODE_DISABLED:
                if images:
                    raise RbdError(-errno.EINVAL, "mirroring is enabled on one or more images")
                if store.get_all(ioctx, "mirror_peer_"):
                    raise RbdError(-errno.EBUSY, "mirror peers still registered")
                store.remove_object(ioctx)
                return
            if current == RBD_MIRROR_MODE_POOL and mirror_mode == RBD_MIRROR_MODE_IMAGE:
                pass
            if mirror_mode == RBD_MIRROR_MODE_POOL and any(
                    r.get("mode") == RBD_MIRROR_IMAGE_MODE_SNAPSHOT for r in images.values()):
                raise RbdError(-errno.EINVAL, "snapshot-based mirroring enabled on images")
            items = {"mirror_mode": mirror_mode}
            if store.get(ioctx, "mirror_uuid") is None:
                items["mirror_uuid"] = str(uuidlib.uuid4())
            store.put(ioctx, items)

    def mirror_uuid_get(self, ioctx):
        with _wrap("error retrieving mirror uuid"):
            value = store.get(ioctx, "mirror_uuid")
            if value is None:
                raise RbdError(-errno.ENOENT, "mirroring is not enabled")
            return value

    # -- peers ---------------------------------------------------------------------------------
    def mirror_peer_bootstrap_create(self, ioctx):
        with _wrap("error creating bootstrap token"):
            if pool_mode(ioctx) == RBD_MIRROR_MODE_DISABLED:
                store.put(ioctx, {"mirror_mode": RBD_MIRROR_MODE_IMAGE,
                                  "mirror_uuid": str(uuidlib.uuid4())})
            cluster = ioctx.rados
            conf = getattr(cluster, "conf_get", None)
            token = {"fsid": cluster.get_fsid(), "client_id": PEER_CLIENT_ID,
                     "key": base64.b64encode(uuidlib.uuid4().bytes).decode(),
                     # rayceph: how our client reaches this cluster (conf path | name@address)
                     "mon_host": _conffile_of(cluster) or "%s@%s" % (
                         conf("rayceph_cluster_name") if conf else "ceph",
                         conf("rayceph_ray_address") if conf else "local")}
            return base64.b64encode(json.dumps(token).encode()).decode()

    def mirror_peer_bootstrap_import(self, ioctx, direction, token):
        token = decode_cstr(cstr(token, "token"))
        if direction not in (RBD_MIRROR_PEER_DIRECTION_RX, RBD_MIRROR_PEER_DIRECTION_RX_TX):
            raise InvalidArgument("error importing bootstrap token: invalid direction")
        try:
            doc = json.loads(base64.b64decode(token.encode(), validate=True).decode())
            if not isinstance(doc, dict) or not all(
                    isinstance(doc.get(k), str) and doc.get(k)
                    for k in ("fsid", "client_id", "key", "mon_host")):
                raise ValueError("missing field")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise InvalidArgument("error importing bootstrap token: "
                                  "failed to decode peer bootstrap token") from None
        with _wrap("error importing bootstrap token"):
            local = ioctx.rados
            if doc["fsid"] == local.get_fsid():
                raise RbdError(-errno.EINVAL, "cannot import token for local cluster")
            from rbd.mirror.runner import connect_peer
            remote = connect_peer(doc["mon_host"])
            try:
                remote_site = _site_name(remote)
                local_site = _site_name(local)
                with remote.open_ioctx(ioctx.get_pool_name()) as rio:
                    if pool_mode(rio) == RBD_MIRROR_MODE_DISABLED:
                        self.mirror_mode_set(rio, RBD_MIRROR_MODE_IMAGE)
                    if direction == RBD_MIRROR_PEER_DIRECTION_RX_TX and not any(
                            p.get("site_name") == local_site for p in peers(rio)):
                        ruuid = self.mirror_peer_add(rio, local_site,
                                                     "client." + PEER_CLIENT_ID, direction)
                        self.mirror_peer_set_attributes(rio, ruuid, {
                            "mon_host": _conffile_of(local) or local_site, "key": doc["key"]})
            finally:
                remote.shutdown()
            if pool_mode(ioctx) == RBD_MIRROR_MODE_DISABLED:
                self.mirror_mode_set(ioctx, RBD_MIRROR_MODE_IMAGE)
            existing = [p for p in peers(ioctx) if p.get("site_name") == remote_site]
            if existing:
                puuid = existing[0]["uuid"]
            else:
                puuid = self.mirror_peer_add(ioctx, remote_site, "client." + doc["client_id"],
                                             direction)
            self.mirror_peer_set_attributes(ioctx, puuid, {"mon_host": doc["mon_host"],
                                                           "key": doc["key"]})

    def mirror_peer_add(self, ioctx, site_name, client_name,
                        direction=RBD_MIRROR_PEER_DIRECTION_RX_TX):
        site_name = decode_cstr(cstr(site_name, "site_name"))
        client_name = decode_cstr(cstr(client_name, "client_name"))
        with _wrap("error adding mirror peer"):
            if direction == RBD_MIRROR_PEER_DIRECTION_TX or direction not in (
                    RBD_MIRROR_PEER_DIRECTION_RX, RBD_MIRROR_PEER_DIRECTION_RX_TX):
                raise RbdError(-errno.EINVAL, "invalid peer direction")
            if pool_mode(ioctx) == RBD_MIRROR_MODE_DISABLED:
                raise RbdError(-errno.EINVAL, "mirroring is not enabled")
            if not site_name or site_name == _site_name(ioctx.rados):
                raise RbdError(-errno.EINVAL, "invalid site name")
            if any(p.get("site_name") == site_name for p in peers(ioctx)):
                raise RbdError(-errno.EEXIST, "peer site name already exists")
            puuid = str(uuidlib.uuid4())
            store.put(ioctx, {"mirror_peer_" + puuid: {
                "uuid": puuid, "direction": direction, "site_name": site_name,
                "mirror_uuid": "", "client_name": client_name, "last_seen": 0}})
            return puuid

    def mirror_peer_remove(self, ioctx, uuid):
        uuid = decode_cstr(cstr(uuid, "uuid"))
        with _wrap("error removing mirror peer"):
            store.put(ioctx, {}, remove=("mirror_peer_" + uuid,))
            try:
                store.config_key_set(ioctx.rados, store.peer_attr_key(ioctx, uuid), None)
            except RbdError:
                pass

    def mirror_peer_list(self, ioctx):
        with _wrap("error listing peers"):
            return MirrorPeerIterator(
                {"uuid": p["uuid"], "direction": p["direction"], "site_name": p["site_name"],
                 "cluster_name": p["site_name"], "mirror_uuid": p.get("mirror_uuid", ""),
                 "client_name": p["client_name"]} for p in peers(ioctx))

    def _peer_update(self, ioctx, uuid, what, **changes):
        with _wrap("error setting mirror peer %s" % what):
            uuid, rec = _check_peer_uuid(ioctx, uuid)
            if "site_name" in changes and any(
                    p["site_name"] == changes["site_name"] and p["uuid"] != uuid
                    for p in peers(ioctx)):
                raise RbdError(-errno.EEXIST, "peer site name already exists")
            rec.update(changes)
            store.put(ioctx, {"mirror_peer_" + uuid: rec})

    def mirror_peer_set_client(self, ioctx, uuid, client_name):
        client_name = decode_cstr(cstr(client_name, "client_name"))
        self._peer_update(ioctx, uuid, "client", client_name=client_name)

    def mirror_peer_set_name(self, ioctx, uuid, site_name):
        site_name = decode_cstr(cstr(site_name, "site_name"))
        self._peer_update(ioctx, uuid, "site name", site_name=site_name)

    def mirror_peer_set_cluster(self, ioctx, uuid, cluster_name):
        self.mirror_peer_set_name(ioctx, uuid, cluster_name)

    def mirror_peer_get_attributes(self, ioctx, uuid):
        with _wrap("error getting mirror peer attributes"):
            uuid, _ = _check_peer_uuid(ioctx, uuid)
            raw = store.config_key_get(ioctx.rados, store.peer_attr_key(ioctx, uuid))
            if raw is None:
                raise RbdError(-errno.ENOENT, "no attributes")
            return json.loads(raw)

    def mirror_peer_set_attributes(self, ioctx, uuid, attributes):
        if not isinstance(attributes, dict):
            raise TypeError("attributes must be a dict")
        with _wrap("error setting mirror peer attributes"):
            uuid, _ = _check_peer_uuid(ioctx, uuid)
            attrs = {decode_cstr(cstr(k, "key")): decode_cstr(cstr(v, "value"))
                     for k, v in attributes.items()}
            if set(attrs) - {"mon_host", "key"}:
                raise RbdError(-errno.EINVAL, "unknown peer attribute")
            store.config_key_set(ioctx.rados, store.peer_attr_key(ioctx, uuid),
                                 json.dumps(attrs))

    # -- image statuses ------------------------------------------------------------------------
    def _mirrored_images(self, ioctx):
        from rbd.header import dir_get_name
        out = []
        for key, rec in sorted(store.get_all(ioctx, "image_").items()):
            image_id = key[len("image_"):]
            try:
                name = dir_get_name(RadosIOFor(ioctx), image_id)
            except RbdError:
                name = ""
            out.append((image_id, name, rec))
        return out

    def mirror_image_status_list(self, ioctx):
        with _wrap("error listing mirror image status"):
            return MirrorImageStatusIterator(
                image_status(ioctx, image_id, name, rec, None)
                for image_id, name, rec in self._mirrored_images(ioctx))

    def mirror_image_status_summary(self, ioctx):
        with _wrap("error getting mirror image status summary"):
            counts: dict[int, int] = {}
            for image_id, name, rec in self._mirrored_images(ioctx):
                st = image_status(ioctx, image_id, name, rec, None)
                states = [st["state"]] if "state" in st else []
                states += [r["state"] for r in st["remote_statuses"]]
                if not states:
                    state = MIRROR_IMAGE_STATUS_STATE_UNKNOWN
                elif MIRROR_IMAGE_STATUS_STATE_ERROR in states:
                    state = MIRROR_IMAGE_STATUS_STATE_ERROR
                else:
                    state = min(states, key=lambda s: (s != MIRROR_IMAGE_STATUS_STATE_UNKNOWN,
                                                       s))
                counts[state] = counts.get(state, 0) + 1
            return sorted(counts.items())

    def mirror_image_instance_id_list(self, ioctx):
        with _wrap("error listing mirror image instance ids"):
            out = []
            for image_id, name, rec in self._mirrored_images(ioctx):
                st = store.get(ioctx, "status_global_" + rec["global_id"])
                if st is not None and status_up(ioctx, st):
                    out.append((image_id, str(st["instance_id"])))
            return MirrorImageInstanceIdIterator(out)

    def mirror_image_info_list(self, ioctx, mode_filter=None):
        from rbd.image import Image
        with _wrap("error listing mirror image info"):
            out = []
            for image_id, name, rec in self._mirrored_images(ioctx):
                if mode_filter is not None and rec["mode"] != mode_filter:
                    continue
                try:
                    with Image(ioctx, image_id=image_id, read_only=True) as img:
                        primary = image_is_primary(ioctx, img._ctx, rec)
                except Exception:
                    primary = False
                out.append((image_id, {"mode": rec["mode"], "global_id": rec["global_id"],
                                       "state": rec["state"], "primary": primary}))
            return MirrorImageInfoIterator(out)


def RadosIOFor(ioctx):
    from rbd._rados_io import RadosIO
    return RadosIO(ioctx)


# -- image level -------------------------------------------------------------------------------
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
                return {"name": self.name, "id": ctx.id,
                        "info": {"global_id": "", "state": RBD_MIRROR_IMAGE_DISABLED,
                                 "primary": False}, "remote_statuses": []}
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
