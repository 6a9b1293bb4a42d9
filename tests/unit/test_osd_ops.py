"""Every op of docs/interfaces.md section 2 against one OSD, with Ceph's errnos, atomic
failure, read-your-writes inside a request, versions, and the service's admission rules."""
from __future__ import annotations

import errno
import random

import pytest

from osd.messages import OSDOpReply, OSDOpRequest, SNAP_HEAD
from osd.ops import MAX_ERRNO
from osd.service import OSDService
from tests.unit.osd_fakes import FakeClock, FakeOSDMap, FakePool, SingleOSD as One

EQ, NE, GT, GTE, LT, LTE = 1, 2, 3, 4, 5, 6


@pytest.fixture
def osd():
    return One()


# -- data ops ----------------------------------------------------------------------------------
def test_create(osd):
    assert osd.err("a", ("stat",)) == errno.ENOENT
    osd.ok("a", ("create", True))
    assert osd.ok("a", ("stat",)) == [(0, 5000.0)]
    assert osd.err("a", ("create", True)) == errno.EEXIST
    osd.ok("a", ("create", False))


def test_write_extends_and_fills_holes(osd):
    osd.ok("a", ("write", 4, b"tail"))
    assert osd.ok("a", ("read", 0, 0)) == [b"\0\0\0\0tail"]
    osd.ok("a", ("write", 0, b"he"))
    assert osd.ok("a", ("read", 0, 0), ("read", 3, 3), ("read", 100, 5)) == \
        [b"he\0\0tail", b"\0ta", b""]


def test_zero_length_write_creates_and_extends(osd):
    osd.ok("a", ("write", 10, b""))
    assert osd.ok("a", ("stat",))[0][0] == 10
    osd.ok("a", ("write", 4, b""))
    assert osd.ok("a", ("stat",))[0][0] == 10


def test_write_past_max_object_size_is_efbig(osd):
    assert osd.err("a", ("write", 128 << 20, b"x")) == errno.EFBIG
    assert osd.err("a", ("truncate", 1 << 40)) == errno.EFBIG


def test_write_full_writesame_append(osd):
    osd.ok("a", ("write", 0, b"0123456789"))
    osd.ok("a", ("write_full", b"abc"))
    assert osd.ok("a", ("read", 0, 0)) == [b"abc"]
    osd.ok("a", ("writesame", 1, 6, b"xy"))
    assert osd.ok("a", ("read", 0, 0)) == [b"axyxyxy"]
    assert osd.err("a", ("writesame", 0, 5, b"xy")) == errno.EINVAL
    assert osd.err("a", ("writesame", 0, 4, b"")) == errno.EINVAL
    osd.ok("a", ("append", b"!!"))
    assert osd.ok("a", ("read", 0, 0)) == [b"axyxyxy!!"]
    osd.ok("b", ("append", b"new"))
    assert osd.ok("b", ("read", 0, 0)) == [b"new"]
    osd.ok("b", ("write_full", b""))
    assert osd.ok("b", ("stat",))[0][0] == 0


def test_truncate_and_zero(osd):
    osd.ok("a", ("write", 0, b"abcdefgh"))
    osd.ok("a", ("zero", 6, 100))          # clipped at the size: no extension
    assert osd.ok("a", ("read", 0, 0)) == [b"abcdef\0\0"]
    osd.ok("a", ("zero", 50, 10))
    assert osd.ok("a", ("stat",))[0][0] == 8
    osd.ok("a", ("truncate", 3))
    assert osd.ok("a", ("read", 0, 0)) == [b"abc"]
    osd.ok("a", ("truncate", 5))
    assert osd.ok("a", ("read", 0, 0)) == [b"abc\0\0"]
    # on a missing object both are no-ops that create nothing (Ceph)
    osd.ok("nope", ("truncate", 10), ("zero", 0, 4))
    assert osd.err("nope", ("stat",)) == errno.ENOENT


