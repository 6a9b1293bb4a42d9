"""Mirroring entry points of rbd.RBD (PoolMirrorMixin); rbd.Image's (ImageMirrorMixin) are in
rbd/mirror_image_api.py, re-exported here.

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

from rbd.constants import (
    MIRROR_IMAGE_STATUS_STATE_ERROR, MIRROR_IMAGE_STATUS_STATE_UNKNOWN,
    RBD_MIRROR_IMAGE_ENABLED, RBD_MIRROR_IMAGE_MODE_SNAPSHOT, RBD_MIRROR_MODE_DISABLED,
    RBD_MIRROR_MODE_IMAGE, RBD_MIRROR_MODE_INIT_ONLY, RBD_MIRROR_MODE_POOL,
    RBD_MIRROR_PEER_DIRECTION_RX, RBD_MIRROR_PEER_DIRECTION_RX_TX, RBD_MIRROR_PEER_DIRECTION_TX,
)
from rbd.errors import FunctionNotSupported, InvalidArgument, RbdError, cstr, decode_cstr, make_ex
from rbd.mirror import store

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
    else:
        # librbd stands in a local site status when no rbd-mirror daemon ever reported one
        # (`rbd mirror image status` then shows "down+unknown", "status not found").
        out.update({"state": MIRROR_IMAGE_STATUS_STATE_UNKNOWN,
                    "description": "status not found", "last_update": _dt(0), "up": False})
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
        from rbd.mirror_image_api import image_is_primary
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


# The image half lives in rbd/mirror_image_api.py, which imports this module: resolve its
# names on first use so that importing either module first works.
_IMAGE_HALF = ("ImageMirrorMixin", "create_mirror_snapshot", "update_mirror_snapshot",
               "remove_snapshot", "prune_primary_snapshots", "disable_for_remove",
               "image_is_primary")


def __getattr__(name):
    if name in _IMAGE_HALF:
        from rbd import mirror_image_api
        return getattr(mirror_image_api, name)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
