"""rbd against the in-process cluster (`ray address = inprocess`): the seed example from
Ceph's docs verbatim, then one scenario per feature of the librbd images issue. Tests that
check "nothing half-created" list the pool's RADOS objects before and after."""
from __future__ import annotations

import errno
import pickle
import threading
import time
from datetime import datetime, timezone

import pytest

rados = pytest.importorskip("rados")
import rbd  # noqa: E402
from rbd import (  # noqa: E402
    RBD, ArgumentOutOfRange, FunctionNotSupported, Image, ImageBusy, ImageExists,
    ImageHasSnapshots, ImageNotFound, IncompleteWriteError, InvalidArgument, ReadOnlyImage,
)

IMG_ORDER = 22
IMG_SIZE = 8 << 20
FEATURES = 61
_counter = [0]


def name(prefix="img"):
    _counter[0] += 1
    return "%s%d" % (prefix, _counter[0])


@pytest.fixture(scope="module")
def conffile(tmp_path_factory):
    path = tmp_path_factory.mktemp("rbd") / "ceph.conf"
    path.write_text("[global]\nosd pool default size = 2\n"
                    "[rayceph]\nray address = inprocess\ncluster name = rbdtest\n")
    return str(path)


@pytest.fixture(scope="module")
def cluster(conffile):
    try:
        handle = rados.Rados(conffile=conffile)
        handle.connect()
    except Exception as exc:    # the in-process cluster is not part of this tree (yet)
        pytest.skip("in-process cluster unavailable: %r" % (exc,))
    yield handle
    handle.shutdown()


@pytest.fixture(scope="module")
def pool(cluster):
    pool_name = "rbdpool"
    if not cluster.pool_exists(pool_name):
        cluster.create_pool(pool_name)
    with cluster.open_ioctx(pool_name) as ioctx:
        RBD().pool_init(ioctx, True)
    return pool_name


@pytest.fixture
def ioctx(cluster, pool):
    ioctx = cluster.open_ioctx(pool)
    yield ioctx
    ioctx.close()


@pytest.fixture
def second(conffile, pool):
    """A second client of the same cluster (another Rados handle)."""
    handle = rados.Rados(conffile=conffile)
    handle.connect()
    ioctx = handle.open_ioctx(pool)
    yield ioctx
    ioctx.close()
    handle.shutdown()


@pytest.fixture
def image(ioctx):
    image_name = name()
    RBD().create(ioctx, image_name, IMG_SIZE, IMG_ORDER, features=FEATURES)
    img = Image(ioctx, image_name)
    yield img
    img.close()
    _remove_all(ioctx, image_name)


def _remove_all(ioctx, image_name):
    try:
        with Image(ioctx, image_name) as img:
            for snap in list(img.list_snaps()):
                if snap["namespace"] != rbd.RBD_SNAP_NAMESPACE_TYPE_USER:
                    continue
                if img.is_protected_snap(snap["name"]):
                    try:
                        img.unprotect_snap(snap["name"])
                    except ImageBusy:
                        continue
                img.remove_snap(snap["name"])
        RBD().remove(ioctx, image_name)
    except rbd.Error:
        pass


def objects(ioctx):
    return sorted(o.key for o in ioctx.list_objects())


def diff(img, offset, length, from_snap=None, whole_object=False, include_parent=True):
    out = []
    img.diff_iterate(offset, length, from_snap, lambda o, n, e: out.append((o, n, e)),
                     include_parent=include_parent, whole_object=whole_object)
    return out


# -- the seed example from Ceph's docs ---------------------------------------------------------
def test_docs_seed_example(cluster, conffile):
    cluster = rados.Rados(conffile=conffile)
    try:
        cluster.connect()
        if "mypool" not in cluster.list_pools():
            cluster.create_pool("mypool")
        ioctx = cluster.open_ioctx('mypool')
        try:
            rbd_inst = rbd.RBD()
            size = 4 * 1024**3  # 4 GiB
            rbd_inst.create(ioctx, 'myimage', size)
            image = rbd.Image(ioctx, 'myimage')
            try:
                data = b'foo' * 200
                image.write(data, 0)
                assert image.read(0, 600) == data
            finally:
                image.close()
            rbd_inst.remove(ioctx, 'myimage')
        finally:
            ioctx.close()
    finally:
        cluster.shutdown()


