"""The public `rados` module against a fake ClusterClient: argument checking, state errors,
the op tuples it builds, and Completion semantics (no Ray, no cluster)."""
from __future__ import annotations

import errno
import gc
import sys
import threading
import time

import pytest

import rados
from rados import rados_handle
from tests.unit.rados_fakes import FakeClusterClient, FakeConf


@pytest.fixture
def fake(monkeypatch):
    client = FakeClusterClient()
    monkeypatch.setattr(rados_handle, "_client_connect", lambda conf, entity, timeout: client)
    try:
        import cluster.config  # noqa: F401
    except ImportError:
        monkeypatch.setattr(rados_handle, "_new_conf", FakeConf)
    return client


@pytest.fixture
def cluster(fake):
    r = rados.Rados()
    r.connect()
    yield r
    r.shutdown()


@pytest.fixture
def ioctx(cluster):
    with cluster.open_ioctx("rbd") as io:
        yield io


def last_ops(fake):
    return fake.requests[-1].ops


# -- Rados construction and state machine -------------------------------------------------------

def test_init_errors(fake):
    with pytest.raises(rados.Error, match="can't supply both rados_id and name"):
        rados.Rados(rados_id="admin", name="client.admin")
    for bad in ("invalid", "bad.invalid"):
        with pytest.raises(rados.Error) as info:
            rados.Rados(name=bad)
        assert str(info.value) == "rados_initialize failed with error code: -22"
    with pytest.raises(TypeError):
        rados.Rados(name=42)
    assert rados.Rados(rados_id="admin").state == "configuring"


def test_missing_conffile_is_object_not_found(fake, tmp_path):
    with pytest.raises(rados.ObjectNotFound) as info:
        rados.Rados(conffile=str(tmp_path / "nope.conf"))
    assert info.value.errno == errno.ENOENT
    assert str(info.value) == "[errno 2] RADOS object not found (error calling conf_read_file)"
    with pytest.raises(TypeError):
        rados.Rados(conffile=3.5)


def test_no_conffile_reads_nothing(fake):
    for conffile in (None, rados.Rados.NO_CONF_FILE):
        assert rados.Rados(conffile=conffile)._conf_files_read == []


def _requires_connected(r):
    calls = [
        (r.pool_exists, "foo"), (r.pool_lookup, "foo"), (r.pool_reverse_lookup, 0),
        (r.create_pool, "foo"), (r.get_pool_base_tier, 0), (r.delete_pool, "foo"),
        (r.list_pools,), (r.get_fsid,), (r.open_ioctx, "foo"), (r.open_ioctx2, 1),
        (r.mon_command, "", b""), (r.osd_command, 0, "", b""), (r.mgr_command, "", b""),
        (r.pg_command, "", "", b""), (r.wait_for_latest_osdmap,),
        (r.blocklist_add, "127.0.0.1/123", 0), (r.get_cluster_stats,),
        (r.get_instance_id,), (r.get_addrs,), (r.get_inconsistent_pgs, 1),
    ]
    for fn, *args in calls:
        with pytest.raises(rados.RadosStateError):
            fn(*args)


def test_state_machine(fake):
    r = rados.Rados(conffile="")
    assert r.state == "configuring"
    _requires_connected(r)
    with r:
        assert r.state == "connected"
        with pytest.raises(rados.RadosStateError) as info:
            r.connect()
        assert str(info.value) == ("RADOS rados state (You cannot perform that operation on a "
                                   "Rados object in state connected.)")
    assert r.state == "shutdown"
    assert fake.shut_down
    with pytest.raises(rados.RadosStateError):
        r.connect()
    for fn, *args in [(r.conf_read_file,), (r.conf_parse_argv, None), (r.conf_parse_env,),
                      (r.conf_get, "opt"), (r.conf_set, "opt", "val"),
                      (r.ping_monitor, "0")]:
        with pytest.raises(rados.RadosStateError):
            fn(*args)
    _requires_connected(r)
    r.shutdown()     # idempotent


def test_version_and_conf_errors(fake):
    r = rados.Rados()
    v = r.version()
    assert (v.major, v.minor, v.extra) == (3, 0, 0) and str(v) == "3.0.0"
    assert r.conf_get("no_such_option_xyz") is None
    with pytest.raises(rados.ObjectNotFound) as info:
        r.conf_set("no_such_option_xyz", "1")
    assert str(info.value).endswith("(error calling conf_set)")
    with pytest.raises(TypeError):
        r.conf_set("mon_host", 5)
    with pytest.raises(TypeError):
        r.conf_get(None)
    assert r.conf_parse_argv([]) is None


