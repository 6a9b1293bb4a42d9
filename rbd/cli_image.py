"""`rbd` image commands: create, ls, info, rm, rename, resize, du, snap *, clone, flatten,
children, cp, deep cp."""
from __future__ import annotations

import errno
import sys

import rbd

from rbd.cli_common import (
    _extents, _Fail, _Usage, _emit, _errno_of, _features_bits, _features_list, _human,
    _image_options, _json, _open, _progress, _size, _spec, _strerror, _table, _ts,
)


def cmd_create(ctx, w):
    o = ctx.opts
    if o.size is None:
        raise _Fail("must specify --size <M/G/T>", errno.EINVAL)
    pool, ns, name, _ = _spec(o, w[0] if w else None)
    io = ctx.ioctx(pool, ns)
    kw = _image_options(o)
    try:
        rbd.RBD().create(io, name, _size(o.size), old_format=(o.image_format == 1), **kw)
    except rbd.Error as e:
        n = _errno_of(e)
        raise _Fail(f"create error: ({n}) {_strerror(n)}", n)


def cmd_ls(ctx, w):
    o = ctx.opts
    pool = w[0] if w else (o.pool or "rbd")
    ns = o.namespace
    if "/" in pool:
        pool, ns = pool.split("/", 1)
    io = ctx.ioctx(pool, ns)
    names = sorted(rbd.RBD().list(io))
    if not o.long:
        if _json(o):
            _emit(o, names)
        else:
            for n in names:
                print(n)
        return
    rows = []
    for n in names:
        try:
            img = rbd.Image(io, n, read_only=True)
        except rbd.Error:
            continue
        with img:
            parent = ""
            try:
                pi = img.get_parent_image_spec()
                parent = f"{pi['pool_name']}/{pi['image_name']}@{pi['snap_name']}"
            except (rbd.ImageNotFound, rbd.Error):
                pass
            lock = ""
            try:
                if img.list_lockers():
                    lock = "excl"
            except rbd.Error:
                pass
            rows.append({"image": n, "size": img.size(), "parent": parent, "format": 2,
                         "lock_type": lock, "snap": None, "protected": None})
            for s in img.list_snaps():
                prot = img.is_protected_snap(s["name"])
                rows.append({"image": n, "snap": s["name"], "snap_id": s["id"], "size": s["size"],
                             "parent": parent, "format": 2,
                             "protected": "true" if prot else "false", "lock_type": ""})
    if _json(o):
        out = []
        for r in rows:
            d = {"image": r["image"], "id": None, "size": r["size"], "format": 2}
            if r["snap"] is not None:
                d.update(snapshot=r["snap"], snapshot_id=r["snap_id"], protected=r["protected"])
            if r["lock_type"]:
                d["lock_type"] = "exclusive"
            out.append(d)
        _emit(o, out)
        return
    table = [("NAME", "SIZE", "PARENT", "FMT", "PROT", "LOCK")]
    for r in rows:
        nm = r["image"] + (f"@{r['snap']}" if r["snap"] is not None else "")
        prot = "yes" if r["protected"] == "true" else ""
        table.append((nm, _human(r["size"]), r["parent"], "2", prot, r["lock_type"]))
    _table(table, right=(1, 3))



def cmd_info(ctx, w):
    o = ctx.opts
    io, img, name, snap = _open(ctx, w[0] if w else None, read_only=True)
    with img:
        st = img.stat()
        feats = img.features()
        info = {"name": name, "id": img.id(), "size": st["size"], "objects": st["num_objs"],
                "order": st["order"], "object_size": st["obj_size"],
                "snapshot_count": len(list(img.list_snaps())),
                "block_name_prefix": st["block_name_prefix"], "format": 2,
                "features": _features_list(feats), "op_features": [], "flags": []}
        try:
            info["create_timestamp"] = _ts(img.create_timestamp())
            info["access_timestamp"] = _ts(img.access_timestamp())
            info["modify_timestamp"] = _ts(img.modify_timestamp())
        except (AttributeError, rbd.Error):
            pass
        try:
            su, sc = img.stripe_unit(), img.stripe_count()
            if su != st["obj_size"] or sc != 1:
                info["stripe_unit"], info["stripe_count"] = su, sc
        except (AttributeError, rbd.Error):
            pass
        try:
            dp = img.data_pool_id()
            if dp is not None and dp >= 0 and dp != io.get_pool_id():
                info["data_pool"] = ctx.cluster.pool_reverse_lookup(dp)
        except (AttributeError, rbd.Error):
            pass
        parent = None
        try:
            pi = img.get_parent_image_spec()
            parent = f"{pi['pool_name']}/{pi['image_name']}@{pi['snap_name']}"
            info["parent"] = {"pool": pi["pool_name"], "image": pi["image_name"],
                              "snapshot": pi["snap_name"], "overlap": img.overlap()}
        except (rbd.ImageNotFound, rbd.Error, AttributeError):
            pass
        if snap:
            info["protected"] = "true" if img.is_protected_snap(snap) else "false"
    if _json(o):
        _emit(o, info)
        return
    print(f"rbd image '{name}':")
    print(f"\tsize {_human(info['size'])} in {info['objects']} objects")
    print(f"\torder {info['order']} ({_human(info['object_size'])} objects)")
    print(f"\tsnapshot_count: {info['snapshot_count']}")
    print(f"\tid: {info['id']}")
    if "data_pool" in info:
        print(f"\tdata_pool: {info['data_pool']}")
    print(f"\tblock_name_prefix: {info['block_name_prefix']}")
    print("\tformat: 2")
    print(f"\tfeatures: {', '.join(info['features'])}")
    print("\top_features: ")
    print("\tflags: ")
    for k in ("create_timestamp", "access_timestamp", "modify_timestamp"):
        if k in info:
            print(f"\t{k}: {info[k]}")
    if "stripe_unit" in info:
        print(f"\tstripe unit: {_human(info['stripe_unit'])}")
        print(f"\tstripe count: {info['stripe_count']}")
    if snap:
        print(f"\tprotected: {info['protected'] == 'true' and 'True' or 'False'}")
    if parent:
        print(f"\tparent: {parent}")
        print(f"\toverlap: {_human(info['parent']['overlap'])}")


