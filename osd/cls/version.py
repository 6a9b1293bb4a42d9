"""cls_version: an object version (ver, tag) kept beside the data, as Ceph's cls_version.

Stored in xattr `ceph.objclass.version` as msgpack {'ver': int, 'tag': str}. A missing
xattr reads as {'ver': 0, 'tag': ''}.

Conditions (`conds`: [{'ver': int, 'tag': str, 'cond': int}], all must hold):
VER_COND_NONE 0 (always), EQ 1 (object ver == ver), GT 2 (object ver > ver),
GE 3 (>=), LT 4 (<), LE 5 (<=), TAG_EQ 6 (object tag == tag), TAG_NE 7 (!=).

Methods (msgpack arguments):
- set (WR) {'objv': {'ver', 'tag'}}: store it as is.
- inc (RD|WR) {'conds': [...]} (optional): -ECANCELED if a condition fails; else ver + 1.
  A version without a tag first gets one derived from the object and request (so every
  replica stores the same one), starting from ver 0.
- read (RD) {} -> {'ver', 'tag'}.
- check_conds (RD) {'conds': [...]}: -ECANCELED if a condition fails.
"""
from __future__ import annotations

import errno
import hashlib

from osd.cls import RD, WR, ClsContext, ClsError, pack, register, unpack

VERSION_ATTR = "ceph.objclass.version"

VER_COND_NONE = 0
VER_COND_EQ = 1
VER_COND_GT = 2
VER_COND_GE = 3
VER_COND_LT = 4
VER_COND_LE = 5
VER_COND_TAG_EQ = 6
VER_COND_TAG_NE = 7

TAG_LEN = 24


def _args(indata: bytes) -> dict:
    return unpack(indata, dict) if indata else {}


def _objv(value) -> tuple[int, str]:
    if not isinstance(value, dict):
        raise ClsError(errno.EINVAL, "objv must be {'ver', 'tag'}")
    ver, tag = value.get("ver", 0), value.get("tag", "")
    if type(ver) is not int or ver < 0 or type(tag) is not str:
        raise ClsError(errno.EINVAL, "objv must be {'ver': int, 'tag': str}")
    return ver, tag


def _read(ctx: ClsContext) -> tuple[int, str]:
    try:
        raw = ctx.getxattr(VERSION_ATTR)
    except ClsError as exc:
        if exc.errno in (errno.ENODATA, errno.ENOENT):
            return 0, ""
        raise
    try:
        return _objv(unpack(raw, dict))
    except ClsError:
        raise ClsError(errno.EIO, "corrupt object version") from None


def _write(ctx: ClsContext, ver: int, tag: str) -> None:
    ctx.setxattr(VERSION_ATTR, pack({"ver": ver, "tag": tag}))


def _check(conds, ver: int, tag: str) -> bool:
    if conds is None:
        return True
    if not isinstance(conds, list):
        raise ClsError(errno.EINVAL, "conds must be a list")
    for cond in conds:
        if not isinstance(cond, dict):
            raise ClsError(errno.EINVAL, "a cond is {'ver', 'tag', 'cond'}")
        want_ver, want_tag = _objv(cond)
        kind = cond.get("cond", VER_COND_NONE)
        if kind == VER_COND_NONE:
            ok = True
        elif kind == VER_COND_EQ:
            ok = ver == want_ver
        elif kind == VER_COND_GT:
            ok = ver > want_ver
        elif kind == VER_COND_GE:
            ok = ver >= want_ver
        elif kind == VER_COND_LT:
            ok = ver < want_ver
        elif kind == VER_COND_LE:
            ok = ver <= want_ver
        elif kind == VER_COND_TAG_EQ:
            ok = tag == want_tag
        elif kind == VER_COND_TAG_NE:
            ok = tag != want_tag
        else:
            raise ClsError(errno.EINVAL, f"unknown condition {kind!r}")
        if not ok:
            return False
    return True


@register("version", "set", WR)
def version_set(ctx: ClsContext, indata: bytes) -> None:
    ver, tag = _objv(_args(indata).get("objv"))
    _write(ctx, ver, tag)


@register("version", "inc", RD | WR)
def version_inc(ctx: ClsContext, indata: bytes) -> None:
    args = _args(indata)
    ver, tag = _read(ctx)
    if not _check(args.get("conds"), ver, tag):
        raise ClsError(errno.ECANCELED)
    if not tag:
        # Ceph draws a random tag; ours is derived from the request so it is reproducible.
        seed = repr((ctx.pool(), ctx.nspace(), ctx.oid(), ctx.reqid(), ctx.now())).encode()
        tag, ver = hashlib.sha1(seed).hexdigest()[:TAG_LEN], 0
    _write(ctx, ver + 1, tag)


@register("version", "read", RD)
def version_read(ctx: ClsContext, indata: bytes) -> bytes:
    ver, tag = _read(ctx)
    return pack({"ver": ver, "tag": tag})


@register("version", "check_conds", RD)
def version_check_conds(ctx: ClsContext, indata: bytes) -> None:
    ver, tag = _read(ctx)
    if not _check(_args(indata).get("conds"), ver, tag):
        raise ClsError(errno.ECANCELED)
