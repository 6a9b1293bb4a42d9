"""The seeded thrash on Ray (cluster/thrash_ray.py): a short run on a cluster of its own inside
the session's Ray, and the checker itself shown to catch a lost write (in process, no Ray).

Ray's scheduling is not seeded, so a seed fixes the workload and the fault schedule only; a
failure message starts with the seed to rerun (`python -m bench thrash --ray --seed N -v`).
"""
from __future__ import annotations

import pytest

import rados
from cluster.thrash_ray import Model, ThrashConfig, ThrashFailure, read_mismatch, run_seed


@pytest.mark.ray
def test_short_thrash_loses_no_write_and_ends_clean(ray_rados):
    # ray_rados: the session's Ray is up, the run starts its own 4-OSD cluster in it
    cfg = ThrashConfig(ops=120, clients=3, objects_per_client=4, fault_time_s=6.0,
                       hold_s=(1.0, 2.0), gap_s=(0.3, 0.8), clean_timeout_s=60.0,
                       op_timeout_s=60.0)
    try:
        stats = run_seed(7, cfg, verbose=True)     # the fault log shows on failure
    except ThrashFailure as exc:
        if not exc.errors_only:
            raise
        # Every data promise held and the cluster went clean, but client ops or fault calls
        # failed with an error. Known cause (reported, rados/ is not ours): the client's
        # RayTransport._channel does a blocking ray.get(msgr_addr) when the objecter sends
        # the next batch from a Ray future callback, which stalls every Ray reply in the
        # client process for its 30 s timeout after an OSD restart.
        pytest.xfail(f"op or fault-call errors, no data finding: {exc}")
    assert stats["ops"] == cfg.ops
    assert stats["faults"] >= 2, stats      # the thrasher did inject, not only refuse
    print(f"seed=7 {stats}")


def test_the_model_check_catches_lost_and_phantom_writes(inprocess_conffile):
    cluster = rados.Rados(conffile=inprocess_conffile)
    cluster.connect()
    try:
        if not cluster.pool_exists("thrash-check"):
            cluster.create_pool("thrash-check")
        io = cluster.open_ioctx("thrash-check")
        io.write_full("obj", b"acknowledged")
        io.set_xattr("obj", "a", b"1")
        acked = Model(b"acknowledged", {"a": b"1"}, {}, True)
        assert read_mismatch(io, "obj", acked) is None
        assert "differ" in read_mismatch(io, "obj", Model(b"newer", {"a": b"1"}, {}, True))
        assert "xattrs" in read_mismatch(io, "obj", Model(b"acknowledged", {}, {}, True))
        assert "phantom" in read_mismatch(io, "obj", Model())
        io.remove_object("obj")
        assert "lost write" in read_mismatch(io, "obj", acked)
        assert read_mismatch(io, "obj", Model()) is None
        io.close()
    finally:
        cluster.shutdown()
