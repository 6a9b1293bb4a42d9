"""RBD groups: `rbd_group_directory` (`name_<name>` -> id, `id_<id>` -> name) and
`rbd_group_header.<id>` (`image_<pool>_<image id>` -> {name, pool, state};
`snapshot_<group snap id>` -> {id, name, state, snaps: [[pool, image id, snap id]]}), in the
group's pool and namespace. A member image's header carries `group` = {pool, name, group_id}.

Invariants:
- add_image records the image INCOMPLETE in the group, then links the image, then marks it
  ATTACHED; remove_image reverses it. A failure leaves at most an INCOMPLETE record, which
  list_images shows as such (as Ceph does) and remove_image clears.
- A group snapshot is INCOMPLETE until every member has its GROUP-namespace snapshot; a
  failure removes the member snapshots already taken and the record.
"""
from __future__ import annotations

import errno
import os

from rbd._rados_io import RadosIO, pack, unpack
from rbd.constants import (
    RBD_GROUP_IMAGE_STATE_ATTACHED, RBD_GROUP_IMAGE_STATE_INCOMPLETE,
    RBD_GROUP_SNAP_STATE_COMPLETE, RBD_GROUP_SNAP_STATE_INCOMPLETE, RBD_OPERATION_FEATURE_GROUP,
    RBD_SNAP_NAMESPACE_TYPE_GROUP,
)
from rbd.errors import RbdError

GROUP_DIRECTORY = "rbd_group_directory"
GROUP_HEADER_PREFIX = "rbd_group_header."


def header_oid(group_id: str) -> str:
    return GROUP_HEADER_PREFIX + group_id


def _pf():
    from rbd import pool_features
    return pool_features


def group_id(io, name: str) -> str:
    """The id of group `name`; RbdError(-ENOENT) if there is none."""
    _pf().require_namespace(io)
    vals = _pf()._omap_vals(io, GROUP_DIRECTORY, "name_")
    raw = vals.get("name_" + name)
    if raw is None:
        raise RbdError(-errno.ENOENT, "group %s does not exist" % name)
    return raw.decode()


def group_names(io) -> list[str]:
    _pf().require_namespace(io)
    return sorted(k[5:] for k in _pf()._omap_vals(io, GROUP_DIRECTORY, "name_"))


def create(io, name: str) -> None:
    _pf()._check_name(name, "group")
    _pf().require_namespace(io)
    if name in group_names(io):
        raise RbdError(-errno.EEXIST, "group already exists")
    gid = "%x%s" % (io.gid & 0xffffffff, os.urandom(4).hex())
    reply = io.operate(header_oid(gid), [("create", True)])
    if reply.result < 0:
        raise RbdError(reply.result, "cannot create group header")
    try:
        _pf()._omap_set(io, GROUP_DIRECTORY, {"name_" + name: gid.encode(),
                                              "id_" + gid: name.encode()})
    except BaseException:
        io.remove(header_oid(gid))
        raise


def remove(io, name: str, ioctx) -> None:
    gid = group_id(io, name)
    for snap in list(_snaps(io, gid).values()):
        remove_snap(io, ioctx, name, snap["name"])
    for member in list(_members(io, gid).values()):
        remove_image(io, ioctx, name, member["pool"], member["id"])
    io.remove(header_oid(gid))
    _pf()._omap_rm(io, GROUP_DIRECTORY, ["name_" + name, "id_" + gid])


def rename(io, src: str, dest: str) -> None:
    _pf()._check_name(dest, "group")
    gid = group_id(io, src)
    if dest in group_names(io):
        raise RbdError(-errno.EEXIST, "group already exists")
    _pf()._omap_set(io, GROUP_DIRECTORY, {"name_" + dest: gid.encode(),
                                          "id_" + gid: dest.encode()})
    _pf()._omap_rm(io, GROUP_DIRECTORY, ["name_" + src])
    for member in _members(io, gid).values():      # member headers name the group
        try:
            _link(_image_io(io, member["pool"]), member["id"],
                  {"pool": io.pool, "name": dest, "group_id": gid})
        except RbdError:
            pass


