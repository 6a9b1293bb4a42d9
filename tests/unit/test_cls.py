"""Object classes: the registry and ClsContext, cls_hello, cls_lock (with expiry on a fake
clock) and cls_version, all through OSDService.handle_op as a client would call them."""
from __future__ import annotations

import errno

import pytest

from osd.cls import RD, WR, ClsError, lookup, pack, register, unpack
from tests.unit.osd_fakes import SingleOSD

LIBRADOS_OPERATION_RETURNVEC = 1024
A, B = 4100, 4200       # two client gids


@pytest.fixture
def osd():
    return SingleOSD()


def call(osd, oid, cls, method, args=b"", **kw):
    indata = args if isinstance(args, bytes) else pack(args)
    reply = osd(oid, ("call", cls, method, indata), **kw)
    return reply.result, reply.outs[0][1] if reply.outs else None


# -- registry and context -----------------------------------------------------------------------
@register("test_ctx", "rmw", RD | WR)
def _rmw(ctx, indata):
    """Exercises the ClsContext surface and read-your-writes inside one method."""
    ctx.create(False)
    ctx.write(0, b"abc")
    ctx.append(b"def")
    assert ctx.read(0, 0) == b"abcdef"
    ctx.truncate(4)
    ctx.setxattr("x", b"1")
    ctx.omap_set({"b": b"2", "a": b"1", "c": b"3"})
    ctx.omap_rm_keys(["c"])
    ctx.omap_set_header(b"hdr")
    errors = []
    for probe in (lambda: ctx.omap_get("zz"), lambda: ctx.getxattr("nope")):
        try:
            probe()
            errors.append(0)
        except ClsError as exc:
            errors.append(exc.errno)
    return pack({
        "errors": errors,
        "size": ctx.stat()[0], "data": ctx.read(), "xattrs": ctx.getxattrs(),
        "vals": ctx.omap_get_vals(), "keys": ctx.omap_get_keys("a"), "b": ctx.omap_get("b"),
        "header": ctx.omap_get_header(), "gid": ctx.client_gid(), "name": ctx.client_name(),
        "now": ctx.now(), "seq": ctx.snap_seq(), "watchers": ctx.watchers(),
    })


@register("test_ctx", "fail_after_write", WR)
def _fail_after_write(ctx, indata):
    ctx.write_full(b"should not stay")
    raise ClsError(-errno.EDOM)


@register("test_ctx", "crash", RD)
def _crash(ctx, indata):
    raise RuntimeError("bug in a class")


def test_registry_lookup_and_flags():
    assert lookup("hello", "say_hello").flags == RD
    assert lookup("lock", "lock").flags == RD | WR
    assert lookup("nope", "x") is None and lookup("hello", "nope") is None
    with pytest.raises(ValueError):
        register("test_ctx", "noflags", 0)


def test_context_sees_its_own_changes_and_they_apply(osd):
    result, out = call(osd, "obj", "test_ctx", "rmw", flags=LIBRADOS_OPERATION_RETURNVEC)
    assert result == 0
    got = unpack(out)
    assert got["errors"] == [errno.ENOENT, errno.ENODATA]
    assert got["size"] == 4 and got["data"] == b"abcd"
    assert got["xattrs"] == {"x": b"1"}
    assert got["vals"] == {"a": b"1", "b": b"2"} and got["keys"] == ["b"] and got["b"] == b"2"
    assert got["header"] == b"hdr" and got["gid"] == 4100 and got["name"] == "client.4100"
    assert got["now"] == 5000.0 and got["seq"] == 0 and got["watchers"] == []
    assert osd.ok("obj", ("read", 0, 0), ("omap_get_keys", "", 10)) == [b"abcd", (["a", "b"], False)]


def test_write_methods_return_no_data_without_returnvec(osd):
    assert call(osd, "obj", "test_ctx", "rmw") == (0, b"")


def test_failing_method_applies_nothing(osd):
    osd.ok("obj", ("write", 0, b"keep"))
    assert call(osd, "obj", "test_ctx", "fail_after_write")[0] == -errno.EDOM
    assert osd.ok("obj", ("read", 0, 0)) == [b"keep"]
    assert call(osd, "obj", "test_ctx", "crash")[0] == -errno.EIO


def test_unknown_class_or_method_is_eopnotsupp(osd):
    osd.ok("obj", ("create", False))
    assert call(osd, "obj", "nope", "x")[0] == -errno.EOPNOTSUPP
    assert call(osd, "obj", "hello", "nope")[0] == -errno.EOPNOTSUPP


