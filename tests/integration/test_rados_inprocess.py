"""The scenarios of Ceph's src/test/pybind/test_rados.py, in our words, against a whole
cluster in this process (`[rayceph] ray address = inprocess`: monitor and OSD cores, no Ray).

One connected Rados handle per module; each test gets a fresh pool."""
from __future__ import annotations

import errno
import itertools
import json
import re
import sys
import threading
import time
from datetime import timedelta

import pytest

import rados
from rados import (
    LIBRADOS_ALL_NSPACES, LIBRADOS_CMPXATTR_OP_EQ, LIBRADOS_CMPXATTR_OP_GT,
    LIBRADOS_OPERATION_BALANCE_READS, LIBRADOS_OPERATION_SKIPRWLOCKS, LIBRADOS_SNAP_HEAD,
    MAX_ERRNO, ExtendMismatch, NoData, Object, ObjectBusy, ObjectExists, ObjectNotFound,
    Rados, RadosStateError, ReadOpCtx, WriteOpCtx,
)

_pool_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def conffile(tmp_path_factory):
    path = tmp_path_factory.mktemp("rados-inprocess") / "ceph.conf"
    path.write_text("[global]\nmon allow pool delete = true\nosd pool default pg num = 8\n"
                    "[rayceph]\nray address = inprocess\ncluster name = rados-inprocess\n"
                    "pools = rbd\n")
    return str(path)


@pytest.fixture(scope="module")
def cluster(conffile):
    r = Rados(conffile=conffile)
    r.connect(timeout=60)
    yield r
    r.shutdown()


@pytest.fixture
def pool(cluster):
    name = "test_pool_%d" % next(_pool_numbers)
    cluster.create_pool(name)
    yield name
    cluster.delete_pool(name)


@pytest.fixture
def ioctx(cluster, pool):
    io = cluster.open_ioctx(pool)
    yield io
    io.close()


