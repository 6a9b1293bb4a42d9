"""diff_iterate: the extents that changed between a snapshot (or the beginning) and the
snapshot/HEAD being viewed.

Two sources, both per data object:
- fast-diff (whole_object with valid object maps): the maps of every snapshot in the range
  say which objects were written (EXISTS) or appeared/disappeared — no data object is read;
- otherwise `list_snaps`: which clone each end sees and the clone overlaps (the byte ranges
  a clone shares with the next newer version) give the changed byte ranges.

Reported extents follow the current binding: outside whole-object mode each extent is
widened to 4 KiB boundaries (start rounded down, end rounded up) and clipped to the query;
extents are merged within one object set and reported in image order.
"""
from __future__ import annotations

import errno

from rbd import io as image_io
from rbd import migration_io
from rbd import object_map as om_mod
from rbd.constants import OBJECT_EXISTS, OBJECT_NONEXISTENT, SNAP_HEAD
from rbd.errors import RbdError
from rbd.striping import num_objects, object_to_image

DIFF_GRANULARITY_BYTES = 4096


def _norm(extents):
    out = []
    for off, length in sorted(e for e in extents if e[1] > 0):
        if out and off <= out[-1][0] + out[-1][1]:
            end = max(out[-1][0] + out[-1][1], off + length)
            out[-1] = (out[-1][0], end - out[-1][0])
        else:
            out.append((off, length))
    return out


def _subtract(a, b):
    out = []
    for off, length in a:
        start, end = off, off + length
        for b_off, b_len in b:
            b_end = b_off + b_len
            if b_end <= start or b_off >= end:
                continue
            if b_off > start:
                out.append((start, b_off - start))
            start = max(start, b_end)
            if start >= end:
                break
        if start < end:
            out.append((start, end - start))
    return out


def _intersect(a, b):
    out = []
    for a_off, a_len in a:
        for b_off, b_len in b:
            start = max(a_off, b_off)
            end = min(a_off + a_len, b_off + b_len)
            if start < end:
                out.append((start, end - start))
    return _norm(out)


def _clones(snapset) -> list[dict]:
    return sorted(snapset.get("clones") or [], key=lambda c: c["cloneid"])


def object_diff(snapset, from_snap: int | None, end_snap: int):
    """[(obj_off, len, exists)] changed in one object between from_snap (None: beginning)
    and end_snap, in object coordinates."""
    v_end = image_io.version_at(snapset, end_snap)
    v_from = image_io.version_at(snapset, from_snap) if from_snap is not None else None
    if v_end is None and v_from is None:
        return []
    if v_from == v_end:
        return []
    size_end = image_io.version_size(snapset, v_end) if v_end is not None else 0
    size_from = image_io.version_size(snapset, v_from) if v_from is not None else 0
    if v_end is None:
        return [(0, size_from, False)] if size_from else []
    if v_from is None:
        return [(0, size_end, True)] if size_end else []
    clones = _clones(snapset)
    ids = [c["cloneid"] for c in clones]
    i, j = ids.index(v_from), ids.index(v_end)
    unchanged = [(0, min(size_from, size_end))]
    for k in range(i, j):
        unchanged = _intersect(unchanged, _norm([tuple(e) for e in clones[k]["overlap"]]))
    span = max(size_from, size_end)
    changed = _subtract([(0, span)], unchanged) if span else []
    out = []
    for off, length in changed:
        if off < size_end:
            n = min(length, size_end - off)
            out.append((off, n, True))
            if n < length:
                out.append((off + n, length - n, False))
        else:
            out.append((off, length, False))
    return out