def cmd_rm(ctx, w):
    pool, ns, name, _ = _spec(ctx.opts, w[0] if w else None)
    io = ctx.ioctx(pool, ns)
    try:
        rbd.RBD().remove(io, name)
    except rbd.ImageHasSnapshots:
        sys.stderr.write("rbd: image has snapshots - these must be deleted with 'rbd snap purge' "
                         "before the image can be removed.\n")
        sys.stderr.write("Removing image: 0% complete...failed.\n")
        return errno.ENOTEMPTY
    except rbd.Error as e:
        n = _errno_of(e)
        sys.stderr.write("Removing image: 0% complete...failed.\n")
        raise _Fail(f"delete error: ({n}) {_strerror(n)}", n)
    _progress(ctx.opts, "Removing image")


def cmd_rename(ctx, w):
    if len(w) < 2:
        raise _Fail("destination image name was not specified", errno.EINVAL)
    pool, ns, src, _ = _spec(ctx.opts, w[0])
    _, _, dst, _ = _spec(ctx.opts, w[1], default_pool=pool)
    io = ctx.ioctx(pool, ns)
    try:
        rbd.RBD().rename(io, src, dst)
    except rbd.Error as e:
        n = _errno_of(e)
        raise _Fail(f"rename error: ({n}) {_strerror(n)}", n)


def cmd_resize(ctx, w):
    o = ctx.opts
    if o.size is None:
        raise _Fail("must specify --size <M/G/T>", errno.EINVAL)
    io, img, name, _ = _open(ctx, w[0] if w else None)
    with img:
        new = _size(o.size)
        if new < img.size() and not o.allow_shrink:
            raise _Fail("shrinking an image is only allowed with the --allow-shrink flag",
                        errno.EINVAL)
        img.resize(new)
    _progress(o, "Resizing image")


def cmd_du(ctx, w):
    o = ctx.opts
    pool = o.pool or "rbd"
    if w:
        pool, ns, name, _ = _spec(o, w[0])
        names = [name]
    else:
        ns = o.namespace
    io = ctx.ioctx(pool, ns)
    if not w:
        names = sorted(rbd.RBD().list(io))
    rows, total_p, total_u = [], 0, 0
    for n in names:
        try:
            img = rbd.Image(io, n, read_only=True)
        except rbd.Error as e:
            nn = _errno_of(e)
            raise _Fail(f"error opening image {n}: ({nn}) {_strerror(nn)}", nn)
        with img:
            entries = [(s["name"], s["size"]) for s in img.list_snaps()] + [(None, img.size())]
            for snap, size in entries:
                used = 0
                try:
                    img.set_snap(snap)
                    for off, length, exists in _extents(img, 0, size):
                        if exists:
                            used += length
                finally:
                    img.set_snap(None)
                rows.append((n + (f"@{snap}" if snap else ""), size, used))
                total_p = max(total_p, size) if snap else total_p + size
                total_u += used
    if _json(o):
        _emit(o, {"images": [{"name": r[0], "provisioned_size": r[1], "used_size": r[2]}
                             for r in rows], "total_provisioned_size": total_p,
                  "total_used_size": total_u})
        return
    t = [("NAME", "PROVISIONED", "USED")] + [(r[0], _human(r[1]), _human(r[2])) for r in rows]
    if len(rows) > 1:
        t.append(("<TOTAL>", _human(total_p), _human(total_u)))
    _table(t, right=(1, 2))


