"""Live migration and import-only migration against the in-process cluster.

Every scenario checks image bytes (HEAD and each snapshot) against a bytearray model, and
asserts that the path under test was taken: before execute the destination holds no data
object (so its reads came through the source); after commit the source's objects are gone."""
from __future__ import annotations

import json

import pytest

rados = pytest.importorskip("rados")
import rbd  # noqa: E402
from rbd import (  # noqa: E402
    RBD, FunctionNotSupported, Image, ImageBusy, ImageExists, ImageMemberOfGroup,
    ImageNotFound, InvalidArgument, ReadOnlyImage,
)

ORDER = 16                      # 64 KiB objects: a few dozen objects per image
OBJ = 1 << ORDER
SIZE = 8 * OBJ
_counter = [0]


def name(prefix="mig"):
    _counter[0] += 1
    return "%s%d" % (prefix, _counter[0])


@pytest.fixture(scope="module")
def conf_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("rbdmig") / "ceph.conf"
    path.write_text("[global]\nosd pool default size = 2\n"
                    "[rayceph]\nray address = inprocess\ncluster name = rbd_migration\n")
    return str(path)


@pytest.fixture(scope="module")
def cluster(conf_path):
    handle = rados.Rados(conffile=conf_path)
    try:
        handle.connect()
    except Exception as exc:
        pytest.skip("in-process cluster unavailable: %r" % (exc,))
    yield handle
    handle.shutdown()


def _pool(cluster, pool):
    if not cluster.pool_exists(pool):
        cluster.create_pool(pool)
    io = cluster.open_ioctx(pool)
    RBD().pool_init(io, True)
    return io


@pytest.fixture(scope="module")
def ioctx(cluster):
    io = _pool(cluster, "migsrc")
    yield io
    io.close()


@pytest.fixture(scope="module")
def ioctx2(cluster):
    io = _pool(cluster, "migdst")
    yield io
    io.close()


def _pattern(seed: int, n: int) -> bytes:
    return bytes((seed * 31 + i * 7) % 251 + 1 for i in range(n))


def _make_source(ioctx, n):
    """An image with two snapshots (s2 protected) and data spread over several objects;
    returns {snap name or None: bytearray model}."""
    RBD().create(ioctx, n, SIZE, order=ORDER)
    model = bytearray(SIZE)
    snaps = {}
    with Image(ioctx, n) as img:
        for seed, off, length in ((1, 100, 3000), (2, OBJ - 10, 40), (3, 3 * OBJ, OBJ)):
            data = _pattern(seed, length)
            img.write(data, off)
            model[off:off + length] = data
        img.create_snap("s1")
        snaps["s1"] = bytes(model)
        data = _pattern(4, 2 * OBJ)
        img.write(data, 5 * OBJ + 17)
        model[5 * OBJ + 17:7 * OBJ + 17] = data
        img.discard(3 * OBJ, OBJ)
        model[3 * OBJ:4 * OBJ] = bytes(OBJ)
        img.create_snap("s2")
        img.protect_snap("s2")
        snaps["s2"] = bytes(model)
        data = _pattern(5, 5000)
        img.write(data, 2 * OBJ + 1)
        model[2 * OBJ + 1:2 * OBJ + 5001] = data
    snaps[None] = bytes(model)
    return snaps


def _check(ioctx, n, models):
    with Image(ioctx, n, read_only=True) as img:
        assert img.size() == len(models[None])
        assert img.read(0, img.size()) == models[None]
        for snap, model in models.items():
            if snap is None:
                continue
            img.set_snap(snap)
            assert img.read(0, len(model)) == model, snap
            img.set_snap(None)


def _data_objects(ioctx, image_id):
    return [o.key for o in ioctx.list_objects() if image_id in o.key and "rbd_data" in o.key]


