"""Ceph's cap grammar and checks (osd/caps.py, cluster/mon_caps.py): the allow/deny matrix
of cap strings x op classes x pool/namespace/object, parse errors, mon caps per command."""
from __future__ import annotations

import errno

import pytest

import osd.cls.hello  # noqa: F401  (registers the hello class)
from cluster.mon_caps import parse_mon_caps, valid_caps
from osd.caps import CapsParseError, parse_osd_caps, request_needs
from osd.caps import _method_flags

# op classes as the client library sends them
OPS = {
    "read": [("read", 0, 0)],
    "write": [("write_full", b"x")],
    "read+write": [("read", 0, 0), ("write", 0, b"x")],
    "class-read": [("call", "hello", "say_hello", b"")],
    "class-write": [("call", "hello", "record_hello", b"")],
    "class-rw": [("call", "lock", "lock", b"")],
    "watch": [("watch", 1, 30)],
    "notify": [("notify", 1, b"", 1000)],
}
# where the op goes: (pool, namespace, object)
WHERE = {
    "a": ("a", "", "obj"),
    "a/ns1": ("a", "ns1", "obj"),
    "a/ns2": ("a", "ns2", "obj"),
    "b": ("b", "", "obj"),
    "b:rbd_children": ("b", "", "rbd_children"),
    "b:rbd_info": ("b", "", "rbd_info"),
    "a:rbd_header.x": ("a", "", "rbd_header.x"),
}

ALL_OPS = set(OPS)
READS = {"read", "notify"}
WRITES = {"write", "watch"}

# cap string -> {where: set of allowed op classes}; anything not listed is denied (EPERM)
MATRIX = {
    "allow *": {w: ALL_OPS for w in WHERE},
    "allow rwx": {w: ALL_OPS for w in WHERE},
    "allow r": {w: READS for w in WHERE},
    "allow rw": {w: READS | WRITES | {"read+write"} for w in WHERE},
    "allow w": {w: WRITES for w in WHERE},
    "allow x": {w: {"class-read", "class-write", "class-rw"} for w in WHERE},
    "allow class-read": {w: {"class-read"} for w in WHERE},
    "allow r class-read": {w: READS | {"class-read"} for w in WHERE},
    "allow class-read class-write": {w: {"class-read", "class-write", "class-rw"}
                                     for w in WHERE},
    "allow rwx pool=a": {w: ALL_OPS for w in ("a", "a/ns1", "a/ns2", "a:rbd_header.x")},
    "allow pool a rwx": {w: ALL_OPS for w in ("a", "a/ns1", "a/ns2", "a:rbd_header.x")},
    "allow rwx pool=a namespace=ns1": {"a/ns1": ALL_OPS},
    "allow rwx pool=a namespace=": {w: ALL_OPS for w in ("a", "a:rbd_header.x")},
    "allow rwx namespace=ns*": {"a/ns1": ALL_OPS, "a/ns2": ALL_OPS},
    "allow r pool=a, allow w pool=b": {
        **{w: READS for w in ("a", "a/ns1", "a/ns2", "a:rbd_header.x")},
        **{w: WRITES for w in ("b", "b:rbd_children", "b:rbd_info")}},
    "allow class-read object_prefix rbd_children": {"b:rbd_children": {"class-read"}},
    "allow class-read object_prefix rbd_children, allow rwx pool=a": {
        **{w: ALL_OPS for w in ("a", "a/ns1", "a/ns2", "a:rbd_header.x")},
        "b:rbd_children": {"class-read"}},
    "allow class hello say_hello": {w: {"class-read"} for w in WHERE},
    "profile rbd pool=a": {
        **{w: ALL_OPS for w in ("a", "a/ns1", "a/ns2", "a:rbd_header.x")},
        "b:rbd_children": {"class-read"}, "b:rbd_info": READS},
    "profile rbd pool=a namespace=ns1": {
        "a/ns1": ALL_OPS, "b:rbd_children": {"class-read"}, "b:rbd_info": READS},
    "profile rbd": {w: ALL_OPS for w in WHERE},
    "profile rbd-read-only pool=a": {
        w: READS | {"class-read"} for w in ("a", "a/ns1", "a/ns2", "a:rbd_header.x")},
    "profile rbd-read-only": {w: READS | {"class-read"} for w in WHERE},
    "profile no-such-profile": {},
    "": {},
}


def _cases():
    for caps, allowed in MATRIX.items():
        for where in WHERE:
            for op in OPS:
                yield caps, where, op, op in allowed.get(where, set())


@pytest.mark.parametrize("caps,where,op,expected", list(_cases()))
def test_osd_caps_matrix(caps, where, op, expected):
    pool, nspace, oid = WHERE[where]
    may_read, may_write, classes = request_needs(OPS[op], _method_flags)
    cap = parse_osd_caps(caps)
    assert cap.is_capable(pool, nspace, oid, may_read, may_write, classes) is expected


def test_matrix_has_both_outcomes_for_every_cap_but_the_empty_ones():
    for caps, allowed in MATRIX.items():
        cells = [op in allowed.get(w, set()) for w in WHERE for op in OPS]
        if allowed:
            assert any(cells), caps
        if caps not in ("allow *", "allow rwx", "profile rbd"):
            assert not all(cells), caps