def test_connect_timeout_is_honoured(fake, monkeypatch):
    def slow(conf, entity, timeout):
        time.sleep(2)
        return fake
    monkeypatch.setattr(rados_handle, "_client_connect", slow)
    r = rados.Rados()
    start = time.monotonic()
    with pytest.raises(rados.TimedOut):
        r.connect(timeout=0.2)
    assert time.monotonic() - start < 1.5
    assert r.state == "configuring"


# -- pools and commands --------------------------------------------------------------------------

def test_pool_calls(cluster, fake):
    with pytest.raises(TypeError):
        cluster.create_pool(0xf00)
    cluster.create_pool("foo")
    assert fake.mon_calls[-1] == ("pool_create", "foo", None, None, None, None)
    with pytest.raises(rados.ObjectExists) as info:
        cluster.create_pool("foo")
    assert str(info.value) == "[errno 17] RADOS object exists (error creating pool 'foo')"
    assert cluster.pool_exists("foo")
    pool_id = cluster.pool_lookup("foo")
    assert cluster.pool_reverse_lookup(pool_id) == "foo"
    assert cluster.list_pools() == ["rbd", "foo"]
    assert cluster.get_pool_base_tier(pool_id) == pool_id
    cluster.delete_pool("foo")
    assert fake.mon_calls[-1] == ("pool_delete", "foo")
    with pytest.raises(rados.ObjectNotFound):
        cluster.delete_pool("foo")
    assert cluster.pool_lookup("foo") is None and not cluster.pool_exists("foo")
    assert cluster.pool_reverse_lookup(999) is None
    with pytest.raises(rados.ObjectNotFound) as info:
        cluster.open_ioctx("foo")
    assert str(info.value) == "[errno 2] RADOS object not found (error opening pool 'foo')"
    with pytest.raises(rados.InvalidArgumentError):
        cluster.create_pool("bar", auid=7)


def test_commands_never_raise_for_failures(cluster):
    assert cluster.mon_command('{"prefix": "no such thing"}', b"")[0] == -errno.EINVAL
    ret, outbuf, outs = cluster.mon_command("not json", b"")
    assert ret == -errno.EINVAL and outbuf == b"" and isinstance(outs, str)
    assert cluster.mon_command('{"prefix": "mon dump"}', b"", target="nope")[0] == -errno.ENOENT
    assert cluster.mon_command('{"prefix": "mon dump"}', b"", target=0)[0] == 0
    ret, _, outs = cluster.mgr_command('{"prefix": "frobnicate"}', b"")
    assert ret == -errno.EINVAL and "No handler" in outs
    assert cluster.pg_command("zzz", "{}", b"")[0] == -errno.EINVAL
    assert cluster.get_inconsistent_pgs(1) == []
    with pytest.raises(TypeError):
        cluster.mon_command(None, b"")
    cluster.blocklist_add("1.2.3.4/123", 1)
    with pytest.raises(rados.InvalidArgumentError):
        cluster.blocklist_add("not an address")
    assert cluster.get_instance_id() == 4242
    assert "/4242" in cluster.get_addrs()
    assert cluster.wait_for_latest_osdmap() == 0


def test_service_daemon(cluster):
    with pytest.raises(rados.NotConnected):
        cluster.service_daemon_update({"a": "b"})
    with pytest.raises(TypeError):
        cluster.service_daemon_register("laundry", "d", {"k": 1})
    with pytest.raises(rados.InvalidArgumentError):
        cluster.service_daemon_register("osd", "d", {})
    cluster.service_daemon_register("laundry", "pid-1", {"version": "3.14"})
    cluster.service_daemon_update({"result": "unknown"})
    with pytest.raises(rados.ObjectExists):
        cluster.service_daemon_register("laundry", "pid-1", {})
    ret, out, _ = cluster.mgr_command('{"prefix": "service dump"}', b"")
    assert ret == 0 and b"laundry" in out


def test_monitor_log_validation(cluster):
    with pytest.raises(rados.LogicError):
        cluster.monitor_log("chatty", None)
    with pytest.raises(rados.LogicError):
        cluster.monitor_log("debug", "not callable")
    cluster.monitor_log("debug", None)
    assert cluster.monitor_callback is None