def test_remove(osd):
    assert osd.err("a", ("remove",)) == errno.ENOENT
    osd.ok("a", ("write", 0, b"x"), ("setxattr", "n", b"v"), ("omap_set", {"k": b"v"}))
    osd.ok("a", ("remove",))
    assert osd.err("a", ("read", 0, 0)) == errno.ENOENT
    # recreated object starts empty: no old xattrs or omap
    osd.ok("a", ("create", True))
    assert osd.ok("a", ("getxattrs",), ("omap_get_vals", "", "", 10)) == [{}, ({}, False)]


def test_read_ops_on_missing_object(osd):
    for op in [("read", 0, 0), ("sparse_read", 0, 0), ("stat",), ("getxattr", "x"),
               ("getxattrs",), ("omap_get_vals", "", "", 1), ("omap_get_keys", "", 1),
               ("omap_get_vals_by_keys", ["k"]), ("omap_get_header",), ("assert_exists",),
               ("list_watchers",), ("call", "hello", "replay", b""), ("list_snaps",)]:
        assert osd.err("missing", op) == errno.ENOENT, op


def test_sparse_read(osd):
    osd.ok("a", ("write", 0, b"0123456789"))
    assert osd.ok("a", ("sparse_read", 2, 4)) == [([(2, 4)], b"2345")]
    assert osd.ok("a", ("sparse_read", 8, 10)) == [([(8, 2)], b"89")]
    assert osd.ok("a", ("sparse_read", 20, 10)) == [([], b"")]


# -- xattrs --------------------------------------------------------------------------------------
def test_xattrs(osd):
    osd.ok("a", ("setxattr", "b", b"2"), ("setxattr", "a", b"1"))
    assert osd.ok("a", ("getxattr", "a"), ("getxattrs",)) == [b"1", {"a": b"1", "b": b"2"}]
    assert osd.err("a", ("getxattr", "zz")) == errno.ENODATA
    assert osd.err("a", ("rmxattr", "zz")) == errno.ENODATA
    osd.ok("a", ("rmxattr", "a"))
    assert osd.ok("a", ("getxattrs",)) == [{"b": b"2"}]
    assert osd.err("gone", ("rmxattr", "a")) == errno.ENOENT
    assert osd.err("a", ("setxattr", "x" * 101, b"")) == errno.ENAMETOOLONG
    assert osd.err("a", ("setxattr", 5, b"")) == errno.EINVAL


# -- omap ----------------------------------------------------------------------------------------
def test_omap_set_get_and_paging(osd):
    osd.ok("d", ("omap_set", {f"k{i:02d}": bytes([i]) for i in range(20)}), ("omap_set_header", b"H"))
    vals, more = osd.ok("d", ("omap_get_vals", "", "", 5))[0]
    assert list(vals) == ["k00", "k01", "k02", "k03", "k04"] and more
    vals, more = osd.ok("d", ("omap_get_vals", "k17", "", 5))[0]
    assert list(vals) == ["k18", "k19"] and not more
    vals, more = osd.ok("d", ("omap_get_vals", "", "k1", 100))[0]
    assert list(vals) == [f"k1{i}" for i in range(10)] and not more
    vals, more = osd.ok("d", ("omap_get_vals", "k15", "k1", 100))[0]
    assert list(vals) == ["k16", "k17", "k18", "k19"]
    keys, more = osd.ok("d", ("omap_get_keys", "k05", 3))[0]
    assert keys == ["k06", "k07", "k08"] and more
    assert osd.ok("d", ("omap_get_vals_by_keys", ["k03", "nope", "k01"])) == \
        [{"k01": b"\x01", "k03": b"\x03"}]
    assert osd.ok("d", ("omap_get_header",)) == [b"H"]
    assert osd.ok("d", ("omap_get_vals", "", "", 0)) == [({}, True)]


