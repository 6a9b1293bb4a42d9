"""Pool-level rbd features against the in-process cluster: trash, namespaces, pool
metadata / config overrides, pool stats, and one "day in the life" mixing namespaces,
clones and trash that checks every image against a bytearray model at the end.
Migration has its own file: tests/integration/test_rbd_migration.py."""
from __future__ import annotations

import datetime

import pytest

rados = pytest.importorskip("rados")
import rbd  # noqa: E402
from rbd import (  # noqa: E402
    RBD, Image, ImageExists, ImageHasSnapshots, ImageNotFound,
    InvalidArgument,
)

SIZE = 4 << 20
ORDER = 20
_counter = [0]


def name(prefix="img"):
    _counter[0] += 1
    return "%s%d" % (prefix, _counter[0])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    path = tmp_path_factory.mktemp("rbdpf") / "ceph.conf"
    path.write_text("[global]\nosd pool default size = 2\n"
                    "[rayceph]\nray address = inprocess\ncluster name = rbd_pool_features\n")
    handle = rados.Rados(conffile=str(path))
    try:
        handle.connect()
    except Exception as exc:
        pytest.skip("in-process cluster unavailable: %r" % (exc,))
    yield handle
    handle.shutdown()


@pytest.fixture(scope="module")
def ioctx(cluster):
    if not cluster.pool_exists("pfpool"):
        cluster.create_pool("pfpool")
    io = cluster.open_ioctx("pfpool")
    RBD().pool_init(io, True)
    yield io
    io.close()


def test_trash_move_list_get_restore(ioctx):
    r = RBD()
    n = name()
    r.create(ioctx, n, SIZE, order=ORDER)
    with Image(ioctx, n) as img:
        img.write(b"x" * 4096, 0)
        img.create_snap("s1")
        image_id = img.id()
    r.trash_move(ioctx, n, 0)
    assert n not in r.list(ioctx)
    entries = [e for e in r.trash_list(ioctx) if e["id"] == image_id]
    assert len(entries) == 1 and entries[0]["name"] == n and entries[0]["source"] == "USER"
    info = r.trash_get(ioctx, image_id)
    assert isinstance(info["deletion_time"], datetime.datetime)
    assert info["deferment_end_time"] >= info["deletion_time"]
    with pytest.raises(ImageNotFound):
        r.trash_get(ioctx, "nosuchid")
    with pytest.raises(ImageNotFound):
        Image(ioctx, n)
    r.create(ioctx, n, SIZE, order=ORDER)
    with pytest.raises(ImageExists):
        r.trash_restore(ioctx, image_id, n)
    r.remove(ioctx, n)
    r.trash_restore(ioctx, image_id, n)
    with Image(ioctx, n) as img:                  # data and snapshot survived the trash
        assert img.read(0, 4096) == b"x" * 4096
        assert [s["name"] for s in img.list_snaps()] == ["s1"]
    assert image_id not in [e["id"] for e in r.trash_list(ioctx)]


def test_trash_remove_deferment_and_purge(ioctx):
    r = RBD()
    a, b = name(), name()
    for n in (a, b):
        r.create(ioctx, n, SIZE, order=ORDER)
    with Image(ioctx, a) as img:
        a_id = img.id()
        img.write(b"a" * 100, 0)
    with Image(ioctx, b) as img:
        b_id = img.id()
    r.trash_move(ioctx, a, 3600)
    r.trash_move(ioctx, b, 0)
    with pytest.raises(rbd.PermissionError):
        r.trash_remove(ioctx, a_id)
    with pytest.raises(ImageNotFound):
        r.trash_remove(ioctx, "nosuchid")
    r.trash_purge(ioctx)                          # only b's deferment has ended
    ids = [e["id"] for e in r.trash_list(ioctx)]
    assert b_id not in ids and a_id in ids
    progress = []
    r.trash_remove(ioctx, a_id, force=True, on_progress=lambda o, t: progress.append((o, t)))
    assert a_id not in [e["id"] for e in r.trash_list(ioctx)]
    assert progress
    before = sorted(ioctx.list_objects(), key=lambda o: o.key)
    assert not any(a_id in o.key for o in before)