# -- create / list / remove / rename ------------------------------------------------------------
def test_create_layout_and_listing(ioctx):
    image_name = name()
    RBD().create(ioctx, image_name, IMG_SIZE, IMG_ORDER, features=FEATURES)
    assert image_name in RBD().list(ioctx)
    with Image(ioctx, image_name) as img:
        image_id = img.id()
        assert {"id": image_id, "name": image_name} in list(RBD().list2(ioctx))
        assert img.block_name_prefix() == "rbd_data." + image_id
        stat = img.stat()
        assert stat == {"size": IMG_SIZE, "obj_size": 1 << IMG_ORDER, "num_objs": 2,
                        "order": IMG_ORDER, "block_name_prefix": "rbd_data." + image_id,
                        "parent_pool": -1, "parent_name": ""}
        assert img.features() == FEATURES and not img.old_format()
        assert img.stripe_unit() == 1 << IMG_ORDER and img.stripe_count() == 1
        assert img.data_pool_id() == ioctx.get_pool_id()
        assert img.get_name() == image_name and repr(img) == "rbd.Image(ioctx, %r)" % image_name
        ts = img.create_timestamp()
        assert ts.tzinfo is not None and ts.year > 2000
        assert abs((datetime.now(timezone.utc) - ts).total_seconds()) < 3600
    names = objects(ioctx)
    assert "rbd_id." + image_name in names and "rbd_header." + image_id in names
    assert "rbd_directory" in names and "rbd_object_map." + image_id in names
    with pytest.raises(ImageExists):
        RBD().create(ioctx, image_name, IMG_SIZE)
    RBD().remove(ioctx, image_name)
    assert image_name not in RBD().list(ioctx)
    assert not [o for o in objects(ioctx) if image_id in o or o.endswith(image_name)]
    with pytest.raises(ImageNotFound):
        RBD().remove(ioctx, image_name)
    with pytest.raises(ImageNotFound):
        Image(ioctx, image_name)
    with pytest.raises(ImageNotFound):
        Image(ioctx, image_name, read_only=True)


def test_create_argument_errors_leave_nothing(ioctx):
    before = objects(ioctx)
    image_name = name()
    for kwargs, exc in [({"order": 11}, ArgumentOutOfRange), ({"order": 26}, ArgumentOutOfRange),
                        ({"features": 1 << 20}, FunctionNotSupported),
                        ({"features": rbd.RBD_FEATURE_OBJECT_MAP}, InvalidArgument),
                        ({"features": rbd.RBD_FEATURE_FAST_DIFF | 4}, InvalidArgument),
                        ({"features": rbd.RBD_FEATURE_OPERATIONS}, InvalidArgument),
                        ({"stripe_unit": 1 << 16}, InvalidArgument),
                        ({"stripe_unit": 100, "stripe_count": 2}, InvalidArgument),
                        ({"stripe_unit": 1 << 23, "stripe_count": 2}, InvalidArgument),
                        ({"data_pool": "no-such-pool"}, ImageNotFound)]:
        with pytest.raises(exc):
            RBD().create(ioctx, image_name, IMG_SIZE, **kwargs)
    with pytest.raises(InvalidArgument):
        RBD().create(ioctx, 1, IMG_SIZE)
    with pytest.raises(InvalidArgument):
        RBD().create(ioctx, image_name, IMG_SIZE, old_format=True, features=1)
    with pytest.raises(InvalidArgument):
        Image(ioctx)
    with pytest.raises(InvalidArgument):
        Image(ioctx, image_name, image_id="x")
    assert objects(ioctx) == before


def test_striping_and_open_by_id(ioctx):
    image_name = name()
    RBD().create(ioctx, image_name, IMG_SIZE, 20, features=FEATURES,
                 stripe_unit=1 << 16, stripe_count=3)
    with Image(ioctx, image_name) as img:
        assert img.features() == FEATURES | rbd.RBD_FEATURE_STRIPINGV2
        assert (img.stripe_unit(), img.stripe_count()) == (1 << 16, 3)
        data = bytes(range(256)) * 4096
        img.write(data, 12345)
        assert img.read(12345, len(data)) == data
        image_id = img.id()
    with Image(ioctx, image_id=image_id) as img:
        assert img.get_name() == image_name
    with Image(ioctx, image_id=image_id, read_only=True) as img:
        assert img.read(12345, 3) == data[:3]
    RBD().remove(ioctx, image_name)