def test_omap_removal(osd):
    osd.ok("d", ("omap_set", {k: b"v" for k in ["a", "b", "c", "d", "e"]}))
    osd.ok("d", ("omap_rm_keys", ["a", "zz"]))
    osd.ok("d", ("omap_rm_range", "b", "d"))
    assert osd.ok("d", ("omap_get_keys", "", 10)) == [(["d", "e"], False)]
    osd.ok("d", ("omap_clear",))
    assert osd.ok("d", ("omap_get_keys", "", 10)) == [([], False)]
    for op in [("omap_rm_keys", ["a"]), ("omap_rm_range", "a", "b"), ("omap_clear",)]:
        assert osd.err("missing", op) == errno.ENOENT


def test_omap_overlay_sees_earlier_ops_of_the_request(osd):
    osd.ok("d", ("omap_set", {"a": b"1", "b": b"2", "c": b"3", "x1": b"4"}))
    outs = osd.ok("d",
                  ("omap_rm_keys", ["b"]),
                  ("omap_set", {"bb": b"new", "a": b"changed"}),
                  ("omap_rm_range", "c", "d"),
                  ("omap_get_vals", "", "", 10),
                  ("omap_get_vals", "a", "", 1),
                  ("omap_get_vals_by_keys", ["a", "b", "bb", "c"]),
                  ("omap_clear",),
                  ("omap_set", {"z": b"z"}),
                  ("omap_get_keys", "", 10))
    assert outs[3] == ({"a": b"changed", "bb": b"new", "x1": b"4"}, False)
    assert outs[4] == ({"bb": b"new"}, True)
    assert outs[5] == {"a": b"changed", "bb": b"new"}
    assert outs[8] == (["z"], False)
    assert osd.ok("d", ("omap_get_keys", "", 10)) == [(["z"], False)]


def test_omap_cmp(osd):
    osd.ok("d", ("omap_set", {"a": b"5"}))
    osd.ok("d", ("omap_cmp", {"a": (b"5", EQ)}), ("omap_set", {"b": b"1"}))
    assert osd.err("d", ("omap_cmp", {"a": (b"4", EQ)}), ("omap_set", {"c": b"1"})) == errno.ECANCELED
    assert osd.err("d", ("omap_cmp", {"missing": (b"", EQ)})) == errno.ECANCELED
    osd.ok("d", ("omap_cmp", {"a": (b"6", GT), "b": (b"2", GT)}))
    assert osd.err("d", ("omap_cmp", {"a": (b"5", 9)})) == errno.EINVAL
    assert osd.ok("d", ("omap_get_keys", "", 10)) == [(["a", "b"], False)]


# -- comparisons and assertions ------------------------------------------------------------------
def test_cmpext(osd):
    osd.ok("a", ("write", 0, b"abcdef"))
    assert osd.ok("a", ("cmpext", 1, b"bcd")) == [0]
    reply = osd("a", ("cmpext", 1, b"bXd"), ("write", 0, b"ZZZ"))
    assert reply.result == -MAX_ERRNO - 1
    assert reply.outs[0][0] == -MAX_ERRNO - 1
    assert osd.ok("a", ("read", 0, 0)) == [b"abcdef"]        # the write did not apply
    # past the end compares against zeros
    assert osd.ok("a", ("cmpext", 4, b"ef\0\0")) == [0]
    assert osd("a", ("cmpext", 4, b"efg")).result == -MAX_ERRNO - 2


def test_cmpxattr(osd):
    osd.ok("a", ("setxattr", "v", b"m"))
    for op, value, ok in [(EQ, b"m", True), (NE, b"m", False), (GT, b"n", True),
                          (GT, b"m", False), (GTE, b"m", True), (LT, b"a", True),
                          (LTE, b"n", False)]:
        reply = osd("a", ("cmpxattr", "v", op, value))
        assert (reply.result == 0) == ok, (op, value)
        if not ok:
            assert reply.result == -errno.ECANCELED
    # a missing xattr compares as empty
    osd.ok("a", ("cmpxattr", "nope", EQ, b""))
    assert osd.err("a", ("cmpxattr", "v", 0, b"m")) == errno.EINVAL


