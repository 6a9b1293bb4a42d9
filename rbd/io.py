"""The image data path: reads, writes, discards, zeroing, trims, copy-ups, object listings.

Every request follows the same shape: map the image extent to object extents
(rbd/striping.py), submit one compound op per object — all of them at once, carrying the
image's snap context for writes or the snap id for reads — and gather the replies
afterwards. `start_*` functions submit and return a Pending whose `finish()` gathers (run by
the caller for synchronous calls, by a completion thread for aio).

Invariants:
- A read of an object that does not exist reads through to the parent (clone) within the
  overlap of the snapshot being read, else zeros; holes are never transferred.
- A write to an object that may need parent data is guarded with `assert_exists`; on
  ENOENT the object is copied up (`rbd.copyup` writes parent data only while the object is
  absent) in the same compound op as the write. For deep-flatten clones with snapshots the
  copy-up goes first under an empty snap context (and, when snapshots saw different
  overlaps, in stages), so the snapshots keep the parent's data after a flatten.
- The object map is marked EXISTS before an object is written and NONEXISTENT after it
  is removed; objects it reports NONEXISTENT are not read and not discarded.
- Discards follow librbd's defaults: with rbd_skip_partial_discard the parts of an object
  extent not aligned to rbd_discard_granularity_bytes are skipped (left as they are).
"""
from __future__ import annotations

import errno
import threading
from dataclasses import dataclass, field

from rbd import migration_io
from rbd._rados_io import pack
from rbd.constants import (
    OBJECT_EXISTS, OBJECT_EXISTS_CLEAN, OBJECT_NONEXISTENT, RBD_WRITE_ZEROES_FLAG_THICK_PROVISION,
    SNAP_HEAD,
)
from rbd.errors import RbdError
from rbd.striping import Layout, map_extent, num_objects, object_prefix_end, object_to_image

GATHER_BATCH = 1024


# -- helpers -----------------------------------------------------------------------------------
def clip_io(size: int, offset: int, length: int) -> int:
    """librbd's clip_io: length 0 is always fine; an offset at/after the end is EINVAL; a
    range running past the end is shortened."""
    if length == 0:
        return 0
    if offset >= size:
        raise RbdError(-errno.EINVAL, "I/O beyond the end of the image")
    return min(length, size - offset)


def object_chunks(layout: Layout, objectno: int) -> list[tuple[int, int, int]]:
    """The whole object as (object offset, image offset, length) pieces, object order."""
    out = []
    obj_off = 0
    for img_off, length in object_to_image(layout, objectno, 0, layout.object_size):
        out.append((obj_off, img_off, length))
        obj_off += length
    return out


def clip_chunks(chunks, limit: int) -> list[tuple[int, int, int]]:
    out = []
    for obj_off, img_off, length in chunks:
        if img_off >= limit:
            continue
        out.append((obj_off, img_off, min(length, limit - img_off)))
    return out


def object_min_offset(layout: Layout, objectno: int) -> int:
    return object_to_image(layout, objectno, 0, 1)[0][0]


def _intersect(a_off, a_len, b_off, b_len):
    start = max(a_off, b_off)
    end = min(a_off + a_len, b_off + b_len)
    return (start, end - start) if start < end else None


def pieces_to_object(pieces, chunks) -> list[list]:
    """Image data pieces -> [[object offset, bytes]] restricted to the object's chunks."""
    out = []
    for img_off, data in pieces:
        for obj_off, c_img, c_len in chunks:
            hit = _intersect(img_off, len(data), c_img, c_len)
            if hit is None:
                continue
            start, length = hit
            out.append([obj_off + (start - c_img), bytes(data[start - img_off:start - img_off + length])])
    out.sort(key=lambda p: p[0])
    return out


class Pending:
    """Submitted work; `finish()` gathers it and returns the result (or raises RbdError).

    `futures` are the replies `finish()` waits for first: an aio caller runs `finish()` once
    they are all done (`when_ready`), so no thread sits blocked on a reply in flight."""

    def __init__(self, finish, result=None, futures=()):
        self._finish = finish
        self._result = result
        self._done = finish is None
        self.futures = futures

    def when_ready(self, run) -> None:
        """Call `run()` once every future is done (at once when there is none), on the
        thread that completes the last one."""
        futures = self.futures
        if not futures:
            run()
            return
        if len(futures) == 1:
            futures[0].add_done_callback(lambda _: run())
            return
        remaining = [len(futures)]
        lock = threading.Lock()

        def one_done(_):
            with lock:
                remaining[0] -= 1
                last = remaining[0] == 0
            if last:
                run()
        for future in futures:
            future.add_done_callback(one_done)

    def finish(self):
        if not self._done:
            self._done = True
            finish, self._finish = self._finish, None
            # the replies keep their done callbacks, which reach the aio Completion: letting
            # go of them (here and in the gatherer's closure) frees the Completion with its
            # last user reference, as Ceph's binding does (its tests check
            # sys.getrefcount(comp) == 2 after the wait)
            self.futures = ()
            self._result = finish()
        return self._result


