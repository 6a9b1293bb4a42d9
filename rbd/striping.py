"""Image extents <-> object extents (spec 2.4): pure functions over a Layout.

Invariants:
- object size `os = 2**order`, stripe unit `su` divides `os`, stripe count `sc >= 1`;
  the defaults `su = os, sc = 1` reduce to `objectno = off // os`.
- `map_extent` returns, per object, one contiguous object range per request together with
  the image ranges it carries (in image order), so a request becomes one op per object.
- `object_to_image` is the inverse: every byte of an object maps to exactly one image byte.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Layout:
    object_size: int
    stripe_unit: int
    stripe_count: int

    @classmethod
    def from_order(cls, order: int, stripe_unit: int = 0, stripe_count: int = 0) -> "Layout":
        object_size = 1 << order
        return cls(object_size, stripe_unit or object_size, stripe_count or 1)

    @property
    def period(self) -> int:
        """Bytes of image covered by one object set."""
        return self.object_size * self.stripe_count



@dataclass
class ObjectExtent:
    """One contiguous range of one object and the image ranges it carries.

    `buffer_extents` are (offset in the request buffer, length) pairs, in object order,
    whose lengths add up to `length`."""
    objectno: int
    offset: int
    length: int
    buffer_extents: list = field(default_factory=list)


def map_offset(layout: Layout, off: int) -> tuple[int, int]:
    """Image offset -> (object number, offset inside the object)."""
    su, sc = layout.stripe_unit, layout.stripe_count
    stripes_per_object = layout.object_size // su
    block = off // su
    stripe = block // sc
    pos = block % sc
    objset = stripe // stripes_per_object
    objectno = objset * sc + pos
    obj_off = (stripe % stripes_per_object) * su + off % su
    return objectno, obj_off


def map_extent(layout: Layout, offset: int, length: int) -> list[ObjectExtent]:
    """Image range [offset, offset+length) -> object extents, ordered by object number."""
    if length <= 0:
        return []
    if layout.stripe_count == 1:
        # fast path: objects are consecutive ranges of the image
        os_ = layout.object_size
        out = []
        buf = 0
        off = offset
        end = offset + length
        while off < end:
            objectno = off // os_
            obj_off = off - objectno * os_
            chunk = min(os_ - obj_off, end - off)
            out.append(ObjectExtent(objectno, obj_off, chunk, [(buf, chunk)]))
            buf += chunk
            off += chunk
        return out
    su = layout.stripe_unit
    by_object: dict[int, list[ObjectExtent]] = {}
    buf = 0
    off = offset
    end = offset + length
    while off < end:
        objectno, obj_off = map_offset(layout, off)
        chunk = min(su - off % su, end - off)
        extents = by_object.setdefault(objectno, [])
        last = extents[-1] if extents else None
        if last is not None and last.offset + last.length == obj_off:
            last.length += chunk
            last.buffer_extents.append((buf, chunk))
        else:
            extents.append(ObjectExtent(objectno, obj_off, chunk, [(buf, chunk)]))
        buf += chunk
        off += chunk
    out = []
    for objectno in sorted(by_object):
        out.extend(by_object[objectno])
    return out


def object_to_image(layout: Layout, objectno: int, obj_off: int, length: int) -> list[tuple[int, int]]:
    """Object range -> image ranges (offset, length), in object order, merged when adjacent."""
    if length <= 0:
        return []
    os_, su, sc = layout.object_size, layout.stripe_unit, layout.stripe_count
    if sc == 1:
        return [(objectno * os_ + obj_off, length)]
    stripes_per_object = os_ // su
    objset = objectno // sc
    pos = objectno % sc
    out: list[tuple[int, int]] = []
    off = obj_off
    end = obj_off + length
    while off < end:
        stripe_in_obj = off // su
        within = off % su
        chunk = min(su - within, end - off)
        stripe = objset * stripes_per_object + stripe_in_obj
        block = stripe * sc + pos
        image_off = block * su + within
        if out and out[-1][0] + out[-1][1] == image_off:
            out[-1] = (out[-1][0], out[-1][1] + chunk)
        else:
            out.append((image_off, chunk))
        off += chunk
    return out


def num_objects(layout: Layout, size: int) -> int:
    """How many data objects an image of `size` bytes spans (the last object set may be
    partial: objects the remainder never reaches are not counted)."""
    if size <= 0:
        return 0
    period = layout.period
    full_sets, rem = divmod(size, period)
    count = full_sets * layout.stripe_count
    if rem:
        su = layout.stripe_unit
        if rem >= layout.stripe_count * su:
            count += layout.stripe_count
        else:
            count += -(-rem // su)
    return count


def object_prefix_end(layout: Layout, objectno: int, image_size: int) -> int:
    """Length of the longest object prefix whose bytes all lie below `image_size`.
    Past it the object only holds bytes beyond the end (to be trimmed on shrink): image
    offsets grow with the object offset, so the bytes below the end are a prefix."""
    end = 0
    pos = 0
    for off, length in object_to_image(layout, objectno, 0, layout.object_size):
        if off + length <= image_size:
            pos += length
            end = pos
            continue
        if off < image_size:
            end = pos + (image_size - off)
        break
    return end


def clip_to(extents: list[tuple[int, int]], limit: int) -> list[tuple[int, int]]:
    """Keep the parts of image extents below `limit`."""
    out = []
    for off, length in extents:
        if off >= limit:
            continue
        out.append((off, min(length, limit - off)))
    return out
