"""`rbd` pool-level collections: trash, namespace, group and mirror pool/image commands."""
from __future__ import annotations

import errno

import rados
import rbd

from rbd.cli_common import (
    _Fail, _Usage, _emit, _errno_of, _json, _open, _progress, _spec, _strerror,
)


class _FailAs:
    """Turn an rbd/rados error inside the block into Ceph's `rbd: <what>: (errno) text`."""

    def __init__(self, what: str):
        self.what = what

    def __enter__(self):
        return self

    def __exit__(self, typ, exc, tb):
        if exc is not None and isinstance(exc, (rbd.Error, rados.Error)):
            n = _errno_of(exc)
            raise _Fail(f"{self.what}: ({n}) {_strerror(n)}", n) from None
        return False


def cmd_trash(ctx, w):
    o = ctx.opts
    sub, rest = (w[0], w[1:]) if w else ("ls", [])
    if sub not in ("mv", "move", "ls", "list", "rm", "remove", "restore", "purge"):
        raise _Usage("trash")
    r = rbd.RBD()
    if sub in ("mv", "move"):
        pool, ns, name, _ = _spec(o, rest[0] if rest else None)
        with _FailAs("deferred delete error"):
            r.trash_move(ctx.ioctx(pool, ns), name, 0)
        return
    if sub in ("rm", "remove", "restore") and not rest:
        raise _Fail("image id was not specified", errno.EINVAL)
    io = ctx.ioctx(rest[0] if (sub in ("ls", "list", "purge") and rest) else (o.pool or "rbd"),
                   o.namespace)
    if sub in ("ls", "list"):
        items = list(r.trash_list(io))
        if _json(o):
            _emit(o, [{"id": t["id"], "name": t["name"]} for t in items])
        else:
            for t in items:
                print(f"{t['id']} {t['name']}")
    elif sub in ("rm", "remove"):
        with _FailAs("remove error"):
            r.trash_remove(io, rest[0], o.force)
        _progress(o, "Removing image")
    elif sub == "restore":
        with _FailAs("restore error"):
            r.trash_restore(io, rest[0], o.image or "")
    else:
        with _FailAs("failed to purge trash"):
            r.trash_purge(io)
        _progress(o, "Removing images")


def cmd_namespace(ctx, w):
    o = ctx.opts
    sub, rest = (w[0], w[1:]) if w else ("ls", [])
    if sub not in ("ls", "list", "create", "rm", "remove"):
        raise _Usage("namespace")
    r = rbd.RBD()
    if sub in ("ls", "list"):
        io = ctx.ioctx(rest[0] if rest else (o.pool or "rbd"))
        with _FailAs("failed to list namespaces"):
            names = list(r.namespace_list(io))
        if _json(o):
            _emit(o, [{"name": n} for n in names])
        else:
            for n in names:
                print(n)
        return
    spec = rest[0] if rest else ""
    pool, ns = (spec.split("/", 1) if "/" in spec else (o.pool or "rbd", o.namespace or spec))
    if not ns:
        raise _Fail("namespace name was not specified", errno.EINVAL)
    io = ctx.ioctx(pool)
    if sub == "create":
        with _FailAs("failed to created namespace"):     # sic: Ceph 16's wording
            r.namespace_create(io, ns)
    else:
        with _FailAs("failed to remove namespace"):
            r.namespace_remove(io, ns)


def _group_images(ctx, group):
    """(pool name, namespace, image) of each member; librbd reports the pool by id."""
    out = []
    for i in group.list_images():
        pool = i.get("pool")
        if isinstance(pool, int):
            pool = ctx.cluster.pool_reverse_lookup(pool)
        out.append((pool, i.get("namespace", ""), i["name"]))
    return out


