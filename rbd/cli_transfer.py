"""`rbd` commands that move image data: export / import (formats 1 and 2), export-diff /
import-diff (Ceph's `rbd diff v1|v2` streams), diff and bench."""
from __future__ import annotations

import errno
import os
import sys
import time

import rbd

from rbd.cli_common import (
    _extents, _Fail, _bytes, _emit, _errno_of, _image_options, _json, _open,
    _progress, _spec, _strerror, _table,
)


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
        raise _Fail("export error: (17) File exists", errno.EEXIST)
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
    created = False
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
            created = True
            count = int.from_bytes(_read_exact(f, 8), "little")
            with rbd.Image(io, name) as img:
                for _ in range(count):
                    _apply_diff(img, f)
        else:
            rbd_size = 0
            rbd.RBD().create(io, name, 0, **_image_options(o))
            created = True
            with rbd.Image(io, name) as img:
                while True:
                    chunk = f.read(_CHUNK)
                    if not chunk:
                        break
                    img.resize(rbd_size + len(chunk))
                    if chunk.count(0) != len(chunk):
                        img.write(chunk, rbd_size)
                    rbd_size += len(chunk)
    except (rbd.Error, OSError, _Fail) as e:
        if created:
            # as Ceph's import: a failed import leaves no half-written image behind
            try:
                rbd.RBD().remove(io, name)
            except rbd.Error:
                pass
        if isinstance(e, _Fail):
            raise _Fail(str(e).replace("import-diff failed", "import failed", 1), e.code)
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
