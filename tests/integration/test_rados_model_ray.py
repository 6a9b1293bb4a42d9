"""A seeded model test of object ops and self-managed snapshots on the Ray cluster.

The short Ray twin of tests/unit/test_osd_snapshots.py: the same kind of random history
(writes, appends, truncates, removes, snapshots, snapshot removal, reads at snapshots),
checked op by op against a dict-of-bytes model, through the public rados API.
"""
from __future__ import annotations

import random

import pytest

import rados

pytestmark = pytest.mark.ray

OPS = 150


def test_random_ops_and_snapshots_match_the_model(ray_rados, seed):
    pool = "model-ray"
    if not ray_rados.pool_exists(pool):
        ray_rados.create_pool(pool)
    rng = random.Random(seed)
    names = [f"m{seed}-{i}" for i in range(6)]
    head: dict[str, bytes] = {}
    at_snap: dict[int, dict[str, bytes]] = {}
    snaps: list[int] = []
    with ray_rados.open_ioctx(pool) as ioctx:
        for step in range(OPS):
            where = f"seed {seed} step {step}"
            name = rng.choice(names)
            roll = rng.random()
            if roll < 0.35:
                offset, data = rng.randint(0, 3000), rng.randbytes(rng.randint(1, 2000))
                ioctx.write(name, data, offset)
                old = head.get(name, b"")
                grown = old.ljust(offset, b"\0")
                head[name] = grown[:offset] + data + grown[offset + len(data):]
            elif roll < 0.45:
                data = rng.randbytes(rng.randint(1, 500))
                ioctx.append(name, data)
                head[name] = head.get(name, b"") + data
            elif roll < 0.52 and name in head:
                size = rng.randint(0, 4000)
                ioctx.trunc(name, size)
                head[name] = head[name][:size].ljust(size, b"\0")
            elif roll < 0.6 and name in head:
                ioctx.remove_object(name)
                del head[name]
            elif roll < 0.7:
                snap = ioctx.create_self_managed_snap()
                snaps.insert(0, snap)
                at_snap[snap] = dict(head)
                ioctx.set_self_managed_snap_write(snaps)
            elif roll < 0.75 and snaps:
                snap = snaps.pop(rng.randrange(len(snaps)))
                ioctx.remove_self_managed_snap(snap)
                del at_snap[snap]
                ioctx.set_self_managed_snap_write(snaps)
            elif snaps:
                snap = rng.choice(snaps)
                ioctx.set_read(snap)
                try:
                    expected = at_snap[snap].get(name)
                    if expected is None:
                        with pytest.raises(rados.ObjectNotFound):
                            ioctx.read(name, 1 << 20)
                    else:
                        assert ioctx.read(name, 1 << 20) == expected, where
                finally:
                    ioctx.set_read(rados.LIBRADOS_SNAP_HEAD)
            if name in head:
                assert ioctx.read(name, 1 << 20) == head[name], where
            else:
                with pytest.raises(rados.ObjectNotFound):
                    ioctx.stat(name)
        for snap in snaps:
            ioctx.remove_self_managed_snap(snap)
        for name in head:
            ioctx.remove_object(name)