# -- members -------------------------------------------------------------------------------------
def _members(io, gid: str) -> dict[str, dict]:
    return {k: unpack(v) for k, v in _pf()._omap_vals(io, header_oid(gid), "image_").items()}


def _image_io(io, pool: int) -> RadosIO:
    return io.with_pool(pool, io.nspace)


def _link(img_io, image_id: str, group) -> None:
    from rbd.header import header_oid as image_header
    if group is None:
        reply = img_io.operate(image_header(image_id), [("omap_rm_keys", ["group"])])
    else:
        reply = img_io.operate(image_header(image_id), [("omap_set", {"group": pack(group)})])
    if reply.result < 0:
        raise RbdError(reply.result, "cannot update image group link")
    # as cls_rbd's image_group_add/remove: a member carries the GROUP operation feature,
    # so that clients which do not know groups refuse to change it
    img_io.call(image_header(image_id), "set_op_features",
                {"op_features": 0 if group is None else RBD_OPERATION_FEATURE_GROUP,
                 "mask": RBD_OPERATION_FEATURE_GROUP})


def add_image(io, name: str, img_io, image_name: str) -> None:
    from rbd.header import get_image_id, get_image_info
    gid = group_id(io, name)
    if img_io.nspace != io.nspace:
        raise RbdError(-errno.EINVAL, "image and group must share a namespace")
    image_id = get_image_id(img_io, image_name)
    info = get_image_info(img_io, image_id)
    if info.group:
        raise RbdError(-errno.EEXIST, "image is already in a group")
    key = "image_%d_%s" % (img_io.pool, image_id)
    rec = {"name": image_name, "pool": img_io.pool, "id": image_id,
           "state": RBD_GROUP_IMAGE_STATE_INCOMPLETE}
    _pf()._omap_set(io, header_oid(gid), {key: pack(rec)})
    _link(img_io, image_id, {"pool": io.pool, "name": name, "group_id": gid})
    rec["state"] = RBD_GROUP_IMAGE_STATE_ATTACHED
    _pf()._omap_set(io, header_oid(gid), {key: pack(rec)})


def remove_image(io, ioctx, name: str, pool: int, image_id: str) -> None:
    gid = group_id(io, name)
    key = "image_%d_%s" % (pool, image_id)
    if key not in _members(io, gid):
        raise RbdError(-errno.ENOENT, "image is not in the group")
    try:
        _link(_image_io(io, pool), image_id, None)
    except RbdError as exc:
        if exc.ret != -errno.ENOENT:
            raise
    _pf()._omap_rm(io, header_oid(gid), [key])


def list_images(io, name: str) -> list[dict]:
    from rbd.header import dir_get_name
    gid = group_id(io, name)
    out = []
    for rec in _members(io, gid).values():
        try:
            image_name = dir_get_name(_image_io(io, rec["pool"]), rec["id"])
        except RbdError:
            image_name = rec["name"]
        out.append({"name": image_name, "pool": rec["pool"], "state": rec["state"]})
    out.sort(key=lambda e: (e["pool"], e["name"]))
    return out


# -- snapshots -----------------------------------------------------------------------------------
def _snaps(io, gid: str) -> dict[str, dict]:
    return {k: unpack(v) for k, v in _pf()._omap_vals(io, header_oid(gid), "snapshot_").items()}


def _snap_by_name(io, gid: str, snap_name: str) -> tuple[str, dict]:
    for key, snap in _snaps(io, gid).items():
        if snap["name"] == snap_name:
            return key, snap
    raise RbdError(-errno.ENOENT, "group snapshot %s does not exist" % snap_name)


def _open(ioctx, pool: int, image_id: str):
    """An open rbd.Image for a member (same namespace as the group's ioctx)."""
    from rbd.image import Image
    if pool == ioctx.get_pool_id():
        member_ioctx = ioctx
    else:
        member_ioctx = ioctx.rados.open_ioctx2(pool)
        member_ioctx.set_namespace(ioctx.get_namespace())
    return Image(member_ioctx, image_id=image_id)


def _member_snap_name(pool: int, gid: str, snap_id: str) -> str:
    return ".group.%d_%s_%s" % (pool, gid, snap_id)


