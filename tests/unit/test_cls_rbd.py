"""The `rbd` object class (osd/cls/rbd.py), driven through OSDService.handle_op as librbd
would call it: header create/refresh, snapshots, protection, parent/children, metadata,
directory, id object, copyup, zero_range and the object map."""
from __future__ import annotations

import errno
import struct

import pytest

from osd.cls import pack, unpack
from osd.cls import rbd as cls_rbd
from tests.unit.osd_fakes import SingleOSD

RETURNVEC = 1024
HDR = "rbd_header.abc"


@pytest.fixture
def osd():
    return SingleOSD()


def call(osd, oid, method, args=None, cls="rbd", **kw):
    reply = osd(oid, ("call", cls, method, pack(args) if args is not None else b""), **kw)
    out = reply.outs[0][1] if reply.outs else None
    return reply.result, (unpack(out) if out else None)


def ok(osd, oid, method, args=None, **kw):
    ret, out = call(osd, oid, method, args, **kw)
    assert ret == 0, (method, ret)
    return out


def make_header(osd, **extra):
    args = {"size": 1 << 24, "order": 22, "features": 61, "object_prefix": "rbd_data.abc"}
    args.update(extra)
    ok(osd, HDR, "create", args)
    return ok(osd, HDR, "get_image_info")


def test_create_encodes_ceph_values(osd):
    info = make_header(osd, stripe_unit=1 << 20, stripe_count=4, data_pool_id=7)
    assert info["size"] == 1 << 24 and info["order"] == 22 and info["features"] == 61
    assert info["object_prefix"] == "rbd_data.abc"
    assert (info["stripe_unit"], info["stripe_count"], info["data_pool_id"]) == (1 << 20, 4, 7)
    assert info["snap_seq"] == 0 and info["snapshots"] == [] and info["parent"] is None
    assert info["create_timestamp"] == pytest.approx(osd.clock.now)
    vals = osd.ok(HDR, ("omap_get_vals", "", "", 100))[0][0]
    assert vals["size"] == struct.pack("<Q", 1 << 24)
    assert vals["order"] == b"\x16"
    assert vals["object_prefix"] == struct.pack("<I", 12) + b"rbd_data.abc"
    assert vals["snap_seq"] == b"\0" * 8
    assert vals["create_timestamp"] == struct.pack("<II", int(osd.clock.now), 0)
    assert vals["data_pool_id"] == struct.pack("<q", 7)


def test_create_refuses_existing_and_bad_input(osd):
    make_header(osd)
    assert call(osd, HDR, "create", {"size": 1, "order": 22, "features": 1,
                                     "object_prefix": "x"})[0] == -errno.EEXIST
    assert call(osd, "rbd_header.x", "create", {"size": 1, "order": 22})[0] == -errno.EINVAL
    assert call(osd, "rbd_header.x", "create", b"\xc1")[0] == -errno.EINVAL
    assert call(osd, "rbd_header.nothere", "get_image_info")[0] == -errno.ENOENT
    assert call(osd, HDR, "no_such_method")[0] == -errno.EOPNOTSUPP


def test_set_size_clips_parent_overlap(osd):
    make_header(osd)
    ok(osd, HDR, "set_parent", {"parent": [1, "", "p", 4], "overlap": 1 << 24})
    assert call(osd, HDR, "set_parent", {"parent": [1, "", "p", 4], "overlap": 1})[0] == -errno.EEXIST
    ok(osd, HDR, "set_size", {"size": 1000})
    info = ok(osd, HDR, "get_image_info")
    assert info["size"] == 1000 and info["parent"] == {"spec": [1, "", "p", 4], "overlap": 1000}
    ok(osd, HDR, "set_size", {"size": 1 << 30})
    assert ok(osd, HDR, "get_image_info")["parent"]["overlap"] == 1000
    ok(osd, HDR, "remove_parent", {})
    assert ok(osd, HDR, "get_image_info")["parent"] is None
    assert call(osd, HDR, "remove_parent", {})[0] == -errno.ENOENT