def test_assert_exists_and_version(osd):
    assert osd.err("a", ("assert_exists",)) == errno.ENOENT
    osd.ok("a", ("write", 0, b"x"))
    osd.ok("a", ("write", 0, b"y"))
    version = osd("a", ("stat",)).version
    assert version == 2
    osd.ok("a", ("assert_exists",), ("assert_version", version))
    # Ceph (test LibRadosMisc.AssertVersion): ver newer than the object's -> EOVERFLOW,
    # older -> ERANGE
    assert osd.err("a", ("assert_version", version + 1)) == errno.EOVERFLOW
    assert osd.err("a", ("assert_version", version - 1), ("write", 0, b"z")) == errno.ERANGE
    assert osd.err("a", ("assert_version", 0)) == errno.EINVAL
    assert osd.ok("a", ("read", 0, 0)) == [b"y"]


# -- versions ------------------------------------------------------------------------------------
def test_versions_increase_per_pg_and_reads_report_current(osd):
    pgid = 3
    r1 = osd("a", ("write", 0, b"1"), pgid=pgid)
    r2 = osd("b", ("write", 0, b"2"), pgid=pgid)
    r3 = osd("a", ("write", 0, b"3"), pgid=pgid)
    assert (r1.version, r2.version, r3.version) == (1, 2, 3)
    assert osd("a", ("read", 0, 0), pgid=pgid).version == 3
    assert osd("b", ("stat",), pgid=pgid).version == 2
    other = osd("c", ("write", 0, b"x"), pgid=4)
    assert other.version == 1        # another PG has its own sequence
    # a failed write does not consume a version
    osd("a", ("create", True), pgid=pgid)
    assert osd("d", ("write", 0, b"x"), pgid=pgid).version == 4


# -- atomicity -----------------------------------------------------------------------------------
def test_failure_applies_nothing_and_reports_earlier_rvals(osd):
    osd.ok("a", ("write", 0, b"orig"), ("setxattr", "x", b"1"))
    before = osd("a", ("stat",))
    reply = osd("a", ("write", 0, b"NEW!"), ("setxattr", "y", b"2"), ("omap_set", {"k": b"v"}),
                ("rmxattr", "nope"), ("write", 10, b"never"))
    assert reply.result == -errno.ENODATA
    assert [rval for rval, _ in reply.outs] == [0, 0, 0, -errno.ENODATA, 0]
    assert osd.ok("a", ("read", 0, 0), ("getxattrs",), ("omap_get_keys", "", 5)) == \
        [b"orig", {"x": b"1"}, ([], False)]
    assert osd("a", ("stat",)).version == before.version


def test_read_your_writes_inside_a_request(osd):
    osd.ok("a", ("write", 0, b"0123456789"), ("setxattr", "x", b"1"))
    outs = osd.ok("a", ("write", 2, b"AB"), ("read", 0, 0), ("truncate", 6), ("append", b"!"),
                  ("zero", 0, 1), ("read", 0, 0), ("stat",), ("setxattr", "y", b"2"),
                  ("rmxattr", "x"), ("getxattrs",), ("remove",), ("create", True),
                  ("write", 0, b"fresh"), ("read", 0, 0), ("getxattrs",))
    assert outs[1] == b"01AB456789"
    assert outs[5] == b"\x001AB45!"
    assert outs[6][0] == 7
    assert outs[9] == {"y": b"2"}
    assert outs[13] == b"fresh" and outs[14] == {}
    assert osd.ok("a", ("read", 0, 0)) == [b"fresh"]