def test_prepare_read_through_status_and_source_locked(ioctx, ioctx2):
    r = RBD()
    src, dst = name(), name()
    models = _make_source(ioctx, src)
    with Image(ioctx, src) as img:
        src_id = img.id()
    r.migration_prepare(ioctx, src, ioctx2, dst, order=ORDER + 1, stripe_unit=OBJ // 4,
                        stripe_count=3)
    # the source left the directory for the trash and only opens read-only
    assert src not in r.list(ioctx)
    with pytest.raises(ImageNotFound):
        Image(ioctx, src)
    trash = [e for e in r.trash_list(ioctx) if e["id"] == src_id]
    assert len(trash) == 1 and trash[0]["source"] == "MIGRATION" and trash[0]["name"] == src
    with pytest.raises(ReadOnlyImage):
        Image(ioctx, image_id=src_id)
    with Image(ioctx, image_id=src_id, read_only=True) as img:
        assert img.read(0, SIZE) == models[None]
    with pytest.raises(ImageBusy):
        r.trash_move(ioctx2, dst)
    status = r.migration_status(ioctx2, dst)
    with Image(ioctx2, dst) as img:
        dst_id = img.id()
        assert img.features() & rbd.RBD_FEATURE_MIGRATING
        assert img.stripe_unit() == OBJ // 4 and img.stripe_count() == 3
        assert img.stat()["order"] == ORDER + 1
        assert [s["name"] for s in img.list_snaps()] == ["s1", "s2"]
        assert img.is_protected_snap("s2")
        assert img.migration_source_spec() == {
            "type": "native", "pool_id": ioctx.get_pool_id(), "pool_namespace": "",
            "image_name": src, "image_id": src_id}
    assert status == {
        "source_pool_id": ioctx.get_pool_id(), "source_pool_namespace": "",
        "source_image_name": src, "source_image_id": src_id,
        "dest_pool_id": ioctx.get_pool_id(),          # Pacific's binding quirk
        "dest_pool_namespace": "", "dest_image_name": dst, "dest_image_id": dst_id,
        "state": rbd.RBD_IMAGE_MIGRATION_STATE_PREPARED, "state_description": ""}
    _check(ioctx2, dst, models)
    assert _data_objects(ioctx2, dst_id) == []        # every byte above came from the source
    # either side's name resolves the migration
    assert r.migration_status(ioctx2, dst)["state"] == rbd.RBD_IMAGE_MIGRATION_STATE_PREPARED
    r.migration_abort(ioctx2, dst)
    _check(ioctx, src, models)
    with Image(ioctx, src) as img:
        img.unprotect_snap("s2")
        img.remove_snap("s1")
        img.remove_snap("s2")
    r.remove(ioctx, src)


def test_writes_during_migration_then_execute_and_commit(ioctx, ioctx2):
    r = RBD()
    src, dst = name(), name()
    models = _make_source(ioctx, src)
    with Image(ioctx, src) as img:
        src_id = img.id()
    r.migration_prepare(ioctx, src, ioctx2, dst)
    head = bytearray(models[None])
    with Image(ioctx2, dst) as img:
        dst_id = img.id()
        # partial writes copy the object up (with its snapshot history) first
        img.write(b"W" * 300, OBJ + 50)
        head[OBJ + 50:OBJ + 350] = b"W" * 300
        img.write(b"V" * 10, 5 * OBJ + 20)
        head[5 * OBJ + 20:5 * OBJ + 30] = b"V" * 10
        # a discarded object must not let the source show through again
        img.discard(6 * OBJ, OBJ)
        head[6 * OBJ:7 * OBJ] = bytes(OBJ)
        assert img.read(0, SIZE) == bytes(head)
        img.create_snap("s3")
        models["s3"] = bytes(head)
        img.write(b"X" * 7, 0)
        head[0:7] = b"X" * 7
        # only the objects written (or discarded) were copied up
        assert sorted(k[-2:] for k in _data_objects(ioctx2, dst_id)) == ["00", "01", "05", "06"]
    models[None] = bytes(head)
    _check(ioctx2, dst, models)
    with pytest.raises(InvalidArgument):
        r.migration_commit(ioctx2, dst)               # "migration not executed"
    progress = []
    r.migration_execute(ioctx2, dst, on_progress=lambda o, t: progress.append((o, t)))
    assert progress and progress[-1][0] == progress[-1][1] > 0
    assert r.migration_status(ioctx2, dst)["state"] == rbd.RBD_IMAGE_MIGRATION_STATE_EXECUTED
    with pytest.raises(InvalidArgument):
        r.migration_execute(ioctx2, dst)
    _check(ioctx2, dst, models)
    r.migration_commit(ioctx2, dst)
    assert src_id not in [e["id"] for e in r.trash_list(ioctx)]
    assert _data_objects(ioctx, src_id) == []
    assert not [o.key for o in ioctx.list_objects() if o.key == "rbd_header." + src_id]
    with pytest.raises(InvalidArgument):
        r.migration_status(ioctx2, dst)
    with Image(ioctx2, dst) as img:
        assert not img.features() & rbd.RBD_FEATURE_MIGRATING
        with pytest.raises(ImageNotFound):
            img.migration_source_spec()
    _check(ioctx2, dst, models)                       # every snapshot survived the source