# -- hello ---------------------------------------------------------------------------------------
def test_hello(osd):
    osd.ok("obj", ("create", False))
    assert call(osd, "obj", "hello", "say_hello") == (0, b"Hello, world!")
    assert call(osd, "obj", "hello", "say_hello", b"osd") == (0, b"Hello, osd!")
    assert call(osd, "obj", "hello", "say_hello", b"x" * 101)[0] == -errno.EINVAL
    assert call(osd, "new", "hello", "record_hello", b"there") == (0, b"")
    assert call(osd, "new", "hello", "record_hello", b"again")[0] == -errno.EEXIST
    assert call(osd, "new", "hello", "replay") == (0, b"Hello, there!")
    assert call(osd, "new", "hello", "turn_it_to_11") == (0, b"")
    assert call(osd, "new", "hello", "replay") == (0, b"HELLO, THERE!")
    assert call(osd, "new", "hello", "turn_it_to_11", b"x")[0] == -errno.EINVAL


def test_hello_flag_violations_are_eio(osd):
    osd.ok("obj", ("write", 0, b"data"))
    assert call(osd, "obj", "hello", "bad_reader")[0] == -errno.EIO
    assert call(osd, "obj", "hello", "bad_writer", b"x")[0] == -errno.EIO
    assert osd.ok("obj", ("read", 0, 0)) == [b"data"]


def test_hello_writes_dont_return_data(osd):
    assert call(osd, "w", "hello", "writes_dont_return_data") == (0, b"")
    assert osd.ok("w", ("getxattr", "foo")) == [b"bar"]
    assert call(osd, "w2", "hello", "writes_dont_return_data",
                flags=LIBRADOS_OPERATION_RETURNVEC) == (0, b"you will never see this")
    assert call(osd, "w3", "hello", "writes_dont_return_data", b"input")[0] == -errno.EINVAL
    assert osd.err("w3", ("stat",)) == errno.ENOENT


# -- lock ----------------------------------------------------------------------------------------
def lock(osd, gid, name="l", type=1, cookie="c", tag="", duration=0, flags=0, oid="obj",
         description=""):
    return call(osd, oid, "lock", "lock",
                {"name": name, "type": type, "cookie": cookie, "tag": tag,
                 "duration": duration, "flags": flags, "description": description}, gid=gid)[0]


def info(osd, name="l", oid="obj"):
    result, out = call(osd, oid, "lock", "get_info", {"name": name})
    assert result == 0
    return unpack(out)


def test_exclusive_lock(osd):
    assert lock(osd, A, description="mine") == 0      # creates the object
    assert osd.ok("obj", ("stat",))[0][0] == 0
    got = info(osd)
    assert got["type"] == 1 and got["tag"] == ""
    assert got["lockers"] == [{"name": "client.4100", "cookie": "c", "expiration": 0.0,
                               "addr": "127.0.0.1:0/4100", "description": "mine"}]
    assert lock(osd, A) == -errno.EEXIST
    assert lock(osd, A, flags=1) == 0                 # MAY_RENEW
    assert lock(osd, B) == -errno.EBUSY
    assert lock(osd, B, type=2) == -errno.EBUSY
    assert lock(osd, A, cookie="other") == -errno.EBUSY
    assert lock(osd, A, flags=3) == -errno.EINVAL
    assert lock(osd, A, name="") == -errno.EINVAL
    assert lock(osd, A, type=9) == -errno.EINVAL


def test_must_renew(osd):
    assert lock(osd, A, flags=2) == -errno.ENOENT
    assert lock(osd, A) == 0
    assert lock(osd, A, flags=2, duration=10) == 0
    assert info(osd)["lockers"][0]["expiration"] == 5010.0


def test_shared_locks_and_tags(osd):
    assert lock(osd, A, type=2, tag="t1") == 0
    assert lock(osd, B, type=2, tag="t1") == 0
    assert lock(osd, B, type=2, tag="t2", cookie="x") == -errno.EBUSY
    assert lock(osd, B, type=1, tag="t1", cookie="x") == -errno.EBUSY
    assert [l["name"] for l in info(osd)["lockers"]] == ["client.4100", "client.4200"]


def test_unlock_and_break(osd):
    assert lock(osd, A) == 0
    assert call(osd, "obj", "lock", "unlock", {"name": "l", "cookie": "c"}, gid=B)[0] == -errno.ENOENT
    assert call(osd, "obj", "lock", "unlock", {"name": "l", "cookie": "c"}, gid=A)[0] == 0
    assert info(osd) == {"lockers": [], "type": 0, "tag": ""}
    assert call(osd, "obj", "lock", "unlock", {"name": "l", "cookie": "c"}, gid=A)[0] == -errno.ENOENT
    assert lock(osd, A) == 0
    assert call(osd, "obj", "lock", "break_lock",
                {"name": "l", "locker": "client.4200", "cookie": "c"}, gid=B)[0] == -errno.ENOENT
    assert call(osd, "obj", "lock", "break_lock",
                {"name": "l", "locker": "client.4100", "cookie": "c"}, gid=B)[0] == 0
    assert lock(osd, B) == 0
    assert call(osd, "missing", "lock", "unlock", {"name": "l", "cookie": "c"})[0] == -errno.ENOENT