def cmd_snap(ctx, w):
    o = ctx.opts
    if not w:
        raise _Usage("snap needs a subcommand")
    sub, rest = w[0], w[1:]
    if sub in ("ls", "list"):
        io, img, name, _ = _open(ctx, rest[0] if rest else None, read_only=True, snap=False)
        with img:
            snaps = list(img.list_snaps())
            rows = []
            for s in snaps:
                prot = img.is_protected_snap(s["name"])
                ts = ""
                try:
                    ts = _ts(img.get_snap_timestamp(s["id"]))
                except (AttributeError, rbd.Error):
                    pass
                rows.append((s["id"], s["name"], s["size"], prot, ts))
        if _json(o):
            _emit(o, [{"id": r[0], "name": r[1], "size": r[2], "protected": str(r[3]).lower(),
                       "timestamp": r[4]} for r in rows])
            return
        if rows:
            _table([("SNAPID", "NAME", "SIZE", "PROTECTED", "TIMESTAMP")] +
                   [(r[0], r[1], _human(r[2]), "yes" if r[3] else "", r[4]) for r in rows],
                   right=(0, 2))
        return
    if sub == "purge":
        io, img, name, _ = _open(ctx, rest[0] if rest else None, snap=False)
        with img:
            for s in list(img.list_snaps()):
                if img.is_protected_snap(s["name"]):
                    sys.stderr.write("rbd: snapshot '%s' is protected from removal.\n" % s["name"])
                    return errno.EBUSY
                img.remove_snap(s["name"])
        _progress(o, "Removing all snapshots")
        return
    io, img, name, snap = _open(ctx, rest[0] if rest else None, snap=False)
    with img:
        if not snap:
            raise _Fail("snapshot name was not specified", errno.EINVAL)
        try:
            if sub in ("create", "add"):
                img.create_snap(snap)
            elif sub in ("rm", "remove"):
                if img.is_protected_snap(snap):
                    sys.stderr.write(f"rbd: snapshot '{snap}' is protected from removal.\n")
                    sys.stderr.write("Removing snap: 0% complete...failed.\n")
                    return errno.EBUSY
                img.remove_snap(snap)
                _progress(o, "Removing snap")
            elif sub == "rollback" or sub == "revert":
                img.rollback_to_snap(snap)
                _progress(o, "Rolling back to snapshot")
            elif sub == "protect":
                img.protect_snap(snap)
            elif sub == "unprotect":
                img.unprotect_snap(snap)
            elif sub in ("rename", "mv"):
                dst = _spec(o, rest[1])[3] if len(rest) > 1 else None
                if not dst:
                    raise _Fail("destination snapshot name was not specified", errno.EINVAL)
                img.rename_snap(snap, dst)
            else:
                raise _Usage(f"unknown snap command {sub}")
        except rbd.Error as e:
            n = _errno_of(e)
            raise _Fail(f"failed to {sub} snapshot: ({n}) {_strerror(n)}", n)


def cmd_clone(ctx, w):
    if len(w) < 2:
        raise _Fail("destination image name was not specified", errno.EINVAL)
    pp, pns, pname, psnap = _spec(ctx.opts, w[0])
    cp_, cns, cname, _ = _spec(ctx.opts, w[1])
    if not psnap:
        raise _Fail("snapshot name was not specified", errno.EINVAL)
    pio, cio = ctx.ioctx(pp, pns), ctx.ioctx(cp_, cns)
    kw = {}
    if ctx.opts.image_feature:
        kw["features"] = _features_bits(ctx.opts.image_feature)
    try:
        rbd.RBD().clone(pio, pname, psnap, cio, cname, **kw)
    except rbd.Error as e:
        n = _errno_of(e)
        raise _Fail(f"clone error: ({n}) {_strerror(n)}", n)


def cmd_flatten(ctx, w):
    io, img, name, _ = _open(ctx, w[0] if w else None)
    with img:
        try:
            img.flatten()
        except rbd.Error as e:
            n = _errno_of(e)
            raise _Fail(f"flatten error: ({n}) {_strerror(n)}", n)
    _progress(ctx.opts, "Image flatten")


def cmd_children(ctx, w):
    io, img, name, snap = _open(ctx, w[0] if w else None, read_only=True)
    with img:
        kids = list(img.list_children2()) if hasattr(img, "list_children2") else [
            {"pool": p, "pool_namespace": "", "image": i} for p, i in img.list_children()]
    if _json(ctx.opts):
        _emit(ctx.opts, [{"pool": k["pool"], "pool_namespace": k.get("pool_namespace", ""),
                          "image": k["image"]} for k in kids])
        return
    for k in kids:
        ns = k.get("pool_namespace") or ""
        print(f"{k['pool']}/{ns + '/' if ns else ''}{k['image']}")


def _copy(ctx, w, deep):
    if len(w) < 2:
        raise _Fail("destination image name was not specified", errno.EINVAL)
    io, img, name, _ = _open(ctx, w[0], read_only=True)
    dp, dns, dname, _ = _spec(ctx.opts, w[1])
    dio = ctx.ioctx(dp, dns)
    with img:
        try:
            (img.deep_copy if deep else img.copy)(dio, dname)
        except rbd.Error as e:
            n = _errno_of(e)
            raise _Fail(f"copy failed: ({n}) {_strerror(n)}", n)
    _progress(ctx.opts, "Image deep copy" if deep else "Image copy")


def cmd_cp(ctx, w):
    return _copy(ctx, w, False)


def cmd_deep(ctx, w):
    if not w or w[0] not in ("cp", "copy"):
        raise _Usage("deep cp")
    return _copy(ctx, w[1:], True)