def test_class_rbd_child_attach_in_read_only_profile():
    cap = parse_osd_caps("profile rbd-read-only pool=a")
    classes = [("rbd", "child_attach", True, True)]
    assert cap.is_capable("a", "", "rbd_header.1234", False, False, classes)
    assert not cap.is_capable("a", "", "rbd_data.1234", False, False, classes)
    assert not cap.is_capable("b", "", "rbd_header.1234", False, False, classes)


def test_pool_tag_and_network():
    cap = parse_osd_caps("allow rw tag cephfs data=fsa")
    assert cap.is_capable("p", "", "o", True, True, (), {"cephfs": {"data": "fsa"}})
    assert not cap.is_capable("p", "", "o", True, True, (), {"cephfs": {"data": "fsb"}})
    assert not cap.is_capable("p", "", "o", True, True, (), {})
    net = parse_osd_caps("allow rw network 10.0.0.0/8")
    assert not net.is_capable("p", "", "o", True, True, (), addr="127.0.0.1:0/4100")
    assert net.is_capable("p", "", "o", True, True, (), addr="10.1.2.3:0/4100")


@pytest.mark.parametrize("text,rest", [
    ("allow foo", "allow foo"),
    ("allow r, allow foo", ", allow foo"),
    ("allow wr", "r"),
    ("allow rwx pool=", "pool="),
    ("deny r", "deny r"),
    ("allow r pool a b", "b"),
])
def test_osd_caps_parse_errors_name_where_parsing_stopped(text, rest):
    with pytest.raises(CapsParseError) as info:
        parse_osd_caps(text)
    assert info.value.errno == errno.EINVAL
    assert str(info.value) == f"osd capability parse failed, stopped at '{rest}' of '{text}'"


@pytest.mark.parametrize("text,rest", [
    ("allow rwx pool=a", " pool=a"),
    ("allow foo", "allow foo"),
    ("allow r, bogus", ", bogus"),
    ("allow command auth ls", " ls"),          # a command of several words needs quotes
])
def test_mon_caps_parse_errors(text, rest):
    with pytest.raises(CapsParseError) as info:
        parse_mon_caps(text)
    assert str(info.value) == f"mon capability parse failed, stopped at '{rest}' of '{text}'"


def test_valid_caps_by_service():
    valid_caps("mgr", "anything goes")          # Ceph validates only mon (and osd) caps
    with pytest.raises(CapsParseError, match="unknown cap type 'foo'"):
        valid_caps("foo", "allow r")
    with pytest.raises(CapsParseError):
        valid_caps("osd", "allow bogus")


# (service, command, args, read, write, exec)
MON_OPS = {
    "status": ("mon", "status", {}, 1, 0, 0),
    "osd dump": ("osd", "osd dump", {}, 1, 0, 0),
    "osd pool create": ("osd", "osd pool create", {"pool": "p"}, 1, 1, 0),
    "auth ls": ("auth", "auth ls", {}, 0, 0, 1),
    "auth get-or-create": ("auth", "auth get-or-create", {}, 1, 1, 1),
    "config-key get": ("config-key", "config-key get", {"key": "k"}, 1, 0, 0),
    "config-key get rbd/mirror": ("config-key", "config-key get", {"key": "rbd/mirror/x"},
                                  1, 0, 0),
    "blocklist add": ("osd", "osd blocklist",
                      {"blocklistop": "add", "addr": "127.0.0.1:0/4101"}, 1, 1, 0),
    "blocklist rm": ("osd", "osd blocklist",
                     {"blocklistop": "rm", "addr": "127.0.0.1:0/4101"}, 1, 1, 0),
}
MON_MATRIX = {
    "allow *": set(MON_OPS),
    "allow r": {"status", "osd dump"},
    "allow rw": {"status", "osd dump", "osd pool create", "blocklist add", "blocklist rm"},
    "allow rwx": {"status", "osd dump", "osd pool create", "auth ls", "auth get-or-create",
                  "blocklist add", "blocklist rm"},
    "allow r, allow w": {"status", "osd dump", "osd pool create", "blocklist add",
                         "blocklist rm"},
    "profile rbd": {"status", "osd dump", "blocklist add"},
    "allow profile rbd": {"status", "osd dump", "blocklist add"},
    "profile rbd-mirror": {"status", "osd dump", "blocklist add", "config-key get rbd/mirror"},
    "allow service osd rw": {"osd dump", "osd pool create", "blocklist add", "blocklist rm"},
    "allow service config-key r": {"config-key get", "config-key get rbd/mirror"},
    'allow command "osd blocklist" with blocklistop=add': {"blocklist add"},
    'allow command "auth ls"': {"auth ls"},
    "": set(),
}


@pytest.mark.parametrize("caps", list(MON_MATRIX))
def test_mon_caps_matrix(caps):
    cap = parse_mon_caps(caps)
    got = {name for name, (svc, cmd, args, r, w, x) in MON_OPS.items()
           if cap.is_capable(svc, cmd, args, bool(r), bool(w), bool(x))}
    assert got == MON_MATRIX[caps]
