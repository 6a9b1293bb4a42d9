"""Shared pieces of the `rbd` tool: option parser, connection context, image specs,
error lines and output helpers (Ceph 16 formats)."""
from __future__ import annotations

import argparse
import errno
import json
import os
import sys

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
    p.add_argument("-k", "--keyring")
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
    p.add_argument("--shared", metavar="TAG", help="lock add: shared lock with this tag")
    p.add_argument("--sparse-size", default="4096")
    p.add_argument("--dest-namespace")                  # migration prepare (rbd/cli_migration.py)
    p.add_argument("--import-only", action="store_true")
    p.add_argument("--source-spec")
    p.add_argument("--source-spec-path")
    p.add_argument("--flatten", action="store_true")
    p.add_argument("words", nargs="*")
    return p


class _Ctx:
    def __init__(self, opts):
        self.opts = opts
        entity = None if not opts.id else opts.id if "." in opts.id else f"client.{opts.id}"
        self.cluster = rados.Rados(name=entity, conffile=opts.conf or "",
                                   conf={"keyring": opts.keyring} if opts.keyring else None)
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


def _table(rows, right=()):
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        cells = []
        for i, c in enumerate(r):
            cells.append(str(c).rjust(widths[i]) if i in right else str(c).ljust(widths[i]))
        print("  ".join(cells).rstrip())


def _extents(img, off, length, from_snap=None, whole_object=False):
    out = []
    img.diff_iterate(off, length, from_snap, lambda o_, l_, e_: out.append((o_, l_, e_)),
                     whole_object=whole_object)
    return out


def _image_options(o) -> dict:
    """The RBD.create keyword arguments the image options on the command line ask for."""
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
    return kw
