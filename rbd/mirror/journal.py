"""Image journal for journal-based mirroring (spec 4.1, 4.7), simplified.

Layout (image pool): `journal.<image id>` omap
    tag                 {"owner": mirror uuid of the primary ("" = this image), "demoted": bool,
                         "promoted_cleanly": bool}   (absent: a plain journaling image, primary)
    entry_<%020d tid>   one event, JSON: {"op": write|discard|zero|resize|snap_create|demote,
                         "off", "len", "data" (base64), "size", "name"}
    client_<uuid>       a registered replayer's committed tid
With the journaling feature on and journal mirroring enabled (a tag exists), each user write/discard/write_zeroes/resize/snapshot
creation through rbd.Image appends its event *before* it is applied (an event appended
whose write then fails is replayed anyway: writes are idempotent, as in Ceph where the
journal event is the source of truth). Writes made by rbd-mirror (ctx.mirror_bypass) are
not journaled. Entries every registered client committed are trimmed.
Deviations from Ceph: one omap object instead of 16 MiB splayed journal_data objects;
tids come from a per-process nanosecond clock (ordered because the exclusive lock makes
one writer at a time).
"""
from __future__ import annotations

import base64
import errno
import itertools
import json
import threading
import time

from rbd.constants import RBD_FEATURE_JOURNALING
from rbd.errors import RbdError

_lock = threading.Lock()
_last = [0]


def journal_oid(image_id: str) -> str:
    return "journal." + image_id


def _next_tid() -> int:
    with _lock:
        t = max(time.time_ns(), _last[0] + 1)
        _last[0] = t
        return t


def _ioctx(ctx):
    return ctx.io.ioctx


def _get(ioctx, oid, keys):
    import rados
    try:
        with rados.ReadOpCtx() as op:
            it, _ = ioctx.get_omap_vals_by_keys(op, tuple(keys))
            ioctx.operate_read_op(op, oid)
            return {k: json.loads(v) for k, v in it}
    except rados.ObjectNotFound:
        return {}


def _put(ioctx, oid, items: dict, remove=()):
    import rados
    with rados.WriteOpCtx() as op:
        if items:
            ks = tuple(items)
            ioctx.set_omap(op, ks, tuple(json.dumps(items[k]).encode() for k in ks))
        if remove:
            ioctx.remove_omap_keys(op, tuple(remove))
        ioctx.operate_write_op(op, oid)


def entries(ioctx, image_id: str, after: int = 0, limit: int = 1024) -> list[tuple[int, dict]]:
    import rados
    try:
        with rados.ReadOpCtx() as op:
            it, _ = ioctx.get_omap_vals(op, "entry_%020d" % after if after else "",
                                        "entry_", limit)
            ioctx.operate_read_op(op, journal_oid(image_id))
            return [(int(k[6:]), json.loads(v)) for k, v in it]
    except rados.ObjectNotFound:
        return []


def get_tag(ioctx, image_id: str):
    return _get(ioctx, journal_oid(image_id), ("tag",)).get("tag")


def set_tag(ioctx, image_id: str, tag: dict) -> None:
    _put(ioctx, journal_oid(image_id), {"tag": tag})


def tag_is_primary(tag) -> bool:
    return tag is None or (tag.get("owner", "") == "" and not tag.get("demoted"))


def require_primary(ctx) -> None:
    """ImageCtx hook: a journaling image whose tag says non-primary/demoted refuses writes."""
    if not ctx.info.features & RBD_FEATURE_JOURNALING or ctx.mirror_bypass:
        return
    if not tag_is_primary(get_tag(_ioctx(ctx), ctx.id)):
        raise RbdError(-errno.EROFS, "image is not primary (journal mirroring)")


def append(ctx, event: dict) -> None:
    """Journal one user event before it is applied (no-op without the feature)."""
    if ctx.info is None or not ctx.info.features & RBD_FEATURE_JOURNALING or \
            ctx.mirror_bypass or ctx.old_format:
        return
    ctx.require_writable() if event.get("op") != "snap_create" else \
        ctx.require_writable_or_snap_view()
    if get_tag(_ioctx(ctx), ctx.id) is None:
        return      # journaling without journal mirroring: nothing would ever trim it
    if "data" in event and isinstance(event["data"], (bytes, bytearray)):
        event = dict(event, data=base64.b64encode(bytes(event["data"])).decode())
    _put(_ioctx(ctx), journal_oid(ctx.id), {"entry_%020d" % _next_tid(): event})


def register_client(ioctx, image_id: str, client: str, position: int) -> None:
    _put(ioctx, journal_oid(image_id), {"client_" + client: position})


def committed(ioctx, image_id: str, client: str):
    return _get(ioctx, journal_oid(image_id), ("client_" + client,)).get("client_" + client)


def commit_and_trim(ioctx, image_id: str, client: str, tid: int) -> None:
    """Record the client's position, then drop entries every client has committed."""
    import rados
    register_client(ioctx, image_id, client, tid)
    with rados.ReadOpCtx() as op:
        it, _ = ioctx.get_omap_vals(op, "", "client_", 1024)
        ioctx.operate_read_op(op, journal_oid(image_id))
        positions = [json.loads(v) for _, v in it]
    if not positions:
        return
    upto = min(positions)
    old = [("entry_%020d" % t) for t, _ in itertools.takewhile(
        lambda e: e[0] <= upto, entries(ioctx, image_id, 0, 100000))]
    if old:
        _put(ioctx, journal_oid(image_id), {}, remove=old)


def last_tid(ioctx, image_id: str) -> int:
    es = entries(ioctx, image_id, 0, 1000000)
    return es[-1][0] if es else 0


def decode_data(event: dict) -> bytes:
    return base64.b64decode(event.get("data", ""))