def wait_until(predicate, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in %.0fs" % timeout_s)
        time.sleep(0.01)


# -- the handle ---------------------------------------------------------------------------------

def test_state_errors_and_context_manager(conffile):
    r = Rados(conffile=conffile)
    with pytest.raises(RadosStateError):
        r.list_pools()
    with r:
        assert r.state == "connected"
        with pytest.raises(RadosStateError):
            r.connect()
        with r.open_ioctx("rbd"):
            pass
    assert r.state == "shutdown"
    with pytest.raises(RadosStateError):
        r.conf_get("mon_host")


def test_pools(cluster):
    before = set(cluster.list_pools())
    cluster.create_pool("foo")
    cluster.create_pool("\u9ec4")
    assert cluster.pool_exists("\u9ec4")
    with pytest.raises(ObjectExists):
        cluster.create_pool("foo")
    assert set(cluster.list_pools()) - before == {"foo", "\u9ec4"}
    pool_id = cluster.pool_lookup("\u9ec4")
    assert pool_id > 0 and cluster.pool_reverse_lookup(pool_id) == "\u9ec4"
    assert cluster.get_pool_base_tier(pool_id) == pool_id
    cluster.delete_pool("foo")
    cluster.delete_pool("\u9ec4")
    assert set(cluster.list_pools()) == before
    with pytest.raises(ObjectNotFound):
        cluster.delete_pool("foo")
    with pytest.raises(ObjectNotFound) as info:
        cluster.open_ioctx("foo")
    assert str(info.value) == "[errno 2] RADOS object not found (error opening pool 'foo')"
    with pytest.raises(TypeError):
        cluster.create_pool(0xf00)
    cluster.create_pool("a" * 500)
    cluster.delete_pool("a" * 500)


def test_cluster_info(cluster):
    assert re.match(r"[0-9a-f\-]{36}", cluster.get_fsid(), re.I)
    assert cluster.get_instance_id() > 0
    assert cluster.wait_for_latest_osdmap() == 0
    stats = cluster.get_cluster_stats()
    assert set(stats) == {"kb", "kb_used", "kb_avail", "num_objects"}
    assert stats["kb"] > 0 and stats["num_objects"] >= 0
    cluster.blocklist_add("1.2.3.4/123", 1)
    with pytest.raises(ObjectNotFound):
        cluster.ping_monitor("not_exists_monitor")


def test_mon_commands(cluster):
    ret, buf, _ = cluster.mon_command(json.dumps({"prefix": "mon dump"}), b"", timeout=30)
    assert ret == 0 and b"epoch" in buf
    ret, buf, _ = cluster.mon_command(json.dumps({"prefix": "mon dump", "format": "json"}),
                                      b"", timeout=30)
    assert ret == 0
    mon = json.loads(buf.decode("utf-8"))["mons"][0]
    for target in (mon["name"], mon["rank"]):
        ret, buf, _ = cluster.mon_command(json.dumps({"prefix": "version"}), b"",
                                          target=target)
        assert ret == 0 and buf
    assert cluster.mon_command(json.dumps({"prefix": "version"}), b"", target="zz")[0] < 0
    status = json.loads(cluster.ping_monitor(mon["name"]))
    assert "health" in status
    ret, _, outs = cluster.mon_command(json.dumps({"prefix": "osd pool create", "pg_num": 8,
                                                   "pool": "\u9ec5"}), b"")
    assert ret == 0 and outs == "pool '\u9ec5' created"
    cluster.delete_pool("\u9ec5")
    assert cluster.mon_command(json.dumps({"prefix": "no such command"}), b"")[0] < 0
    assert cluster.mon_command("{not json", b"")[0] == -errno.EINVAL


def test_mon_command_details_from_ceph_tests(cluster):
    ret, buf, _ = cluster.mon_command(json.dumps({"prefix": "mon dump", "format": "json"}),
                                      b"")
    dump = json.loads(buf.decode("utf-8"))
    ret, buf, _ = cluster.mon_command(json.dumps({"prefix": "mon dump", "format": "json",
                                                  "epoch": dump["epoch"] + 1000}), b"")
    assert ret == -errno.ENOENT and buf == b""
    ret, buf, _ = cluster.mon_command(json.dumps({"prefix": "version"}), b"",
                                      target=dump["mons"][0]["name"])
    assert "release" in json.loads(buf.decode("utf-8"))


def test_osd_and_pg_commands(cluster, pool):
    ret, buf, _ = cluster.osd_command(0, json.dumps({"prefix": "status"}), b"")
    assert ret == 0 and json.loads(buf.decode("utf-8"))["osd"] == 0
    pool_id = cluster.pool_lookup(pool)
    ret, buf, _ = cluster.pg_command("%d.0" % pool_id, json.dumps({"prefix": "status"}), b"")
    assert ret == 0


def test_other_commands(cluster, pool):
    assert cluster.osd_command(999, json.dumps({"prefix": "status"}), b"")[0] < 0
    pool_id = cluster.pool_lookup(pool)
    assert cluster.pg_command("bogus", "{}", b"")[0] == -errno.EINVAL
    assert cluster.pg_command("%d.ffff" % pool_id, "{}", b"")[0] == -errno.ENOENT
    assert cluster.get_inconsistent_pgs(pool_id) == []
    ret, _, outs = cluster.mgr_command(json.dumps({"prefix": "no such module cmd"}), b"")
    assert ret == -errno.EINVAL
    ret, buf, _ = cluster.mgr_command(json.dumps({"prefix": "pg ls", "pool": pool_id,
                                                  "format": "json"}), b"")
    assert ret == 0 and json.loads(buf.decode("utf-8"))["pg_ready"]


def test_conf_calls(conffile):
    r = Rados(conffile=conffile, conf={"rados_osd_op_timeout": "30"})
    assert r.conf_get("rados_osd_op_timeout") == "30"
    assert r.conf_get("no_such_option") is None
    with pytest.raises(ObjectNotFound):
        r.conf_set("no_such_option", "1")
    with pytest.raises(rados.InvalidArgumentError):
        r.conf_set("osd_pool_default_size", "many")
    args = ["osd", "pool", "delete", "foobar", "foobar", "--yes-i-really-really-mean-it"]
    assert r.conf_parse_argv(args) == args
    assert r.conf_parse_argv([""]) == [""]
    assert r.conf_parse_argv(["--rados-osd-op-timeout", "7", "rest"]) == ["rest"]
    assert r.conf_get("rados osd op timeout") == "7"
    r.conf_parse_env("FOO_DOES_NOT_EXIST_BLAHBLAH")
    r.conf_parse_env()
    with pytest.raises(ObjectNotFound):
        r.conf_read_file("/no/such/ceph.conf")
    with pytest.raises(rados.Error):
        Rados(conffile=conffile, rados_id="admin", name="client.admin")
    with Rados(conffile=conffile, rados_id="admin") as r2:
        assert r2.state == "connected"
        assert r2.ping_monitor("a")


# -- object I/O -------------------------------------------------------------------------------

def test_object_io(ioctx):
    assert ioctx.write("abc", b"abc") == 0
    assert ioctx.read("abc") == b"abc"
    assert ioctx.write_full("abc", b"d") == 0
    assert ioctx.read("abc") == b"d"
    ioctx.append("abc", b"ef")
    assert ioctx.read("abc") == b"def"
    ioctx.write("zeros", b"abc\0\0\0abc")
    assert ioctx.read("zeros") == b"abc\0\0\0abc"
    ioctx.writesame("same", b"rzx", 9)
    assert ioctx.read("same") == b"rzxrzxrzx"
    ioctx.trunc("abc", 2)
    assert ioctx.read("abc") == b"de" and ioctx.stat("abc")[0] == 2
    assert isinstance(ioctx.stat("abc")[1], time.struct_time)
    ioctx.write("cmp", b"abcdefghi")
    assert ioctx.cmpext("cmp", b"abcdefghi", 0) == 0
    assert ioctx.cmpext("cmp", b"abcdxxxxx", 0) == -MAX_ERRNO - 4
    assert ioctx.remove_object("abc") is True
    with pytest.raises(ObjectNotFound):
        ioctx.read("abc")
    assert ioctx.get_last_version() >= 0


def test_stats_of_a_fresh_pool_are_zero(cluster, pool):
    with cluster.open_ioctx2(cluster.pool_lookup(pool)) as io:
        stats = io.get_stats()
        assert stats == dict.fromkeys(stats, 0) and len(stats) == 12
        io.write("x", b"1234")
        assert io.get_stats()["num_objects"] == 1


def test_list_objects_and_namespaces(ioctx):
    assert list(ioctx.list_objects()) == []
    ioctx.write("a", b"")
    ioctx.write("b", b"foo")
    ioctx.write_full("c", b"bar")
    ioctx.append("d", b"jazz")
    assert sorted(o.key for o in ioctx.list_objects()) == ["a", "b", "c", "d"]
    ioctx.set_namespace("ns1")
    ioctx.write("ns1-a", b"")
    ioctx.write("ns1-b", b"")
    assert sorted(o.key for o in ioctx.list_objects()) == ["ns1-a", "ns1-b"]
    ioctx.set_namespace(LIBRADOS_ALL_NSPACES)
    assert sorted((o.nspace, o.key) for o in ioctx.list_objects()) == [
        ("", "a"), ("", "b"), ("", "c"), ("", "d"), ("ns1", "ns1-a"), ("ns1", "ns1-b")]
    ioctx.set_namespace("")
    for obj in ioctx.list_objects():
        obj.remove()
    assert list(ioctx.list_objects()) == []


def test_locator_keys(ioctx):
    ioctx.set_locator_key("bar")
    ioctx.write("foo", b"contents1")
    objects = list(ioctx.list_objects())
    assert len(objects) == 1 and objects[0].locator_key == "bar"
    ioctx.set_locator_key("")
    objects[0].seek(0)
    objects[0].write(b"contents2")
    assert ioctx.get_locator_key() == ""
    with pytest.raises(ObjectNotFound):
        ioctx.read("foo")       # another object without the locator
    ioctx.set_locator_key("bar")
    assert ioctx.read("foo") == b"contents2"
    objects[0].remove()
    assert list(ioctx.list_objects()) == []


def test_xattrs(ioctx):
    xattrs = dict(a=b"1", b=b"2", c=b"3", d=b"a\0b", e=b"\0", f=b"")
    ioctx.write("abc", b"")
    for key, value in xattrs.items():
        assert ioctx.set_xattr("abc", key, value) is True
        assert ioctx.get_xattr("abc", key) == value
    assert dict(ioctx.get_xattrs("abc")) == xattrs
    obj = list(ioctx.list_objects())[0]
    assert dict(obj.get_xattrs()) == xattrs
    assert ioctx.rm_xattr("abc", "a") is True
    with pytest.raises(NoData):
        ioctx.get_xattr("abc", "a")


def test_object_wrapper(ioctx):
    ioctx.write("foo", b"bar")
    obj = Object(ioctx, "foo")
    assert obj.read(3) == b"bar" and obj.read(100) == b""
    obj.seek(0)
    obj.write(b"barbaz")
    obj.seek(0)
    assert obj.read(3) == b"bar" and obj.read(3) == b"baz"


def test_bad_input(cluster, ioctx):
    with pytest.raises(TypeError):
        ioctx.write("o", "not bytes")
    with pytest.raises(TypeError):
        ioctx.write(7, b"x")
    with pytest.raises(OverflowError):
        ioctx.read("o", 10, -1)
    with pytest.raises(rados.OSError) as info:
        ioctx.write("n" * 2049, b"x")
    assert info.value.errno == errno.ENAMETOOLONG
    ioctx.write("n" * 2048, b"x")
    io = cluster.open_ioctx(ioctx.get_pool_name())
    io.close()
    with pytest.raises(rados.IoctxStateError):
        io.read("o")


# -- snapshots ------------------------------------------------------------------------------

def test_pool_snapshots(ioctx):
    with pytest.raises(ObjectNotFound):
        ioctx.remove_snap("foo")
    assert list(ioctx.list_snaps()) == []
    for name in ("snap1", "snap2", "snap3"):
        ioctx.create_snap(name)
    assert [s.name for s in ioctx.list_snaps()] == ["snap1", "snap2", "snap3"]
    snap = ioctx.lookup_snap("snap2")
    assert snap.name == "snap2"
    snap.get_timestamp()
    for name in ("snap1", "snap2", "snap3"):
        ioctx.remove_snap(name)
    assert list(ioctx.list_snaps()) == []
    with pytest.raises(ObjectNotFound):
        ioctx.lookup_snap("snap1")


def test_pool_snapshot_rollback_and_read(ioctx):
    ioctx.write("insnap", b"contents1")
    ioctx.create_snap("snap1")
    ioctx.remove_object("insnap")
    ioctx.snap_rollback("insnap", "snap1")
    assert ioctx.read("insnap") == b"contents1"
    ioctx.remove_object("insnap")
    snap = ioctx.lookup_snap("snap1")
    ioctx.set_read(snap.snap_id)
    assert ioctx.read("insnap") == b"contents1"
    with pytest.raises(rados.OSError) as info:
        ioctx.write("insnap", b"no")
    assert info.value.errno == errno.EROFS
    ioctx.set_read(LIBRADOS_SNAP_HEAD)
    ioctx.write("inhead", b"contents2")
    assert ioctx.read("inhead") == b"contents2"
    ioctx.remove_snap("snap1")
    # a pool with pool snapshots cannot have self-managed ones
    ioctx.create_snap("again")
    with pytest.raises(rados.InvalidArgumentError):
        ioctx.create_self_managed_snap()


def test_self_managed_snapshots(ioctx):
    ioctx.set_self_managed_snap_write([])
    ioctx.write("abc", b"abc")
    snap_id_1 = ioctx.create_self_managed_snap()
    ioctx.set_self_managed_snap_write([snap_id_1])
    ioctx.write("abc", b"def")
    snap_id_2 = ioctx.create_self_managed_snap()
    ioctx.set_self_managed_snap_write([snap_id_1, snap_id_2])
    ioctx.write("abc", b"ghi")
    ioctx.set_read(snap_id_1)
    assert ioctx.read("abc") == b"abc"
    ioctx.set_read(LIBRADOS_SNAP_HEAD)
    ioctx.rollback_self_managed_snap("abc", snap_id_1)
    assert ioctx.read("abc") == b"abc"
    ioctx.rollback_self_managed_snap("abc", snap_id_2)
    assert ioctx.read("abc") == b"def"
    with pytest.raises(rados.InvalidArgumentError):
        ioctx.create_snap("pool-snap")
    with pytest.raises(rados.InvalidArgumentError):
        ioctx.set_self_managed_snap_write([snap_id_1, snap_id_1])
    ioctx.remove_self_managed_snap(snap_id_1)
    ioctx.remove_self_managed_snap(snap_id_2)


# -- compound ops and omap --------------------------------------------------------------------

def test_set_omap_and_read_it_back(ioctx):
    keys = ("1", "2", "3", "4")
    values = (b"aaa", b"bbb", b"ccc", b"\x04\x04\x04\x04")
    with WriteOpCtx() as write_op:
        ioctx.set_omap(write_op, keys, values)
        write_op.set_flags(LIBRADOS_OPERATION_SKIPRWLOCKS)
        ioctx.operate_write_op(write_op, "hw")
    with ReadOpCtx() as read_op:
        it, ret = ioctx.get_omap_vals(read_op, "", "", 4)
        assert ret == 0
        ioctx.operate_read_op(read_op, "hw")
        next(it)
        assert list(it) == [("2", b"bbb"), ("3", b"ccc"), ("4", b"\x04\x04\x04\x04")]
    with ReadOpCtx() as read_op:
        it, _ = ioctx.get_omap_vals(read_op, "2", "", 4)
        ioctx.operate_read_op(read_op, "hw")
        assert next(it) == ("3", b"ccc")
        assert list(it) == [("4", b"\x04\x04\x04\x04")]
    with ReadOpCtx() as read_op:
        it, _ = ioctx.get_omap_vals(read_op, "", "2", 4)
        read_op.set_flags(LIBRADOS_OPERATION_BALANCE_READS)
        ioctx.operate_read_op(read_op, "hw")
        assert list(it) == [("2", b"bbb")]
    with ReadOpCtx() as read_op:
        it, _ = ioctx.get_omap_keys(read_op, "", 2)
        ioctx.operate_read_op(read_op, "hw")
        assert list(it) == [("1", None), ("2", None)]
    with ReadOpCtx() as read_op:
        it, _ = ioctx.get_omap_vals_by_keys(read_op, ("3", "4"))
        ioctx.operate_read_op(read_op, "hw")
        assert list(it) == [("3", b"ccc"), ("4", b"\x04\x04\x04\x04")]
    with ReadOpCtx() as read_op:
        ioctx.get_omap_keys(read_op, "", 2)
        with pytest.raises(ObjectNotFound):
            ioctx.operate_read_op(read_op, "no_such")


def test_omap_remove_range_and_clear(ioctx):
    keys = ("1", "2", "3", "4")
    with WriteOpCtx() as write_op:
        ioctx.set_omap(write_op, keys, (b"a", b"bb", b"ccc", b"dddd"))
        ioctx.operate_write_op(write_op, "test_obj")
    with WriteOpCtx() as write_op:
        ioctx.remove_omap_range2(write_op, "1", "4")
        ioctx.operate_write_op(write_op, "test_obj")
    with ReadOpCtx() as read_op:
        it, _ = ioctx.get_omap_vals_by_keys(read_op, keys)
        ioctx.operate_read_op(read_op, "test_obj")
        assert list(it) == [("4", b"dddd")]
    with WriteOpCtx() as write_op:
        ioctx.remove_omap_keys(write_op, ("4",))
        ioctx.set_omap(write_op, ("5",), (b"e",))
        ioctx.operate_write_op(write_op, "test_obj")
    with WriteOpCtx() as write_op:
        ioctx.clear_omap(write_op)
        ioctx.operate_write_op(write_op, "test_obj")
    with ReadOpCtx() as read_op:
        it, _ = ioctx.get_omap_vals(read_op, "", "", 10)
        ioctx.operate_read_op(read_op, "test_obj")
        assert list(it) == []


def test_omap_cmp(ioctx):
    ioctx.write("test", b"omap_cmp")
    with WriteOpCtx() as write_op:
        ioctx.set_omap(write_op, ("key1",), ("1",))
        ioctx.operate_write_op(write_op, "test")
    with WriteOpCtx() as write_op:
        write_op.omap_cmp("key1", "1", LIBRADOS_CMPXATTR_OP_EQ)
        ioctx.set_omap(write_op, ("key1",), ("2",))
        ioctx.operate_write_op(write_op, "test")
    with WriteOpCtx() as write_op:
        write_op.omap_cmp("key1", "1", LIBRADOS_CMPXATTR_OP_EQ)
        ioctx.set_omap(write_op, ("key1",), ("3",))
        with pytest.raises(rados.OSError) as info:
            ioctx.operate_write_op(write_op, "test")
        assert info.value.errno == errno.ECANCELED
    with WriteOpCtx() as write_op:
        write_op.omap_cmp("key1", "1", LIBRADOS_CMPXATTR_OP_GT)
        ioctx.set_omap(write_op, ("key1",), ("4",))
        try:
            ioctx.operate_write_op(write_op, "test")
        except rados.OSError as exc:
            assert exc.errno == errno.ECANCELED
    with ReadOpCtx() as read_op:
        it, _ = ioctx.get_omap_vals_by_keys(read_op, ("key1",))
        ioctx.operate_read_op(read_op, "test")
        assert list(it)[0][1] in (b"2", b"4")


def test_write_ops(ioctx):
    with WriteOpCtx() as write_op:
        write_op.new(0)
        ioctx.operate_write_op(write_op, "write_ops")
        assert ioctx.read("write_ops") == b""
        write_op.write_full(b"1")
        write_op.append(b"2")
        ioctx.operate_write_op(write_op, "write_ops")
        assert ioctx.read("write_ops") == b"12"
        write_op.write_full(b"12345")
        write_op.write(b"x", 2)
        ioctx.operate_write_op(write_op, "write_ops")
        assert ioctx.read("write_ops") == b"12x45"
        write_op.write_full(b"12345")
        write_op.zero(2, 2)
        ioctx.operate_write_op(write_op, "write_ops")
        assert ioctx.read("write_ops") == b"12\x00\x005"
        write_op.write_full(b"12345")
        write_op.truncate(2)
        ioctx.operate_write_op(write_op, "write_ops")
        assert ioctx.read("write_ops") == b"12"
        write_op.remove()
        ioctx.operate_write_op(write_op, "write_ops")
        with pytest.raises(ObjectNotFound):
            ioctx.read("write_ops")
    with WriteOpCtx() as write_op:
        write_op.new(rados.LIBRADOS_CREATE_EXCLUSIVE)
        ioctx.operate_write_op(write_op, "excl")
        write_op.new(rados.LIBRADOS_CREATE_EXCLUSIVE)
        with pytest.raises(ObjectExists):
            ioctx.operate_write_op(write_op, "excl")
    with WriteOpCtx() as write_op:
        write_op.execute("hello", "record_hello", b"ebs")
        ioctx.operate_write_op(write_op, "object")
    assert ioctx.read("object") == b"Hello, ebs!"
    with WriteOpCtx() as write_op:
        write_op.writesame(b"rzx", 9)
        ioctx.operate_write_op(write_op, "abc")
    assert ioctx.read("abc") == b"rzxrzxrzx"


def test_cmpext_ops(ioctx):
    with WriteOpCtx() as write_op:
        write_op.write(b"12345", 0)
        ioctx.operate_write_op(write_op, "test")
    with WriteOpCtx() as write_op:
        write_op.cmpext(b"12345", 0)
        write_op.write(b"54321", 0)
        ioctx.operate_write_op(write_op, "test")
    assert ioctx.read("test") == b"54321"
    with WriteOpCtx() as write_op:
        write_op.cmpext(b"56789", 0)
        write_op.write(b"12345", 0)
        with pytest.raises(ExtendMismatch) as info:
            ioctx.operate_write_op(write_op, "test")
        assert info.value.errno == MAX_ERRNO + 1 and info.value.offset == 1
    assert ioctx.read("test") == b"54321"
    with ReadOpCtx() as read_op:
        read_op.cmpext(b"54321", 0)
        ioctx.operate_read_op(read_op, "test")


def test_execute(ioctx):
    ioctx.write("foo", b"")
    assert ioctx.execute("foo", "hello", "say_hello", b"") == (13, b"Hello, world!")
    assert ioctx.execute("foo", "hello", "say_hello", b"nose")[1] == b"Hello, nose!"
    with pytest.raises(rados.OSError) as info:
        ioctx.execute("foo", "no_such_class", "m", b"")
    assert info.value.errno == errno.EOPNOTSUPP


# -- async I/O -------------------------------------------------------------------------------

def _counter():
    lock = threading.Condition()
    count = [0]

    def cb(*_):
        with lock:
            count[0] += 1
            lock.notify_all()

    def wait_for(n):
        with lock:
            assert lock.wait_for(lambda: count[0] >= n, timeout=10)
    return cb, wait_for


def test_aio_write_append_full(ioctx):
    cb, wait_for = _counter()
    comp = ioctx.aio_write("foo", b"bar", 0, cb, cb)
    comp.wait_for_complete()
    comp.wait_for_safe()
    wait_for(2)
    assert comp.get_return_value() == 0 and ioctx.read("foo") == b"bar"
    comp2 = ioctx.aio_append("foo", b"baz", cb, cb)
    comp2.wait_for_complete_and_cb()
    assert ioctx.read("foo") == b"barbaz"
    ioctx.aio_write("foo", b"barbaz", 0, cb, cb)
    comp = ioctx.aio_write_full("foo", b"bar", cb, cb)
    comp.wait_for_complete_and_cb()
    assert ioctx.read("foo") == b"bar"
    assert sys.getrefcount(comp) == 2
    comp = ioctx.aio_writesame("abc", b"rzx", 9, 0, cb)
    comp.wait_for_complete_and_cb()
    assert ioctx.read("abc") == b"rzxrzxrzx"


def test_aio_write_without_keeping_the_completion(ioctx):
    cb, wait_for = _counter()
    ioctx.aio_write("foo", b"bar", 0, cb, cb)
    wait_for(2)
    assert ioctx.read("foo") == b"bar"


def test_aio_read_stat_remove(ioctx):
    payload = b"bar\000frob"
    ioctx.write("foo", payload)
    got = []
    comp = ioctx.aio_read("foo", len(payload), 0, lambda _, buf: got.append(buf))
    comp.wait_for_complete_and_cb()
    assert got == [payload] and sys.getrefcount(comp) == 2
    stat = []
    comp = ioctx.aio_stat("nope", lambda _, size, mtime: stat.append((size, mtime)))
    comp.wait_for_complete_and_cb()
    assert comp.get_return_value() == -errno.ENOENT and stat == [(None, None)]
    comp = ioctx.aio_stat("foo", lambda _, size, mtime: stat.append((size, mtime)))
    comp.wait_for_complete_and_cb()
    assert comp.get_return_value() == 0 and stat[-1][0] == len(payload)
    comp = ioctx.aio_remove("foo")
    comp.wait_for_complete()
    assert comp.get_return_value() == 0
    assert list(ioctx.list_objects()) == []


def test_aio_xattrs_execute_cmpext(ioctx):
    comp = ioctx.aio_setxattr("obj", "key", b"value")
    comp.wait_for_complete()
    assert comp.get_return_value() == 0 and ioctx.get_xattr("obj", "key") == b"value"
    comp = ioctx.aio_rmxattr("obj", "key")
    comp.wait_for_complete()
    assert comp.get_return_value() == 0
    with pytest.raises(NoData):
        ioctx.get_xattr("obj", "key")
    got = []
    comp = ioctx.aio_execute("obj", "hello", "say_hello", b"Ceph", 32,
                             lambda _, buf: got.append(buf), lambda _, buf: got.append(buf))
    comp.wait_for_complete_and_cb()
    assert comp.get_return_value() == 12 and got == [b"Hello, Ceph!"] * 2
    ioctx.write("cmp", b"abcdefghi")
    comp = ioctx.aio_cmpext("cmp", b"abcdefghi", 0)
    comp.wait_for_complete()
    assert comp.get_return_value() == 0


def test_aio_operate_ops(ioctx):
    cb, wait_for = _counter()
    with WriteOpCtx() as write_op:
        ioctx.set_omap(write_op, ("1", "2"), (b"aaa", b"bbb"))
        comp = ioctx.operate_aio_write_op(write_op, "hw", cb, cb)
        comp.wait_for_complete()
        wait_for(2)
        assert comp.get_return_value() == 0
    with ReadOpCtx() as read_op:
        it, _ = ioctx.get_omap_vals(read_op, "", "", 4)
        comp = ioctx.operate_aio_read_op(read_op, "hw", cb, cb)
        comp.wait_for_complete_and_cb()
        assert list(it) == [("1", b"aaa"), ("2", b"bbb")]


def test_many_aio_in_flight_stay_ordered_per_object(ioctx):
    comps = [ioctx.aio_append("log", b"%03d," % i) for i in range(200)]
    comps += [ioctx.aio_write_full("obj%d" % i, b"v%d" % i) for i in range(50)]
    ioctx.aio_flush()
    assert all(c.is_complete() and c.get_return_value() == 0 for c in comps)
    assert ioctx.read("log", 10000) == b"".join(b"%03d," % i for i in range(200))
    assert ioctx.read("obj49") == b"v49"


# -- locks, watch/notify, applications ------------------------------------------------------

def test_locks(ioctx):
    ioctx.lock_exclusive("foo", "lock", "locker", "desc_lock", 10000, 0)
    with pytest.raises(ObjectExists):
        ioctx.lock_exclusive("foo", "lock", "locker", "desc_lock", 10000, 0)
    ioctx.unlock("foo", "lock", "locker")
    with pytest.raises(ObjectNotFound):
        ioctx.unlock("foo", "lock", "locker")
    ioctx.lock_shared("foo", "lock", "locker1", "tag", "desc_lock", 10000, 0)
    ioctx.lock_shared("foo", "lock", "locker2", "tag", "desc_lock", 10000, 0)
    with pytest.raises(ObjectBusy):
        ioctx.lock_exclusive("foo", "lock", "locker3", "desc_lock", 10000, 0)
    assert len(ioctx.list_lockers("foo", "lock")["lockers"]) == 2
    ioctx.unlock("foo", "lock", "locker1")
    ioctx.unlock("foo", "lock", "locker2")


def test_watch_notify(cluster, ioctx):
    ioctx.write("watched", b"test watch notify")
    lock = threading.Condition()
    data = {}

    def callback(notify_id, notifier_id, watch_id, payload):
        with lock:
            data.setdefault(watch_id, []).append(payload)
        return payload

    with ioctx.watch("watched", callback) as watch1:
        with cluster.open_ioctx(ioctx.get_pool_name()) as other:
            watch2 = other.watch("watched", callback)
        assert watch1.get_id() > 0 and watch2.get_id() > 0
        assert ioctx.notify("watched", "test")
        with lock:
            assert data[watch1.get_id()] == [b"test"] and data[watch2.get_id()] == [b"test"]
        assert watch1.check() >= timedelta() and watch2.check() >= timedelta()
        replies = {}
        comp = ioctx.aio_notify("watched", lambda c, r, acks, timeouts: replies.update(
            r=r, acks=acks, timeouts=timeouts), msg="best")
        comp.wait_for_complete_and_cb()
        assert replies["r"] == 0 and sorted(a[2] for a in replies["acks"]) == [b"best", b"best"]
        assert {a[0] for a in replies["acks"]} == {cluster.get_instance_id()}
        id2 = watch2.get_id()
        watch2.close()
        assert ioctx.notify("watched", "rest")
        with lock:
            assert data[watch1.get_id()][-1] == b"rest" and data[id2][-1] == b"best"
    with pytest.raises(ObjectNotFound):
        ioctx.watch("no_such_object", callback)


def test_applications(ioctx):
    assert ioctx.application_list() == []
    ioctx.application_enable("app1")
    with pytest.raises(rados.Error):
        ioctx.application_enable("app2")
    ioctx.application_enable("app2", True)
    with pytest.raises(rados.Error):
        ioctx.application_metadata_list("dne")
    assert ioctx.application_metadata_list("app1") == []
    with pytest.raises(rados.Error):
        ioctx.application_metadata_set("dne", "key", "key")
    ioctx.application_metadata_set("app1", "key1", "val1")
    assert ioctx.application_metadata_get("app1", "key1") == "val1"
    ioctx.application_metadata_set("app1", "key2", "val2")
    ioctx.application_metadata_set("app2", "key1", "val1")
    assert ioctx.application_metadata_list("app1") == [("key1", "val1"), ("key2", "val2")]
    ioctx.application_metadata_remove("app1", "key1")
    assert ioctx.application_metadata_list("app1") == [("key2", "val2")]


def test_service_daemon(cluster):
    cluster.service_daemon_register("laundry", "pid-1", {"version": "3.14", "memory": "42"})
    cluster.service_daemon_update({"result": "unknown", "test": "running"})


# -- the extras: quotas, log feed, notify timeouts, lock details, down OSDs -------

def test_pool_quota_gives_edquot(cluster, ioctx):
    ret, _, outs = cluster.mon_command(json.dumps({
        "prefix": "osd pool set-quota", "pool": ioctx.get_pool_name(), "field": "max_bytes",
        "val": "4096"}), b"")
    assert ret == 0, outs
    cluster.wait_for_latest_osdmap()
    ioctx.write("big", b"x" * 8192)
    deadline = time.monotonic() + 10
    while True:
        try:
            ioctx.write("more%f" % time.monotonic(), b"x" * 4096)
        except rados.OSError as exc:
            assert exc.errno == errno.EDQUOT
            break
        assert time.monotonic() < deadline, "quota never enforced"
        time.sleep(0.05)


def test_monitor_log_feed(cluster):
    lock = threading.Condition()
    lines = []

    def cb(arg, line, who, sec, nsec, seq, level, msg):
        assert arg == "arg"
        with lock:
            lines.append((line, who, level, msg))
            lock.notify_all()
        return 0

    rados.MonitorLog(cluster, "debug", cb, "arg")
    cluster.create_pool("log_feed_pool")
    cluster.delete_pool("log_feed_pool")
    with lock:
        assert lock.wait_for(lambda: lines, timeout=10)
    line, who, level, msg = lines[0]
    assert all(isinstance(x, bytes) for x in (line, who, level, msg))
    rados.MonitorLog(cluster, "debug", None, None)
    assert cluster.monitor_callback is None


def test_notify_timeout_and_watchers(cluster, ioctx):
    ioctx.write("w", b"")
    slow = threading.Event()

    def silent(notify_id, notifier_id, watch_id, data):
        slow.wait(3)
        return b"late"

    with ioctx.watch("w", lambda *a: b"ok") as fast, ioctx.watch("w", silent):
        watchers = ioctx.list_watchers("w")
        assert {w["cookie"] for w in watchers} >= {fast.get_id()}
        with pytest.raises(rados.TimedOut):
            ioctx.notify("w", "ping", 300)
        got = {}
        comp = ioctx.aio_notify("w", lambda c, r, acks, timeouts: got.update(r=r), "p", 300)
        comp.wait_for_complete_and_cb()
        assert got["r"] == -errno.ETIMEDOUT
        slow.set()
    with pytest.raises(OverflowError):
        ioctx.notify("w", "x", -1)


def test_lock_renew_and_expiry(ioctx):
    ioctx.lock_exclusive("obj", "l", "c", "d", 1, 0)
    ioctx.lock_exclusive("obj", "l", "c", "d", 1, rados.LIBRADOS_LOCK_FLAG_MAY_RENEW)
    time.sleep(1.2)
    other = "c2"
    ioctx.lock_exclusive("obj", "l", other)       # the first lock expired
    with pytest.raises(ObjectNotFound):
        ioctx.unlock("obj", "l", "wrong-cookie")
    info = ioctx.list_lockers("obj", "l")
    assert info["exclusive"] and [lk[1] for lk in info["lockers"]] == [other]
    ioctx.break_lock("obj", "l", info["lockers"][0][0], other)
    assert ioctx.list_lockers("obj", "l")["lockers"] == []


def test_cluster_stats_follow_writes(cluster, ioctx):
    before = cluster.get_cluster_stats()
    ioctx.write("payload", b"x" * 65536)
    after = cluster.get_cluster_stats()
    assert after["num_objects"] == before["num_objects"] + 1
    assert after["kb_used"] >= before["kb_used"] + 64
    assert after["kb"] > 0


def test_aio_waits_while_the_acting_set_is_down(cluster, ioctx):
    payload = b"bar\000frob"
    ioctx.write("foo", payload)
    ret, out, _ = cluster.mon_command(json.dumps({"prefix": "osd map", "pool":
                                                  ioctx.get_pool_name(), "object": "foo",
                                                  "format": "json"}), b"")
    acting = json.loads(out.decode("utf-8"))["acting"]
    assert cluster.mon_command(json.dumps({"prefix": "osd set", "key": "noup"}), b"")[0] == 0
    try:
        assert cluster.mon_command(json.dumps({"prefix": "osd down", "ids":
                                               [str(i) for i in acting]}), b"")[0] == 0
        assert cluster.wait_for_latest_osdmap() == 0
        got = []
        comp = ioctx.aio_read("foo", len(payload), 0, lambda _, buf: got.append(buf))
        time.sleep(1)
        assert not comp.is_complete() and got == []
    finally:
        cluster.mon_command(json.dumps({"prefix": "osd unset", "key": "noup"}), b"")
        cluster.mon_command(json.dumps({"prefix": "osd up", "ids": [str(i) for i in acting]}),
                            b"")
    comp.wait_for_complete_and_cb()
    assert got == [payload]
    assert sys.getrefcount(comp) == 2


def test_blocklisted_client_is_refused(conffile, cluster, pool):
    with Rados(conffile=conffile) as victim:
        io = victim.open_ioctx(pool)
        io.write("before", b"1")
        addr = victim.get_addrs().strip("[]").split(",")[0]
        cluster.blocklist_add(addr, 60)
        victim.wait_for_latest_osdmap()
        with pytest.raises(rados.Error) as info:
            io.write("after", b"2")
        assert info.value.errno == errno.ESHUTDOWN      # EBLOCKLISTED is ESHUTDOWN
