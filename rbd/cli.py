"""`rbd` command-line tool: a thin layer over the public `rados` and `rbd` Python APIs.

Output layouts, error lines (``rbd: ...: (errno) strerror``) and exit codes follow
Ceph 16's `rbd`. Unknown commands/options print usage and exit 22 (EINVAL).
"""
from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import time

import rados
import rbd

_USAGE = "usage: rbd <command> ... (see `rbd help`)\n"


class _Usage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _Usage(message)


def _size(text: str) -> int:
    """Ceph sizes: bare number = MiB; K/M/G/T suffixes (optional trailing B/iB)."""
    t = text.strip().upper().rstrip("B").rstrip("I")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}
    if t and t[-1] in mult:
        return int(float(t[:-1]) * mult[t[-1]])
    return int(t) << 20


def _bytes(text: str) -> int:
    """Sizes where a bare number means bytes (io-size, object-size, stripe-unit)."""
    t = text.strip().upper().rstrip("B").rstrip("I")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    if t and t[-1] in mult:
        return int(float(t[:-1]) * mult[t[-1]])
    return int(t)


def _human(n: int) -> str:
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= (1 << shift) and n % (1 << shift) == 0 or n >= (1 << shift) * 10:
            v = n / (1 << shift)
            return f"{int(v)} {unit}" if v == int(v) else f"{v:.1f} {unit}"
    return f"{n} B"