def test_trash_remove_refuses_image_with_snapshots(ioctx):
    r = RBD()
    n = name()
    r.create(ioctx, n, SIZE, order=ORDER)
    with Image(ioctx, n) as img:
        img.create_snap("s")
        image_id = img.id()
    r.trash_move(ioctx, n)
    with pytest.raises(ImageHasSnapshots):
        r.trash_remove(ioctx, image_id, force=True)
    assert image_id in [e["id"] for e in r.trash_list(ioctx)]
    r.trash_restore(ioctx, image_id, "")
    with Image(ioctx, n) as img:
        img.remove_snap("s")
    r.remove(ioctx, n)


def test_pool_metadata_and_config(ioctx):
    r = RBD()
    with pytest.raises(KeyError):
        r.pool_metadata_get(ioctx, "nokey")
    with pytest.raises(KeyError):
        r.pool_metadata_remove(ioctx, "nokey")
    r.pool_metadata_set(ioctx, "k1", "v1")
    assert r.pool_metadata_get(ioctx, "k1") == "v1"
    assert ("k1", "v1") in list(r.pool_metadata_list(ioctx))
    r.pool_metadata_remove(ioctx, "k1")
    with pytest.raises(KeyError):
        r.pool_metadata_get(ioctx, "k1")
    with pytest.raises(KeyError):
        r.config_get(ioctx, "rbd_default_order")
    with pytest.raises(InvalidArgument):
        r.config_set(ioctx, "not_an_option", "1")
    r.config_set(ioctx, "rbd_default_order", "21")
    r.config_set(ioctx, "rbd_default_features", "layering")
    try:
        assert r.config_get(ioctx, "rbd_default_order") == "21"
        listed = {c["name"]: c for c in r.config_list(ioctx)}
        assert listed["rbd_default_order"]["source"] == rbd.RBD_CONFIG_SOURCE_POOL
        assert listed["rbd_cache"]["source"] == rbd.RBD_CONFIG_SOURCE_CONFIG
        n = name()
        r.create(ioctx, n, SIZE)
        with Image(ioctx, n) as img:
            assert img.stat()["order"] == 21
            assert img.features() == rbd.RBD_FEATURE_LAYERING
        r.remove(ioctx, n)
    finally:
        r.config_remove(ioctx, "rbd_default_order")
        r.config_remove(ioctx, "rbd_default_features")
    with pytest.raises(KeyError):
        r.config_remove(ioctx, "rbd_default_order")


def test_move_to_trash_on_remove(ioctx):
    r = RBD()
    n = name()
    r.create(ioctx, n, SIZE, order=ORDER)
    r.config_set(ioctx, "rbd_move_to_trash_on_remove", "true")
    try:
        r.remove(ioctx, n)
    finally:
        r.config_remove(ioctx, "rbd_move_to_trash_on_remove")
    entries = [e for e in r.trash_list(ioctx) if e["name"] == n]
    assert len(entries) == 1
    r.trash_remove(ioctx, entries[0]["id"])


def test_namespaces(cluster, ioctx):
    r = RBD()
    ns = name("ns")
    for bad in ("", "a/b", "a@b", "x" * 5000):
        with pytest.raises(InvalidArgument):
            r.namespace_create(ioctx, bad)
    assert not r.namespace_exists(ioctx, ns)
    r.namespace_create(ioctx, ns)
    with pytest.raises(ImageExists):
        r.namespace_create(ioctx, ns)
    assert r.namespace_exists(ioctx, ns) and ns in r.namespace_list(ioctx)
    nsio = cluster.open_ioctx("pfpool")
    nsio.set_namespace(ns)
    try:
        n = name()
        r.create(nsio, n, SIZE, order=ORDER)
        assert r.list(nsio) == [n]
        assert n not in r.list(ioctx)
        with pytest.raises(rbd.ImageBusy):
            r.namespace_remove(ioctx, ns)
        r.trash_move(nsio, n)
        assert [e["name"] for e in r.trash_list(nsio)] == [n]
        assert n not in [e["name"] for e in r.trash_list(ioctx)]
        with pytest.raises(rbd.ImageBusy):
            r.namespace_remove(ioctx, ns)       # trash entries count too
        r.trash_remove(nsio, next(iter(r.trash_list(nsio)))["id"])
        r.namespace_remove(ioctx, ns)
        assert not r.namespace_exists(ioctx, ns)
        with pytest.raises(ImageNotFound):
            r.create(nsio, name(), SIZE, order=ORDER)
    finally:
        nsio.close()
    with pytest.raises(ImageNotFound):
        r.namespace_remove(ioctx, ns)