def _round(off: int, length: int) -> tuple[int, int]:
    g = DIFF_GRANULARITY_BYTES
    start = (off // g) * g
    end = -(-(off + length) // g) * g
    return start, end - start


def diff_iterate(ctx, offset: int, length: int, from_snap_name, cb, include_parent: bool,
                 whole_object: bool) -> None:
    """Call cb(offset, length, exists) per changed extent. A callback returning a negative
    int aborts with that errno (RbdError); callback exceptions propagate."""
    ctx.require_snap()
    end_snap = ctx.snap_id
    from_snap = None
    if from_snap_name is not None:
        snap = ctx.info.snap_by_name(from_snap_name)
        if snap is None:
            raise RbdError(-errno.ENOENT, "from snapshot not found")
        from_snap = snap.id
        if from_snap == end_snap:
            return
        if end_snap != SNAP_HEAD and from_snap > end_snap:
            raise RbdError(-errno.EINVAL, "from snapshot is newer than the end snapshot")
    end_size = ctx.size_at(end_snap)
    from_size = ctx.size_at(from_snap) if from_snap is not None else 0
    limit = max(end_size, from_size)
    if offset >= limit or length == 0:
        return
    length = min(length, limit - offset)
    for off, n, exists in compute(ctx, offset, length, from_snap, end_snap, include_parent,
                                  whole_object):
        ret = cb(off, n, exists)
        if ret is not None and isinstance(ret, int) and ret < 0:
            raise RbdError(ret, "diff callback aborted")


def compute(ctx, offset, length, from_snap, end_snap, include_parent, whole_object):
    """The list of (image offset, length, exists) for diff_iterate, in image order."""
    layout = ctx.layout
    end = offset + length
    objects = set()
    from rbd.striping import map_extent
    for oe in map_extent(layout, offset, length):
        objects.add(oe.objectno)
    objects = sorted(objects)
    if not objects:
        return []
    parent_extents = []
    if include_parent and from_snap is None and migration_io.dst_record(ctx.info) is not None:
        # a migration destination's objects not yet copied show the source's data
        parent_extents = migration_io.source_extents(ctx, end_snap, offset, end, whole_object)
    elif include_parent and from_snap is None:
        parent = ctx.parent_at(end_snap)
        overlap = ctx.overlap_at(end_snap)
        if parent is not None and overlap > offset:
            pctx = ctx.parent_ctx(parent)
            plen = min(end, overlap) - offset
            parent_extents = [(o, n) for o, n, e in compute(
                pctx, offset, plen, None, parent.spec.snap_id, True, whole_object) if e]
    per_object: dict[int, list] = {}
    absent: set[int] = set()
    absent_both: set[int] = set()       # absent at both ends: only the parent shows there
    appeared: set[int] = set()          # absent at the start (parent showed), present at the end
    vanished: set[int] = set()          # present at the start, absent at the end
    snaps_in_range = [s for s in sorted(ctx.info.snaps)
                      if (from_snap is None or s > from_snap)
                      and (end_snap == SNAP_HEAD or s <= end_snap)]
    map_ids = snaps_in_range + ([SNAP_HEAD] if end_snap == SNAP_HEAD else [])
    use_fast = (whole_object and om_mod.usable_for_diff(
        ctx, map_ids + ([from_snap] if from_snap is not None else []))
        and not parent_extents)
    maps = None
    if use_fast:
        maps = {}
        for snap_id in ([from_snap] if from_snap is not None else []) + map_ids:
            loaded = om_mod.load(ctx, snap_id)
            if loaded is None:
                use_fast = False
                break
            maps[snap_id] = loaded
    if use_fast:
        for objectno in objects:
            prev = False
            if from_snap is not None:
                count, bits = maps[from_snap]
                prev = objectno < count and om_mod.om_get(bits, objectno) != OBJECT_NONEXISTENT
            changed = False
            exists = prev
            for snap_id in map_ids:
                count, bits = maps[snap_id]
                state = om_mod.om_get(bits, objectno) if objectno < count else OBJECT_NONEXISTENT
                now = state != OBJECT_NONEXISTENT
                if state == OBJECT_EXISTS or now != exists:
                    changed = True
                exists = now
            if exists and not prev:
                appeared.add(objectno)
            elif prev and not exists:
                vanished.add(objectno)
            if changed:
                per_object[objectno] = [(0, layout.object_size, exists)]
            elif not exists:
                absent.add(objectno)
                if not prev:
                    absent_both.add(objectno)
    else:
        for objectno, snapset in image_io.list_snaps_many(ctx, objects):
            if snapset is None or image_io.version_at(snapset, end_snap) is None:
                absent.add(objectno)
                if from_snap is None or snapset is None or \
                        image_io.version_at(snapset, from_snap) is None:
                    absent_both.add(objectno)
            if snapset is None:
                continue
            at_end = image_io.version_at(snapset, end_snap) is not None
            at_start = from_snap is not None and \
                image_io.version_at(snapset, from_snap) is not None
            if at_end and not at_start:
                appeared.add(objectno)
            elif at_start and not at_end:
                vanished.add(objectno)
            diffs = object_diff(snapset, from_snap, end_snap)
            if not diffs:
                continue
            if whole_object:
                exists = image_io.version_at(snapset, end_snap) is not None
                per_object[objectno] = [(0, layout.object_size, exists)]
            else:
                per_object[objectno] = [(*_round(o, n), e) for o, n, e in diffs]
    results = []
    for objectno, diffs in per_object.items():
        for o, n, exists in diffs:
            n = min(n, layout.object_size - o)
            for img_off, img_len in object_to_image(layout, objectno, o, n):
                results.append((img_off, img_len, exists))
    if parent_extents:
        for objectno in absent:
            chunks = [(img, n) for _, img, n in image_io.object_chunks(layout, objectno)]
            if whole_object:
                if _intersect(chunks, parent_extents):
                    results.extend((img, n, True) for img, n in chunks)
            else:
                results.extend((o, n, True) for o, n in _intersect(chunks, parent_extents))
    if from_snap is not None:
        # where neither end has the object, the parent shows through up to each end's
        # overlap: a range between the two overlaps changed (e.g. after a rollback)
        p_from, p_end = ctx.parent_at(from_snap), ctx.parent_at(end_snap)
        ov_from = ctx.overlap_at(from_snap) if p_from is not None else 0
        ov_end = ctx.overlap_at(end_snap) if p_end is not None else 0
        same = p_from is None or p_end is None or p_from.spec == p_end.spec
        # an object that appeared hides what the parent showed at the start; one that
        # vanished lets the parent show again: both ranges changed
        for objectno, ov in [(n, ov_from) for n in appeared if p_from is not None] + \
                [(n, ov_end) for n in vanished if p_end is not None]:
            chunks = [(img, n) for _, img, n in image_io.object_chunks(layout, objectno)]
            for o, n in _intersect(chunks, [(0, ov)]):
                results.append((o, n, True))
        if same and ov_from != ov_end:
            lo, hi = min(ov_from, ov_end), max(ov_from, ov_end)
            for objectno in absent_both:
                chunks = [(img, n) for _, img, n in image_io.object_chunks(layout, objectno)]
                for o, n in _intersect(chunks, [(lo, hi - lo)]):
                    results.append((o, n, ov_end > ov_from))
    # clip to the query and merge within an object set
    period = layout.period
    clipped = []
    for off, n, exists in results:
        start = max(off, offset)
        stop = min(off + n, end)
        if start < stop:
            clipped.append((start, stop - start, exists))
    clipped.sort()
    out = []
    for off, n, exists in clipped:
        if out:
            p_off, p_len, p_exists = out[-1]
            same_set = p_off // period == off // period
            if same_set and p_exists == exists and off <= p_off + p_len:
                new_end = max(p_off + p_len, off + n)
                out[-1] = (p_off, new_end - p_off, exists)
                continue
            if off < p_off + p_len:      # overlap with a different flag: keep the newer part
                off, n = p_off + p_len, off + n - (p_off + p_len)
                if n <= 0:
                    continue
        out.append((off, n, exists))
    return out


def used_objects(ctx) -> int:
    """How many data objects HEAD holds (object map when usable, else list_snaps)."""
    count = num_objects(ctx.layout, ctx.info.size)
    n = 0
    for _, snapset in image_io.list_snaps_many(ctx, range(count)):
        if snapset is not None and image_io.version_at(snapset, SNAP_HEAD) is not None:
            n += 1
    return n