def _parser() -> _Parser:
    p = _Parser(prog="rbd", add_help=False)
    p.add_argument("-c", "--conf")
    p.add_argument("--cluster")
    p.add_argument("-p", "--pool")
    p.add_argument("--namespace")
    p.add_argument("--image")
    p.add_argument("--snap")
    p.add_argument("--dest")
    p.add_argument("--dest-pool")
    p.add_argument("--format", choices=["json", "json-pretty", "plain", "xml"], default="plain")
    p.add_argument("--pretty-format", action="store_true")
    p.add_argument("--id", "-n", "--name", dest="id")
    p.add_argument("-s", "--size")
    p.add_argument("--object-size")
    p.add_argument("--order", type=int)
    p.add_argument("--image-feature", action="append")
    p.add_argument("--image-format", type=int, default=2)
    p.add_argument("--stripe-unit")
    p.add_argument("--stripe-count", type=int)
    p.add_argument("--data-pool")
    p.add_argument("-l", "--long", action="store_true")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("--allow-shrink", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--from-snap")
    p.add_argument("--whole-object", action="store_true")
    p.add_argument("--export-format", type=int, default=1)
    p.add_argument("--io-type", default="write")
    p.add_argument("--io-size", default="4096")
    p.add_argument("--io-threads", type=int, default=16)
    p.add_argument("--io-total", default="1G")
    p.add_argument("--io-pattern", default="seq")
    p.add_argument("--force", action="store_true")
    p.add_argument("words", nargs="*")
    return p


class _Ctx:
    def __init__(self, opts):
        self.opts = opts
        self.cluster = rados.Rados(conffile=opts.conf or "")
        self.cluster.connect()
        self._ioctxs = []

    def ioctx(self, pool, namespace=None):
        try:
            io = self.cluster.open_ioctx(pool)
        except rados.ObjectNotFound:
            raise _Fail(f"error opening pool '{pool}': (2) No such file or directory", 2)
        if namespace:
            io.set_namespace(namespace)
        self._ioctxs.append(io)
        return io

    def close(self):
        for io in self._ioctxs:
            io.close()
        self.cluster.shutdown()


class _Fail(Exception):
    def __init__(self, msg, code):
        super().__init__(msg)
        self.code = code


def _spec(opts, text, default_pool=None):
    """`[pool[/namespace]/]image[@snap]` → (pool, namespace, image, snap)."""
    pool = opts.pool or default_pool or "rbd"
    ns = opts.namespace or ""
    snap = opts.snap
    if text is None:
        text = opts.image
    if text is None:
        raise _Fail("image name was not specified", errno.EINVAL)
    if "@" in text:
        text, snap = text.split("@", 1)
    parts = text.split("/")
    if len(parts) == 3:
        pool, ns, text = parts
    elif len(parts) == 2:
        pool, text = parts
    return pool, ns, text, snap


def _errno_of(e) -> int:
    n = getattr(e, "errno", None)
    return abs(n) if isinstance(n, int) and n else errno.EIO


def _strerror(n: int) -> str:
    return os.strerror(n)


def _open(ctx, spec_text, read_only=False, snap=True):
    pool, ns, name, s = _spec(ctx.opts, spec_text)
    io = ctx.ioctx(pool, ns)
    try:
        img = rbd.Image(io, name, snapshot=s if snap else None, read_only=read_only)
    except rbd.Error as e:
        n = _errno_of(e)
        raise _Fail(f"error opening image {name}: ({n}) {_strerror(n)}", n)
    return io, img, name, s


def _emit(opts, obj):
    if opts.format == "json-pretty" or (opts.format == "json" and opts.pretty_format):
        print(json.dumps(obj, indent=4))
    else:
        print(json.dumps(obj))


def _json(opts) -> bool:
    return opts.format in ("json", "json-pretty")


def _progress(opts, what):
    if not opts.no_progress:
        sys.stderr.write(f"{what}: 100% complete...done.\n")


_FEATURE_NAMES = [
    (rbd.RBD_FEATURE_LAYERING, "layering"), (rbd.RBD_FEATURE_STRIPINGV2, "striping"),
    (rbd.RBD_FEATURE_EXCLUSIVE_LOCK, "exclusive-lock"), (rbd.RBD_FEATURE_OBJECT_MAP, "object-map"),
    (rbd.RBD_FEATURE_FAST_DIFF, "fast-diff"), (rbd.RBD_FEATURE_DEEP_FLATTEN, "deep-flatten"),
    (rbd.RBD_FEATURE_JOURNALING, "journaling"), (rbd.RBD_FEATURE_DATA_POOL, "data-pool"),
]


def _features_list(bits):
    return [n for b, n in _FEATURE_NAMES if bits & b]


def _features_bits(names):
    table = {n: b for b, n in _FEATURE_NAMES}
    bits = 0
    for group in names:
        for n in group.split(","):
            n = n.strip()
            if n.isdigit():
                bits |= int(n)
            elif n in table:
                bits |= table[n]
            else:
                raise _Fail(f"invalid image feature: {n}", errno.EINVAL)
    return bits


def _ts(t):
    if t is None:
        return ""
    if hasattr(t, "strftime"):
        return t.strftime("%a %b %d %H:%M:%S %Y")
    return str(t)


# ---------------------------------------------------------------- commands
def cmd_create(ctx, w):
    o = ctx.opts
    if o.size is None:
        raise _Fail("must specify --size <M/G/T>", errno.EINVAL)
    pool, ns, name, _ = _spec(o, w[0] if w else None)
    io = ctx.ioctx(pool, ns)
    kw = {}
    if o.object_size:
        kw["order"] = _bytes(o.object_size).bit_length() - 1
    elif o.order:
        kw["order"] = o.order
    if o.image_feature:
        kw["features"] = _features_bits(o.image_feature)
    if o.stripe_unit:
        kw["stripe_unit"] = _bytes(o.stripe_unit)
    if o.stripe_count:
        kw["stripe_count"] = o.stripe_count
    if o.data_pool:
        kw["data_pool"] = o.data_pool
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
                             "parent": parent, "format": 2, "protected": "true" if prot else "false",
                             "lock_type": ""})
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


def _table(rows, right=()):
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        cells = []
        for i, c in enumerate(r):
            cells.append(str(c).rjust(widths[i]) if i in right else str(c).ljust(widths[i]))
        print("  ".join(cells).rstrip())


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


def _extents(img, off, length, from_snap=None, whole_object=False):
    out = []
    img.diff_iterate(off, length, from_snap, lambda o_, l_, e_: out.append((o_, l_, e_)),
                     whole_object=whole_object)
    return out


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


_CHUNK = 4 << 20


def _out_file(path):
    return sys.stdout.buffer if path == "-" else open(path, "wb")


def _in_file(path):
    return sys.stdin.buffer if path == "-" else open(path, "rb")


def cmd_export(ctx, w):
    o = ctx.opts
    io, img, name, snap = _open(ctx, w[0] if w else None, read_only=True)
    path = w[1] if len(w) > 1 else f"{name}"
    if path != "-" and os.path.exists(path):
        raise _Fail(f"export error: (17) File exists", errno.EEXIST)
    f = _out_file(path)
    try:
        with img:
            size = img.size()
            if o.export_format == 2:
                _export_v2(img, f, snap)
            else:
                written = 0
                for off in range(0, size, _CHUNK):
                    f.write(img.read(off, min(_CHUNK, size - off)))
                    written += 1
    finally:
        if f is not sys.stdout.buffer:
            f.close()
        else:
            f.flush()
    _progress(o, "Exporting image")


