"""The data path of a migration destination: read-through to the source and deep copy-up.

A destination (header record `header_type` "dst", osd/cls/rbd_migration.py) behaves like a
clone whose parent is the migration source, with one difference that matters: the source
goes away at commit, so an object copied into the destination must carry its whole history.
A copy-up therefore rebuilds the object stage by stage — one stage per destination snapshot,
oldest first, each written under the snap context of the snapshots before it (so the OSD
keeps the previous stage as that snapshot's clone), then HEAD together with the triggering
write — instead of copying HEAD data only.

Invariants:
- An object below the copy-up limit that is absent from the destination reads through to
  the source, at the source snapshot its destination snapshot was made from, clipped to that
  snapshot's overlap; once present it is never read through again.
- A copied object is created by exactly one writer: the first stage is an exclusive create
  (or the `copyup` class method when there are no snapshots) and a loser only applies its
  own write. Objects already holding history (clones) are never rebuilt.
- A copy never removes an object: a stage without data leaves it empty (truncated), so the
  source can no longer show through and the object keeps its clones.

Known window: with destination snapshots the stages are separate writes. While they are in
flight a reader on another client may see an older snapshot's bytes in that object's HEAD,
and without the exclusive-lock feature (which serialises writers) a write from another
client landing between two stages is overwritten by the later ones. Ceph closes both with
the exclusive lock; one writer, or writers under exclusive-lock, are safe here.
"""
from __future__ import annotations

import errno

from rbd._rados_io import pack
from rbd.constants import OBJECT_EXISTS, SNAP_HEAD
from rbd.errors import RbdError
from rbd.header import object_map_oid
from rbd.striping import num_objects


def dst_record(info) -> dict | None:
    """The migration record of a destination header, else None."""
    record = info.migration if info is not None else None
    if isinstance(record, dict) and record.get("header_type") == "dst":
        return record
    return None


def source_of(ctx):
    """The source the destination ctx reads through to (opened once, closed with ctx)."""
    from rbd.migration_source import NativeSource, open_source, parse_spec
    record = dst_record(ctx.info)
    if record is None:
        raise RbdError(-errno.EINVAL, "image is not a migration destination")
    with ctx.lock:
        if ctx.migration_source is not None:
            return ctx.migration_source
    if record.get("source_spec"):
        source = open_source(ctx.io, parse_spec(record["source_spec"]))
    else:
        if record["pool_id"] not in ctx.io.client.osdmap.pools:
            raise RbdError(-errno.ENOENT, "migration source pool is gone")
        src_io = ctx.io.with_pool(record["pool_id"], record.get("pool_namespace", ""))
        source = NativeSource.open_image(src_io, record["image_id"])
    with ctx.lock:
        if ctx.migration_source is None:
            ctx.migration_source = source
            return source
        keep = ctx.migration_source
    source.close()
    return keep


def stage_for(ctx, snap_id: int) -> tuple[int, int]:
    """(source snapshot id, overlap) that destination view `snap_id` reads through to."""
    record = dst_record(ctx.info)
    if snap_id == SNAP_HEAD:
        return SNAP_HEAD, min(record["overlap"], ctx.info.size)
    size = ctx.size_at(snap_id)
    for dst_snap, src_snap, overlap in record["snaps"]:
        if dst_snap == snap_id:
            return src_snap, min(overlap, size)
    return SNAP_HEAD, min(record["overlap"], size)


def copyup_limit(ctx) -> int:
    """Image bytes below which an absent destination object may still read through (0 when
    ctx is not a migration destination)."""
    if dst_record(ctx.info) is None:
        return 0
    limits = [stage_for(ctx, SNAP_HEAD)[1]]
    limits += [stage_for(ctx, snap_id)[1] for snap_id in ctx.info.snaps]
    return max(limits)


def read_through(ctx, snap_id: int, extents) -> list:
    """Pieces [(image offset, bytes)] of the source for destination extents at snap_id."""
    src_snap, overlap = stage_for(ctx, snap_id)
    clipped = [(off, min(length, overlap - off)) for off, length in extents if off < overlap]
    if not clipped:
        return []
    return source_of(ctx).start_read(src_snap, clipped).result()


def source_extents(ctx, snap_id: int, offset: int, end: int, whole_object: bool) -> list:
    """[(offset, length)] in [offset, end) where destination view `snap_id` shows source data
    (diff_iterate's parent extents): a native source's own diff, a raw file's non-zero runs."""
    src_snap, overlap = stage_for(ctx, snap_id)
    if overlap <= offset:
        return []
    length = min(end, overlap) - offset
    source = source_of(ctx)
    src_ctx = getattr(source, "ctx", None)
    if src_ctx is not None:
        from rbd import diff
        return [(o, n) for o, n, exists in diff.compute(
            src_ctx, offset, length, None, source.resolve_snap(src_snap), True, whole_object)
            if exists]
    return [(o, len(d)) for o, d in source.start_read(src_snap, [(offset, length)]).result()]


def _stages(ctx) -> list[tuple[int, int, int]]:
    """[(destination snap id, source snap id, overlap)], oldest snapshot first, HEAD last."""
    out = []
    for snap_id in sorted(ctx.info.snaps):
        out.append((snap_id,) + stage_for(ctx, snap_id))
    return out + [(SNAP_HEAD,) + stage_for(ctx, SNAP_HEAD)]