def done(result) -> Pending:
    return Pending(None, result)


# -- reads ---------------------------------------------------------------------------------------
def _map_piece(oe, base: int, e_off: int, data) -> list:
    """Object bytes [e_off, e_off+len(data)) of object extent `oe` -> image pieces."""
    out = []
    cursor = oe.offset
    end = e_off + len(data)
    for b_off, b_len in oe.buffer_extents:
        hit = _intersect(cursor, b_len, e_off, len(data))
        if hit is not None:
            start, length = hit
            img = base + b_off + (start - cursor)
            out.append((img, data[start - e_off:start - e_off + length]))
        cursor += b_len
        if cursor >= end:
            break
    return out


class ReadHandle:
    """Sparse read of image extents at a snapshot: submit now, `result()` gathers.

    The result is [(image offset, bytes-like)] of the data found (holes omitted); the pieces
    may be views into the replies, so callers copy what they keep (one copy, not three)."""

    def __init__(self, ctx, snap_id: int, extents):
        self.ctx = ctx
        self.snap_id = snap_id
        layout = ctx.layout
        by_object: dict[int, list] = {}
        for off, length in extents:
            for oe in map_extent(layout, off, length):
                by_object.setdefault(oe.objectno, []).append((oe, off))
        self.requests = []
        om = ctx.object_map if snap_id == SNAP_HEAD else None
        for objectno, items in by_object.items():
            if om is not None and om.state(objectno) == OBJECT_NONEXISTENT:
                self.requests.append((items, None))
                continue
            ops = [("sparse_read", oe.offset, oe.length) for oe, _ in items]
            future = ctx.data_io.submit(ctx.data_oid(objectno), ops, snapid=snap_id)
            self.requests.append((items, future))

    def result(self) -> list:
        ctx = self.ctx
        pieces = []
        missing = []
        for items, future in self.requests:
            reply = ctx.data_io.wait(future) if future is not None else None
            if reply is None or reply.result == -errno.ENOENT:
                for oe, base in items:
                    for b_off, b_len in oe.buffer_extents:
                        missing.append((base + b_off, b_len))
                continue
            if reply.result < 0:
                raise RbdError(reply.result, "read failed")
            for (oe, base), (rval, out) in zip(items, reply.outs):
                if rval < 0 or not out:
                    continue
                extents, data = out
                pos = 0
                for e_off, e_len in extents:
                    chunk = memoryview(data)[pos:pos + e_len]
                    pos += e_len
                    pieces.extend(_map_piece(oe, base, e_off, chunk))
        if missing:
            pieces.extend(read_parent(ctx, self.snap_id, missing))
        return [(off, d) for off, d in pieces if len(d)]


def read_parent(ctx, snap_id: int, extents) -> list:
    """Read image extents through the parent of ctx (at snap_id), clipped to the overlap.
    A migration destination reads through to its migration source instead."""
    if ctx.info.migration is not None and migration_io.dst_record(ctx.info) is not None:
        return migration_io.read_through(ctx, snap_id, extents)
    parent = ctx.parent_at(snap_id)
    if parent is None:
        return []
    overlap = ctx.overlap_at(snap_id)
    clipped = []
    for off, length in extents:
        if off >= overlap:
            continue
        clipped.append((off, min(length, overlap - off)))
    if not clipped:
        return []
    pctx = ctx.parent_ctx(parent)
    return ReadHandle(pctx, parent.spec.snap_id, clipped).result()


