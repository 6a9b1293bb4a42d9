"""Snapshot bookkeeping of one head object: SnapSet, clones, overlap extents.

Ceph's model (docs: shared/spec/librbd.md 3.1):
- A head carries a SnapSet `(seq, clones)`. `seq` is the newest snap id the object has been
  written under. Each clone is named by a snap id (`cloneid`) and stands for the snap ids in
  `snaps` (newest first); `size` is the clone's size; `overlap` lists the byte extents
  `(off, len)` the clone shares with the next newer clone (or the head, for the newest one).
- Clones are ordered by increasing cloneid; every clone id is <= seq.

Invariants kept here:
- SnapSet and Clone are immutable tuples. Every change builds a new value, so the same
  SnapSet object may be referenced by a primary's store, a transaction in flight and an
  in-process replica without any of them seeing another's later changes.
- Extent lists are sorted, non-overlapping, non-adjacent `(off, len)` tuples with len > 0.
"""
from __future__ import annotations

from typing import NamedTuple

from osd.messages import SNAP_HEAD


class Clone(NamedTuple):
    cloneid: int
    snaps: tuple            # snap ids this clone stands for, newest first
    size: int
    overlap: tuple          # ((off, len), ...) shared with the next newer clone / head


class SnapSet(NamedTuple):
    seq: int = 0
    clones: tuple = ()      # Clone, by increasing cloneid


EMPTY_SNAPSET = SnapSet()


# -- extents ----------------------------------------------------------------------------------
def extents_normalize(extents) -> tuple:
    """Sort and merge (off, len) extents; drop empty ones."""
    out: list[list[int]] = []
    for off, length in sorted(e for e in extents if e[1] > 0):
        if out and off <= out[-1][0] + out[-1][1]:
            end = max(out[-1][0] + out[-1][1], off + length)
            out[-1][1] = end - out[-1][0]
        else:
            out.append([off, length])
    return tuple((o, n) for o, n in out)


def extents_subtract(a, b) -> tuple:
    """a minus b; both normalized."""
    if not a or not b:
        return tuple(a)
    out = []
    j = 0
    for off, length in a:
        start, end = off, off + length
        while j < len(b) and b[j][0] + b[j][1] <= start:
            j += 1
        k = j
        while k < len(b) and b[k][0] < end:
            b_start, b_end = b[k][0], b[k][0] + b[k][1]
            if b_start > start:
                out.append((start, b_start - start))
            start = max(start, b_end)
            if start >= end:
                break
            k += 1
        if start < end:
            out.append((start, end - start))
    return tuple(out)


def extents_intersect(a, b) -> tuple:
    """a intersected with b; both normalized."""
    out = []
    i = j = 0
    while i < len(a) and j < len(b):
        start = max(a[i][0], b[j][0])
        a_end, b_end = a[i][0] + a[i][1], b[j][0] + b[j][1]
        end = min(a_end, b_end)
        if start < end:
            out.append((start, end - start))
        if a_end <= b_end:
            i += 1
        else:
            j += 1
    return tuple(out)


# -- snap resolution -------------------------------------------------------------------------
def resolve_read(snapset: SnapSet | None, head_exists: bool, snapid: int):
    """Which object holds the contents at `snapid`: SNAP_HEAD, a clone id, or None (absent).

    Ceph's rule: a snap newer than `seq` sees the head; otherwise the oldest clone with
    cloneid >= snapid holds it if that clone lists the snap, and the object did not exist at
    the snap if it does not (or if there is no such clone: the head was created after it).
    """
    if snapid == SNAP_HEAD:
        return SNAP_HEAD if head_exists else None
    if snapset is None or snapid > snapset.seq:
        return SNAP_HEAD if head_exists else None
    for clone in snapset.clones:
        if clone.cloneid >= snapid:
            return clone.cloneid if snapid in clone.snaps else None
    return None


def find_clone(snapset: SnapSet | None, cloneid: int) -> Clone | None:
    if snapset is None:
        return None
    for clone in snapset.clones:
        if clone.cloneid == cloneid:
            return clone
    return None


def clone_snaps_for(snapset: SnapSet | None, snapc_snaps) -> list[int]:
    """Snap ids a new clone stands for: those in the snap context newer than the snapset's
    seq (snapc_snaps is newest first, so stop at the first old one)."""
    seq = snapset.seq if snapset is not None else 0
    out = []
    for snap in snapc_snaps:
        if snap <= seq:
            break
        out.append(snap)
    return out


def add_clone(snapset: SnapSet | None, cloneid: int, snaps, size: int) -> SnapSet:
    """The snapset after cloning a head of `size` bytes as `cloneid` (overlap: everything)."""
    clones = snapset.clones if snapset is not None else ()
    seq = snapset.seq if snapset is not None else 0
    overlap = ((0, size),) if size else ()
    return SnapSet(seq, clones + (Clone(cloneid, tuple(snaps), size, overlap),))


def with_seq(snapset: SnapSet | None, seq: int) -> SnapSet:
    if snapset is None:
        return SnapSet(seq, ())
    return snapset._replace(seq=seq)


def subtract_modified(snapset: SnapSet | None, modified) -> SnapSet | None:
    """Head bytes in `modified` changed: the newest clone no longer shares them."""
    if snapset is None or not snapset.clones or not modified:
        return snapset
    newest = snapset.clones[-1]
    overlap = extents_subtract(newest.overlap, modified)
    if overlap == newest.overlap:
        return snapset
    return snapset._replace(clones=snapset.clones[:-1] + (newest._replace(overlap=overlap),))


def trim(snapset: SnapSet, removed) -> tuple[SnapSet, list[int]]:
    """Drop `removed` snap ids from every clone; return (new snapset, clone ids to delete).

    A clone left with no snaps is deleted; the next older clone's overlap (relative to the
    deleted one) is intersected with the deleted clone's overlap (relative to its successor)
    so it stays an overlap with the new successor.
    """
    kept: list[Clone] = []
    dead: list[int] = []
    # Walk newest to oldest: a deleted clone passes its overlap down to the older neighbour.
    carry = None
    for clone in reversed(snapset.clones):
        snaps = tuple(s for s in clone.snaps if s not in removed)
        overlap = clone.overlap
        if carry is not None:
            overlap = extents_intersect(overlap, carry)
            carry = None
        if not snaps:
            dead.append(clone.cloneid)
            carry = overlap
            continue
        if snaps == clone.snaps and overlap == clone.overlap:
            kept.append(clone)
        else:
            kept.append(Clone(clone.cloneid, snaps, clone.size, overlap))
    # (When the newest clone dies, the carry makes the next older one overlap the head only
    # where it overlapped the dead clone and the dead clone overlapped the head.)
    kept.reverse()
    return SnapSet(snapset.seq, tuple(kept)), dead


def list_snaps_reply(snapset: SnapSet | None, head_exists: bool, head_size: int) -> dict:
    """The `list_snaps` op's output: clones (snaps ascending, as librados shows them) and the
    head as cloneid SNAP_HEAD when it exists."""
    clones = []
    if snapset is not None:
        for clone in snapset.clones:
            clones.append({"cloneid": clone.cloneid, "snaps": sorted(clone.snaps),
                           "overlap": [tuple(e) for e in clone.overlap], "size": clone.size})
    if head_exists:
        clones.append({"cloneid": SNAP_HEAD, "snaps": [], "overlap": [], "size": head_size})
    return {"seq": snapset.seq if snapset is not None else 0, "clones": clones}
