"""Image journal for journal-based mirroring (spec 4.1, 4.7), simplified.

Layout, in the image's pool:
    journal.<image id>            header, omap:
        tag                 {"owner": mirror uuid of the primary ("" = this image), "demoted": bool,
                             "promoted_cleanly": bool}   (absent: a plain journaling image, primary)
        client_<uuid>       a registered replayer's committed tid
        set_<%020d n>       object set n holds entries (registered before its first entry)
    journal_data.<pool id>.<image id>.<object_of(tid)>   (n * SPLAY_WIDTH .. + SPLAY_WIDTH - 1)
                                  entries of object set n, omap:
        entry_<%020d tid>   one event, JSON: {"op": write|discard|zero|resize|snap_create|demote,
                             "off", "len", "data" (base64), "size", "name"}
Entries are splayed over SPLAY_WIDTH objects per set, as Ceph's journaler splays them; a tid
is a nanosecond clock value (ordered because the exclusive lock makes one writer at a time) and
its object set is tid >> SET_SHIFT, one set per ~8.6 s of writing, so a writer finds its object
without reading anything. Readers merge a set's objects by tid.
With the journaling feature on and journal mirroring enabled (a tag exists), each user write/
discard/write_zeroes/resize/snapshot creation through rbd.Image appends its event *before* it
is applied (an event appended whose write then fails is replayed anyway: writes are
idempotent, as in Ceph where the journal event is the source of truth). Writes made by
rbd-mirror (ctx.mirror_bypass) are not journaled. Trim: once every registered client has
committed past an object set its objects are removed; in the set holding the slowest
position the committed entries are removed from the objects.
Deviations from Ceph: entries live in omap rather than appended to 16 MiB data objects, and
object sets follow time rather than object fullness.
"""
from __future__ import annotations

import base64
import errno
import json
import threading
import time

from rbd.constants import RBD_FEATURE_JOURNALING
from rbd.errors import RbdError

_lock = threading.Lock()
_last = [0]
SPLAY_WIDTH = 4
SET_SHIFT = 33
ENTRY = "entry_%020d"


def journal_oid(image_id: str) -> str:
    return "journal." + image_id


def data_oid(ioctx, image_id: str, objno: int) -> str:
    return "journal_data.%d.%s.%d" % (ioctx.get_pool_id(), image_id, objno)


def set_of(tid: int) -> int:
    return tid >> SET_SHIFT


def object_of(tid: int) -> int:
    """The object number of entry `tid`: its set's objects, picked by a mix of the tid (clock
    values can be multiples of a coarse resolution; a plain modulo would pick one object)."""
    mixed = ((tid * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF) >> 32
    return set_of(tid) * SPLAY_WIDTH + mixed % SPLAY_WIDTH


def set_objects(ioctx, image_id: str, set_no: int) -> list[str]:
    return [data_oid(ioctx, image_id, set_no * SPLAY_WIDTH + i) for i in range(SPLAY_WIDTH)]


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


def _omap(ioctx, oid, start_after: str, prefix: str, limit: int) -> list[tuple[str, bytes]]:
    import rados
    try:
        with rados.ReadOpCtx() as op:
            it, _ = ioctx.get_omap_vals(op, start_after, prefix, limit)
            ioctx.operate_read_op(op, oid)
            return list(it)
    except rados.ObjectNotFound:
        return []


def sets(ioctx, image_id: str) -> list[int]:
    """The registered object sets, oldest first."""
    return [json.loads(v) for _, v in _omap(ioctx, journal_oid(image_id), "", "set_", 1 << 20)]


def entries(ioctx, image_id: str, after: int = 0, limit: int = 1024) -> list[tuple[int, dict]]:
    """Up to `limit` entries with tid > `after`, in tid order."""
    out: list[tuple[int, dict]] = []
    start = ENTRY % after if after else ""
    for set_no in sets(ioctx, image_id):
        if set_no < set_of(after):
            continue
        merged = []
        for oid in set_objects(ioctx, image_id, set_no):
            merged += [(int(k[6:]), json.loads(v))
                       for k, v in _omap(ioctx, oid, start, "entry_", limit)]
        merged.sort(key=lambda e: e[0])
        out += merged[:limit - len(out)]
        if len(out) >= limit:
            break
    return out


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
    ioctx = _ioctx(ctx)
    tid = _next_tid()
    set_key = "set_%020d" % set_of(tid)
    header = _get(ioctx, journal_oid(ctx.id), ("tag", set_key))
    if header.get("tag") is None:
        return      # journaling without journal mirroring: nothing would ever trim it
    if "data" in event and isinstance(event["data"], (bytes, bytearray)):
        event = dict(event, data=base64.b64encode(bytes(event["data"])).decode())
    if set_key not in header:
        # readers find entries through the header's sets: register before the first entry
        _put(ioctx, journal_oid(ctx.id), {set_key: set_of(tid)})
    _put(ioctx, data_oid(ioctx, ctx.id, object_of(tid)),
         {ENTRY % tid: event})


def register_client(ioctx, image_id: str, client: str, position: int) -> None:
    _put(ioctx, journal_oid(image_id), {"client_" + client: position})


def committed(ioctx, image_id: str, client: str):
    return _get(ioctx, journal_oid(image_id), ("client_" + client,)).get("client_" + client)


def commit_and_trim(ioctx, image_id: str, client: str, tid: int) -> None:
    """Record the client's position, then drop what every client has committed."""
    import rados
    register_client(ioctx, image_id, client, tid)
    positions = [json.loads(v) for _, v in
                 _omap(ioctx, journal_oid(image_id), "", "client_", 1024)]
    if not positions or not min(positions):
        return
    upto = min(positions)
    for set_no in sets(ioctx, image_id):
        if set_no > set_of(upto):
            break
        for oid in set_objects(ioctx, image_id, set_no):
            try:
                if set_no < set_of(upto):
                    ioctx.remove_object(oid)
                else:
                    with rados.WriteOpCtx() as op:
                        ioctx.remove_omap_range2(op, ENTRY % 0, ENTRY % (upto + 1))
                        ioctx.operate_write_op(op, oid)
            except rados.ObjectNotFound:
                pass
        if set_no < set_of(upto):
            _put(ioctx, journal_oid(image_id), {}, remove=("set_%020d" % set_no,))


def last_tid(ioctx, image_id: str) -> int:
    known = sets(ioctx, image_id)
    if not known:
        return 0
    tids = [int(k[6:]) for oid in set_objects(ioctx, image_id, known[-1])
            for k, _ in _omap(ioctx, oid, "", "entry_", 1 << 20)]
    return max(tids, default=0)


def remove(ioctx, image_id: str) -> None:
    """Delete the journal: its data objects and header."""
    import rados
    for set_no in sets(ioctx, image_id):
        for oid in set_objects(ioctx, image_id, set_no):
            try:
                ioctx.remove_object(oid)
            except rados.ObjectNotFound:
                pass
    try:
        ioctx.remove_object(journal_oid(image_id))
    except rados.ObjectNotFound:
        pass


def decode_data(event: dict) -> bytes:
    return base64.b64decode(event.get("data", ""))