# -- object I/O: types, values, op tuples --------------------------------------------------------

def test_data_must_be_bytes(ioctx):
    for call in (lambda: ioctx.write("o", "str"), lambda: ioctx.write_full("o", "str"),
                 lambda: ioctx.append("o", "s"), lambda: ioctx.set_xattr("o", "n", "v"),
                 lambda: ioctx.writesame("o", "ab", 4), lambda: ioctx.cmpext("o", "ab"),
                 lambda: ioctx.aio_write("o", "s"), lambda: ioctx.execute("o", "c", "m", "s")):
        with pytest.raises(TypeError) as info:
            call()
        assert str(info.value) == "expected bytes, str found"
    ioctx.write("o", bytearray(b"ok"))
    assert last_ops(ioctx.rados._client_obj)[-1] == ("write", 0, b"ok")


def test_names_must_be_strings(ioctx):
    for call, name in ((lambda: ioctx.write(1, b""), "key"),
                       (lambda: ioctx.read(None), "key"),
                       (lambda: ioctx.get_xattr("o", 5), "xattr_name"),
                       (lambda: ioctx.set_namespace(5), "nspace"),
                       (lambda: ioctx.set_locator_key(None), "loc_key"),
                       (lambda: ioctx.create_snap(1), "snap_name"),
                       (lambda: ioctx.aio_read(1, 1, 0), "object_name")):
        with pytest.raises(TypeError) as info:
            call()
        assert str(info.value) == "%s must be a string" % name
    ioctx.write(b"bytes-name", b"x")       # bytes names are accepted, as in the binding


def test_negative_and_non_integer_values(ioctx, fake):
    sent = len(fake.requests)
    with pytest.raises(OverflowError, match="can't convert negative value to uint64_t"):
        ioctx.write("o", b"x", -1)
    with pytest.raises(OverflowError, match="can't convert negative value to size_t"):
        ioctx.read("o", -1)
    with pytest.raises(OverflowError):
        ioctx.trunc("o", -5)
    with pytest.raises(OverflowError):
        ioctx.aio_read("o", 10, -1)
    with pytest.raises(OverflowError):
        ioctx.notify("o", "m", -1)
    with pytest.raises(OverflowError, match="value too large to convert to uint64_t"):
        ioctx.write("o", b"x", 2**64)
    with pytest.raises(TypeError):
        ioctx.read("o", 1.5)
    with pytest.raises(OverflowError):
        ioctx.lock_exclusive("o", "l", "c", flags=256)
    assert len(fake.requests) == sent           # nothing bad was sent


def test_sync_io_builds_ops_and_returns_like_the_binding(ioctx, fake):
    assert ioctx.write("abc", b"abc") == 0
    assert last_ops(fake) == [("write", 0, b"abc")]
    assert ioctx.write_full("abc", b"d") == 0
    assert last_ops(fake) == [("write_full", b"d")]
    assert ioctx.append("abc", b"ef") == 0
    assert ioctx.read("abc") == b"def"
    assert last_ops(fake) == [("read", 0, 8192)]
    assert ioctx.read("abc", 2, 1) == b"ef"
    size, mtime = ioctx.stat("abc")
    assert size == 3 and isinstance(mtime, time.struct_time)
    assert ioctx.trunc("abc", 1) == 0
    assert ioctx.set_xattr("abc", "k", b"v") is True
    assert ioctx.get_xattr("abc", "k") == b"v"
    assert list(ioctx.get_xattrs("abc")) == [("k", b"v")]
    assert ioctx.rm_xattr("abc", "k") is True
    assert ioctx.writesame("abc", b"ab", 4, 2) is None
    assert last_ops(fake) == [("writesame", 2, 4, b"ab")]
    assert ioctx.execute("abc", "hello", "say_hello", b"") == (13, b"Hello, world!")
    assert ioctx.remove_object("abc") is True
    with pytest.raises(rados.ObjectNotFound) as info:
        ioctx.read("abc")
    assert str(info.value) == "[errno 2] RADOS object not found (Ioctx.read(rbd): failed to read abc)"
    with pytest.raises(rados.ObjectNotFound) as info:
        ioctx.stat("abc")
    assert str(info.value).endswith("(Failed to stat 'abc')")
    with pytest.raises(rados.ObjectNotFound) as info:
        ioctx.remove_object("abc")
    assert str(info.value).endswith("(Failed to remove 'abc')")
    assert ioctx.get_last_version() > 0