def _le(n, width=8):
    return int(n).to_bytes(width, "little")


def _export_v2(img, f, snap):
    st = img.stat()
    f.write(b"rbd image v2\n")
    for tag, val in ((b"O", st["order"]), (b"T", img.features()),
                     (b"U", img.stripe_unit()), (b"C", img.stripe_count())):
        f.write(tag + _le(8) + _le(val))
    f.write(b"E")
    snaps = [s["name"] for s in img.list_snaps()]
    if snap:
        snaps = snaps[:snaps.index(snap)]
    f.write(_le(len(snaps) + 1))
    prev = None
    for s in snaps + [snap]:
        _write_diff(img, f, prev, s, v2=True)
        prev = s


def _write_diff(img, f, from_snap, to_snap, v2=False, whole_object=False):
    """Ceph's diff stream (v1 `rbd diff v1\\n` / v2 records with u64 lengths)."""
    f.write(b"rbd diff v2\n" if v2 else b"rbd diff v1\n")

    def rec(tag, payload):
        f.write(tag + (_le(len(payload)) if v2 else b"") + payload)

    if from_snap:
        rec(b"f", _le(len(from_snap.encode()), 4) + from_snap.encode())
    if to_snap:
        rec(b"t", _le(len(to_snap.encode()), 4) + to_snap.encode())
    img.set_snap(to_snap)
    try:
        size = img.size()
        rec(b"s", _le(size))
        for off, length, exists in _extents(img, 0, size, from_snap, whole_object):
            if exists:
                data = img.read(off, length)
                if v2:
                    f.write(b"w" + _le(16 + length) + _le(off) + _le(length))
                else:
                    f.write(b"w" + _le(off) + _le(length))
                f.write(data)
            else:
                rec(b"z", _le(off) + _le(length))
    finally:
        img.set_snap(None)
    f.write(b"e")


def _read_exact(f, n):
    b = f.read(n)
    if len(b) != n:
        raise _Fail("import-diff failed: (5) Input/output error: truncated stream", errno.EIO)
    return b


def _apply_diff(img, f, header_read=False):
    """Apply one diff stream to an open image; returns the `t` snap name (or None)."""
    if not header_read:
        hdr = _read_exact(f, 12)
    else:
        hdr = header_read
    if hdr not in (b"rbd diff v1\n", b"rbd diff v2\n"):
        raise _Fail("invalid banner '%s', expected 'rbd diff v1'" % hdr.decode(errors="replace"),
                    errno.EINVAL)
    v2 = hdr == b"rbd diff v2\n"
    to_snap = None
    while True:
        tag = _read_exact(f, 1)
        if tag == b"e":
            break
        if v2 and tag != b"e":
            _read_exact(f, 8)
        if tag in (b"f", b"t"):
            n = int.from_bytes(_read_exact(f, 4), "little")
            s = _read_exact(f, n).decode()
            if tag == b"f":
                if s not in [x["name"] for x in img.list_snaps()]:
                    raise _Fail(f"start snapshot '{s}' does not exist in the image, aborting",
                                errno.EINVAL)
            else:
                to_snap = s
        elif tag == b"s":
            size = int.from_bytes(_read_exact(f, 8), "little")
            if size != img.size():
                img.resize(size)
        elif tag == b"w":
            off = int.from_bytes(_read_exact(f, 8), "little")
            ln = int.from_bytes(_read_exact(f, 8), "little")
            pos = 0
            while pos < ln:
                n = min(_CHUNK, ln - pos)
                img.write(_read_exact(f, n), off + pos)
                pos += n
        elif tag == b"z":
            off = int.from_bytes(_read_exact(f, 8), "little")
            ln = int.from_bytes(_read_exact(f, 8), "little")
            img.discard(off, ln)
        else:
            raise _Fail(f"import-diff: unknown record tag {tag!r}", errno.EINVAL)
    if to_snap:
        img.create_snap(to_snap)
    return to_snap


