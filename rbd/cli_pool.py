"""`rbd` pool-level collections: trash, namespace, group and mirror pool/image commands."""
from __future__ import annotations

import rbd

from rbd.cli_common import (
    _Usage, _emit, _json, _open, _progress, _spec,
)


def cmd_trash(ctx, w):
    o = ctx.opts
    sub, rest = (w[0], w[1:]) if w else ("ls", [])
    r = rbd.RBD()
    if sub in ("mv", "move"):
        pool, ns, name, _ = _spec(o, rest[0] if rest else None)
        r.trash_move(ctx.ioctx(pool, ns), name, 0)
        return
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
        r.trash_remove(io, rest[0], o.force)
        _progress(o, "Removing image")
    elif sub == "restore":
        r.trash_restore(io, rest[0], o.image or "")
    elif sub == "purge":
        r.trash_purge(io)
    else:
        raise _Usage("trash")


def cmd_namespace(ctx, w):
    o = ctx.opts
    sub, rest = (w[0], w[1:]) if w else ("ls", [])
    r = rbd.RBD()
    if sub in ("ls", "list"):
        io = ctx.ioctx(rest[0] if rest else (o.pool or "rbd"))
        names = list(r.namespace_list(io))
        if _json(o):
            _emit(o, [{"name": n} for n in names])
        else:
            for n in names:
                print(n)
        return
    spec = rest[0] if rest else ""
    pool, ns = (spec.split("/", 1) if "/" in spec else (o.pool or "rbd", o.namespace or spec))
    io = ctx.ioctx(pool)
    if sub == "create":
        r.namespace_create(io, ns)
    elif sub in ("rm", "remove"):
        r.namespace_remove(io, ns)
    else:
        raise _Usage("namespace")


def cmd_group(ctx, w):
    o = ctx.opts
    sub, rest = (w[0], w[1:]) if w else ("ls", [])
    r = rbd.RBD()
    if sub in ("ls", "list"):
        io = ctx.ioctx(rest[0] if rest else (o.pool or "rbd"), o.namespace)
        for n in r.group_list(io):
            print(n)
        return
    pool, ns, name, _ = _spec(o, rest[0] if rest else None)
    io = ctx.ioctx(pool, ns)
    if sub == "create":
        r.group_create(io, name)
    elif sub in ("rm", "remove"):
        r.group_remove(io, name)
    elif sub == "image" and rest and rest[0] in ("add", "rm", "ls", "list"):
        op, args = rest[0], rest[1:]
        gpool, gns, gname, _ = _spec(o, args[0] if args else None)
        g = rbd.Group(ctx.ioctx(gpool, gns), gname)
        if op == "add":
            ipool, ins, iname, _ = _spec(o, args[1])
            g.add_image(ctx.ioctx(ipool, ins), iname)
        elif op == "rm":
            ipool, ins, iname, _ = _spec(o, args[1])
            g.remove_image(ctx.ioctx(ipool, ins), iname)
        else:
            for i in g.list_images():
                print(f"{i.get('pool', gpool)}/{i['name']}")
    else:
        raise _Usage("group")


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
                mode = rbd.RBD_MIRROR_IMAGE_MODE_SNAPSHOT if (len(rest) > 1 and rest[1] == "snapshot") \
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