def test_namespace_locator_and_listing(ioctx, fake):
    ioctx.set_namespace("ns1")
    ioctx.set_locator_key("loc")
    ioctx.write("a", b"1")
    req = fake.requests[-1]
    assert (req.nspace, req.key) == ("ns1", "loc")
    ioctx.set_namespace(None)
    assert ioctx.get_namespace() == ""
    ioctx.set_locator_key("")
    ioctx.write("b", b"2")
    ioctx.set_namespace(rados.LIBRADOS_ALL_NSPACES)
    objs = sorted((o.nspace, o.key, o.locator_key) for o in ioctx.list_objects())
    assert objs == [("", "b", None), ("ns1", "a", "loc")]
    ioctx.set_namespace("")
    obj = list(ioctx.list_objects())[0]
    assert isinstance(obj, rados.Object) and obj.key == "b"


def test_name_too_long_is_enametoolong(ioctx, fake):
    sent = len(fake.requests)
    with pytest.raises(rados.OSError) as info:
        ioctx.write("x" * 2049, b"data")
    assert type(info.value) is rados.OSError and info.value.errno == errno.ENAMETOOLONG
    with pytest.raises(rados.OSError):
        ioctx.read("x" * 2049)
    comp = ioctx.aio_write("x" * 2049, b"data")
    comp.wait_for_complete()
    assert comp.get_return_value() == -errno.ENAMETOOLONG
    assert len(fake.requests) == sent
    ioctx.write("x" * 2048, b"ok")


def test_closed_ioctx_refuses_everything(cluster):
    ioctx = cluster.open_ioctx("rbd")
    ioctx.close()
    assert ioctx.state == "closed"
    for fn, *args in [(ioctx.write, "o", b""), (ioctx.read, "o"), (ioctx.stat, "o"),
                      (ioctx.list_objects,), (ioctx.aio_write, "o", b""),
                      (ioctx.set_namespace, "x"), (ioctx.get_stats,), (ioctx.create_snap, "s"),
                      (ioctx.create_write_op,), (ioctx.lock_exclusive, "o", "l", "c"),
                      (ioctx.notify, "o"), (ioctx.application_list,), (ioctx.get_xattrs, "o")]:
        with pytest.raises(rados.IoctxStateError) as info:
            fn(*args)
        assert str(info.value) == "RADOS Ioctx state error (The pool is closed)"
    ioctx.close()   # idempotent


# -- snapshots -------------------------------------------------------------------------------

def test_snap_read_context_makes_writes_erofs(ioctx, fake):
    ioctx.write("o", b"1")
    ioctx.set_read(5)
    sent = len(fake.requests)
    with pytest.raises(rados.OSError) as info:
        ioctx.write("o", b"2")
    assert info.value.errno == errno.EROFS
    with pytest.raises(rados.OSError):
        ioctx.aio_write("o", b"2")
    with pytest.raises(rados.OSError):
        with rados.WriteOpCtx() as op:
            op.write_full(b"x")
            ioctx.operate_write_op(op, "o")
    assert len(fake.requests) == sent
    assert not ioctx.complete_completions
    ioctx.read("o")
    assert fake.requests[-1].snapid == 5
    ioctx.set_read(rados.LIBRADOS_SNAP_HEAD)
    ioctx.write("o", b"2")
    with pytest.raises(OverflowError):
        ioctx.set_read(-1)


def test_self_managed_snap_context(ioctx, fake):
    s1 = ioctx.create_self_managed_snap()
    s2 = ioctx.create_self_managed_snap()
    ioctx.set_self_managed_snap_write([s1, s2])
    ioctx.write("o", b"x")
    assert fake.requests[-1].snapc == (s2, [s2, s1])
    ioctx.set_self_managed_snap_write([])
    ioctx.write("o", b"y")
    assert fake.requests[-1].snapc is None
    with pytest.raises(rados.InvalidArgumentError) as info:
        ioctx.set_self_managed_snap_write([s1, s1])
    assert str(info.value).endswith("(Failed to update snapshot write context)")
    with pytest.raises(rados.InvalidArgumentError):
        ioctx.set_self_managed_snap_write([2**64 - 2])
    ioctx.rollback_self_managed_snap("o", s1)
    assert last_ops(fake) == [("rollback", s1)]
    # a pool in self-managed mode refuses pool snapshots
    with pytest.raises(rados.InvalidArgumentError):
        ioctx.create_snap("pool-snap")
    ioctx.remove_self_managed_snap(s1)