# -- errors of the request as a whole ------------------------------------------------------------
def test_unknown_ops_and_bad_arguments(osd):
    osd.ok("a", ("write", 0, b"x"))
    assert osd.err("a", ("frobnicate",)) == errno.EOPNOTSUPP
    assert osd.err("a", ("read", "0", 1)) == errno.EINVAL
    assert osd.err("a", ("read", -1, 1)) == errno.EINVAL
    assert osd.err("a", ("write", 0, "text")) == errno.EINVAL
    assert osd.err("a", ("write", 0)) == errno.EINVAL
    assert osd.err("a", ("omap_set", ["k"])) == errno.EINVAL
    assert osd.err("a", ("omap_set", {"k": "str"})) == errno.EINVAL
    assert osd.err("a", ()) == errno.EINVAL
    assert osd.err("a", ("call", "nope", "m", b"")) == errno.EOPNOTSUPP
    assert osd.err("a", ("call", "hello", "nope", b"")) == errno.EOPNOTSUPP
    assert osd.err("a", ("write", True, b"x")) == errno.EINVAL


def test_writes_at_a_snap_are_erofs(osd):
    osd.ok("a", ("write", 0, b"x"))
    assert osd.err("a", ("write", 0, b"y"), snapid=3) == errno.EROFS
    assert osd.err("a", ("call", "hello", "turn_it_to_11", b""), snapid=3) == errno.EROFS


def test_call_runs_cls_methods(osd):
    assert osd.ok("a", ("call", "hello", "record_hello", b"you")) == [b""]
    assert osd.ok("a", ("call", "hello", "replay", b"")) == [b"Hello, you!"]
    assert osd.err("a", ("call", "hello", "record_hello", b"again")) == errno.EEXIST


def test_fuzzed_requests_always_get_a_reply(osd, caplog):
    rng = random.Random(11)
    values = [0, 1, -1, 2**70, "s", b"b", None, [], {}, {"k": b"v"}, ("x",), 1.5, True]
    names = ["create", "write", "read", "omap_set", "call", "cmpext", "watch", "notify",
             "rollback", "omap_cmp", "cmpxattr", "list_snaps", "bogus", 7, None]
    osd.ok("f", ("write", 0, b"seed"))
    for _ in range(2000):
        ops = [tuple([rng.choice(names)] + [rng.choice(values) for _ in range(rng.randint(0, 4))])
               for _ in range(rng.randint(0, 3))]
        req = OSDOpRequest(reqid=(9, rng.randrange(10**6)), pool=rng.choice([1, 1, 2, "x"]),
                           pgid=rng.choice([0, 1, 99, -1]), oid=rng.choice(["f", "g", 3]),
                           epoch=rng.choice([0, 1, 1, 5]), ops=ops,
                           snapc=rng.choice([None, (1, [1]), (0, [2]), "bad"]),
                           snapid=rng.choice([SNAP_HEAD, SNAP_HEAD, 1, "x"]))
        outcome = osd.svc.handle_op(req)
        assert isinstance(outcome.reply, OSDOpReply) or outcome.notify is not None
    # bad input is answered with an errno, never by the internal-error (-EIO) path
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


# -- admission -----------------------------------------------------------------------------------
def test_request_from_newer_epoch_asks_for_that_map():
    osd = One()
    req = osd.client.req("a", [("read", 0, 0)], epoch=7)
    reply = osd.svc.handle_op(req).reply
    assert reply.retry_epoch == 7


def test_missing_pool_is_enoent_and_bad_pg_is_retry():
    osd = One()
    osd.svc.set_osdmap(osd.map.next())        # our epoch 2
    assert osd.svc.handle_op(OSDOpRequest((1, 1), 9, 0, "a", epoch=2)).reply.result == -errno.ENOENT
    stale = osd.svc.handle_op(OSDOpRequest((1, 2), 1, 99, "a", epoch=1, ops=[("stat",)])).reply
    assert stale.retry_epoch == 2
    same = osd.svc.handle_op(OSDOpRequest((1, 3), 1, 99, "a", epoch=2, ops=[("stat",)])).reply
    assert same.retry_epoch == 3


def test_not_primary_is_retry():
    fmap = FakeOSDMap(pools=[FakePool(1, size=2)], osds=[0, 1], acting={(1, 0): [1, 0]})
    svc = OSDService(0, clock=FakeClock())
    svc.set_osdmap(fmap)
    reply = svc.handle_op(OSDOpRequest((1, 1), 1, 0, "a", epoch=1, ops=[("stat",)])).reply
    assert (reply.result, reply.retry_epoch) == (0, 2)
    svc.set_osdmap(fmap.next())
    reply = svc.handle_op(OSDOpRequest((1, 2), 1, 0, "a", epoch=1, ops=[("stat",)])).reply
    assert reply.retry_epoch == 2