def cmd_import(ctx, w):
    o = ctx.opts
    if not w:
        raise _Fail("path was not specified", errno.EINVAL)
    path = w[0]
    dst = w[1] if len(w) > 1 else (o.dest or os.path.basename(path))
    pool, ns, name, _ = _spec(o, dst, default_pool=o.dest_pool)
    io = ctx.ioctx(pool, ns)
    try:
        f = _in_file(path)
    except OSError as e:
        raise _Fail(f"import error: ({e.errno}) {_strerror(e.errno)}", e.errno)
    try:
        if o.export_format == 2:
            hdr = _read_exact(f, 13)
            if hdr != b"rbd image v2\n":
                raise _Fail("invalid banner, expected 'rbd image v2'", errno.EINVAL)
            meta = {}
            while True:
                tag = _read_exact(f, 1)
                if tag == b"E":
                    break
                ln = int.from_bytes(_read_exact(f, 8), "little")
                meta[tag] = int.from_bytes(_read_exact(f, ln), "little")
            kw = {}
            if b"O" in meta:
                kw["order"] = meta[b"O"]
            if b"T" in meta:
                kw["features"] = meta[b"T"]
            if meta.get(b"C", 1) != 1:
                kw["stripe_unit"], kw["stripe_count"] = meta[b"U"], meta[b"C"]
            rbd.RBD().create(io, name, 0, **kw)
            count = int.from_bytes(_read_exact(f, 8), "little")
            with rbd.Image(io, name) as img:
                for _ in range(count):
                    _apply_diff(img, f)
        else:
            data_chunks = []
            rbd_size = 0
            kw = {}
            if o.object_size:
                kw["order"] = _bytes(o.object_size).bit_length() - 1
            elif o.order:
                kw["order"] = o.order
            if o.image_feature:
                kw["features"] = _features_bits(o.image_feature)
            rbd.RBD().create(io, name, 0, **kw)
            with rbd.Image(io, name) as img:
                while True:
                    chunk = f.read(_CHUNK)
                    if not chunk:
                        break
                    img.resize(rbd_size + len(chunk))
                    if chunk.count(0) != len(chunk):
                        img.write(chunk, rbd_size)
                    rbd_size += len(chunk)
            del data_chunks
    except rbd.Error as e:
        n = _errno_of(e)
        raise _Fail(f"import failed: ({n}) {_strerror(n)}", n)
    finally:
        if f is not sys.stdin.buffer:
            f.close()
    _progress(o, "Importing image")


def cmd_export_diff(ctx, w):
    o = ctx.opts
    io, img, name, snap = _open(ctx, w[0] if w else None, read_only=True, snap=False)
    if len(w) < 2:
        raise _Fail("path was not specified", errno.EINVAL)
    f = _out_file(w[1])
    try:
        with img:
            _write_diff(img, f, o.from_snap, snap, whole_object=o.whole_object)
    finally:
        if f is not sys.stdout.buffer:
            f.close()
        else:
            f.flush()
    _progress(o, "Exporting image")


def cmd_import_diff(ctx, w):
    if len(w) < 2:
        raise _Fail("image name was not specified", errno.EINVAL)
    io, img, name, _ = _open(ctx, w[1], snap=False)
    f = _in_file(w[0])
    try:
        with img:
            _apply_diff(img, f)
    finally:
        if f is not sys.stdin.buffer:
            f.close()
    _progress(ctx.opts, "Importing image diff")


def cmd_diff(ctx, w):
    o = ctx.opts
    io, img, name, snap = _open(ctx, w[0] if w else None, read_only=True)
    with img:
        ext = _extents(img, 0, img.size(), o.from_snap, o.whole_object)
    if _json(o):
        _emit(o, [{"offset": a, "length": b, "exists": "true" if c else "false"}
                  for a, b, c in ext])
        return
    if ext:
        _table([("Offset", "Length", "Type")] +
               [(a, b, "data" if c else "zero") for a, b, c in ext])


def cmd_bench(ctx, w):
    o = ctx.opts
    io, img, name, _ = _open(ctx, w[0] if w else None, snap=False)
    with img:
        return _bench(o, img)