def start_read(ctx, offset: int, length: int) -> Pending:
    ctx.require_snap()
    length = clip_io(ctx.size_at(), offset, length)
    if length == 0:
        return done(b"")
    ctx.start_op()
    try:
        handle = ReadHandle(ctx, ctx.snap_id, [(offset, length)])
    except BaseException:
        ctx.finish_op()
        raise

    def finish():
        try:
            pieces = handle.result()
        finally:
            ctx.finish_op()
        ctx.touch_timestamp("access")
        if len(pieces) == 1 and pieces[0][0] == offset and len(pieces[0][1]) == length:
            return bytes(pieces[0][1])      # the common whole-extent read: a single copy
        buf = bytearray(length)
        for off, data in pieces:
            buf[off - offset:off - offset + len(data)] = data
        return bytes(buf)
    return Pending(finish, futures=[future for _, future in handle.requests
                                    if future is not None])


def read_sparse(ctx, snap_id: int, offset: int, length: int) -> list:
    """[(image offset, bytes)] of data in [offset, offset+length) at snap_id."""
    if length <= 0:
        return []
    return [(off, bytes(d)) for off, d in ReadHandle(ctx, snap_id, [(offset, length)]).result()]


# -- writes --------------------------------------------------------------------------------------
@dataclass
class ObjWrite:
    objectno: int
    ops: list
    ranges: list = field(default_factory=list)  # image ranges the op changes
    creates: bool = True        # the op creates the object when absent (write/copyup)
    remove: bool = False        # a 'remove' op (ENOENT is success)
    whole: bool = False         # the op leaves no byte of the old object (no parent data needed)
    copyup: bool = True         # may copy up from the parent (False for trims/rollback)


def start_writes(ctx, reqs: list[ObjWrite], result, internal: bool = False) -> Pending:
    """Submit object writes with the image snap context; finish() handles copy-ups and the
    object map and returns `result` (or raises the first error).

    `internal` requests belong to a maintenance operation that already owns the lock and
    may run while user I/O is blocked (trim, rollback, flatten, sparsify): they are not
    counted as in-flight user I/O."""
    if not reqs:
        return done(result)
    if not internal:
        ctx.start_op()
    try:
        if not internal:
            ctx.exclusive_lock.ensure_owner()
        info = ctx.info
        snapc = ctx.snapc()
        om = ctx.object_map
        parent = info.parent
        epochs = ctx.copyup_overlap_epochs()
        head_overlap = min(parent.overlap, info.size) if parent is not None else 0
        limit = max([head_overlap] + [ov for _, ov in epochs]) if parent is not None else 0
        # a migration destination copies up from its source (it never has a parent itself)
        migration_limit = migration_io.copyup_limit(ctx) if info.migration is not None else 0
        if migration_limit:
            limit = head_overlap = migration_limit
        layout = ctx.layout
        submitted = []
        direct_copyups = []
        mark = []
        for req in reqs:
            state = om.state(req.objectno)
            may_need_parent = (req.copyup and (parent is not None or migration_limit) and limit > 0
                               and object_min_offset(layout, req.objectno) < limit)
            if state == OBJECT_NONEXISTENT and not req.creates and not may_need_parent:
                continue        # discard/truncate of an absent object: nothing to do
            if req.creates or state in (OBJECT_EXISTS_CLEAN, OBJECT_EXISTS) or may_need_parent:
                mark.append(req.objectno)
            if may_need_parent and state not in (OBJECT_EXISTS, OBJECT_EXISTS_CLEAN):
                if state == OBJECT_NONEXISTENT:
                    direct_copyups.append(req)
                    continue
                ops = [("assert_exists",)] + req.ops
                guarded = True
            else:
                ops = req.ops
                guarded = False
            if not ops:
                continue
            future = ctx.data_io.submit(ctx.data_oid(req.objectno), ops, snapc=snapc)
            submitted.append((req, future, guarded))
        om.mark_exists(mark)
    except BaseException:
        if not internal:
            ctx.finish_op()
        raise

    def finish():
        try:
            error = 0
            copyups = list(direct_copyups)
            removed = []
            for req, future, guarded in submitted:
                reply = ctx.data_io.wait(future)
                if reply.result == -errno.ENOENT:
                    if guarded:
                        copyups.append(req)
                    elif req.remove:
                        removed.append(req.objectno)
                    continue
                if reply.result < 0:
                    error = error or reply.result
                    continue
                if req.remove:
                    removed.append(req.objectno)
            if copyups and not error and migration_limit:
                error = migration_io.run_copyups(ctx, copyups, snapc, limit)
            elif copyups and not error:
                error = run_copyups(ctx, copyups, snapc, epochs, head_overlap, limit)
            om.mark_removed(removed)
            if error:
                raise RbdError(error, "write failed")
            ctx.touch_timestamp("modify")
            return result
        finally:
            if not internal:
                ctx.finish_op()
    return Pending(finish, futures=[future for _, future, _ in submitted])


