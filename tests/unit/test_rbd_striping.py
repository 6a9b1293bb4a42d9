"""rbd/striping.py: the spec 2.4 formula, object counts and the extent mapping round trip."""
from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rbd.striping import (
    Layout, map_extent, map_offset, num_objects, object_prefix_end, object_to_image,
)

MiB = 1 << 20


def test_spec_worked_example():
    layout = Layout(4 * MiB, 1 * MiB, 4)
    assert map_offset(layout, 5 * MiB + 100) == (1, 1 * MiB + 100)
    [oe] = map_extent(layout, 5 * MiB + 100, 1)
    assert (oe.objectno, oe.offset, oe.length) == (1, MiB + 100, 1)


def test_default_layout_is_offset_div_object_size():
    layout = Layout.from_order(22)
    assert layout.stripe_unit == 4 * MiB and layout.stripe_count == 1
    for off in (0, 1, 4 * MiB - 1, 4 * MiB, 10 * MiB + 7):
        assert map_offset(layout, off) == (off // (4 * MiB), off % (4 * MiB))
    extents = map_extent(layout, 3 * MiB, 6 * MiB)
    assert [(e.objectno, e.offset, e.length) for e in extents] == [
        (0, 3 * MiB, MiB), (1, 0, 4 * MiB), (2, 0, MiB)]


@pytest.mark.parametrize("size,layout,expected", [
    (0, Layout(4 * MiB, 4 * MiB, 1), 0),
    (1, Layout(4 * MiB, 4 * MiB, 1), 1),
    (8 * MiB, Layout(4 * MiB, 4 * MiB, 1), 2),
    (8 * MiB + 1, Layout(4 * MiB, 4 * MiB, 1), 3),
    # one full object set of 4 objects covers 16 MiB
    (16 * MiB, Layout(4 * MiB, MiB, 4), 4),
    # a remainder of 2 stripe units reaches only 2 objects of the next set
    (16 * MiB + 2 * MiB, Layout(4 * MiB, MiB, 4), 6),
    (16 * MiB + 1, Layout(4 * MiB, MiB, 4), 5),
    # a remainder of at least one full stripe reaches every object of the set
    (16 * MiB + 5 * MiB, Layout(4 * MiB, MiB, 4), 8),
    (MiB * 10, Layout(MiB, MiB, 10), 10),
])
def test_num_objects(size, layout, expected):
    assert num_objects(layout, size) == expected


def _brute_num_objects(layout, size):
    objs = set()
    for off in range(0, size, 512):
        objs.add(map_offset(layout, off)[0])
    if size:
        objs.add(map_offset(layout, size - 1)[0])
    return len(objs)


@settings(max_examples=60, deadline=None)
@given(order=st.integers(12, 14), su_shift=st.integers(0, 3), sc=st.integers(1, 5),
       size=st.integers(0, 1 << 17))
def test_num_objects_matches_brute_force(order, su_shift, sc, size):
    os_ = 1 << order
    layout = Layout(os_, max(512, os_ >> su_shift), sc)
    assert num_objects(layout, size) == _brute_num_objects(layout, size)


def _layouts():
    return st.builds(lambda order, su_shift, sc: Layout(1 << order, max(512, (1 << order) >> su_shift), sc),
                     st.integers(12, 14), st.integers(0, 3), st.integers(1, 6))


@settings(max_examples=150, deadline=None)
@given(layout=_layouts(), offset=st.integers(0, 1 << 18), length=st.integers(0, 1 << 16))
def test_extent_round_trip(layout, offset, length):
    """Every request byte lands in exactly one object byte, and object_to_image inverts it."""
    extents = map_extent(layout, offset, length)
    assert sum(e.length for e in extents) == length
    seen = set()
    for e in extents:
        assert sum(n for _, n in e.buffer_extents) == e.length
        assert e.offset + e.length <= layout.object_size
        # the object range maps back to the image ranges the buffer extents name, in order
        image = object_to_image(layout, e.objectno, e.offset, e.length)
        expected = []
        for b_off, b_len in e.buffer_extents:
            img = offset + b_off
            if expected and expected[-1][0] + expected[-1][1] == img:
                expected[-1] = (expected[-1][0], expected[-1][1] + b_len)
            else:
                expected.append((img, b_len))
        assert image == expected
        for b_off, b_len in e.buffer_extents:
            for b in range(b_off, b_off + b_len, 97):
                assert b not in seen
                seen.add(b)
    # every byte position of a request maps to the object/offset map_offset computes
    for e in extents:
        cursor = e.offset
        for b_off, b_len in e.buffer_extents:
            assert map_offset(layout, offset + b_off) == (e.objectno, cursor)
            cursor += b_len


def test_data_round_trip_through_objects_seeded():
    """Write random bytes through the mapping into per-object buffers, read them back."""
    rng = random.Random(1234)
    for _ in range(40):
        layout = Layout(1 << 14, rng.choice([512, 1024, 4096, 1 << 14]), rng.randint(1, 5))
        size = rng.randint(1, 1 << 17)
        image = bytearray(size)
        objects: dict[int, bytearray] = {}
        for _ in range(10):
            off = rng.randrange(size)
            n = rng.randint(0, size - off)
            data = rng.randbytes(n)
            image[off:off + n] = data
            for e in map_extent(layout, off, n):
                obj = objects.setdefault(e.objectno, bytearray(layout.object_size))
                chunk = b"".join(data[b:b + l] for b, l in e.buffer_extents)
                obj[e.offset:e.offset + e.length] = chunk
        rebuilt = bytearray(size)
        for objectno, obj in objects.items():
            pos = 0
            for img_off, n in object_to_image(layout, objectno, 0, layout.object_size):
                if img_off < size:
                    take = min(n, size - img_off)
                    rebuilt[img_off:img_off + take] = obj[pos:pos + take]
                pos += n
        assert rebuilt == image
        assert max(objects, default=-1) < num_objects(layout, size)


@settings(max_examples=80, deadline=None)
@given(layout=_layouts(), size=st.integers(1, 1 << 17), objectno=st.integers(0, 40))
def test_object_prefix_end(layout, size, objectno):
    """The object bytes below the image end form a prefix of the object."""
    end = object_prefix_end(layout, objectno, size)
    pos = 0
    for img_off, n in object_to_image(layout, objectno, 0, layout.object_size):
        for k in (0, n - 1):
            inside = img_off + k < size
            assert inside == (pos + k < end)
        pos += n