def _bench(o, img, out=None):
    import random
    out = out or sys.stdout
    io_size = _bytes(o.io_size)
    total = _bytes(o.io_total)
    threads = o.io_threads
    rand = o.io_pattern.startswith("rand")
    kind = o.io_type
    size = img.size()
    if io_size > size:
        raise _Fail("io-size exceeds image size", errno.EINVAL)
    pattern = "random" if rand else "sequential"
    out.write(f"bench  type {kind} io_size {io_size} io_threads {threads} bytes {total} "
              f"pattern {pattern}\n")
    out.write("  SEC       OPS   OPS/SEC   BYTES/SEC\n")
    buf = b"\xa5" * io_size
    rng = random.Random(0)
    import threading
    lock = threading.Condition()
    state = {"inflight": 0, "done": 0, "err": 0}

    def cb(comp, *rest):
        with lock:
            state["inflight"] -= 1
            state["done"] += 1
            if comp.get_return_value() < 0:
                state["err"] = comp.get_return_value()
            lock.notify_all()

    nops = max(1, total // io_size)
    slots = max(1, size // io_size)
    start = last = time.monotonic()
    last_ops, sec = 0, 0
    for i in range(nops):
        off = (rng.randrange(slots) if rand else i % slots) * io_size
        with lock:
            while state["inflight"] >= threads:
                lock.wait(0.5)
            state["inflight"] += 1
        do_write = kind == "write" or (kind == "readwrite" and rng.random() < 0.5)
        if do_write:
            img.aio_write(buf, off, cb)
        else:
            img.aio_read(off, io_size, lambda c, d: cb(c))
        now = time.monotonic()
        if now - last >= 1.0:
            sec += 1
            with lock:
                d = state["done"]
            rate = (d - last_ops) / (now - last)
            out.write(f"{sec:>5} {d:>9} {rate:>9.2f} {rate * io_size:>11.0f}\n")
            last, last_ops = now, d
    with lock:
        deadline = time.monotonic() + 120
        while state["inflight"] and time.monotonic() < deadline:
            lock.wait(0.5)
    img.flush()
    el = max(time.monotonic() - start, 1e-9)
    ops = state["done"]
    out.write(f"elapsed: {int(el)}   ops: {ops}   ops/sec: {ops / el:.2f}   "
              f"bytes/sec: {ops * io_size / el:.2f}\n")
    return 0 if not state["err"] else abs(state["err"])


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


_COMMANDS = {
    "create": cmd_create, "ls": cmd_ls, "list": cmd_ls, "info": cmd_info, "rm": cmd_rm,
    "remove": cmd_rm, "rename": cmd_rename, "mv": cmd_rename, "resize": cmd_resize,
    "du": cmd_du, "disk-usage": cmd_du, "snap": cmd_snap, "snapshot": cmd_snap,
    "clone": cmd_clone, "flatten": cmd_flatten, "children": cmd_children, "cp": cmd_cp,
    "copy": cmd_cp, "deep": cmd_deep, "export": cmd_export, "import": cmd_import,
    "export-diff": cmd_export_diff, "import-diff": cmd_import_diff, "diff": cmd_diff,
    "bench": cmd_bench, "status": cmd_status, "image-meta": cmd_image_meta,
    "feature": cmd_feature, "lock": cmd_lock, "object-map": cmd_object_map,
    "sparsify": cmd_sparsify, "pool": cmd_pool, "watch": cmd_watch, "trash": cmd_trash,
    "namespace": cmd_namespace, "group": cmd_group, "mirror": cmd_mirror,
}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        opts = _parser().parse_intermixed_args(argv)
    except _Usage as e:
        sys.stderr.write(f"rbd: {e}\n")
        return errno.EINVAL
    if not opts.words or opts.words[0] == "help":
        sys.stdout.write(_USAGE + "commands: " + " ".join(sorted(_COMMANDS)) + "\n")
        return 0 if opts.words else errno.EINVAL
    cmd, words = opts.words[0], opts.words[1:]
    fn = _COMMANDS.get(cmd)
    if fn is None:
        sys.stderr.write(f"rbd: error parsing command '{cmd}'; -h or --help for usage\n")
        return errno.EINVAL
    ctx = None
    try:
        ctx = _Ctx(opts)
        rc = fn(ctx, words)
        return int(rc or 0)
    except _Usage as e:
        sys.stderr.write(f"rbd: error parsing command '{' '.join(opts.words)}'; "
                         f"-h or --help for usage\n")
        return errno.EINVAL
    except _Fail as e:
        sys.stderr.write(f"rbd: {e}\n")
        return e.code
    except rbd.FunctionNotSupported if hasattr(rbd, "FunctionNotSupported") else NotImplementedError as e:
        sys.stderr.write(f"rbd: {cmd} failed: (38) Function not implemented\n")
        return errno.ENOSYS
    except (rbd.Error, rados.Error) as e:
        n = _errno_of(e)
        sys.stderr.write(f"rbd: {cmd} failed: ({n}) {_strerror(n)}\n")
        return n
    except BrokenPipeError:
        return 0
    finally:
        if ctx is not None:
            try:
                ctx.close()
            except Exception:
                pass


if __name__ == "__main__":
    sys.exit(main())
