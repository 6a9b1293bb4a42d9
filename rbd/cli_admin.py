"""`rbd` per-image administration: status, watch, image-meta, feature, lock, object-map,
sparsify, and `pool init`."""
from __future__ import annotations

import sys

import rbd

from rbd.cli_common import (
    _Fail, _Usage, _emit, _errno_of, _features_bits, _json, _open, _progress, _strerror,
    _table,
)


def cmd_status(ctx, w):
    io, img, name, _ = _open(ctx, w[0] if w else None, read_only=True)
    with img:
        watchers = list(img.watchers_list()) if hasattr(img, "watchers_list") else []
    if _json(ctx.opts):
        _emit(ctx.opts, {"watchers": [{"address": x.get("addr"), "client": x.get("id"),
                                       "cookie": x.get("cookie")} for x in watchers]})
        return
    if not watchers:
        print("Watchers: none")
        return
    print("Watchers:")
    for x in watchers:
        print(f"\twatcher={x.get('addr')} client.{x.get('id')} cookie={x.get('cookie')}")


def cmd_image_meta(ctx, w):
    if not w:
        raise _Usage("image-meta")
    sub, rest = w[0], w[1:]
    io, img, name, _ = _open(ctx, rest[0] if rest else None, read_only=(sub in ("get", "list", "ls")))
    with img:
        try:
            if sub in ("list", "ls"):
                items = list(img.metadata_list())
                if _json(ctx.opts):
                    _emit(ctx.opts, dict(items))
                elif items:
                    print(f"There {'is' if len(items) == 1 else 'are'} {len(items)} "
                          f"metadata on this image:\n")
                    _table([("Key", "Value")] + items)
            elif sub == "get":
                print(img.metadata_get(rest[1]))
            elif sub == "set":
                img.metadata_set(rest[1], rest[2])
            elif sub in ("remove", "rm"):
                img.metadata_remove(rest[1])
            else:
                raise _Usage("image-meta")
        except (KeyError, rbd.ImageNotFound, rbd.ObjectNotFound if hasattr(rbd, "ObjectNotFound") else rbd.ImageNotFound):
            raise _Fail(f"failed to {sub} metadata {rest[1]} of image : (2) No such file or directory", 2)


def cmd_feature(ctx, w):
    if len(w) < 3:
        raise _Usage("feature")
    io, img, name, _ = _open(ctx, w[1])
    with img:
        try:
            img.update_features(_features_bits(w[2:]), w[0] == "enable")
        except rbd.Error as e:
            n = _errno_of(e)
            raise _Fail(f"failed to update image features: ({n}) {_strerror(n)}", n)


def cmd_lock(ctx, w):
    if not w:
        raise _Usage("lock")
    sub, rest = w[0], w[1:]
    io, img, name, _ = _open(ctx, rest[0] if rest else None)
    with img:
        if sub in ("ls", "list"):
            info = img.list_lockers()
            lockers = info.get("lockers", []) if info else []
            if _json(ctx.opts):
                _emit(ctx.opts, [{"id": c, "locker": l, "address": a} for l, c, a in lockers])
                return
            if lockers:
                print(f"There is {len(lockers)} {'exclusive' if info.get('exclusive') else 'shared'} "
                      f"lock on this image.")
                _table([("Locker", "ID", "Address")] + [(l, c, a) for l, c, a in lockers])
        elif sub == "add":
            try:
                img.lock_exclusive(rest[1])
            except rbd.Error as e:
                n = _errno_of(e)
                raise _Fail(f"lock is already held by someone else", n)
        elif sub in ("rm", "remove"):
            img.break_lock(rest[2], rest[1])
        else:
            raise _Usage("lock")


def cmd_object_map(ctx, w):
    io, img, name, _ = _open(ctx, w[1] if len(w) > 1 else None)
    with img:
        if w[0] == "rebuild":
            img.rebuild_object_map()
            _progress(ctx.opts, "Object Map Rebuild")


def cmd_sparsify(ctx, w):
    io, img, name, _ = _open(ctx, w[0] if w else None)
    with img:
        img.sparsify(4096)
    _progress(ctx.opts, "Image sparsify")


def cmd_pool(ctx, w):
    if not w or w[0] != "init":
        raise _Usage("pool")
    pool = w[1] if len(w) > 1 else (ctx.opts.pool or "rbd")
    io = ctx.ioctx(pool)
    rbd.RBD().pool_init(io, ctx.opts.force)


def cmd_watch(ctx, w):
    io, img, name, _ = _open(ctx, w[0] if w else None, read_only=True)
    with img:
        print("press enter to exit...")
        try:
            sys.stdin.readline()
        except KeyboardInterrupt:
            pass