def test_snapshots_add_rename_limit_remove(osd):
    make_header(osd)
    ok(osd, HDR, "snapshot_add", {"snap_id": 3, "name": "a"})
    assert call(osd, HDR, "snapshot_add", {"snap_id": 4, "name": "a"})[0] == -errno.EEXIST
    assert call(osd, HDR, "snapshot_add", {"snap_id": 2, "name": "b"})[0] == -errno.ESTALE
    ok(osd, HDR, "snap_set_limit", {"limit": 2})
    ok(osd, HDR, "snapshot_add", {"snap_id": 5, "name": "b"})
    assert call(osd, HDR, "snapshot_add", {"snap_id": 6, "name": "c"})[0] == -errno.EDQUOT
    ok(osd, HDR, "snap_set_limit", {"limit": 2**64 - 1})
    info = ok(osd, HDR, "get_image_info")
    assert info["snap_seq"] == 5 and info["snap_limit"] == 2**64 - 1
    assert sorted(s["name"] for s in info["snapshots"]) == ["a", "b"]
    snap = [s for s in info["snapshots"] if s["id"] == 3][0]
    assert snap["image_size"] == 1 << 24 and snap["protection_status"] == 0
    assert call(osd, HDR, "snapshot_rename", {"snap_id": 3, "name": "b"})[0] == -errno.EEXIST
    ok(osd, HDR, "snapshot_rename", {"snap_id": 3, "name": "z"})
    ok(osd, HDR, "set_protection_status", {"snap_id": 3, "status": 2})
    assert call(osd, HDR, "snapshot_remove", {"snap_id": 3})[0] == -errno.EBUSY
    ok(osd, HDR, "set_protection_status", {"snap_id": 3, "status": 0})
    ok(osd, HDR, "snapshot_remove", {"snap_id": 3})
    assert call(osd, HDR, "snapshot_remove", {"snap_id": 3})[0] == -errno.ENOENT
    assert [s["name"] for s in ok(osd, HDR, "get_image_info")["snapshots"]] == ["b"]


def test_clone_v2_children_and_trash(osd):
    make_header(osd)
    ok(osd, HDR, "snapshot_add", {"snap_id": 3, "name": "s"})
    child = [1, "", "child1"]
    ok(osd, HDR, "child_attach", {"snap_id": 3, "child": child})
    assert call(osd, HDR, "child_attach", {"snap_id": 3, "child": child})[0] == -errno.EEXIST
    info = ok(osd, HDR, "get_image_info")
    assert info["op_features"] & 1 and info["features"] & (1 << 8)
    assert info["snapshots"][0]["child_count"] == 1
    assert ok(osd, HDR, "children_list", {"snap_id": 3}) == [child]
    assert call(osd, HDR, "snapshot_remove", {"snap_id": 3})[0] == -errno.EBUSY
    ok(osd, HDR, "snapshot_trash_add", {"snap_id": 3})
    snap = ok(osd, HDR, "get_image_info")["snapshots"][0]
    assert snap["namespace"]["type"] == 2 and snap["namespace"]["original_name"] == "s"
    assert ok(osd, HDR, "get_image_info")["op_features"] & 8
    out = ok(osd, HDR, "child_detach", {"snap_id": 3, "child": child}, flags=RETURNVEC)
    assert out == {"child_count": 0, "namespace_type": 2}
    assert call(osd, HDR, "child_detach", {"snap_id": 3, "child": child})[0] == -errno.ENOENT
    ok(osd, HDR, "snapshot_remove", {"snap_id": 3})
    info = ok(osd, HDR, "get_image_info")
    assert info["op_features"] == 0 and not info["features"] & (1 << 8)


def test_children_v1(osd):
    parent = [1, "", "pid", 9]
    # a read of a missing object fails before the method runs: clients treat it as empty
    assert call(osd, "rbd_children", "get_children", {"parent": parent})[0] == -errno.ENOENT
    ok(osd, "rbd_children", "add_child", {"parent": parent, "child_id": "c1"})
    ok(osd, "rbd_children", "add_child", {"parent": parent, "child_id": "c2"})
    assert call(osd, "rbd_children", "add_child", {"parent": parent, "child_id": "c2"})[0] == -errno.EEXIST
    assert ok(osd, "rbd_children", "get_children", {"parent": parent}) == ["c1", "c2"]
    ok(osd, "rbd_children", "remove_child", {"parent": parent, "child_id": "c1"})
    assert call(osd, "rbd_children", "remove_child", {"parent": parent, "child_id": "c1"})[0] == -errno.ENOENT
    assert ok(osd, "rbd_children", "get_children", {"parent": parent}) == ["c2"]