def test_abort_after_writes_restores_source_in_place(ioctx):
    r = RBD()
    n = name()
    models = _make_source(ioctx, n)
    with Image(ioctx, n) as img:
        src_id = img.id()
    r.migration_prepare(ioctx, n, ioctx, n, features=rbd.RBD_FEATURE_LAYERING)
    with Image(ioctx, n) as img:                      # the name now opens the destination
        dst_id = img.id()
        assert dst_id != src_id
        assert img.features() == rbd.RBD_FEATURE_LAYERING | rbd.RBD_FEATURE_MIGRATING
        img.write(b"Z" * 4096, 0)
        img.resize(SIZE // 2)
        img.resize(SIZE)
        expected = bytearray(models[None])
        expected[0:4096] = b"Z" * 4096
        expected[SIZE // 2:] = bytes(SIZE // 2)        # the shrink dropped the read-through
        assert img.read(0, SIZE) == bytes(expected)
        with pytest.raises(ImageBusy):
            r.migration_abort(ioctx, n)               # the destination is open
    r.migration_execute(ioctx, n)
    r.migration_abort(ioctx, n)
    with Image(ioctx, n) as img:
        assert img.id() == src_id and not img.features() & rbd.RBD_FEATURE_MIGRATING
    _check(ioctx, n, models)
    assert _data_objects(ioctx, dst_id) == []
    assert src_id not in [e["id"] for e in r.trash_list(ioctx)]
    with pytest.raises(InvalidArgument):
        r.migration_status(ioctx, n)


def test_import_from_raw_file(ioctx2, tmp_path):
    r = RBD()
    n = name()
    size = 5 * OBJ + 123
    content = bytearray(size)
    content[10:5000] = _pattern(7, 4990)
    content[4 * OBJ:4 * OBJ + 9000] = _pattern(8, 9000)
    path = tmp_path / "disk.raw"
    path.write_bytes(bytes(content))
    snap_content = bytearray(content)
    snap_content[10:20] = b"S" * 10
    snap_path = tmp_path / "disk.snap1"
    snap_path.write_bytes(bytes(snap_content))
    spec = {"type": "raw", "stream": {"type": "file", "file_path": str(path)},
            "snapshots": [{"type": "raw", "name": "snap1",
                           "stream": {"type": "file", "file_path": str(snap_path)}}]}
    r.migration_prepare_import(json.dumps(spec), ioctx2, n, order=ORDER)
    models = {None: bytes(content), "snap1": bytes(snap_content)}
    with Image(ioctx2, n) as img:
        assert img.migration_source_spec() == spec
        dst_id = img.id()
    _check(ioctx2, n, models)
    assert _data_objects(ioctx2, dst_id) == []
    status = r.migration_status(ioctx2, n)
    assert status["source_pool_id"] == -1 and status["source_image_name"] == ""
    assert status["dest_image_name"] == n and status["dest_image_id"] == dst_id
    r.migration_execute(ioctx2, n)
    r.migration_commit(ioctx2, n)
    assert path.read_bytes() == bytes(content)        # an import never writes its source
    path.write_bytes(bytes(size))                     # nor reads it after commit
    _check(ioctx2, n, models)
    with Image(ioctx2, n) as img:
        img.remove_snap("snap1")
    r.remove(ioctx2, n)


def test_import_native_leaves_source_alone(ioctx, ioctx2):
    r = RBD()
    src, dst = name(), name()
    models = _make_source(ioctx, src)
    spec = {"type": "native", "pool_name": "migsrc", "image_name": src, "snap_name": "s2"}
    r.migration_prepare_import(json.dumps(spec), ioctx2, dst)
    imported = {"s1": models["s1"], "s2": models["s2"], None: models["s2"]}
    _check(ioctx2, dst, imported)
    r.migration_execute(ioctx2, dst)
    r.migration_commit(ioctx2, dst)
    _check(ioctx2, dst, imported)
    _check(ioctx, src, models)
    assert src in r.list(ioctx)
    with Image(ioctx2, dst) as img:
        img.unprotect_snap("s2")
        img.remove_snap("s1")
        img.remove_snap("s2")
    r.remove(ioctx2, dst)


def test_import_spec_errors(ioctx2, tmp_path):
    r = RBD()
    with pytest.raises(InvalidArgument):
        r.migration_prepare_import("{not json", ioctx2, name())
    with pytest.raises(InvalidArgument):
        r.migration_prepare_import(json.dumps({"stream": {}}), ioctx2, name())
    missing = {"type": "raw", "stream": {"type": "file", "file_path": str(tmp_path / "nope")}}
    with pytest.raises(ImageNotFound):
        r.migration_prepare_import(json.dumps(missing), ioctx2, name())
    http = {"type": "raw", "stream": {"type": "http", "url": "http://example.invalid/x"}}
    with pytest.raises(FunctionNotSupported):
        r.migration_prepare_import(json.dumps(http), ioctx2, name())
    with pytest.raises(ImageNotFound):
        r.migration_prepare_import(json.dumps(
            {"type": "native", "pool_name": "migdst", "image_name": "nosuch"}), ioctx2, name())


def test_prepare_errors_change_nothing(cluster, ioctx, ioctx2):
    r = RBD()
    src, other = name(), name()
    r.create(ioctx, src, SIZE, order=ORDER)
    r.create(ioctx2, other, SIZE, order=ORDER)
    with pytest.raises(ImageNotFound):
        r.migration_prepare(ioctx, "nosuch", ioctx2, name())
    with pytest.raises(ImageExists):
        r.migration_prepare(ioctx, src, ioctx2, other)
    with pytest.raises(rbd.ArgumentOutOfRange):
        r.migration_prepare(ioctx, src, ioctx2, name(), order=30)
    with Image(ioctx, src):
        with pytest.raises(ImageBusy):                # "image has watchers - not migrating"
            r.migration_prepare(ioctx, src, ioctx2, name())
    with pytest.raises(InvalidArgument):
        r.migration_status(ioctx, src)                # not migrating
    assert src in r.list(ioctx)                       # every failure above left it in place
    # already migrating: the destination refuses a second prepare
    dst = name()
    r.migration_prepare(ioctx, src, ioctx2, dst)
    with pytest.raises(ImageBusy):
        r.migration_prepare(ioctx2, dst, ioctx, name())
    r.migration_abort(ioctx2, dst)
    # a group member and a parent with clones are refused
    group = name("grp")
    r.group_create(ioctx, group)
    rbd.Group(ioctx, group).add_image(ioctx, src)
    with pytest.raises(ImageMemberOfGroup):
        r.migration_prepare(ioctx, src, ioctx2, name())
    rbd.Group(ioctx, group).remove_image(ioctx, src)
    r.group_remove(ioctx, group)
    with Image(ioctx, src) as img:
        img.create_snap("base")
        img.protect_snap("base")
    child = name()
    r.clone(ioctx, src, "base", ioctx, child)
    with pytest.raises(InvalidArgument):
        r.migration_prepare(ioctx, src, ioctx2, name(), features=rbd.RBD_FEATURE_EXCLUSIVE_LOCK)
    with pytest.raises(FunctionNotSupported):
        r.migration_prepare(ioctx, src, ioctx2, name())
    assert src in r.list(ioctx)
    r.remove(ioctx, child)
    with Image(ioctx, src) as img:
        img.unprotect_snap("base")
        img.remove_snap("base")
    r.remove(ioctx, src)
    r.remove(ioctx2, other)


def test_cli_migration_commands(conf_path, ioctx, ioctx2, capsys):
    from rbd import cli as rbd_cli
    r = RBD()
    src, dst = name(), name()
    r.create(ioctx, src, SIZE, order=ORDER)
    with Image(ioctx, src) as img:
        img.write(b"cli" * 1000, 5)
    assert rbd_cli.main(["-c", conf_path, "migration", "prepare", "--image-feature",
                         "layering", "migsrc/" + src, "migdst/" + dst]) == 0
    assert rbd_cli.main(["-c", conf_path, "migration", "commit", "migdst/" + dst]) == 22
    assert "committing migration failed: (22)" in capsys.readouterr().err
    assert rbd_cli.main(["-c", conf_path, "migration", "execute", "migdst/" + dst]) == 0
    assert "Image migration: 100% complete...done." in capsys.readouterr().err
    assert rbd_cli.main(["-c", conf_path, "migration", "commit", "migdst/" + dst]) == 0
    assert src not in r.list(ioctx)
    with Image(ioctx2, dst) as img:
        assert img.features() == rbd.RBD_FEATURE_LAYERING
        assert img.read(5, 3000) == b"cli" * 1000
    assert rbd_cli.main(["-c", conf_path, "migration", "frob", dst]) == 22
    r.remove(ioctx2, dst)


def test_migrating_a_clone_flattens_it(ioctx, ioctx2):
    r = RBD()
    parent, child, dst = name(), name(), name()
    r.create(ioctx, parent, SIZE, order=ORDER)
    with Image(ioctx, parent) as img:
        img.write(_pattern(9, 3 * OBJ), 0)
        img.create_snap("base")
        img.protect_snap("base")
    r.clone(ioctx, parent, "base", ioctx, child)
    expected = bytearray(_pattern(9, 3 * OBJ) + bytes(SIZE - 3 * OBJ))
    with Image(ioctx, child) as img:
        img.write(b"C" * 100, OBJ + 1)
    expected[OBJ + 1:OBJ + 101] = b"C" * 100
    r.migration_prepare(ioctx, child, ioctx2, dst)
    _check(ioctx2, dst, {None: bytes(expected)})
    r.migration_execute(ioctx2, dst)
    r.migration_commit(ioctx2, dst)
    _check(ioctx2, dst, {None: bytes(expected)})
    with Image(ioctx2, dst) as img:
        with pytest.raises(ImageNotFound):
            img.parent_info()                        # the destination stands alone
    with Image(ioctx, parent) as img:
        img.set_snap("base")
        assert list(img.list_children2()) == []       # the source detached on commit
        img.set_snap(None)
        img.unprotect_snap("base")
        img.remove_snap("base")
    r.remove(ioctx, parent)
    r.remove(ioctx2, dst)


def test_execute_and_commit_while_destination_is_open(ioctx, ioctx2):
    r = RBD()
    src, dst = name(), name()
    models = _make_source(ioctx, src)
    r.migration_prepare(ioctx, src, ioctx2, dst)
    head = bytearray(models[None])
    with Image(ioctx2, dst) as img:
        img.write(b"A" * 50, 2 * OBJ)                # this handle owns the exclusive lock
        head[2 * OBJ:2 * OBJ + 50] = b"A" * 50
        r.migration_execute(ioctx2, dst)              # takes the lock over, copies the rest
        img.write(b"B" * 50, 4 * OBJ)
        head[4 * OBJ:4 * OBJ + 50] = b"B" * 50
        r.migration_commit(ioctx2, dst)
        assert img.read(0, SIZE) == bytes(head)      # the open handle outlived its source
        assert not img.features() & rbd.RBD_FEATURE_MIGRATING
    models[None] = bytes(head)
    _check(ioctx2, dst, models)


def _diff(img):
    out = []
    img.diff_iterate(0, SIZE, None, lambda o, n, e: out.append((o, n, e)))
    return out


def test_diff_iterate_of_a_destination_sees_the_source(ioctx, ioctx2):
    r = RBD()
    src, dst = name(), name()
    models = _make_source(ioctx, src)
    with Image(ioctx, src, read_only=True) as img:
        expected = {None: _diff(img)}
        img.set_snap("s1")
        expected["s1"] = _diff(img)
    r.migration_prepare(ioctx, src, ioctx2, dst)
    with Image(ioctx2, dst, read_only=True) as img:
        assert _diff(img) == expected[None]
        raw = bytearray(SIZE)                      # what a sparse export would copy
        for off, n, exists in expected[None]:
            if exists:
                raw[off:off + n] = img.read(off, n)
        assert bytes(raw) == models[None]
        img.set_snap("s1")
        assert _diff(img) == expected["s1"]
    r.migration_abort(ioctx2, dst)


def test_migrate_into_a_namespace_with_a_data_pool(ioctx, ioctx2, cluster):
    r = RBD()
    src, dst, ns = name(), name(), name("ns")
    models = _make_source(ioctx, src)
    with Image(ioctx, src) as img:
        src_id = img.id()
    r.namespace_create(ioctx2, ns)
    nsio = cluster.open_ioctx("migdst")
    nsio.set_namespace(ns)
    try:
        r.migration_prepare(ioctx, src, nsio, dst, data_pool="migsrc")
        with pytest.raises(InvalidArgument):          # only migration_abort brings it back
            r.trash_restore(ioctx, src_id, src)
        status = r.migration_status(nsio, dst)
        assert (status["dest_pool_namespace"], status["dest_image_name"]) == (ns, dst)
        with Image(nsio, dst) as img:
            assert img.data_pool_id() == ioctx.get_pool_id()
            dst_id = img.id()
            img.write(b"N" * 10, 0)
        head = bytearray(models[None])
        head[0:10] = b"N" * 10
        models[None] = bytes(head)
        r.migration_execute(nsio, dst)
        r.migration_commit(nsio, dst)
        _check(nsio, dst, models)
        data_io = cluster.open_ioctx("migsrc")
        data_io.set_namespace(ns)
        assert _data_objects(data_io, dst_id)       # the data went to the data pool
        data_io.close()
        assert _data_objects(ioctx, src_id) == []
        with Image(nsio, dst) as img:
            img.unprotect_snap("s2")
            img.remove_snap("s1")
            img.remove_snap("s2")
        r.remove(nsio, dst)
        r.namespace_remove(ioctx2, ns)
    finally:
        nsio.close()