def create_snap(io, ioctx, name: str, snap_name: str) -> None:
    from rbd import snapshots
    _pf()._check_name(snap_name, "snapshot")
    gid = group_id(io, name)
    if any(s["name"] == snap_name for s in _snaps(io, gid).values()):
        raise RbdError(-errno.EEXIST, "group snapshot exists")
    snap_id = os.urandom(6).hex()
    key = "snapshot_" + snap_id
    rec = {"id": snap_id, "name": snap_name, "state": RBD_GROUP_SNAP_STATE_INCOMPLETE,
           "snaps": []}
    _pf()._omap_set(io, header_oid(gid), {key: pack(rec)})
    taken = []
    try:
        for member in _members(io, gid).values():
            img = _open(ioctx, member["pool"], member["id"])
            try:
                ns = {"type": RBD_SNAP_NAMESPACE_TYPE_GROUP, "pool": io.pool, "group_id": gid,
                      "group_snap_id": snap_id, "group_name": name, "group_snap_name": snap_name}
                image_snap_id = snapshots.create(
                    img._enter(), _member_snap_name(io.pool, gid, snap_id), ns)
            finally:
                img.close()
            taken.append([member["pool"], member["id"], image_snap_id])
    except BaseException:
        for pool, image_id, image_snap_id in taken:
            try:
                _remove_member_snap(ioctx, pool, image_id, image_snap_id)
            except Exception:
                pass
        _pf()._omap_rm(io, header_oid(gid), [key])
        raise
    rec.update(state=RBD_GROUP_SNAP_STATE_COMPLETE, snaps=taken)
    _pf()._omap_set(io, header_oid(gid), {key: pack(rec)})


def _remove_member_snap(ioctx, pool: int, image_id: str, image_snap_id: int) -> None:
    from rbd import snapshots
    img = _open(ioctx, pool, image_id)
    try:
        ctx = img._enter()
        if image_snap_id in ctx.info.snaps:
            snapshots.remove(ctx, image_snap_id)
    finally:
        img.close()


def remove_snap(io, ioctx, name: str, snap_name: str) -> None:
    gid = group_id(io, name)
    key, snap = _snap_by_name(io, gid, snap_name)
    for pool, image_id, image_snap_id in snap["snaps"]:
        try:
            _remove_member_snap(ioctx, pool, image_id, image_snap_id)
        except RbdError as exc:
            if exc.ret != -errno.ENOENT:
                raise
    _pf()._omap_rm(io, header_oid(gid), [key])


def rename_snap(io, name: str, src: str, dest: str) -> None:
    _pf()._check_name(dest, "snapshot")
    gid = group_id(io, name)
    key, snap = _snap_by_name(io, gid, src)
    if any(s["name"] == dest for s in _snaps(io, gid).values()):
        raise RbdError(-errno.EEXIST, "group snapshot exists")
    snap["name"] = dest
    _pf()._omap_set(io, header_oid(gid), {key: pack(snap)})


def list_snaps(io, name: str) -> list[dict]:
    gid = group_id(io, name)
    return sorted(({"name": s["name"], "state": s["state"], "id": s["id"]}
                   for s in _snaps(io, gid).values()), key=lambda s: s["name"])


def rollback_snap(io, ioctx, name: str, snap_name: str) -> None:
    from rbd import snapshots
    gid = group_id(io, name)
    _, snap = _snap_by_name(io, gid, snap_name)
    if snap["state"] != RBD_GROUP_SNAP_STATE_COMPLETE:
        raise RbdError(-errno.EINVAL, "group snapshot is incomplete")
    members = {(m["pool"], m["id"]) for m in _members(io, gid).values()}
    if members != {(p, i) for p, i, _ in snap["snaps"]}:
        raise RbdError(-errno.EINVAL, "group membership changed since the snapshot")
    for pool, image_id, image_snap_id in snap["snaps"]:
        img = _open(ioctx, pool, image_id)
        try:
            ctx = img._enter()
            snapshots.rollback(ctx, ctx.info.snaps[image_snap_id].name, snap_id=image_snap_id)
        finally:
            img.close()
