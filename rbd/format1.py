"""Format-1 (legacy) images, created only when RBD_FORCE_ALLOW_V1 is set.

Layout as librbd's: header object `<name>.rbd` holding the binary rbd_obj_header_ondisk
("<<< Rados Block Device Image >>>\\n", block name, "RBD", "001.005", order, size, snap seq,
snap count, names length) and data objects `<block name>.<%012x>`. The directory lists them
under omap keys `v1_<name>` of `rbd_directory` (librbd keeps a tmap there; ours is omap).

Supported: create, open, stat/size, read, write, discard, resize, rename, remove, list.
Snapshots of format-1 images are not implemented (OperationNotSupported).
"""
from __future__ import annotations

import errno
import os
import random
import struct

from rbd.constants import UINT64_MAX
from rbd.errors import RbdError
from rbd.header import RBD_DIRECTORY, HeaderInfo

HEADER_TEXT = b"<<< Rados Block Device Image >>>\n"
SIGNATURE = b"RBD"
VERSION = b"001.005"
SIZE_OFFSET = 40 + 24 + 4 + 8 + 4
DIR_PREFIX = "v1_"


def header_oid(name: str) -> str:
    return name + ".rbd"


def encode_header(block_name: str, order: int, size: int) -> bytes:
    return (HEADER_TEXT.ljust(40, b"\0") + block_name.encode().ljust(24, b"\0")
            + SIGNATURE.ljust(4, b"\0") + VERSION.ljust(8, b"\0")
            + struct.pack("<BBBB", order, 0, 0, 0)
            + struct.pack("<QQIIQ", size, 0, 0, 0, 0))


def decode_header(raw: bytes) -> dict:
    if len(raw) < SIZE_OFFSET + 32 or not raw.startswith(HEADER_TEXT):
        raise RbdError(-errno.EIO, "bad format 1 header")
    block_name = raw[40:64].split(b"\0", 1)[0].decode()
    order = raw[76]
    size, snap_seq, snap_count, _, _ = struct.unpack("<QQIIQ", raw[SIZE_OFFSET:SIZE_OFFSET + 32])
    return {"block_name": block_name, "order": order, "size": size, "snap_seq": snap_seq,
            "snap_count": snap_count}


def exists(io, name: str | None) -> bool:
    if not name:
        return False
    try:
        return io.exists(header_oid(name))
    except RbdError:
        return False


def create(io, name: str, size: int, order: int) -> None:
    rng = random.Random(os.urandom(8))
    block_name = "rb.0.%x.%08x" % (io.gid & 0xffffffff, rng.getrandbits(32))
    reply = io.operate(header_oid(name), [("create", True),
                                          ("write_full", encode_header(block_name, order, size))])
    if reply.result < 0:
        raise RbdError(reply.result, "cannot create format 1 header")
    reply = io.operate(RBD_DIRECTORY, [("omap_set", {DIR_PREFIX + name: b""})])
    if reply.result < 0:
        io.remove(header_oid(name))
        raise RbdError(reply.result, "cannot add format 1 image to the directory")


def list_names(io) -> list[str]:
    reply = io.operate(RBD_DIRECTORY, [("omap_get_vals", "", DIR_PREFIX, 1 << 30)])
    if reply.result < 0:
        return []
    vals, _ = reply.outs[0][1]
    return [k[len(DIR_PREFIX):] for k in vals]


def _read_header(io, name: str) -> dict:
    reply = io.operate(header_oid(name), [("read", 0, 0)])
    if reply.result < 0:
        raise RbdError(reply.result, "cannot read format 1 header")
    return decode_header(reply.outs[0][1])


def open_ctx(ctx) -> None:
    ctx.old_format = True
    ctx.id = ""
    ctx.header_oid = header_oid(ctx.name)
    refresh(ctx)
    if ctx.want_watch:
        ctx.watch_cookie = ctx.io.watch(ctx.header_oid, ctx._on_notify, ctx._on_watch_error)


def refresh(ctx) -> None:
    hdr = _read_header(ctx.io, ctx.name)
    ctx.info = HeaderInfo(
        size=hdr["size"], order=hdr["order"], features=0, object_prefix=hdr["block_name"],
        snap_seq=hdr["snap_seq"], create_timestamp=0.0, access_timestamp=0.0,
        modify_timestamp=0.0, data_pool_id=-1, stripe_unit=0, stripe_count=0, flags=0,
        op_features=0, snap_limit=UINT64_MAX, parent=None, snaps={}, old_format=True)
    ctx.data_io = ctx.io
    ctx.refresh_needed = False


def resize(ctx, size: int) -> None:
    from rbd import io as image_io
    old = ctx.info.size
    if size < old:
        image_io.trim(ctx, old, size)
    reply = ctx.io.operate(ctx.header_oid, [("write", SIZE_OFFSET, struct.pack("<Q", size))])
    if reply.result < 0:
        raise RbdError(reply.result, "cannot update format 1 header")
    ctx.notify_update()


def remove(io, name: str, on_progress=None) -> None:
    from rbd.striping import Layout, num_objects
    if io.list_watchers(header_oid(name)):
        raise RbdError(-errno.EBUSY, "image still has watchers")
    hdr = _read_header(io, name)
    count = num_objects(Layout.from_order(hdr["order"]), hdr["size"])
    futures = [io.submit("%s.%012x" % (hdr["block_name"], n), [("remove",)]) for n in range(count)]
    for reply in io.gather(futures):
        if reply.result < 0 and reply.result != -errno.ENOENT:
            raise RbdError(reply.result, "cannot remove data object")
    if on_progress is not None:
        on_progress(count, count)
    io.remove(header_oid(name))
    io.operate(RBD_DIRECTORY, [("omap_rm_keys", [DIR_PREFIX + name])])


def rename(io, src: str, dest: str) -> None:
    reply = io.operate(header_oid(src), [("read", 0, 0)])
    if reply.result < 0:
        raise RbdError(reply.result, "cannot read format 1 header")
    raw = reply.outs[0][1]
    reply = io.operate(header_oid(dest), [("create", True), ("write_full", raw)])
    if reply.result < 0:
        raise RbdError(reply.result, "cannot create format 1 header")
    io.remove(header_oid(src))
    io.operate(RBD_DIRECTORY, [("omap_rm_keys", [DIR_PREFIX + src]),
                               ("omap_set", {DIR_PREFIX + dest: b""})])


def _unsupported(*_args, **_kwargs):
    raise RbdError(-errno.EOPNOTSUPP, "snapshots of format 1 images are not supported")


snap_create = snap_remove = snap_rollback = _unsupported