def test_pool_snapshots(cluster):
    cluster.create_pool("snaps")
    with cluster.open_ioctx("snaps") as ioctx:
        assert list(ioctx.list_snaps()) == []
        with pytest.raises(rados.ObjectNotFound):
            ioctx.remove_snap("foo")
        for name in ("a", "b", "c"):
            ioctx.create_snap(name)
        with pytest.raises(rados.ObjectExists):
            ioctx.create_snap("a")
        assert [s.name for s in ioctx.list_snaps()] == ["a", "b", "c"]
        snap = ioctx.lookup_snap("b")
        assert snap.name == "b" and isinstance(snap.snap_id, int)
        assert snap.get_timestamp().year >= 2024
        with pytest.raises(rados.ObjectNotFound) as info:
            ioctx.lookup_snap("zzz")
        assert str(info.value).endswith("(Failed to lookup snap zzz)")
        with pytest.raises(rados.ObjectNotFound):
            ioctx.snap_rollback("o", "zzz")
        with pytest.raises(rados.InvalidArgumentError):
            ioctx.create_self_managed_snap()
        ioctx.remove_snap("a")
        assert [s.name for s in ioctx.list_snaps()] == ["b", "c"]


# -- compound ops and omap ---------------------------------------------------------------------

def test_write_op_tuples(ioctx, fake):
    with rados.WriteOpCtx() as op:
        op.new(rados.LIBRADOS_CREATE_EXCLUSIVE)
        op.write_full(b"12345")
        op.write(b"x", 2)
        op.append(b"z")
        op.zero(1, 1)
        op.truncate(4)
        op.set_xattr("a", b"b")
        op.rm_xattr("a")
        op.assert_version(3)
        op.execute("hello", "record_hello", b"ebs")
        op.writesame(b"ab", 4, 0)
        op.cmpext(b"12", 0)
        op.omap_cmp("k", "v", rados.LIBRADOS_CMPXATTR_OP_GT)
        ioctx.set_omap(op, ("1", "2"), (b"a", "b"))
        ioctx.remove_omap_keys(op, ("1",))
        ioctx.remove_omap_range2(op, "a", "c")
        ioctx.clear_omap(op)
        op.remove()
        op.set_flags(rados.LIBRADOS_OPERATION_SKIPRWLOCKS)
        fake.responder = lambda req: rados_fakes_reply(0, len(req.ops))
        ioctx.operate_write_op(op, "obj")
        assert last_ops(fake) == [
            ("create", True), ("write_full", b"12345"), ("write", 2, b"x"), ("append", b"z"),
            ("zero", 1, 1), ("truncate", 4), ("setxattr", "a", b"b"), ("rmxattr", "a"),
            ("assert_version", 3), ("call", "hello", "record_hello", b"ebs"),
            ("writesame", 0, 4, b"ab"), ("cmpext", 0, b"12"), ("omap_cmp", {"k": (b"v", 3)}),
            ("omap_set", {"1": b"a", "2": b"b"}), ("omap_rm_keys", ["1"]),
            ("omap_rm_range", "a", "c"), ("omap_clear",), ("remove",)]
        # operating consumes the ops, as librados' Objecter does
        sent = len(fake.requests)
        ioctx.operate_write_op(op, "obj")
        assert len(fake.requests) == sent
    with pytest.raises(rados.Error, match="same number of items"):
        ioctx.set_omap(rados.WriteOp().create(), ("a", "b"), (b"1",))
    with pytest.raises(TypeError):
        ioctx.set_omap(rados.WriteOp().create(), (1,), (b"1",))
    with pytest.raises(TypeError):
        ioctx.operate_write_op(rados.ReadOp().create(), "obj")


def rados_fakes_reply(result, n):
    from osd.messages import OSDOpReply
    return OSDOpReply(result, [(0, None)] * n, version=1)


def test_write_op_failure_maps_to_exceptions(ioctx, fake):
    from osd.messages import OSDOpReply
    fake.responder = lambda req: OSDOpReply(-rados.MAX_ERRNO - 1, [])
    with rados.WriteOpCtx() as op:
        op.cmpext(b"56789", 0)
        op.write(b"12345", 0)
        with pytest.raises(rados.ExtendMismatch) as info:
            ioctx.operate_write_op(op, "test")
    assert info.value.errno == rados.MAX_ERRNO + 1 and info.value.offset == 1
    assert ioctx.cmpext("test", b"x") == -rados.MAX_ERRNO - 1
    fake.responder = lambda req: OSDOpReply(-errno.ECANCELED, [])
    with rados.WriteOpCtx() as op:
        op.omap_cmp("k", "v")
        with pytest.raises(rados.OSError) as info:
            ioctx.operate_write_op(op, "test")
    assert info.value.errno == errno.ECANCELED
    assert str(info.value) == "[errno 125] Failed to operate write op for oid test"