def _write_ops(extents) -> list:
    return [("write", off, data) for off, data in extents]


def run_copyups(ctx, reqs, snapc, limit: int) -> int:
    """Deep-copy the absent objects of `reqs` from the source, then apply their ops.
    Returns 0 or the first -errno (rbd/io.py's start_writes calls this)."""
    from rbd.io import _intersect, clip_chunks, object_chunks, pieces_to_object
    layout = ctx.layout
    source = source_of(ctx)
    stages = _stages(ctx)
    head_overlap = stages[-1][2]
    work = []
    for req in reqs:
        if req.ranges and not req.creates \
                and not any(_intersect(o, n, 0, head_overlap) for o, n in req.ranges):
            continue        # a discard where nothing shows through: the object stays absent
        chunks = clip_chunks(object_chunks(layout, req.objectno), limit)
        reads = []
        for dst_snap, src_snap, overlap in stages:
            clipped = clip_chunks(chunks, overlap)
            if dst_snap == SNAP_HEAD and req.whole and len(stages) == 1:
                clipped = []        # overwritten whole: nothing of HEAD survives
            reads.append((clipped, source.start_read(
                src_snap, [(img, n) for _, img, n in clipped])))
        work.append((req, reads))
    if len(stages) == 1:
        futures = []
        for req, reads in work:
            clipped, handle = reads[0]
            extents = pieces_to_object(handle.result(), clipped)
            ops = [("call", "rbd", "copyup", pack({"extents": extents}))] + req.ops
            futures.append(ctx.data_io.submit(ctx.data_oid(req.objectno), ops, snapc=snapc))
        return _first_error(ctx, futures)
    return _staged_copyups(ctx, work, stages, snapc)


def _first_error(ctx, futures) -> int:
    error = 0
    for reply in ctx.data_io.gather(futures):
        if reply.result < 0:
            error = error or reply.result
    return error


def _staged_copyups(ctx, work, stages, snapc) -> int:
    from rbd.io import pieces_to_object
    # objects that already hold history (a copy or a trim got there first) keep it
    history = [ctx.data_io.submit(ctx.data_oid(req.objectno), [("list_snaps",)])
               for req, _ in work]
    created: dict[int, bool] = {}       # objectno -> True: ours; False: someone else's
    for (req, _), reply in zip(work, ctx.data_io.gather(history)):
        if reply.result == 0:
            created[req.objectno] = False
        elif reply.result != -errno.ENOENT:
            return reply.result
    snap_ids = [dst_snap for dst_snap, _, _ in stages[:-1]]
    om_enabled = ctx.object_map.enabled()
    for i, (dst_snap, _, _) in enumerate(stages):
        head = dst_snap == SNAP_HEAD
        if head:
            stage_snapc = snapc
        elif i == 0:
            stage_snapc = None
        else:
            stage_snapc = (snap_ids[i - 1], sorted(snap_ids[:i], reverse=True))
        futures = []
        for req, reads in work:
            state = created.get(req.objectno)
            if state is False:
                if head and req.ops:
                    futures.append((req, ctx.data_io.submit(
                        ctx.data_oid(req.objectno), req.ops, snapc=snapc), False))
                continue
            clipped, handle = reads[i]
            extents = pieces_to_object(handle.result(), clipped)
            if state:
                ops = [("truncate", 0)] + _write_ops(extents)
            elif head:
                ops = [("call", "rbd", "copyup", pack({"extents": extents}))]
            elif extents:
                ops = [("create", True)] + _write_ops(extents)
            else:
                continue            # absent at this snapshot: stays absent
            if head:
                ops += req.ops
            futures.append((req, ctx.data_io.submit(ctx.data_oid(req.objectno), ops,
                                                    snapc=stage_snapc), state is None))
        error = 0
        present = []
        for req, future, creating in futures:
            reply = ctx.data_io.wait(future)
            if creating and reply.result == -errno.EEXIST:
                created[req.objectno] = False       # a racing copy-up created it
                continue
            if reply.result < 0:
                error = error or reply.result
                continue
            created[req.objectno] = True
            present.append(req.objectno)
        if error:
            return error
        if om_enabled and not head and present:
            # fast-diff / diff_iterate read the snapshot's map: the object exists there now
            try:
                ctx.io.call(object_map_oid(ctx.id, dst_snap), "object_map_update",
                            {"objects": sorted(set(present)), "state": OBJECT_EXISTS})
            except RbdError:
                pass        # a snapshot taken before object-map was enabled has no map
    return 0


def copy_all(ctx, on_progress=None) -> None:
    """migration_execute's data step: deep-copy every object that still reads through.
    The caller owns the exclusive lock (internal writes do not take it)."""
    from rbd.io import GATHER_BATCH, ObjWrite, start_writes
    limit = copyup_limit(ctx)
    count = num_objects(ctx.layout, limit) if limit else 0
    for start in range(0, count, GATHER_BATCH):
        end = min(count, start + GATHER_BATCH)
        batch = [ObjWrite(n, [], creates=True) for n in range(start, end)]
        start_writes(ctx, batch, 0, internal=True).finish()
        if on_progress is not None:
            on_progress(end, count)
    if count == 0 and on_progress is not None:
        on_progress(0, 0)