def test_rename(ioctx):
    a, b = name(), name()
    RBD().create(ioctx, a, IMG_SIZE, IMG_ORDER, features=FEATURES)
    RBD().create(ioctx, b, IMG_SIZE, IMG_ORDER, features=FEATURES)
    with pytest.raises(ImageExists):
        RBD().rename(ioctx, a, b)
    c = name()
    RBD().rename(ioctx, a, c)
    assert a not in RBD().list(ioctx) and c in RBD().list(ioctx)
    with pytest.raises(ImageNotFound):
        RBD().rename(ioctx, a, name())
    RBD().remove(ioctx, c)
    RBD().remove(ioctx, b)


def test_remove_busy_and_with_snapshots(ioctx):
    image_name = name()
    RBD().create(ioctx, image_name, IMG_SIZE, IMG_ORDER, features=FEATURES)
    with Image(ioctx, image_name) as img:
        img.write(b"x" * 256, 0)
        with pytest.raises(ImageBusy):
            RBD().remove(ioctx, image_name)
        assert img.read(0, 256) == b"x" * 256
        img.create_snap("s")
    with pytest.raises(ImageHasSnapshots):
        RBD().remove(ioctx, image_name)
    with Image(ioctx, image_name) as img:
        img.remove_snap("s")
    progress = []
    RBD().remove(ioctx, image_name, on_progress=lambda o, t: progress.append((o, t)))
    assert progress and progress[-1] == (2, 2)


# -- data path ----------------------------------------------------------------------------------
def test_io_edge_cases(image):
    assert image.read(0, 0) == b""
    assert image.read(IMG_SIZE - 10, 100) == bytes(10)
    with pytest.raises(InvalidArgument):
        image.read(IMG_SIZE, 1)
    assert image.read(IMG_SIZE, 0) == b""
    with pytest.raises(IncompleteWriteError):
        image.write(b"a" * 20, IMG_SIZE - 10)
    assert image.read(IMG_SIZE - 10, 10) == b"a" * 10
    with pytest.raises(InvalidArgument):
        image.write(b"a", IMG_SIZE)
    assert image.write(b"", IMG_SIZE) == 0
    with pytest.raises(TypeError, match="data must be a byte string"):
        image.write("text", 0)
    with pytest.raises(TypeError):
        image.write(bytearray(b"x"), 0)
    with pytest.raises(OverflowError):
        image.read(-1, 1)
    with pytest.raises(InvalidArgument):
        image.discard(IMG_SIZE, 10)


def test_large_write_spanning_objects(image):
    data = bytes(range(256)) * (3 * 4096 + 17)
    image.write(data, (1 << IMG_ORDER) - 1000)
    assert image.read((1 << IMG_ORDER) - 1000, len(data)) == data


def test_discard_skips_partial_by_default(image):
    data = b"d" * 4096
    image.write(data, 0)
    image.discard(0, 256)
    assert image.read(0, 4096) == data          # partial discard skipped (64 KiB granularity)
    image.write(b"e" * (1 << IMG_ORDER), 0)
    image.discard(0, 1 << IMG_ORDER)            # whole object: removed
    assert image.read(0, 4096) == bytes(4096)
    assert diff(image, 0, 1 << IMG_ORDER) == []
    image.config_set("rbd_skip_partial_discard", "false")
    image.write(data, 0)
    image.discard(0, 256)
    assert image.read(0, 512) == bytes(256) + b"d" * 256


def test_write_zeroes_leaves_no_extents(image):
    image.write(b"z" * 256, 0)
    image.write_zeroes(0, 256)
    assert image.read(256, 256) == bytes(256) and image.read(0, 256) == bytes(256)
    assert diff(image, 0, IMG_SIZE) == []
    image.write_zeroes(0, 8192, rbd.RBD_WRITE_ZEROES_FLAG_THICK_PROVISION)
    assert image.read(0, 8192) == bytes(8192)
    assert diff(image, 0, IMG_SIZE) == [(0, 8192, True)]