def test_omap_iterators_fill_after_operate(ioctx, fake):
    with rados.WriteOpCtx() as op:
        ioctx.set_omap(op, ("1", "2", "3", "4"), (b"aaa", b"bbb", b"ccc", b"\x04"))
        ioctx.operate_write_op(op, "hw")
    with rados.ReadOpCtx() as op:
        it, ret = ioctx.get_omap_vals(op, "", "", 4)
        assert ret == 0
        assert list(it) == []         # nothing until the op has run
        it, _ = ioctx.get_omap_vals(op, "", "", 4)
        ioctx.operate_read_op(op, "hw")
        assert next(it) == ("1", b"aaa")
        assert list(it) == [("2", b"bbb"), ("3", b"ccc"), ("4", b"\x04")]
    with rados.ReadOpCtx() as op:
        it, _ = ioctx.get_omap_vals(op, "2", "", 4)
        ioctx.operate_read_op(op, "hw")
        assert list(it) == [("3", b"ccc"), ("4", b"\x04")]
    fake.responder = lambda req: rados_reply_outs([(0, (["1", "2"], False))])
    with rados.ReadOpCtx() as op:
        it, _ = ioctx.get_omap_keys(op, "", 2)
        ioctx.operate_read_op(op, "hw")
        assert list(it) == [("1", None), ("2", None)]
        assert last_ops(fake) == [("omap_get_keys", "", 2)]
    fake.responder = lambda req: rados_reply_outs([(0, {"4": b"d", "3": b"c"})])
    with rados.ReadOpCtx() as op:
        it, _ = ioctx.get_omap_vals_by_keys(op, ("3", "4"))
        ioctx.operate_read_op(op, "hw")
        assert list(it) == [("3", b"c"), ("4", b"d")]
    fake.responder = None
    with rados.ReadOpCtx() as op:
        ioctx.get_omap_vals_by_keys(op, ("3",))
        with pytest.raises(rados.ObjectNotFound):
            ioctx.operate_read_op(op, "no_such")


def rados_reply_outs(outs):
    from osd.messages import OSDOpReply
    return OSDOpReply(0, outs, version=1)


# -- Completion semantics ----------------------------------------------------------------------

def test_aio_callbacks_run_once_on_the_finisher_and_refs_drop(ioctx, fake):
    fake.hold = True
    seen = []
    lock = threading.Condition()

    def cb(comp):
        with lock:
            seen.append((comp, threading.current_thread().name))
            lock.notify_all()

    comp = ioctx.aio_write("foo", b"bar", 0, cb, cb)
    assert not comp.is_complete()
    assert comp in ioctx.complete_completions and comp in ioctx.safe_completions
    fake.release(0.05)
    comp.wait_for_complete_and_cb()
    assert comp.is_complete() and comp.is_safe()
    assert comp.get_return_value() == 0
    assert len(seen) == 2 and all(c is comp for c, _ in seen)
    assert all(name == "rados-finisher" for _, name in seen)
    seen.clear()
    assert sys.getrefcount(comp) == 2
    assert not ioctx.complete_completions and not ioctx.safe_completions
    comp.wait_for_complete_and_cb()
    assert seen == []         # callbacks ran once


def test_aio_without_callbacks_and_without_keeping_the_completion(ioctx, fake):
    fake.hold = True
    comp = ioctx.operate_aio_write_op(_op_with(b"rzx"), "abc")
    assert fake.requests[-1].ops == [("write", 0, b"rzx")]
    fake.release()
    comp.wait_for_complete()
    assert comp.get_return_value() == 0
    assert sys.getrefcount(comp) == 2
    # the library holds a completion whose caller dropped it until its callbacks ran
    done = threading.Event()
    fake.hold = True
    ioctx.aio_write("foo", b"bar", 0, lambda c: done.set())
    gc.collect()
    fake.release(0.05)
    assert done.wait(5)


def _op_with(data):
    op = rados.WriteOp().create()
    op.write(data)
    return op


