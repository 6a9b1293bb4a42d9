"""The pool's `rbd_mirroring` omap object (spec 4.2) and the mon config-keys of mirroring.

Values are JSON. Keys: mirror_mode, mirror_uuid, mirror_peer_<uuid>, image_<image id>,
global_<global id>, status_global_<global id>, remote_status_global_<global id>_<uuid>,
instance_<id>, image_map_<global id>. All calls take a connected rados.Ioctx and raise
RbdError on failure.
"""
from __future__ import annotations

import errno
import json

from rbd.errors import RbdError

RBD_MIRRORING = "rbd_mirroring"
SITE_NAME_KEY = "rbd/mirror/site_name"


def _err(exc, what):
    err = getattr(exc, "errno", None) or errno.EIO
    return RbdError(-abs(int(err)), "%s: %s" % (what, exc))


def get_all(ioctx, prefix: str = "") -> dict:
    import rados
    out = {}
    start = ""
    while True:
        try:
            with rados.ReadOpCtx() as op:
                it, _ = ioctx.get_omap_vals(op, start, prefix, 1024)
                ioctx.operate_read_op(op, RBD_MIRRORING)
                page = [(k, v) for k, v in it]
        except rados.ObjectNotFound:
            return out
        except rados.Error as exc:
            raise _err(exc, "cannot read rbd_mirroring") from None
        for k, v in page:
            out[k] = json.loads(v.decode() if isinstance(v, bytes) else v)
        if len(page) < 1024:
            return out
        start = page[-1][0]


def get(ioctx, key: str, default=None):
    import rados
    try:
        with rados.ReadOpCtx() as op:
            it, _ = ioctx.get_omap_vals_by_keys(op, (key,))
            ioctx.operate_read_op(op, RBD_MIRRORING)
            vals = dict(it)
    except rados.ObjectNotFound:
        return default
    except rados.Error as exc:
        raise _err(exc, "cannot read rbd_mirroring") from None
    raw = vals.get(key)
    if raw is None:
        return default
    return json.loads(raw.decode() if isinstance(raw, bytes) else raw)


def put(ioctx, items: dict, remove=()) -> None:
    import rados
    try:
        with rados.WriteOpCtx() as op:
            if items:
                keys = tuple(items)
                ioctx.set_omap(op, keys, tuple(json.dumps(items[k]).encode() for k in keys))
            if remove:
                ioctx.remove_omap_keys(op, tuple(remove))
            ioctx.operate_write_op(op, RBD_MIRRORING)
    except rados.Error as exc:
        raise _err(exc, "cannot update rbd_mirroring") from None


def remove_object(ioctx) -> None:
    import rados
    try:
        ioctx.remove_object(RBD_MIRRORING)
    except rados.ObjectNotFound:
        pass


# -- mon config-keys ---------------------------------------------------------------------------
def config_key_get(cluster, key: str):
    ret, out, _ = cluster.mon_command(json.dumps({"prefix": "config-key get", "key": key}), b"")
    if ret == -errno.ENOENT:
        return None
    if ret < 0:
        raise RbdError(ret, "config-key get %s failed" % key)
    return out.decode() if isinstance(out, bytes) else out


def config_key_set(cluster, key: str, value: str | None) -> None:
    if value is None:
        cmd = {"prefix": "config-key rm", "key": key}
    else:
        cmd = {"prefix": "config-key set", "key": key, "val": value}
    ret, _, err = cluster.mon_command(json.dumps(cmd), b"")
    if ret < 0:
        raise RbdError(ret, "config-key %s failed: %s" % (key, err))


def peer_attr_key(ioctx, peer_uuid: str) -> str:
    return "rbd/mirror/peer/%d/%s" % (ioctx.get_pool_id(), peer_uuid)