def test_pool_stats(cluster, ioctx):
    r = RBD()
    ns = name("ns")
    r.namespace_create(ioctx, ns)
    nsio = cluster.open_ioctx("pfpool")
    nsio.set_namespace(ns)
    try:
        a, b = name(), name()
        r.create(nsio, a, SIZE, order=ORDER)
        r.create(nsio, b, 2 * SIZE, order=ORDER)
        with Image(nsio, a) as img:
            img.create_snap("s")
        r.trash_move(nsio, b)
        stats = r.pool_stats_get(nsio)
        assert stats == {"image_count": 1, "image_provisioned_bytes": SIZE,
                         "image_max_provisioned_bytes": 2 * SIZE, "image_snap_count": 1,
                         "trash_count": 1, "trash_provisioned_bytes": 2 * SIZE,
                         "trash_max_provisioned_bytes": 2 * SIZE, "trash_snap_count": 0}
    finally:
        nsio.close()


def test_groups(ioctx):
    r = RBD()
    g = name("grp")
    with pytest.raises(rbd.ObjectNotFound):
        r.group_remove(ioctx, g)
    with pytest.raises(rbd.ObjectNotFound):
        rbd.Group(ioctx, g).list_images()
    for bad in ("", "a/b", "a@b"):
        with pytest.raises(InvalidArgument):
            r.group_create(ioctx, bad)
    r.group_create(ioctx, g)
    with pytest.raises(rbd.ObjectExists):
        r.group_create(ioctx, g)
    assert g in r.group_list(ioctx)
    a, b = name(), name()
    for n in (a, b):
        r.create(ioctx, n, SIZE, order=ORDER)
    grp = rbd.Group(ioctx, g)
    grp.add_image(ioctx, a)
    grp.add_image(ioctx, b)
    with pytest.raises(rbd.ObjectExists):
        grp.add_image(ioctx, a)
    assert sorted(i["name"] for i in grp.list_images()) == sorted([a, b])
    assert all(i["state"] == rbd.RBD_GROUP_IMAGE_STATE_ATTACHED for i in grp.list_images())
    with Image(ioctx, a) as img:
        assert img.group()["name"] == g
        img.write(b"1" * 4096, 0)
    with Image(ioctx, b) as img:
        img.write(b"2" * 4096, 0)
    with pytest.raises(rbd.ImageMemberOfGroup):
        r.remove(ioctx, a)
    with pytest.raises(rbd.ImageMemberOfGroup):
        r.trash_move(ioctx, a)
    grp.create_snap("gs")
    with pytest.raises(rbd.ObjectExists):
        grp.create_snap("gs")
    assert [(s["name"], s["state"]) for s in grp.list_snaps()] == \
        [("gs", rbd.RBD_GROUP_SNAP_STATE_COMPLETE)]
    assert grp.get_snap_info("gs")["name"] == "gs"
    with Image(ioctx, a) as img:
        snaps = list(img.list_snaps())
        assert len(snaps) == 1 and snaps[0]["namespace"] == rbd.RBD_SNAP_NAMESPACE_TYPE_GROUP
        assert img.snap_get_group_namespace(snaps[0]["id"])["name"] == g
        img.write(b"x" * 4096, 0)
    with Image(ioctx, b) as img:
        img.write(b"y" * 4096, 0)
    grp.rename_snap("gs", "gs2")
    with pytest.raises(rbd.ObjectNotFound):
        grp.rollback_to_snap("gs")
    grp.rollback_to_snap("gs2")
    with Image(ioctx, a) as img:
        assert img.read(0, 4096) == b"1" * 4096
    with Image(ioctx, b) as img:
        assert img.read(0, 4096) == b"2" * 4096
    g2 = name("grp")
    r.group_rename(ioctx, g, g2)
    assert g2 in r.group_list(ioctx) and g not in r.group_list(ioctx)
    grp = rbd.Group(ioctx, g2)
    grp.remove_image(ioctx, b)
    with Image(ioctx, b) as img:
        assert img.group()["name"] == ""
    grp.remove_snap("gs2")
    assert list(grp.list_snaps()) == []
    r.group_remove(ioctx, g2)
    assert g2 not in r.group_list(ioctx)
    r.remove(ioctx, a)                          # no longer a member
    r.remove(ioctx, b)


