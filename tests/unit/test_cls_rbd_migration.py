"""The live-migration methods of the `rbd` object class (osd/cls/rbd_migration.py) and the
hooks set_size / snapshot_add call, driven through OSDService.handle_op."""
from __future__ import annotations

import errno

import pytest

from tests.unit.osd_fakes import SingleOSD
from tests.unit.test_cls_rbd import HDR, call, make_header, ok

MIGRATING = 1 << 9
SNAP_HEAD = 2**64 - 2


@pytest.fixture
def osd():
    return SingleOSD()


def dst_record(**extra):
    record = {"header_type": "dst", "pool_id": 1, "pool_namespace": "", "image_name": "src",
              "image_id": "1234", "source_spec": "", "state": 1, "state_description": "",
              "flatten": False, "overlap": 1 << 20, "snaps": []}
    record.update(extra)
    return record


def test_set_get_state_remove_and_the_feature_bit(osd):
    make_header(osd)
    assert call(osd, HDR, "migration_get")[0] == -errno.ENOENT
    ok(osd, HDR, "migration_set", {"record": dst_record()})
    assert ok(osd, HDR, "get_image_info")["features"] == 61 | MIGRATING
    assert call(osd, HDR, "migration_set", {"record": dst_record(), "exclusive": True})[0] \
        == -errno.EEXIST
    ok(osd, HDR, "migration_set_state", {"state": 4, "description": "done"})
    record = ok(osd, HDR, "migration_get")
    assert (record["state"], record["state_description"]) == (4, "done")
    assert call(osd, HDR, "migration_set_state", {"state": 9})[0] == -errno.EINVAL
    ok(osd, HDR, "migration_remove")
    info = ok(osd, HDR, "get_image_info")
    assert info["features"] == 61 and info["migration"] is None
    assert call(osd, HDR, "migration_remove")[0] == -errno.ENOENT
    assert call(osd, HDR, "migration_set_state", {"state": 2})[0] == -errno.ENOENT


def test_malformed_records_are_refused(osd):
    make_header(osd)
    for bad in ({"header_type": "sideways"}, dst_record(state=17), dst_record(overlap=-1),
                dst_record(snaps=None), dst_record(image_id=5), "text"):
        assert call(osd, HDR, "migration_set", {"record": bad})[0] == -errno.EINVAL
    assert call(osd, "rbd_header.none", "migration_set", {"record": dst_record()})[0] \
        == -errno.ENOENT


def test_destination_overlap_shrinks_and_snapshots_record_their_source(osd):
    make_header(osd, size=1 << 20)
    ok(osd, HDR, "migration_set", {"record": dst_record()})
    ok(osd, HDR, "snapshot_add", {"snap_id": 3, "name": "a", "migration_source_snap": 7,
                                  "migration_overlap": 4096})
    ok(osd, HDR, "set_size", {"size": 1 << 19})
    ok(osd, HDR, "snapshot_add", {"snap_id": 4, "name": "b"})
    ok(osd, HDR, "set_size", {"size": 1 << 21})             # growing never regrows it
    record = ok(osd, HDR, "migration_get")
    assert record["overlap"] == 1 << 19
    assert record["snaps"] == [[3, 7, 4096], [4, SNAP_HEAD, 1 << 19]]


def test_source_records_are_left_alone_by_the_hooks(osd):
    make_header(osd, size=1 << 20)
    src = {"header_type": "src", "pool_id": 2, "pool_namespace": "", "image_name": "dst",
           "image_id": "99", "source_spec": "", "state": 2, "state_description": ""}
    ok(osd, HDR, "migration_set", {"record": src})
    ok(osd, HDR, "set_size", {"size": 4096})
    ok(osd, HDR, "snapshot_add", {"snap_id": 3, "name": "a"})
    assert ok(osd, HDR, "migration_get") == src