def test_aio_read_stat_execute_callbacks(ioctx, fake):
    got = {}
    ev = threading.Event()
    ioctx.write("foo", b"bar\x00frob")
    comp = ioctx.aio_read("foo", 8, 0, lambda c, data: got.setdefault("read", data))
    comp.wait_for_complete_and_cb()
    assert got["read"] == b"bar\x00frob" and comp.get_return_value() == 8
    comp = ioctx.aio_stat("nope", lambda c, size, mtime: got.setdefault("stat", (size, mtime)))
    comp.wait_for_complete_and_cb()
    assert got["stat"] == (None, None) and comp.get_return_value() == -errno.ENOENT
    comp = ioctx.aio_stat("foo", lambda c, size, mtime: got.__setitem__("stat", (size, mtime)))
    comp.wait_for_complete_and_cb()
    assert got["stat"][0] == 8 and isinstance(got["stat"][1], time.struct_time)
    comp = ioctx.aio_execute("foo", "hello", "say_hello", b"", 32,
                             lambda c, data: got.setdefault("exec", data),
                             lambda c, data: ev.set())
    comp.wait_for_complete_and_cb()
    assert got["exec"] == b"Hello, world!" and comp.get_return_value() == 13 and ev.is_set()
    comp = ioctx.aio_read("missing", 8, 0, lambda c, data: got.setdefault("missing", data))
    comp.wait_for_complete_and_cb()
    assert got["missing"] is None and comp.get_return_value() == -errno.ENOENT


def test_aio_flush_waits_for_inflight(ioctx, fake):
    fake.hold = True
    comps = [ioctx.aio_write("o%d" % i, b"x") for i in range(5)]
    fake.release(0.1)
    ioctx.aio_flush()
    assert all(c.is_complete() for c in comps)


def test_callback_exception_does_not_break_the_finisher(ioctx):
    def bad(comp):
        raise RuntimeError("boom")
    ev = threading.Event()
    ioctx.aio_write("a", b"1", 0, bad).wait_for_complete_and_cb()
    ioctx.aio_write("b", b"1", 0, lambda c: ev.set()).wait_for_complete_and_cb()
    assert ev.is_set()


# -- locks, watch, notify ----------------------------------------------------------------------

def test_lock_calls_build_cls_lock_requests(ioctx, fake):
    import msgpack
    ioctx.write("foo", b"")
    ioctx.lock_exclusive("foo", "lock", "locker", "desc", 10000, 0)
    (name, cls, method, data), = last_ops(fake)
    assert (name, cls, method) == ("call", "lock", "lock")
    assert msgpack.unpackb(data) == {"name": "lock", "type": 1, "cookie": "locker", "tag": "",
                                     "description": "desc", "duration": 10000, "flags": 0}
    ioctx.lock_shared("foo", "lock", "c2", "tag")
    assert msgpack.unpackb(last_ops(fake)[0][3])["type"] == 2
    ioctx.unlock("foo", "lock", "c2")
    assert last_ops(fake)[0][2] == "unlock"
    from osd.messages import OSDOpReply
    fake.responder = lambda req: OSDOpReply(-errno.EBUSY, [])
    with pytest.raises(rados.ObjectBusy) as info:
        ioctx.lock_exclusive("foo", "lock", "c3")
    assert str(info.value) == ("[errno 16] RADOS object busy (Ioctx.rados_lock_exclusive(rbd): "
                               "failed to set lock lock on foo)")