def test_quota_blocks_writes_but_not_deletes():
    osd = One(quota_max_objects=2)
    osd.ok("a", ("write", 0, b"x"))
    osd.ok("b", ("write", 0, b"x"))
    assert osd.err("c", ("write", 0, b"x")) == errno.EDQUOT
    assert osd.err("a", ("setxattr", "k", b"v")) == errno.EDQUOT
    osd.ok("a", ("read", 0, 0))
    osd.ok("a", ("remove",))
    osd.ok("c", ("write", 0, b"x"))
    osd = One(quota_max_bytes=10)
    osd.ok("a", ("write", 0, b"0123456789"))
    assert osd.err("a", ("append", b"x")) == errno.EDQUOT
    osd.ok("a", ("truncate", 2))
    osd.ok("a", ("append", b"x"))
    osd.svc.set_pool_usage(1, 0, 0)          # the host's cluster-wide numbers win
    osd.ok("a", ("write", 0, b"0123456789abc"))


def test_pool_stats_and_pgls():
    osd = One()
    for i in range(30):
        osd.ok(f"o{i}", ("write", 0, b"x" * 100), nspace="ns" if i % 2 else "")
    osd.ok("o0", ("read", 0, 0))
    stats = osd.svc.pool_stats(1)
    assert stats["num_objects"] == 30 and stats["num_bytes"] == 3000
    assert stats["num_kb"] == 3 and stats["num_wr"] == 30 and stats["num_rd"] == 1
    seen = []
    for pgid in range(8):
        cursor = None
        while True:
            entries, cursor = osd.svc.pgls(1, pgid, "\x01", cursor, 2)
            seen.extend(entries)
            if cursor is None:
                break
    assert sorted(seen) == sorted(("ns" if i % 2 else "", f"o{i}", "") for i in range(30))
    only_ns = [e for pgid in range(8) for e in osd.svc.pgls(1, pgid, "ns", None, 100)[0]]
    assert sorted(only_ns) == sorted(("ns", f"o{i}", "") for i in range(1, 30, 2))


# -- compound requests against a model -----------------------------------------------------------
class _ModelError(Exception):
    def __init__(self, err):
        self.errno = err


class _ModelObject:
    """What one object should look like: plain Python, no overlay."""

    def __init__(self):
        self.exists, self.data, self.xattrs, self.omap, self.header = False, bytearray(), {}, {}, b""

    def copy(self):
        other = _ModelObject()
        other.exists, other.data = self.exists, bytearray(self.data)
        other.xattrs, other.omap, other.header = dict(self.xattrs), dict(self.omap), self.header
        return other

    def need(self):
        if not self.exists:
            raise _ModelError(errno.ENOENT)

    def write(self, off, data):
        self.exists = True
        if off > len(self.data):
            self.data.extend(bytes(off - len(self.data)))
        self.data[off:off + len(data)] = data

    def run(self, op):
        name, args = op[0], op[1:]
        if name == "write":
            self.write(*args)
        elif name == "write_full":
            self.exists, self.data = True, bytearray(args[0])
        elif name == "append":
            self.write(len(self.data), args[0])
        elif name == "truncate":
            if self.exists:
                size = args[0]
                self.data = self.data[:size] + bytes(max(0, size - len(self.data)))
        elif name == "zero":
            off, length = args
            if self.exists and off < len(self.data):
                end = min(len(self.data), off + length)
                self.data[off:end] = bytes(end - off)
        elif name == "remove":
            self.need()
            self.__init__()
        elif name == "create":
            self.exists = True
        elif name == "setxattr":
            self.exists = True
            self.xattrs[args[0]] = args[1]
        elif name == "rmxattr":
            self.need()
            if args[0] not in self.xattrs:
                raise _ModelError(errno.ENODATA)
            del self.xattrs[args[0]]
        elif name == "omap_set":
            self.exists = True
            self.omap.update(args[0])
        elif name in ("omap_rm_keys", "omap_rm_range", "omap_clear"):
            self.need()
            if name == "omap_rm_keys":
                for k in args[0]:
                    self.omap.pop(k, None)
            elif name == "omap_rm_range":
                for k in [k for k in self.omap if args[0] <= k < args[1]]:
                    del self.omap[k]
            else:
                self.omap.clear()
        elif name == "omap_set_header":
            self.exists, self.header = True, args[0]
        elif name == "read":
            self.need()
            off, length = args
            return bytes(self.data[off:off + length] if length else self.data[off:])
        elif name == "stat":
            self.need()
            return len(self.data)
        elif name == "getxattrs":
            self.need()
            return dict(sorted(self.xattrs.items()))
        elif name == "omap_get_vals":
            self.need()
            start, prefix, limit = args
            keys = [k for k in sorted(self.omap) if k > start and k.startswith(prefix)]
            return {k: self.omap[k] for k in keys[:limit]}, len(keys) > limit
        elif name == "omap_get_vals_by_keys":
            self.need()
            return {k: self.omap[k] for k in sorted(set(args[0])) if k in self.omap}
        elif name == "omap_get_header":
            self.need()
            return self.header
        return None