def _snapc_upto(info, snap_id: int):
    snaps = sorted((s for s in info.snaps if s <= snap_id), reverse=True)
    return (snap_id, snaps) if snaps else None


def run_copyups(ctx, reqs: list[ObjWrite], snapc, epochs, head_overlap: int, limit: int) -> int:
    """Copy parent data into absent child objects together with their ops. Returns 0 or
    the first -errno."""
    layout = ctx.layout
    info = ctx.info
    parent = info.parent
    om = ctx.object_map
    work = []
    for req in reqs:
        chunks = clip_chunks(object_chunks(layout, req.objectno), limit)
        if req.ranges and not req.creates and not epochs:
            # a discard of an absent object only matters where the parent shows through
            if not any(_intersect(o, l, 0, head_overlap) for o, l in req.ranges):
                continue
        need_data = bool(chunks) and (bool(epochs) or not req.whole)
        handle = None
        if need_data:
            handle = ReadHandle(ctx.parent_ctx(parent), parent.spec.snap_id,
                                [(img, length) for _, img, length in chunks])
        work.append((req, chunks, handle))
    error = 0
    if not epochs:
        futures = []
        for req, chunks, handle in work:
            pieces = handle.result() if handle is not None else []
            extents = pieces_to_object(pieces, clip_chunks(chunks, head_overlap))
            ops = [("call", "rbd", "copyup", pack({"extents": extents}))] + req.ops
            futures.append(ctx.data_io.submit(ctx.data_oid(req.objectno), ops, snapc=snapc))
        for reply in ctx.data_io.gather(futures):
            if reply.result < 0:
                error = error or reply.result
        return error
    # Staged copy-up: epoch i is what snapshots up to epochs[i] (then HEAD) must see.
    stages = [ov for _, ov in epochs] + [head_overlap]
    per_object = []
    for req, chunks, handle in work:
        pieces = handle.result() if handle is not None else []
        per_object.append((req, chunks, pieces))
    futures = []
    for req, chunks, pieces in per_object:
        extents = pieces_to_object(pieces, clip_chunks(chunks, stages[0]))
        futures.append(ctx.data_io.submit(ctx.data_oid(req.objectno), [
            ("call", "rbd", "copyup", pack({"extents": extents}))]))
    for reply in ctx.data_io.gather(futures):
        if reply.result < 0:
            error = error or reply.result
    if error:
        return error
    for i in range(1, len(stages)):
        prev, cur = stages[i - 1], stages[i]
        if prev == cur:
            continue
        stage_snapc = _snapc_upto(info, epochs[i - 1][0])
        futures = []
        for req, chunks, pieces in per_object:
            ops = []
            lo, hi = min(prev, cur), max(prev, cur)
            for obj_off, img_off, length in chunks:
                hit = _intersect(img_off, length, lo, hi - lo)
                if hit is None:
                    continue
                start, n = hit
                ops.append(("zero", obj_off + start - img_off, n))
            if cur > prev:
                for obj_off, data in pieces_to_object(pieces, [
                        c for c in clip_chunks(chunks, cur)]):
                    ops.append(("write", obj_off, data))
            if ops:
                futures.append(ctx.data_io.submit(ctx.data_oid(req.objectno), ops,
                                                  snapc=stage_snapc))
        for reply in ctx.data_io.gather(futures):
            if reply.result < 0:
                error = error or reply.result
        if error:
            return error
    if om.enabled():
        # the snapshots now hold the parent's data for these objects: the oldest one (and
        # any whose overlap differs from its predecessor) saw it change
        from rbd.header import object_map_oid
        futures = []
        prev = None
        for i, (snap_id, ov) in enumerate(epochs):
            state = OBJECT_EXISTS if i == 0 or ov != prev else OBJECT_EXISTS_CLEAN
            prev = ov
            futures.append(ctx.io.call_future(object_map_oid(ctx.id, snap_id),
                                              "object_map_update", {
                                                  "objects": [r.objectno for r, _, _ in per_object],
                                                  "state": state}))
        ctx.io.gather(futures)      # a missing snapshot map is fine (taken before object-map)
    futures = []
    for req, _, _ in per_object:
        if req.ops:
            futures.append(ctx.data_io.submit(ctx.data_oid(req.objectno), req.ops, snapc=snapc))
    for reply in ctx.data_io.gather(futures):
        if reply.result < 0:
            error = error or reply.result
    return error