def test_day_in_the_life(cluster, ioctx):
    """Namespaces, clones and trash mixed; every image checked against a model."""
    r = RBD()
    ns = name("ns")
    r.namespace_create(ioctx, ns)
    nsio = cluster.open_ioctx("pfpool")
    nsio.set_namespace(ns)
    model = {}                                    # (ioctx tag, name) -> bytearray
    ios = {"root": ioctx, "ns": nsio}
    try:
        parent = name("parent")
        r.create(ioctx, parent, SIZE, order=ORDER)
        with Image(ioctx, parent) as img:
            img.write(b"P" * 8192, 0)
            img.create_snap("base")
        data = bytearray(SIZE)
        data[:8192] = b"P" * 8192
        model[("root", parent)] = bytearray(data)
        clone = name("clone")
        r.clone(ioctx, parent, "base", nsio, clone, clone_format=2)
        model[("ns", clone)] = bytearray(data)
        with Image(nsio, clone) as img:
            img.write(b"C" * 4096, 4096)
        model[("ns", clone)][4096:8192] = b"C" * 4096
        # the clone goes to the trash and comes back under a new name
        with Image(nsio, clone) as img:
            clone_id = img.id()
        r.trash_move(nsio, clone)
        del model[("ns", clone)]
        clone2 = name("clone")
        r.trash_restore(nsio, clone_id, clone2)
        model[("ns", clone2)] = bytearray(data)
        model[("ns", clone2)][4096:8192] = b"C" * 4096
        # parent changes after the snapshot do not reach the clone
        with Image(ioctx, parent) as img:
            img.write(b"Q" * 4096, 0)
        model[("root", parent)][:4096] = b"Q" * 4096
        # a plain image in the namespace, trashed and purged
        tmp = name()
        r.create(nsio, tmp, SIZE, order=ORDER)
        r.trash_move(nsio, tmp)
        r.trash_purge(nsio)
        assert list(r.trash_list(nsio)) == []
        assert sorted(r.list(nsio)) == [clone2]
        # a group in the namespace: snapshot, scribble, roll back
        plain = name()
        r.create(nsio, plain, SIZE, order=ORDER)
        model[("ns", plain)] = bytearray(SIZE)
        with Image(nsio, plain) as img:
            img.write(b"N" * 512, 1 << 20)
        model[("ns", plain)][1 << 20:(1 << 20) + 512] = b"N" * 512
        g = name("grp")
        r.group_create(nsio, g)
        assert g not in r.group_list(ioctx)
        grp = rbd.Group(nsio, g)
        grp.add_image(nsio, clone2)
        grp.add_image(nsio, plain)
        grp.create_snap("before")
        for n in (clone2, plain):
            with Image(nsio, n) as img:
                img.write(b"Z" * 8192, 0)
        grp.rollback_to_snap("before")
        grp.remove_snap("before")
        r.group_remove(nsio, g)
        assert sorted(r.list(nsio)) == sorted([clone2, plain])
        for (tag, n), want in model.items():
            with Image(ios[tag], n) as img:
                assert img.read(0, SIZE) == bytes(want), (tag, n)
    finally:
        nsio.close()
