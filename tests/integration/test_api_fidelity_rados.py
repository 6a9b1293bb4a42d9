"""Divergences from Ceph's rados binding found by the API fidelity audit (probes written after
the scenarios of Ceph's test_rados.py), each pinned by a test against the in-process cluster.
"""
from __future__ import annotations

import pytest

import rados
from rados import ReadOpCtx, WriteOpCtx


@pytest.fixture(scope="module")
def ioctx(tmp_path_factory):
    conf = tmp_path_factory.mktemp("fidelity-rados") / "ceph.conf"
    conf.write_text("[global]\nosd pool default size = 1\nosd pool default min size = 1\n"
                    "osd pool default pg num = 8\nmon allow pool delete = true\n"
                    "[rayceph]\nray address = inprocess\ncluster name = fidelity-rados\n")
    cluster = rados.Rados(conffile=str(conf))
    cluster.connect(timeout=60)
    cluster.create_pool("fidelity")
    io = cluster.open_ioctx("fidelity")
    yield io
    io.close()
    cluster.delete_pool("fidelity")
    cluster.shutdown()


def test_omap_reads_with_negative_max_return_have_no_limit(ioctx):
    # the binding hands max_return to librados' uint64_t: -1 reads every key, not none
    keys = tuple("k%02d" % i for i in range(20))
    with WriteOpCtx() as write_op:
        ioctx.set_omap(write_op, keys, tuple(b"v" for _ in keys))
        ioctx.operate_write_op(write_op, "omap_obj")
    with ReadOpCtx() as read_op:
        vals, ret = ioctx.get_omap_vals(read_op, "", "", -1)
        assert ret == 0
        ioctx.operate_read_op(read_op, "omap_obj")
        assert [k for k, _ in vals] == list(keys)
    with ReadOpCtx() as read_op:
        names, _ = ioctx.get_omap_keys(read_op, "k09", -1)
        ioctx.operate_read_op(read_op, "omap_obj")
        assert list(names) == [(k, None) for k in keys[10:]]
    with ReadOpCtx() as read_op:
        vals, _ = ioctx.get_omap_vals(read_op, "", "", 3)
        ioctx.operate_read_op(read_op, "omap_obj")
        assert [k for k, _ in vals] == list(keys[:3])
