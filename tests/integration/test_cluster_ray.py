"""The RADOS layer on the session's embedded Ray cluster: replication, map changes, handles."""
from __future__ import annotations

import json
import random

import pytest

import rados
from osd.messages import OSDOpRequest

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def ioctx(ray_rados):
    if not ray_rados.pool_exists("cluster-tests"):
        ray_rados.create_pool("cluster-tests")
    ctx = ray_rados.open_ioctx("cluster-tests")
    yield ctx
    ctx.close()


def _client(handle):
    return handle._require_client()  # the ClusterClient under a connected Rados handle


def test_two_handles_see_each_others_writes(ray_conffile, ioctx):
    ioctx.write_full("shared-object", b"from handle one")
    with rados.Rados(conffile=ray_conffile) as other:
        with other.open_ioctx("cluster-tests") as other_ioctx:
            assert other_ioctx.read("shared-object") == b"from handle one"
            other_ioctx.write_full("shared-object", b"from handle two")
    assert ioctx.read("shared-object") == b"from handle two"


def test_replicas_are_byte_identical_after_a_workload(ray_rados, ioctx):
    rng = random.Random(11)
    names = [f"replica-{i}" for i in range(24)]
    for step in range(300):
        name = rng.choice(names)
        choice = rng.random()
        if choice < 0.5:
            ioctx.write(name, rng.randbytes(rng.randint(1, 3000)), rng.randint(0, 8000))
        elif choice < 0.7:
            ioctx.append(name, rng.randbytes(rng.randint(1, 500)))
        elif choice < 0.8:
            ioctx.set_xattr(name, f"attr{rng.randint(0, 3)}", rng.randbytes(8))
        elif choice < 0.9:
            with rados.WriteOpCtx() as op:
                ioctx.set_omap(op, (f"k{rng.randint(0, 9)}",), (rng.randbytes(4),))
                ioctx.operate_write_op(op, name)
        else:
            try:
                ioctx.remove_object(name)
            except rados.ObjectNotFound:
                pass
    client = _client(ray_rados)
    pool = ioctx.get_pool_id()
    digests = {
        osd_id: client.transport.osd_call(osd_id, "call", "object_digests", pool).result(timeout=30)
        for osd_id in client.osdmap.osds
    }
    osdmap = client.osdmap
    compared = 0
    for name in names:
        seed = osdmap.object_locator_to_pg(pool, name, "", "")
        acting, _ = osdmap.pg_to_acting(pool, seed)
        copies = [digests[osd_id].get(("", "", name)) for osd_id in acting]
        assert len(set(copies)) == 1, f"{name}: replicas differ across {acting}: {copies}"
        compared += copies[0] is not None
    assert compared > 0


def test_resent_request_is_applied_once_after_primary_moves(ray_rados, ioctx):
    client = _client(ray_rados)
    pool = ioctx.get_pool_id()
    ioctx.write_full("resend-me", b"")
    osdmap = client.osdmap
    seed = osdmap.object_locator_to_pg(pool, "resend-me", "", "")
    acting, primary = osdmap.pg_to_acting(pool, seed)
    request = OSDOpRequest(reqid=(client.gid, 10**9), pool=pool, pgid=seed, oid="resend-me",
                           epoch=osdmap.epoch, ops=[("append", b"once")])
    first = client.transport.osd_call(primary, "osd_ops", [request]).result(timeout=30)
    assert first[0].result == 0
    # Move the primary elsewhere in the acting set: the old primary's replicas have the log.
    ret, _, outs = ray_rados.mon_command(json.dumps(
        {"prefix": "osd primary-affinity", "id": f"osd.{primary}", "weight": 0.0}), b"")
    assert ret == 0, outs
    try:
        client.wait_for_latest_osdmap()
        new_map = client.osdmap
        _, new_primary = new_map.pg_to_acting(pool, seed)
        assert new_primary != primary and new_primary in acting
        request.epoch = new_map.epoch
        again = client.transport.osd_call(new_primary, "osd_ops", [request]).result(timeout=30)
        assert again[0].result == 0
        assert ioctx.read("resend-me") == b"once"
        # and the old primary now refuses it, telling the client to fetch a newer map
        stale = client.transport.osd_call(primary, "osd_ops", [request]).result(timeout=30)
        assert stale[0].retry_epoch > 0 or stale[0].result == 0
        assert ioctx.read("resend-me") == b"once"
    finally:
        ray_rados.mon_command(json.dumps(
            {"prefix": "osd primary-affinity", "id": f"osd.{primary}", "weight": 1.0}), b"")


def test_status_and_osd_map_commands(ray_rados):
    ret, out, _ = ray_rados.mon_command(json.dumps({"prefix": "status", "format": "json"}), b"")
    assert ret == 0
    status = json.loads(out)
    assert status["osdmap"]["num_up_osds"] == 3
    ret, out, _ = ray_rados.mon_command(
        json.dumps({"prefix": "osd map", "pool": "cluster-tests", "object": "foo",
                    "format": "json"}), b"")
    assert ret == 0
    mapping = json.loads(out)
    assert mapping["objname"] == "foo" and len(mapping["up"]) == 3
    ret, _, outs = ray_rados.mon_command(json.dumps({"prefix": "no such thing"}), b"")
    assert ret == -22