def test_lock_expiry_with_fake_clock(osd):
    assert lock(osd, A, duration=30) == 0
    osd.clock.advance(29)
    assert lock(osd, B) == -errno.EBUSY
    osd.clock.advance(2)
    assert info(osd)["lockers"] == []                  # expired lockers are dropped on read
    assert lock(osd, B) == 0
    assert call(osd, "obj", "lock", "unlock", {"name": "l", "cookie": "c"}, gid=A)[0] == -errno.ENOENT


def test_list_locks_assert_locked_set_cookie(osd):
    assert lock(osd, A, name="one") == 0
    assert lock(osd, A, name="two", type=2, tag="t") == 0
    result, out = call(osd, "obj", "lock", "list_locks", {})
    assert unpack(out) == {"locks": ["one", "two"]}
    assert_args = {"name": "two", "type": 2, "cookie": "c", "tag": "t"}
    assert call(osd, "obj", "lock", "assert_locked", assert_args, gid=A)[0] == 0
    assert call(osd, "obj", "lock", "assert_locked", assert_args, gid=B)[0] == -errno.EBUSY
    assert call(osd, "obj", "lock", "assert_locked", dict(assert_args, tag="x"), gid=A)[0] == -errno.EBUSY
    assert call(osd, "obj", "lock", "assert_locked", dict(assert_args, type=1), gid=A)[0] == -errno.EBUSY
    assert call(osd, "obj", "lock", "assert_locked", dict(assert_args, type=0), gid=A)[0] == -errno.EINVAL
    assert call(osd, "obj", "lock", "set_cookie", dict(assert_args, new_cookie="n"), gid=A)[0] == 0
    assert call(osd, "obj", "lock", "assert_locked", dict(assert_args, cookie="n"), gid=A)[0] == 0
    assert call(osd, "obj", "lock", "assert_locked", assert_args, gid=A)[0] == -errno.EBUSY
    assert call(osd, "obj", "lock", "set_cookie", dict(assert_args, new_cookie="m"), gid=A)[0] == -errno.EBUSY
    assert call(osd, "missing", "lock", "get_info", {"name": "l"})[0] == -errno.ENOENT
    assert call(osd, "obj", "lock", "lock", b"\xc1garbage")[0] == -errno.EINVAL


def test_ephemeral_lock_removes_object_on_unlock(osd):
    assert lock(osd, A, type=3, oid="eph") == 0
    assert osd.ok("eph", ("stat",))
    assert call(osd, "eph", "lock", "unlock", {"name": "l", "cookie": "c"}, gid=A)[0] == 0
    assert osd.err("eph", ("stat",)) == errno.ENOENT


# -- version -------------------------------------------------------------------------------------
def vread(osd, oid="v"):
    result, out = call(osd, oid, "version", "read")
    assert result == 0
    return unpack(out)


def test_version(osd):
    osd.ok("v", ("create", False))
    assert vread(osd) == {"ver": 0, "tag": ""}
    assert call(osd, "v", "version", "inc")[0] == 0
    first = vread(osd)
    assert first["ver"] == 1 and len(first["tag"]) == 24
    assert call(osd, "v", "version", "inc", {"conds": [{"ver": 1, "tag": "", "cond": 1}]})[0] == 0
    assert vread(osd) == {"ver": 2, "tag": first["tag"]}
    assert call(osd, "v", "version", "inc",
                {"conds": [{"ver": 1, "tag": "", "cond": 1}]})[0] == -errno.ECANCELED
    assert call(osd, "v", "version", "set", {"objv": {"ver": 10, "tag": "T"}})[0] == 0
    assert vread(osd) == {"ver": 10, "tag": "T"}
    for cond, ver, tag, ok in [(2, 9, "", True), (2, 10, "", False), (3, 10, "", True),
                               (4, 11, "", True), (5, 9, "", False), (6, 0, "T", True),
                               (7, 0, "T", False), (0, 0, "", True)]:
        result = call(osd, "v", "version", "check_conds",
                      {"conds": [{"ver": ver, "tag": tag, "cond": cond}]})[0]
        assert result == (0 if ok else -errno.ECANCELED), (cond, ver, tag)
    assert call(osd, "v", "version", "check_conds", {"conds": [{"cond": 99}]})[0] == -errno.EINVAL
    assert call(osd, "v", "version", "set", {"objv": {"ver": -1}})[0] == -errno.EINVAL
    # inc on a missing object creates it with version 1
    assert call(osd, "fresh", "version", "inc")[0] == 0
    assert vread(osd, "fresh")["ver"] == 1
