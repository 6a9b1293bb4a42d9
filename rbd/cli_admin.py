"""`rbd` per-image administration: status, watch, image-meta, feature, lock, object-map,
sparsify, and `pool init`."""
from __future__ import annotations

import errno
import sys
import threading

import rados
import rbd

from rbd.cli_common import (
    _Fail, _Usage, _bytes, _emit, _errno_of, _features_bits, _json, _open, _progress,
    _strerror, _table,
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
    if not w or w[0] not in ("list", "ls", "get", "set", "remove", "rm"):
        raise _Usage("image-meta")
    sub, rest = w[0], w[1:]
    verb = {"ls": "list", "rm": "remove"}.get(sub, sub)
    need = {"list": 1, "get": 2, "set": 3, "remove": 2}[verb]
    if len(rest) < need:
        raise _Fail("metadata key was not specified" if len(rest) == 1 else
                    "image name was not specified", errno.EINVAL)
    io, img, name, _ = _open(ctx, rest[0], read_only=(verb in ("get", "list")))
    with img:
        try:
            if verb == "list":
                items = list(img.metadata_list())
                if _json(ctx.opts):
                    _emit(ctx.opts, dict(items))
                elif items:
                    one = len(items) == 1
                    print(f"There {'is' if one else 'are'} {len(items)} "
                          f"{'metadatum' if one else 'metadata'} on this image:\n")
                    _table([("Key", "Value")] + items)
            elif verb == "get":
                print(img.metadata_get(rest[1]))
            elif verb == "set":
                img.metadata_set(rest[1], rest[2])
            else:
                img.metadata_remove(rest[1])
        except KeyError:
            raise _Fail(f"failed to {verb} metadata {rest[1]} of image : "
                        f"(2) No such file or directory", errno.ENOENT)
        except rbd.Error as e:
            n = _errno_of(e)
            key = f" {rest[1]}" if len(rest) > 1 else ""
            raise _Fail(f"failed to {verb} metadata{key} of image : ({n}) {_strerror(n)}", n)


def cmd_feature(ctx, w):
    if len(w) < 3 or w[0] not in ("enable", "disable"):
        raise _Usage("feature")
    bits = _features_bits(w[2:])
    io, img, name, _ = _open(ctx, w[1])
    with img:
        try:
            img.update_features(bits, w[0] == "enable")
        except rbd.Error as e:
            n = _errno_of(e)
            raise _Fail(f"failed to update image features: ({n}) {_strerror(n)}", n)


def cmd_lock(ctx, w):
    """`rbd lock ls|add|rm`: advisory locks (cls_lock on the header), as librbd's
    lock_exclusive/lock_shared/break_lock."""
    if not w or w[0] not in ("ls", "list", "add", "rm", "remove"):
        raise _Usage("lock")
    sub, rest = w[0], w[1:]
    if sub in ("add",) and len(rest) < 2 or sub in ("rm", "remove") and len(rest) < 3:
        raise _Fail("lock id was not specified" if len(rest) < 2 else
                    "locker was not specified", errno.EINVAL)
    io, img, name, _ = _open(ctx, rest[0] if rest else None)
    with img:
        if sub in ("ls", "list"):
            info = img.list_lockers()
            lockers = info.get("lockers", []) if info else []
            if _json(ctx.opts):
                _emit(ctx.opts, [{"id": c, "locker": lk, "address": a} for lk, c, a in lockers])
                return
            if lockers:
                one = len(lockers) == 1
                print(f"There {'is' if one else 'are'} {len(lockers)} "
                      f"{'exclusive' if info.get('exclusive') else 'shared'} "
                      f"lock{'' if one else 's'} on this image.")
                if not info.get("exclusive"):
                    print(f"Lock tag: {info.get('tag', '')}")
                _table([("Locker", "ID", "Address")] + [(lk, c, a) for lk, c, a in lockers])
        elif sub == "add":
            tag = ctx.opts.shared
            try:
                if tag:
                    img.lock_shared(rest[1], tag)
                else:
                    img.lock_exclusive(rest[1])
            except rbd.Error as e:
                n = _errno_of(e)
                if n in (errno.EBUSY, errno.EEXIST):
                    raise _Fail("lock is already held by someone else" +
                                (" with a different tag" if tag else ""), n)
                raise _Fail(f"taking lock failed: ({n}) {_strerror(n)}", n)
        else:
            try:
                img.break_lock(rest[2], rest[1])
            except rbd.Error as e:
                n = _errno_of(e)
                raise _Fail(f"releasing lock failed: ({n}) {_strerror(n)}", n)


def cmd_object_map(ctx, w):
    if not w or w[0] != "rebuild":
        raise _Usage("object-map")
    io, img, name, _ = _open(ctx, w[1] if len(w) > 1 else None)
    with img:
        try:
            img.rebuild_object_map()
        except rbd.Error as e:
            n = _errno_of(e)
            raise _Fail(f"rebuilding object map failed: ({n}) {_strerror(n)}", n)
    _progress(ctx.opts, "Object Map Rebuild")


def cmd_sparsify(ctx, w):
    sparse_size = _bytes(ctx.opts.sparse_size)
    if sparse_size < 4096 or sparse_size & (sparse_size - 1):
        raise _Fail("sparse size should be power of two not less than 4096", errno.EINVAL)
    io, img, name, _ = _open(ctx, w[0] if w else None)
    with img:
        try:
            img.sparsify(sparse_size)
        except rbd.Error as e:
            n = _errno_of(e)
            raise _Fail(f"sparsify error: ({n}) {_strerror(n)}", n)
    _progress(ctx.opts, "Image sparsify")


def cmd_pool(ctx, w):
    if not w or w[0] != "init":
        raise _Usage("pool")
    pool = w[1] if len(w) > 1 else (ctx.opts.pool or "rbd")
    io = ctx.ioctx(pool)
    rbd.RBD().pool_init(io, ctx.opts.force)


# librbd's notify op names, as `rbd watch` prints them
_NOTIFY_OPS = {"header_update": "HeaderUpdate", "acquired_lock": "AcquiredLock",
               "released_lock": "ReleasedLock", "request_lock": "RequestLock",
               "lock_broken": "RequestLock"}


def _notify_op(data: bytes) -> str:
    try:
        import msgpack
        op = msgpack.unpackb(data, raw=False).get("op", "")
    except Exception:
        return "UnknownOp"
    return _NOTIFY_OPS.get(op) or "".join(p.capitalize() for p in str(op).split("_"))


def cmd_watch(ctx, w):
    """Watch the image header and print each notification until a line is read on stdin."""
    io, img, name, _ = _open(ctx, w[0] if w else None, read_only=True)
    with img:
        header = f"rbd_header.{img.id()}" if img.old_format() is False else f"{name}.rbd"
    lock = threading.Lock()

    def on_notify(notify_id, notifier_id, cookie, data):
        data = bytes(data or b"")
        with lock:
            sys.stdout.write(f"{name} received notification: notify_id={notify_id}, "
                             f"cookie={cookie}, notifier_id={notifier_id}, "
                             f"bl.length={len(data)}, notify_op={_notify_op(data)}\n")
            sys.stdout.flush()
        return b""

    try:
        watch = io.watch(header, on_notify)
    except rados.Error as e:
        n = _errno_of(e)
        raise _Fail(f"watch failed: ({n}) {_strerror(n)}", n)
    try:
        print("press enter to exit...", flush=True)
        try:
            sys.stdin.readline()
        except KeyboardInterrupt:
            pass
    finally:
        watch.close()