def _random_op(rng):
    key = lambda: rng.choice(["a", "ab", "b", "ba", "c", "ca"])     # noqa: E731
    return rng.choice([
        lambda: ("write", rng.randrange(40), rng.randbytes(rng.randint(0, 12))),
        lambda: ("write_full", rng.randbytes(rng.randint(0, 12))),
        lambda: ("append", rng.randbytes(rng.randint(1, 6))),
        lambda: ("truncate", rng.randrange(40)),
        lambda: ("zero", rng.randrange(40), rng.randrange(20)),
        lambda: ("remove",),
        lambda: ("create", False),
        lambda: ("setxattr", rng.choice("xyz"), rng.randbytes(3)),
        lambda: ("rmxattr", rng.choice("xyz")),
        lambda: ("omap_set", {key(): rng.randbytes(2) for _ in range(rng.randint(1, 3))}),
        lambda: ("omap_rm_keys", [key() for _ in range(2)]),
        lambda: ("omap_rm_range", *sorted([key(), key()])),
        lambda: ("omap_clear",),
        lambda: ("omap_set_header", rng.randbytes(2)),
        lambda: ("read", rng.randrange(30), rng.randrange(12)),
        lambda: ("stat",),
        lambda: ("getxattrs",),
        lambda: ("omap_get_vals", rng.choice(["", "a", "b"]), rng.choice(["", "a", "b"]), rng.randrange(4)),
        lambda: ("omap_get_vals_by_keys", [key(), key()]),
        lambda: ("omap_get_header",),
    ])()


def test_compound_requests_match_a_model(seed, caplog):
    rng = random.Random(seed)
    osd = One()
    model = _ModelObject()
    counts = {"ok": 0, "failed": 0}
    for step in range(1500):
        ops = [_random_op(rng) for _ in range(rng.randint(1, 6))]
        trial, expect, failed = model.copy(), [], None
        for op in ops:
            try:
                expect.append(trial.run(op))
            except _ModelError as exc:
                failed = exc.errno
                break
        reply = osd("obj", *ops)
        where = f"seed={seed} step={step} ops={ops}"
        if failed is not None:
            assert reply.result == -failed, where
            counts["failed"] += 1
        else:
            assert reply.result == 0, where
            got = [out for _, out in reply.outs]
            got = [g[0] if op[0] == "stat" else g for g, op in zip(got, ops)]
            assert got == expect, where
            model = trial
            counts["ok"] += 1
    assert counts["ok"] > 500 and counts["failed"] > 100, counts
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