def test_metadata(osd):
    make_header(osd)
    ok(osd, HDR, "metadata_set", {"data": {"k1": b"v1", "conf_rbd_cache": b"false"}})
    assert ok(osd, HDR, "metadata_get", {"key": "k1"}) == b"v1"
    assert call(osd, HDR, "metadata_get", {"key": "nope"})[0] == -errno.ENOENT
    assert ok(osd, HDR, "metadata_list", {"start": "", "max": 0}) == {
        "conf_rbd_cache": b"false", "k1": b"v1"}
    assert ok(osd, HDR, "metadata_list", {"start": "conf_rbd_cache", "max": 1}) == {"k1": b"v1"}
    assert ok(osd, HDR, "get_image_info")["conf"] == {"rbd_cache": "false"}
    ok(osd, HDR, "metadata_remove", {"key": "k1"})
    assert call(osd, HDR, "metadata_remove", {"key": "k1"})[0] == -errno.ENOENT


def test_directory_and_id(osd):
    assert call(osd, "rbd_directory", "dir_list", {})[0] == -errno.ENOENT
    ok(osd, "rbd_directory", "dir_add_image", {"name": "img", "id": "abc"})
    assert call(osd, "rbd_directory", "dir_add_image", {"name": "img", "id": "x"})[0] == -errno.EEXIST
    assert call(osd, "rbd_directory", "dir_add_image", {"name": "o", "id": "abc"})[0] == -errno.EEXIST
    assert call(osd, "rbd_directory", "dir_add_image", {"name": "", "id": "q"})[0] == -errno.EINVAL
    assert ok(osd, "rbd_directory", "dir_get_id", {"name": "img"}) == "abc"
    assert ok(osd, "rbd_directory", "dir_get_name", {"id": "abc"}) == "img"
    ok(osd, "rbd_directory", "dir_rename_image", {"src": "img", "dest": "img2", "id": "abc"})
    assert ok(osd, "rbd_directory", "dir_list", {}) == {"img2": "abc"}
    assert call(osd, "rbd_directory", "dir_remove_image", {"name": "img", "id": "abc"})[0] == -errno.ENOENT
    ok(osd, "rbd_directory", "dir_remove_image", {"name": "img2", "id": "abc"})
    assert ok(osd, "rbd_directory", "dir_list", {}) == {}
    # the directory keys are Ceph's: name_<name> -> encoded id
    ok(osd, "rbd_directory", "dir_add_image", {"name": "n", "id": "i"})
    vals = osd.ok("rbd_directory", ("omap_get_vals", "", "", 10))[0][0]
    assert vals == {"id_i": b"\1\0\0\0n", "name_n": b"\1\0\0\0i"}
    ok(osd, "rbd_id.n", "set_id", {"id": "i"})
    assert call(osd, "rbd_id.n", "set_id", {"id": "j"})[0] == -errno.EEXIST
    assert ok(osd, "rbd_id.n", "get_id") == "i"
    assert call(osd, "rbd_id.none", "get_id")[0] == -errno.ENOENT


def test_copyup_only_when_absent(osd):
    oid = "rbd_data.abc.0000000000000000"
    ok(osd, oid, "copyup", {"extents": [[0, b"parent"], [100, b"data"]]})
    assert osd.ok(oid, ("read", 0, 0))[0] == b"parent" + bytes(94) + b"data"
    ok(osd, oid, "copyup", {"extents": [[0, b"XXXXXX"]]})
    assert osd.ok(oid, ("read", 0, 6))[0] == b"parent"
    # copyup + write in one op: the write lands on top of the parent data
    oid2 = "rbd_data.abc.0000000000000001"
    reply = osd(oid2, ("call", "rbd", "copyup", pack({"extents": [[0, b"abcdef"]]})),
                ("write", 2, b"ZZ"))
    assert reply.result == 0
    assert osd.ok(oid2, ("read", 0, 0))[0] == b"abZZef"
    # an empty copyup still creates the object (hiding the parent)
    oid3 = "rbd_data.abc.0000000000000002"
    ok(osd, oid3, "copyup", {"extents": []})
    assert osd.ok(oid3, ("stat",))[0][0] == 0