def cmd_group(ctx, w):
    o = ctx.opts
    sub, rest = (w[0], w[1:]) if w else ("ls", [])
    if sub not in ("ls", "list", "create", "rm", "remove", "image") or \
            sub == "image" and (not rest or rest[0] not in ("add", "rm", "remove", "ls", "list")):
        raise _Usage("group")
    r = rbd.RBD()
    if sub in ("ls", "list"):
        io = ctx.ioctx(rest[0] if rest else (o.pool or "rbd"), o.namespace)
        with _FailAs("list error"):
            names = list(r.group_list(io))
        if _json(o):
            _emit(o, names)
            return
        for n in names:
            print(n)
        return
    if sub != "image":
        if not rest:
            raise _Fail("group name was not specified", errno.EINVAL)
        pool, ns, name, _ = _spec(o, rest[0])
        io = ctx.ioctx(pool, ns)
        if sub == "create":
            with _FailAs("create error"):
                r.group_create(io, name)
        else:
            with _FailAs("remove error"):
                r.group_remove(io, name)
        return
    op, args = rest[0], rest[1:]
    if not args or op in ("add", "rm", "remove") and len(args) < 2:
        raise _Fail("group name was not specified" if not args else
                    "image name was not specified", errno.EINVAL)
    gpool, gns, gname, _ = _spec(o, args[0])
    g = rbd.Group(ctx.ioctx(gpool, gns), gname)
    if op == "add":
        ipool, ins, iname, _ = _spec(o, args[1])
        with _FailAs("add image error"):
            g.add_image(ctx.ioctx(ipool, ins), iname)
    elif op in ("rm", "remove"):
        ipool, ins, iname, _ = _spec(o, args[1])
        with _FailAs("remove image error"):
            g.remove_image(ctx.ioctx(ipool, ins), iname)
    else:
        with _FailAs("listing images failed"):
            members = _group_images(ctx, g)
        if _json(o):
            _emit(o, [{"image": i, "namespace": n, "pool": p} for p, n, i in members])
            return
        for p, n, i in members:
            print(f"{p}/{n + '/' if n else ''}{i}")


def cmd_mirror(ctx, w):
    o = ctx.opts
    if len(w) < 2:
        raise _Usage("mirror")
    scope, sub, rest = w[0], w[1], w[2:]
    r = rbd.RBD()
    if scope == "pool":
        pool = rest[0] if rest else (o.pool or "rbd")
        io = ctx.ioctx(pool, o.namespace)
        if sub == "enable":
            mode = {"image": rbd.RBD_MIRROR_MODE_IMAGE, "pool": rbd.RBD_MIRROR_MODE_POOL}[rest[1]]
            r.mirror_mode_set(io, mode)
        elif sub == "disable":
            r.mirror_mode_set(io, rbd.RBD_MIRROR_MODE_DISABLED)
        elif sub == "info":
            mode = r.mirror_mode_get(io)
            names = {rbd.RBD_MIRROR_MODE_DISABLED: "disabled", rbd.RBD_MIRROR_MODE_IMAGE: "image",
                     rbd.RBD_MIRROR_MODE_POOL: "pool"}
            if _json(o):
                _emit(o, {"mode": names.get(mode, str(mode))})
            else:
                print(f"Mode: {names.get(mode, mode)}")
        else:
            raise _Usage("mirror pool")
        return
    if scope == "image":
        io, img, name, _ = _open(ctx, rest[0] if rest else None)
        with img:
            if sub == "enable":
                snapshot = len(rest) > 1 and rest[1] == "snapshot"
                mode = rbd.RBD_MIRROR_IMAGE_MODE_SNAPSHOT if snapshot \
                    else rbd.RBD_MIRROR_IMAGE_MODE_JOURNAL
                img.mirror_image_enable(mode)
                print("Mirroring enabled")
            elif sub == "disable":
                img.mirror_image_disable(o.force)
                print("Mirroring disabled")
            elif sub == "promote":
                img.mirror_image_promote(o.force)
                print("Image promoted to primary")
            elif sub == "demote":
                img.mirror_image_demote()
                print("Image demoted to non-primary")
            elif sub == "resync":
                img.mirror_image_resync()
                print("Flagged image for resync from primary")
            elif sub == "snapshot":
                snap_id = img.mirror_image_create_snapshot()
                print(f"Snapshot ID: {snap_id}")
            elif sub == "status":
                st = img.mirror_image_get_status()
                if _json(o):
                    _emit(o, st)
                else:
                    print(f"{name}:")
                    print(f"  global_id:   {st.get('info', {}).get('global_id', '')}")
                    rem = st.get("remote_statuses") or []
                    for x in rem[:1]:
                        print(f"  state:       {x.get('state')}")
                        print(f"  description: {x.get('description', '')}")
            else:
                raise _Usage("mirror image")
        return
    raise _Usage("mirror")
