"""rbd on the session's embedded Ray cluster: the docs' example and the striped data path."""
from __future__ import annotations

import os

import pytest

import rados
import rbd

pytestmark = pytest.mark.ray


def test_ceph_docs_example_verbatim(ray_rados, ray_conffile):
    # Ceph's "Librbd (Python)" example, with our config file in place of my_ceph.conf.
    with rados.Rados(conffile=ray_conffile) as cluster:
        if not cluster.pool_exists('mypool'):
            cluster.create_pool('mypool')
        with cluster.open_ioctx('mypool') as ioctx:
            rbd_inst = rbd.RBD()
            size = 4 * 1024**3  # 4 GiB
            rbd_inst.create(ioctx, 'myimage', size)
            with rbd.Image(ioctx, 'myimage') as image:
                data = b'foo' * 200
                image.write(data, 0)
            with rbd.Image(ioctx, 'myimage') as image:
                assert image.read(0, 600) == b'foo' * 200
                assert image.size() == 4 * 1024**3
            rbd_inst.remove(ioctx, 'myimage')
            assert 'myimage' not in rbd_inst.list(ioctx)


@pytest.fixture(scope="module")
def ioctx(ray_rados):
    if not ray_rados.pool_exists("rbd-ray"):
        ray_rados.create_pool("rbd-ray")
    ctx = ray_rados.open_ioctx("rbd-ray")
    rbd.RBD().pool_init(ctx, True)
    yield ctx
    ctx.close()


def test_striped_image_spans_objects_and_reads_back(ioctx):
    name = "striped"
    rbd.RBD().create(ioctx, name, 64 << 20, order=20, stripe_unit=64 << 10, stripe_count=4)
    try:
        payload = os.urandom(5 << 20)
        with rbd.Image(ioctx, name) as image:
            assert image.write(payload, 123) == len(payload)
            assert image.read(123, len(payload)) == payload
            assert image.read(0, 123) == bytes(123)
            prefix = image.block_name_prefix()
        objects = {o.key for o in ioctx.list_objects() if o.key.startswith(prefix)}
        assert len(objects) >= 5
    finally:
        rbd.RBD().remove(ioctx, name)


def test_snapshot_and_clone_on_ray(ioctx):
    rbd.RBD().create(ioctx, "parent", 8 << 20)
    try:
        with rbd.Image(ioctx, "parent") as parent:
            parent.write(b"A" * 4096, 0)
            parent.create_snap("base")
            parent.write(b"B" * 4096, 0)
            parent.protect_snap("base")
        rbd.RBD().clone(ioctx, "parent", "base", ioctx, "child")
        with rbd.Image(ioctx, "child") as child:
            assert child.read(0, 4096) == b"A" * 4096
            child.write(b"C" * 10, 100)
            assert child.read(0, 200) == b"A" * 100 + b"C" * 10 + b"A" * 90
        with rbd.Image(ioctx, "parent", snapshot="base") as at_snap:
            assert at_snap.read(0, 4096) == b"A" * 4096
        with rbd.Image(ioctx, "parent") as parent:
            assert parent.read(0, 4096) == b"B" * 4096
    finally:
        if "child" in rbd.RBD().list(ioctx):
            rbd.RBD().remove(ioctx, "child")
        with rbd.Image(ioctx, "parent") as parent:
            parent.unprotect_snap("base")
            parent.remove_snap("base")
        rbd.RBD().remove(ioctx, "parent")