def test_watch_and_notify(ioctx, fake, cluster):
    with pytest.raises(rados.ObjectNotFound):
        ioctx.watch("nope", lambda *a: None)
    ioctx.write("obj", b"")
    got = []
    watch = ioctx.watch("obj", lambda nid, notifier, wid, data: got.append(data) or b"ack")
    assert watch.get_id() > 0
    assert watch.check().total_seconds() >= 0
    on_notify, _ = fake.watches[watch.get_id()]
    assert on_notify(1, 2, watch.get_id(), b"hi") == b"ack" and got == [b"hi"]
    ioctx.close()               # the watch has its own ioctx
    assert watch.check().total_seconds() >= 0
    watch.close()
    assert watch.get_id() == 0 and not fake.watches
    watch.close()
    io2 = cluster.open_ioctx("rbd")
    from osd.messages import OSDOpReply
    fake.responder = lambda req: OSDOpReply(0, [(0, ([(4242, 7, b"r"), (4242, 8, b"")],
                                                    []))])
    assert io2.notify("obj", "msg") is True
    (op,) = last_ops(fake)
    assert op[0] == "notify" and op[2:] == (b"msg", 5000)
    replies = {}
    comp = io2.aio_notify("obj", lambda c, r, acks, timeouts: replies.update(
        r=r, acks=acks, timeouts=timeouts), msg="m", timeout_ms=10)
    comp.wait_for_complete_and_cb()
    assert replies == {"r": 0, "acks": [(4242, 7, b"r"), (4242, 8, "")], "timeouts": []}
    fake.responder = lambda req: OSDOpReply(-errno.ETIMEDOUT, [(0, ([], [(1, 2)]))])
    with pytest.raises(rados.TimedOut) as info:
        io2.notify("obj", "m")
    assert str(info.value) == "[errno 110] RADOS timed out (Failed to notify 'obj')"
    comp = io2.aio_notify("obj", lambda c, r, acks, timeouts: replies.update(
        r=r, acks=acks, timeouts=timeouts))
    comp.wait_for_complete_and_cb()
    assert replies == {"r": -errno.ETIMEDOUT, "acks": None, "timeouts": None}


def test_dropped_watch_closes_itself(ioctx, fake):
    ioctx.write("obj", b"")
    watch = ioctx.watch("obj", lambda *a: None)
    assert fake.watches
    del watch
    gc.collect()
    assert not fake.watches


# -- Object, application metadata, stats ----------------------------------------------------------

def test_object_wrapper(ioctx):
    ioctx.write("foo", b"bar")
    obj = rados.Object(ioctx, "foo")
    assert obj.read(3) == b"bar" and obj.read(100) == b""
    obj.seek(0)
    obj.write(b"blah")
    obj.seek(1)
    assert obj.read(3) == b"lah"
    obj.set_xattr("a", b"1")
    assert obj.get_xattr("a") == b"1"
    assert obj.stat()[0] == 4
    obj.remove()
    with pytest.raises(rados.ObjectStateError):
        obj.read()
    assert "key=foo" in str(obj)


def test_application_metadata(ioctx, fake):
    pool = fake.osdmap.pools[ioctx.get_pool_id()]
    assert ioctx.application_list() == []
    ioctx.application_enable("app1")
    assert fake.mon_commands[-1] == {"prefix": "osd pool application enable", "app": "app1",
                                     "pool": "rbd"}
    with pytest.raises(rados.Error):
        ioctx.application_enable("app2")
    ioctx.application_enable("app2", True)
    assert ioctx.application_list() == ["app1", "app2"]
    with pytest.raises(rados.ObjectNotFound):
        ioctx.application_metadata_list("dne")
    pool.application_metadata["app1"].update({"key2": "val2", "key1": "val1"})
    assert ioctx.application_metadata_list("app1") == [("key1", "val1"), ("key2", "val2")]
    assert ioctx.application_metadata_get("app1", "key1") == "val1"
    with pytest.raises(rados.ObjectNotFound):
        ioctx.application_metadata_get("app1", "nope")


def test_get_stats_has_every_key(ioctx):
    stats = ioctx.get_stats()
    assert set(stats) == {"num_bytes", "num_kb", "num_objects", "num_object_clones",
                          "num_object_copies", "num_objects_missing_on_primary",
                          "num_objects_unfound", "num_objects_degraded", "num_rd",
                          "num_rd_kb", "num_wr", "num_wr_kb"}
    assert all(isinstance(v, int) for v in stats.values())


def test_open_ioctx2_and_dup(cluster):
    pool_id = cluster.pool_lookup("rbd")
    io = cluster.open_ioctx2(pool_id)
    assert io.name == str(pool_id) and io.get_pool_name() == "rbd"
    io.set_namespace("ns")
    dup = io.dup()
    assert dup.get_namespace() == "ns" and dup.get_pool_id() == pool_id
    with pytest.raises(rados.ObjectNotFound):
        cluster.open_ioctx2(999)


def test_requires_decorator():
    @rados.requires(("foo", str), ("bar", int), ("baz", rados.opt(int)))
    def method(self, foo, bar, baz):
        return foo, bar, baz
    with pytest.raises(TypeError):
        method(None, 42, 42, 42)
    with pytest.raises(TypeError):
        method(None, foo="42", bar="42", baz=1)
    assert method(None, "42", 42, None) == ("42", 42, None)