def start_write(ctx, offset: int, data: bytes) -> Pending:
    ctx.require_writable()
    length = clip_io(ctx.info.size, offset, len(data))
    if length == 0:
        return done(0)
    view = memoryview(data)[:length]
    layout = ctx.layout
    object_size = layout.object_size
    reqs = []
    # bytes are immutable, so an extent covering all of them travels without a copy
    whole_bytes = type(data) is bytes and length == len(data)
    for oe in map_extent(layout, offset, length):
        if len(oe.buffer_extents) == 1:
            b_off, b_len = oe.buffer_extents[0]
            chunk = data if whole_bytes and b_len == length else bytes(view[b_off:b_off + b_len])
        else:
            chunk = b"".join(bytes(view[b:b + n]) for b, n in oe.buffer_extents)
        reqs.append(ObjWrite(oe.objectno, [("write", oe.offset, chunk)],
                             ranges=[(offset + b, n) for b, n in oe.buffer_extents],
                             whole=oe.offset == 0 and oe.length == object_size))
    return start_writes(ctx, reqs, length)


def _prune(obj_off: int, length: int, object_size: int, granularity: int):
    """librbd's discard pruning: align inward to the granularity (unless the extent
    reaches the object end and the granularity is at least the object size)."""
    if granularity <= 0:
        return obj_off, length
    granularity = min(granularity, object_size)
    end = obj_off + length
    if granularity < object_size or end < object_size:
        start = -(-obj_off // granularity) * granularity
        new_end = (end // granularity) * granularity
        if new_end <= start:
            return None
        return start, new_end - start
    return obj_off, length


def discard_requests(ctx, offset: int, length: int, granularity: int) -> list[ObjWrite]:
    layout = ctx.layout
    object_size = layout.object_size
    info = ctx.info
    parent = info.parent
    epochs = ctx.copyup_overlap_epochs()
    limit = 0
    if parent is not None:
        limit = max([min(parent.overlap, info.size)] + [ov for _, ov in epochs])
    migration_limit = migration_io.copyup_limit(ctx) if info.migration is not None else 0
    limit = max(limit, migration_limit)
    reqs = []
    for oe in map_extent(layout, offset, length):
        pruned = _prune(oe.offset, oe.length, object_size, granularity)
        if pruned is None:
            continue
        obj_off, n = pruned
        # image ranges actually discarded (for "does the parent show through here")
        ranges = object_to_image(layout, oe.objectno, obj_off, n)
        in_clone = (parent is not None or migration_limit) \
            and object_min_offset(layout, oe.objectno) < limit
        whole = obj_off == 0 and n == object_size
        if whole and not in_clone:
            reqs.append(ObjWrite(oe.objectno, [("remove",)], ranges, creates=False, remove=True,
                                 whole=True))
        elif in_clone:
            if obj_off + n == object_size:
                ops = [("truncate", obj_off)]
            else:
                ops = [("zero", obj_off, n)]
            reqs.append(ObjWrite(oe.objectno, ops, ranges, creates=False, whole=whole))
        else:
            ops = [("call", "rbd", "zero_range", pack({"offset": obj_off, "length": n}))]
            reqs.append(ObjWrite(oe.objectno, ops, ranges, creates=False))
    return reqs


def start_discard(ctx, offset: int, length: int) -> Pending:
    ctx.require_writable()
    length = clip_io(ctx.info.size, offset, length)
    if length == 0:
        return done(0)
    granularity = 0
    if ctx.io_config("rbd_skip_partial_discard"):
        granularity = int(ctx.io_config("rbd_discard_granularity_bytes") or 0)
    return start_writes(ctx, discard_requests(ctx, offset, length, granularity), length)


def start_write_zeroes(ctx, offset: int, length: int, zero_flags: int = 0) -> Pending:
    ctx.require_writable()
    if zero_flags & ~RBD_WRITE_ZEROES_FLAG_THICK_PROVISION:
        raise RbdError(-errno.EINVAL, "unknown zero flags")
    length = clip_io(ctx.info.size, offset, length)
    if length == 0:
        return done(0)
    if zero_flags & RBD_WRITE_ZEROES_FLAG_THICK_PROVISION:
        layout = ctx.layout
        reqs = []
        for oe in map_extent(layout, offset, length):
            reqs.append(ObjWrite(oe.objectno, [("writesame", oe.offset, oe.length, b"\0" * 512)
                                               if oe.length % 512 == 0 else
                                               ("write", oe.offset, bytes(oe.length))],
                                 ranges=[(offset + b, n) for b, n in oe.buffer_extents],
                                 whole=oe.offset == 0 and oe.length == layout.object_size))
        return start_writes(ctx, reqs, length)
    return start_writes(ctx, discard_requests(ctx, offset, length, 0), length)


# -- trims (resize) and rollback -------------------------------------------------------------------
def trim(ctx, old_size: int, new_size: int, on_progress=None) -> None:
    """Delete/truncate the data beyond new_size (objects keep their snapshot clones)."""
    layout = ctx.layout
    old_n = num_objects(layout, old_size)
    new_n = num_objects(layout, new_size)
    reqs = []
    if new_size > 0:
        period = layout.period
        first = ((new_size - 1) // period) * layout.stripe_count
        for objectno in range(first, new_n):
            end = object_prefix_end(layout, objectno, new_size)
            if end < layout.object_size:
                reqs.append(ObjWrite(objectno, [("truncate", end)], creates=False, copyup=False))
    om = ctx.object_map
    for objectno in range(new_n, old_n):
        if om.state(objectno) == OBJECT_NONEXISTENT:
            continue
        reqs.append(ObjWrite(objectno, [("remove",)], creates=False, remove=True, copyup=False))
    total = len(reqs)
    for i in range(0, total, GATHER_BATCH):
        start_writes(ctx, reqs[i:i + GATHER_BATCH], 0, internal=True).finish()
        if on_progress is not None:
            on_progress(min(i + GATHER_BATCH, total), total)


def rollback_objects(ctx, snap_id: int, count: int, on_progress=None) -> None:
    reqs = [ObjWrite(objectno, [("rollback", snap_id)], creates=True, copyup=False)
            for objectno in range(count)]
    total = len(reqs)
    for i in range(0, total, GATHER_BATCH):
        start_writes(ctx, reqs[i:i + GATHER_BATCH], 0, internal=True).finish()
        if on_progress is not None:
            on_progress(min(i + GATHER_BATCH, total), total)


def copyup_all(ctx, on_progress=None) -> None:
    """Flatten's data step: copy up every child object the parent still shows through."""
    info = ctx.info
    parent = info.parent
    if parent is None:
        return
    epochs = ctx.copyup_overlap_epochs()
    limit = max([min(parent.overlap, info.size)] + [ov for _, ov in epochs])
    count = num_objects(ctx.layout, limit)
    reqs = [ObjWrite(objectno, [], creates=True) for objectno in range(count)]
    total = len(reqs)
    for i in range(0, total, GATHER_BATCH):
        start_writes(ctx, reqs[i:i + GATHER_BATCH], 0, internal=True).finish()
        if on_progress is not None:
            on_progress(min(i + GATHER_BATCH, total), total)


# -- snapshot listings -----------------------------------------------------------------------------
def list_snaps_many(ctx, objectnos):
    """(objectno, list_snaps reply or None when the object never existed), in order."""
    objectnos = list(objectnos)
    for i in range(0, len(objectnos), GATHER_BATCH):
        batch = objectnos[i:i + GATHER_BATCH]
        futures = [ctx.data_io.submit(ctx.data_oid(n), [("list_snaps",)]) for n in batch]
        for objectno, future in zip(batch, futures):
            reply = ctx.data_io.wait(future)
            if reply.result == -errno.ENOENT:
                yield objectno, None
                continue
            if reply.result < 0:
                raise RbdError(reply.result, "list_snaps failed")
            yield objectno, reply.outs[0][1]


def version_at(snapset: dict | None, snap_id: int):
    """Which version of an object a snapshot sees: SNAP_HEAD, a clone id, or None."""
    if snapset is None:
        return None
    clones = snapset.get("clones") or []
    head = None
    for clone in clones:
        if clone["cloneid"] == SNAP_HEAD:
            head = clone
    if snap_id == SNAP_HEAD or snap_id > snapset.get("seq", 0):
        return SNAP_HEAD if head is not None else None
    for clone in clones:
        if clone["cloneid"] == SNAP_HEAD:
            continue
        if clone["cloneid"] >= snap_id:
            return clone["cloneid"] if snap_id in clone["snaps"] else None
    return None


def version_size(snapset: dict, version) -> int:
    for clone in snapset.get("clones") or []:
        if clone["cloneid"] == version:
            return int(clone["size"])
    return 0