def test_zero_range(osd):
    oid = "rbd_data.abc.0000000000000000"
    ok(osd, oid, "zero_range", {"offset": 0, "length": 10})
    assert osd.err(oid, ("stat",)) == errno.ENOENT          # absent stays absent
    osd.ok(oid, ("write", 0, b"x" * 100))
    ok(osd, oid, "zero_range", {"offset": 10, "length": 10})
    assert osd.ok(oid, ("read", 0, 0))[0] == b"x" * 10 + bytes(10) + b"x" * 80
    ok(osd, oid, "zero_range", {"offset": 50, "length": 1000})
    assert osd.ok(oid, ("stat",))[0][0] == 50                # a tail becomes a truncate


def test_object_map(osd):
    oid = "rbd_object_map.abc"
    assert call(osd, oid, "object_map_load")[0] == -errno.ENOENT
    ok(osd, oid, "object_map_save", {"count": 10, "bits": bytes(3)})
    ok(osd, oid, "object_map_update", {"objects": [1, 5, 99], "state": 1})
    ok(osd, oid, "object_map_update", {"start": 7, "end": 9, "state": 1})
    out = ok(osd, oid, "object_map_load")
    states = [cls_rbd.om_get(out["bits"], i) for i in range(out["count"])]
    assert states == [0, 1, 0, 0, 0, 1, 0, 1, 1, 0]
    ok(osd, oid, "object_map_snap_add")
    out = ok(osd, oid, "object_map_load")
    assert [cls_rbd.om_get(out["bits"], i) for i in range(10)] == [0, 3, 0, 0, 0, 3, 0, 3, 3, 0]
    # a removed snapshot whose entry 5 was dirty makes the next map dirty there
    old = bytearray(3)
    cls_rbd.om_set(old, 5, 1)
    ok(osd, oid, "object_map_snap_remove", {"count": 10, "bits": bytes(old)})
    out = ok(osd, oid, "object_map_load")
    assert cls_rbd.om_get(out["bits"], 5) == 1 and cls_rbd.om_get(out["bits"], 1) == 3
    assert call(osd, oid, "object_map_resize", {"count": 2})[0] == -errno.EBUSY
    ok(osd, oid, "object_map_resize", {"count": 20, "default_state": 0})
    assert ok(osd, oid, "object_map_load")["count"] == 20
    ok(osd, oid, "object_map_resize", {"count": 2, "force": True})
    assert ok(osd, oid, "object_map_load")["count"] == 2


def test_set_flags_and_features(osd):
    make_header(osd)
    ok(osd, HDR, "snapshot_add", {"snap_id": 3, "name": "a"})
    ok(osd, HDR, "set_flags", {"flags": 3, "mask": 3})
    ok(osd, HDR, "set_flags", {"flags": 1, "mask": 1, "snap_id": 3})
    info = ok(osd, HDR, "get_image_info")
    assert info["flags"] == 3 and info["snapshots"][0]["flags"] == 1
    ok(osd, HDR, "set_features", {"features": 0, "mask": 8 | 16})
    assert ok(osd, HDR, "get_image_info")["features"] == 61 & ~24
    ok(osd, HDR, "set_timestamp", {"which": "modify"})
    assert call(osd, HDR, "set_timestamp", {"which": "bogus"})[0] == -errno.EINVAL


def test_failed_method_applies_nothing(osd):
    make_header(osd)
    before = ok(osd, HDR, "get_image_info")
    # snapshot_add with a duplicate name fails after reading; nothing may change
    ok(osd, HDR, "snapshot_add", {"snap_id": 3, "name": "a"})
    assert call(osd, HDR, "snapshot_add", {"snap_id": 9, "name": "a"})[0] == -errno.EEXIST
    after = ok(osd, HDR, "get_image_info")
    assert after["snap_seq"] == 3 and len(after["snapshots"]) == 1
    assert before["size"] == after["size"]