def test_resize(image):
    data = b"r" * 256
    image.write(data, IMG_SIZE // 2)
    image.resize(IMG_SIZE // 2)
    assert image.size() == IMG_SIZE // 2
    image.resize(IMG_SIZE)
    assert image.read(IMG_SIZE // 2, 256) == bytes(256)
    with pytest.raises(InvalidArgument):
        image.resize(IMG_SIZE // 4, False)
    image.resize(IMG_SIZE * 2)
    assert image.stat()["num_objs"] == 4


def test_aio(image):
    done = threading.Event()
    results = {}

    def on_write(comp):
        results["write"] = comp.get_return_value()

    comp = image.aio_write(b"w" * 256, 256, on_write)
    comp.wait_for_complete_and_cb()
    assert comp.is_complete() and results["write"] == 0

    def on_read(comp, data):
        results["read"] = (comp.get_return_value(), data)
        done.set()

    image.aio_read(256, 256, on_read).wait_for_complete_and_cb()
    assert results["read"] == (256, b"w" * 256)
    image.aio_discard(0, 1 << IMG_ORDER, lambda c: results.update(discard=c.get_return_value())) \
        .wait_for_complete_and_cb()
    assert results["discard"] == 0 and image.read(256, 4) == bytes(4)
    image.aio_write_zeroes(0, 10, lambda c: None).wait_for_complete_and_cb()
    image.aio_flush(lambda c: results.update(flush=c.get_return_value())).wait_for_complete_and_cb()
    assert results["flush"] == 0
    comp = image.aio_read(IMG_SIZE + 10, 10, lambda c, d: results.update(bad=(c.get_return_value(), d)))
    comp.wait_for_complete_and_cb()
    assert results["bad"] == (-errno.EINVAL, None)

    def boom(comp):
        raise ValueError("from callback")
    comp = image.aio_flush(boom)
    with pytest.raises(ValueError):
        comp.wait_for_complete_and_cb()
    # many aio writes in flight, then read back
    comps = [image.aio_write(bytes([i]) * 4096, i * 4096, lambda c: None) for i in range(64)]
    for c in comps:
        c.wait_for_complete_and_cb()
    assert image.read(0, 64 * 4096) == b"".join(bytes([i]) * 4096 for i in range(64))


def test_aio_open_and_close(ioctx, image):
    got = {}
    comp = RBD().aio_open_image(lambda c, img: got.update(img=img, ret=c.get_return_value()),
                                ioctx, image.get_name())
    comp.wait_for_complete_and_cb()
    assert got["ret"] == 0 and got["img"].size() == IMG_SIZE
    got["img"].aio_close(lambda c: got.update(closed=True)).wait_for_complete_and_cb()
    assert got["closed"]


def test_closed_image(image):
    image.close()
    image.close()
    for call in (image.size, image.stat, lambda: image.read(0, 1), image.list_snaps,
                 lambda: image.write(b"x", 0), image.require_not_closed):
        with pytest.raises(InvalidArgument, match="image is closed"):
            call()


# -- snapshots ----------------------------------------------------------------------------------
def test_snapshots(image):
    image.write(b"\0" * 256, 0)
    image.create_snap("snap1")
    with pytest.raises(ImageExists):
        image.create_snap("snap1")
    data = b"s" * 256
    image.write(data, 0)
    snaps = list(image.list_snaps())
    assert [(s["name"], s["size"], s["namespace"]) for s in snaps] == [
        ("snap1", IMG_SIZE, rbd.RBD_SNAP_NAMESPACE_TYPE_USER)]
    snap_id = snaps[0]["id"]
    assert image.snap_get_id("snap1") == snap_id and image.snap_get_name(snap_id) == "snap1"
    assert image.snap_exists("snap1") and not image.snap_exists("nope")
    assert image.get_snap_timestamp(snap_id).tzinfo is not None
    assert image.snap_get_namespace_type(snap_id) == rbd.RBD_SNAP_NAMESPACE_TYPE_USER
    image.set_snap("snap1")
    assert image.read(0, 256) == bytes(256)
    with pytest.raises(ReadOnlyImage):
        image.write(data, 0)
    with pytest.raises(ReadOnlyImage):
        image.resize(1)
    image.set_snap(None)
    assert image.read(0, 256) == data
    image.set_snap_by_id(snap_id)
    assert image.read(0, 256) == bytes(256)
    image.set_snap_by_id(None)
    image.rename_snap("snap1", "snap2")
    with pytest.raises(ImageNotFound):
        image.remove_snap("snap1")
    image.rollback_to_snap("snap2")
    assert image.read(0, 256) == bytes(256)
    image.remove_snap_by_id(snap_id)
    assert list(image.list_snaps()) == []


def test_set_snap_deleted_and_recreated(image):
    image.write(b"\0" * 256, 0)
    image.create_snap("snap1")
    data = b"q" * 256
    image.write(data, 0)
    image.set_snap("snap1")
    image.remove_snap("snap1")
    with pytest.raises(ImageNotFound):
        image.read(0, 256)
    image.set_snap(None)
    assert image.read(0, 256) == data
    image.create_snap("snap1")
    image.set_snap("snap1")
    image.remove_snap("snap1")
    image.create_snap("snap1")
    with pytest.raises(ImageNotFound):
        image.read(0, 256)
    image.set_snap(None)
    image.remove_snap("snap1")


def test_rollback_with_resize(image):
    data = b"k" * 256
    image.write(data, 0)
    image.create_snap("snap1")
    image.resize(0)
    image.create_snap("snap2")
    image.resize(IMG_SIZE * 2)
    image.rollback_to_snap("snap1")
    assert image.size() == IMG_SIZE and image.read(0, 256) == data
    image.rollback_to_snap("snap2")
    assert image.size() == 0
    image.rollback_to_snap("snap1")
    assert image.read(0, 256) == data
    image.remove_snap("snap1")
    image.remove_snap("snap2")


def test_protect_and_limits(image):
    image.create_snap("snap1")
    assert not image.is_protected_snap("snap1")
    image.protect_snap("snap1")
    assert image.is_protected_snap("snap1")
    with pytest.raises(ImageBusy):
        image.protect_snap("snap1")
    with pytest.raises(ImageBusy):
        image.remove_snap("snap1")
    image.unprotect_snap("snap1")
    with pytest.raises(InvalidArgument):
        image.unprotect_snap("snap1")
    image.remove_snap("snap1")
    with pytest.raises(ImageNotFound):
        image.unprotect_snap("snap1")
    with pytest.raises(ImageNotFound):
        image.is_protected_snap("snap1")
    image.set_snap_limit(2)
    assert image.get_snap_limit() == 2
    image.create_snap("a")
    image.create_snap("b")
    with pytest.raises(rbd.DiskQuotaExceeded):
        image.create_snap("c")
    image.remove_snap_limit()
    image.create_snap("c")
    for s in ("a", "b", "c"):
        image.remove_snap(s)


# -- clones -------------------------------------------------------------------------------------
@pytest.fixture
def parent(ioctx):
    image_name = name("parent")
    RBD().create(ioctx, image_name, IMG_SIZE, IMG_ORDER, features=FEATURES)
    img = Image(ioctx, image_name)
    img.write(b"a" * 256, 0)
    img.write(b"b" * 256, IMG_SIZE // 2)
    img.create_snap("snap1")
    img.protect_snap("snap1")
    yield img
    image_name = img.get_name()
    img.close()
    _remove_all(ioctx, image_name)


def test_clone_v1_io_and_children(ioctx, parent, cluster):
    cluster.conf_set("rbd_default_clone_format", "1") if cluster.conf_get(
        "rbd_default_clone_format") is not None else None
    child_name = name("clone")
    RBD().clone(ioctx, parent.get_name(), "snap1", ioctx, child_name, FEATURES, clone_format=1)
    with Image(ioctx, child_name) as child:
        assert child.parent_info() == (ioctx.get_pool_name(), parent.get_name(), "snap1")
        assert child.parent_id() == parent.id()
        assert child.get_parent_image_spec() == {
            "pool_name": ioctx.get_pool_name(), "pool_namespace": "",
            "image_name": parent.get_name(), "snap_name": "snap1"}
        assert child.overlap() == IMG_SIZE
        assert child.op_features() & rbd.RBD_OPERATION_FEATURE_CLONE_CHILD == 0
        assert child.read(IMG_SIZE // 2, 256) == b"b" * 256
        new = b"N" * 256
        child.write(new, IMG_SIZE // 2 + 256)
        assert child.read(IMG_SIZE // 2, 512) == b"b" * 256 + new
        assert parent.read(IMG_SIZE // 2 + 256, 256) == bytes(256)
        parent.set_snap("snap1")
        assert parent.list_children() == [(ioctx.get_pool_name(), child_name)]
        assert list(parent.list_children2()) == [{
            "pool": ioctx.get_pool_name(), "pool_namespace": "", "image": child_name,
            "id": child.id(), "trash": False}]
        assert list(parent.list_descendants()) == list(parent.list_children2())
        parent.set_snap(None)
        with pytest.raises(ImageBusy):
            parent.remove_snap("snap1")
        with pytest.raises(ImageBusy):
            parent.unprotect_snap("snap1")
        assert parent.is_protected_snap("snap1")
    RBD().remove(ioctx, child_name)
    parent.set_snap("snap1")
    assert parent.list_children() == []
    parent.set_snap(None)


def test_clone_requires_protection_in_v1_and_cleans_up(ioctx, parent):
    parent.create_snap("snap2")
    before = objects(ioctx)
    with pytest.raises(InvalidArgument):
        RBD().clone(ioctx, parent.get_name(), "snap2", ioctx, name("c"), FEATURES, clone_format=1)
    with pytest.raises(ImageNotFound):
        RBD().clone(ioctx, parent.get_name(), "nosnap", ioctx, name("c"), FEATURES)
    with pytest.raises(InvalidArgument):
        RBD().clone(ioctx, parent.get_name(), "snap1", ioctx, name("c"), 0)
    assert objects(ioctx) == before
    parent.remove_snap("snap2")


def test_clone_v2_trash_snapshot(ioctx, parent):
    parent.create_snap("snap2")
    child_name = name("clone")
    RBD().clone(ioctx, parent.get_name(), "snap2", ioctx, child_name, FEATURES, clone_format=2)
    with Image(ioctx, child_name) as child:
        assert child.op_features() & rbd.RBD_OPERATION_FEATURE_CLONE_CHILD
    assert parent.op_features() & rbd.RBD_OPERATION_FEATURE_CLONE_PARENT
    parent.remove_snap("snap2")
    snaps = [s for s in parent.list_snaps() if s["name"] != "snap1"]
    assert [s["namespace"] for s in snaps] == [rbd.RBD_SNAP_NAMESPACE_TYPE_TRASH]
    assert [s["trash"] for s in snaps] == [{"original_name": "snap2"}]
    assert parent.snap_get_trash_namespace(snaps[0]["id"]) == {"original_name": "snap2"}
    RBD().remove(ioctx, child_name)
    assert [s for s in parent.list_snaps() if s["name"] != "snap1"] == []


def test_clone_resize_overlap(ioctx, parent):
    child_name = name("clone")
    RBD().clone(ioctx, parent.get_name(), "snap1", ioctx, child_name, FEATURES)
    with Image(ioctx, child_name) as child:
        parent_data = parent.read(IMG_SIZE // 2, 256)
        parent.resize(0)
        child.resize(IMG_SIZE // 2 + 128)
        assert child.read(IMG_SIZE // 2, 128) == parent_data[:128]
        child.resize(IMG_SIZE)
        assert child.read(IMG_SIZE // 2, 256) == parent_data[:128] + bytes(128)
        assert child.overlap() == IMG_SIZE // 2 + 128
        child.resize(0)
        child.resize(IMG_SIZE)
        assert child.read(IMG_SIZE // 2, 256) == bytes(256)
    RBD().remove(ioctx, child_name)


def test_flatten(ioctx, parent):
    child_name = name("clone")
    RBD().clone(ioctx, parent.get_name(), "snap1", ioctx, child_name, FEATURES)
    with Image(ioctx, child_name) as child, Image(ioctx, child_name) as other:
        with pytest.raises(InvalidArgument):
            parent.flatten()
        child.create_snap("cs")
        child.set_snap("cs")
        with pytest.raises(ReadOnlyImage):
            child.flatten()
        child.set_snap(None)
        child.write(b"Z" * 10, 0)
        assert other.read(IMG_SIZE // 2, 4) == b"bbbb"
        progress = []
        child.flatten(lambda off, total: progress.append((off, total)))
        assert progress and progress[-1][0] == progress[-1][1]
        assert child.overlap() == 0
        with pytest.raises(ImageNotFound):
            child.parent_info()
        with pytest.raises(ImageNotFound):
            other.parent_info()
        assert other.read(IMG_SIZE // 2, 4) == b"bbbb" and child.read(0, 4) == b"ZZZZ"
        child.set_snap("cs")
        assert child.read(0, 4) == b"aaaa"           # deep-flatten kept the snapshot's data
        child.set_snap(None)
        child.remove_snap("cs")
    parent.set_snap("snap1")
    assert parent.list_children() == []
    parent.set_snap(None)
    parent.unprotect_snap("snap1")
    parent.protect_snap("snap1")
    RBD().remove(ioctx, child_name)


def test_copy_and_deep_copy(ioctx, parent, cluster):
    dest = name("copy")
    parent.metadata_set("key", "value")
    parent.copy(ioctx, dest)
    with Image(ioctx, dest) as copy:
        assert copy.read(0, 256) == b"a" * 256 and copy.read(IMG_SIZE // 2, 256) == b"b" * 256
        assert copy.metadata_get("key") == "value"
        assert list(copy.list_snaps()) == []
    RBD().remove(ioctx, dest)
    parent.write(b"c" * 256, 0)
    deep = name("deep")
    parent.deep_copy(ioctx, deep)
    with Image(ioctx, deep) as copy:
        assert [s["name"] for s in copy.list_snaps()] == ["snap1"]
        assert copy.read(0, 256) == b"c" * 256
        copy.set_snap("snap1")
        assert copy.read(0, 256) == b"a" * 256
        assert copy.is_protected_snap("snap1")
    _remove_all(ioctx, deep)


def test_sparsify(image):
    image.write(bytes(1 << 20), 0)
    image.write(b"x" * 10, 1 << IMG_ORDER)
    image.sparsify(4096)
    assert diff(image, 0, IMG_SIZE) == [(1 << IMG_ORDER, 4096, True)]
    with pytest.raises(InvalidArgument):
        image.sparsify(1000)


# -- diff and object map ------------------------------------------------------------------------
def test_diff_iterate(image):
    assert diff(image, 0, IMG_SIZE) == []
    image.write(b"a" * 256, 0)
    assert diff(image, 0, IMG_SIZE) == [(0, 4096, True)]
    image.write(b"b" * 256, 256)
    image.discard(128, 256)
    assert diff(image, 0, IMG_SIZE) == [(0, 4096, True)]
    image.create_snap("snap1")
    image.discard(0, 1 << IMG_ORDER)
    image.create_snap("snap2")
    image.set_snap("snap2")
    assert diff(image, 0, IMG_SIZE, "snap1") == [(0, 4096, False)]
    assert diff(image, 0, IMG_SIZE, "snap1", whole_object=True) == [(0, 1 << IMG_ORDER, False)]
    image.set_snap("snap1")
    with pytest.raises(InvalidArgument):
        diff(image, 0, IMG_SIZE, "snap2")
    with pytest.raises(ImageNotFound):
        diff(image, 0, IMG_SIZE, "nosuch")
    image.set_snap(None)
    image.write(b"c" * 10, IMG_SIZE - 10)
    assert diff(image, 0, IMG_SIZE, "snap2", whole_object=True) == [
        (1 << IMG_ORDER, 1 << IMG_ORDER, True)]
    with pytest.raises(ZeroDivisionError):
        image.diff_iterate(0, IMG_SIZE, None, lambda o, n, e: 1 / 0)
    image.remove_snap("snap1")
    image.remove_snap("snap2")


def test_object_map_and_rebuild(image):
    image.write(b"o" * 256, 0)
    assert image.flags() == 0
    image.update_features(rbd.RBD_FEATURE_FAST_DIFF | rbd.RBD_FEATURE_OBJECT_MAP, False)
    assert image.features() & (rbd.RBD_FEATURE_OBJECT_MAP | rbd.RBD_FEATURE_FAST_DIFF) == 0
    with pytest.raises(InvalidArgument):
        image.update_features(rbd.RBD_FEATURE_FAST_DIFF, True)
    image.update_features(rbd.RBD_FEATURE_OBJECT_MAP, True)
    assert image.flags() & rbd.RBD_FLAG_OBJECT_MAP_INVALID
    image.rebuild_object_map()
    assert image.flags() == 0
    image.update_features(rbd.RBD_FEATURE_FAST_DIFF, True)
    image.rebuild_object_map()
    assert image.flags() == 0
    assert diff(image, 0, IMG_SIZE, whole_object=True) == [(0, 1 << IMG_ORDER, True)]
    with pytest.raises(InvalidArgument):
        image.update_features(rbd.RBD_FEATURE_LAYERING, False)
    with pytest.raises(InvalidArgument):
        image.update_features(rbd.RBD_FEATURE_EXCLUSIVE_LOCK, False)


# -- locks --------------------------------------------------------------------------------------
def test_advisory_locks(image):
    assert image.list_lockers() == []
    with pytest.raises(ImageNotFound):
        image.unlock("")
    image.lock_exclusive("")
    with pytest.raises(ImageExists):
        image.lock_exclusive("")
    with pytest.raises(ImageBusy):
        image.lock_exclusive("test")
    with pytest.raises(ImageExists):
        image.lock_shared("", "")
    with pytest.raises(ImageBusy):
        image.lock_shared("foo", "")
    lockers = image.list_lockers()
    assert lockers["exclusive"] and lockers["tag"] == "" and lockers["lockers"][0][1] == ""
    image.unlock("")
    for i in range(5):
        image.lock_shared(str(i), "tag")
    lockers = image.list_lockers()
    assert lockers["tag"] == "tag" and not lockers["exclusive"]
    assert sorted(c for _, c, _ in lockers["lockers"]) == [str(i) for i in range(5)]
    for i in range(5):
        image.unlock(str(i))
    assert image.list_lockers() == []


def test_exclusive_lock_between_clients(ioctx, second):
    image_name = name("ex")
    RBD().create(ioctx, image_name, IMG_SIZE, IMG_ORDER, features=FEATURES)
    with Image(ioctx, image_name) as image1, Image(second, image_name) as image2:
        assert list(image1.lock_get_owners()) == []
        image1.write(b"0" * 256, 0)
        assert image1.is_exclusive_lock_owner() and not image2.is_exclusive_lock_owner()
        image2.write(b"1" * 256, IMG_SIZE // 2)
        assert not image1.is_exclusive_lock_owner() and image2.is_exclusive_lock_owner()
        assert image2.read(0, 256) == b"0" * 256
        image2.resize(IMG_SIZE * 2)
        assert image1.size() == IMG_SIZE * 2
        image1.lock_acquire(rbd.RBD_LOCK_MODE_EXCLUSIVE)
        with pytest.raises(ReadOnlyImage):
            image2.write(b"2", 0)
        with pytest.raises(rbd.OperationNotSupported):
            image1.lock_acquire(rbd.RBD_LOCK_MODE_SHARED)
        image1.lock_release()
        image2.write(b"2", 0)
        owners = list(image1.lock_get_owners())
        assert owners == [{"mode": rbd.RBD_LOCK_MODE_EXCLUSIVE, "owner": owners[0]["owner"]}]
        image1.lock_break(rbd.RBD_LOCK_MODE_EXCLUSIVE, owners[0]["owner"])
        with pytest.raises(rbd.ConnectionShutdown):
            image2.is_exclusive_lock_owner()
        with pytest.raises(rbd.ConnectionShutdown):
            image2.write(b"3", 0)
        image1.write(b"3", 0)
        assert image1.is_exclusive_lock_owner()
    with Image(ioctx, image_name, read_only=True) as ro:
        assert not ro.is_exclusive_lock_owner()
        assert list(ro.watchers_list()) == []
        with pytest.raises(ReadOnlyImage):
            ro.write(b"x", 0)
    RBD().remove(ioctx, image_name)


def test_watchers_and_metadata(image):
    watchers = list(image.watchers_list())
    assert len(watchers) == 1 and set(watchers[0]) == {"addr", "id", "cookie"}
    image.metadata_set("k1", "v1")
    image.metadata_set("k2", "v2")
    assert image.metadata_get("k1") == "v1"
    assert list(image.metadata_list()) == [("k1", "v1"), ("k2", "v2")]
    image.metadata_remove("k1")
    with pytest.raises(KeyError):
        image.metadata_get("k1")
    with pytest.raises(KeyError):
        image.metadata_remove("k1")
    image.config_set("rbd_cache", "false")
    assert image.config_get("rbd_cache") == "false"
    entry = [c for c in image.config_list() if c["name"] == "rbd_cache"][0]
    assert entry == {"name": "rbd_cache", "value": "false", "source": rbd.RBD_CONFIG_SOURCE_IMAGE}
    image.config_remove("rbd_cache")
    with pytest.raises(KeyError):
        image.config_get("rbd_cache")
    with pytest.raises(InvalidArgument):
        image.config_set("not_an_option", "1")


def test_later_issue_calls(ioctx, image):
    # (trash is implemented now: tests/integration/test_rbd_pool_features.py)
    # (mirroring is implemented now: tests/integration/test_rbd_mirror.py)
    with pytest.raises(FunctionNotSupported):
        image.encryption_load(rbd.RBD_ENCRYPTION_FORMAT_LUKS, "pass")


def test_exceptions_pickle_from_real_calls(ioctx):
    try:
        Image(ioctx, "does-not-exist")
    except ImageNotFound as exc:
        again = pickle.loads(pickle.dumps(exc))
        assert type(again) is ImageNotFound and again.errno == errno.ENOENT
        assert str(again) == str(exc)
    else:
        pytest.fail("no exception")


def test_timestamps_move(image):
    before = image.modify_timestamp()
    time.sleep(0.01)
    image.write(b"t", 0)
    assert image.modify_timestamp() >= before
