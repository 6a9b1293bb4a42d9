"""Peering and recovery cores: the pure decisions (log comparison, authoritative log,
intervals), the failure detector and heartbeats, the LMDB store, and short fault stories
under the deterministic driver (cluster/sim.py)."""
from __future__ import annotations

import errno
import random

import pytest

from cluster.failure_detector import FailureDetector
from cluster.sim import Sim, SimConfig
from osd.heartbeat import Heartbeat
from osd.lmdb_store import LmdbStore
from osd.object_store import MemStore
from osd.peering import IntervalTracker, PGInfo, choose_auth, compute_missing, find_divergence
from osd.pg_log import LogEntry
from osd.pg_stats import PGMap
from osd.snaps import SnapSet
from osd.transaction import Transaction
from tests.unit.osd_fakes import dump_store


def _e(epoch, version, oid="o"):
    return LogEntry(epoch, version, (1, version), (1, "", "", oid, 2**64 - 2), "modify")


def _info(lu, tail=0, les=1, **kw):
    return PGInfo(1, 0, last_update=lu, log_tail=tail, les=les, **kw)


# -- pure decisions -------------------------------------------------------------------------------
def test_lagging_peer_misses_only_the_newer_entries():
    auth = [_e(1, v, f"o{v}") for v in range(1, 11)]
    peer = auth[:6]
    missing = compute_missing(auth, 0, (1, 10), _info((1, 6)), peer)
    assert missing == {("", f"o{v}", ""): v for v in range(7, 11)}


def test_divergent_entries_are_overwritten_from_the_authoritative_log():
    common = [_e(1, v, f"o{v}") for v in range(1, 6)]
    auth = common + [_e(3, 6, "a6"), _e(3, 7, "a7")]
    peer = common + [_e(2, 6, "d6"), _e(2, 7, "d7"), _e(2, 8, "d8")]
    assert find_divergence(auth, 0, (3, 7), _info((2, 8)), peer)[0] == 5
    missing = compute_missing(auth, 0, (3, 7), _info((2, 8)), peer)
    assert set(missing) == {("", n, "") for n in ("a6", "a7", "d6", "d7", "d8")}


def test_peer_behind_the_log_tail_needs_backfill():
    auth = [_e(4, v) for v in range(50, 60)]
    assert compute_missing(auth, 49, (4, 59), _info((1, 20)), [_e(1, 20)]) is None
    # mid-backfill copies are never used for log-based recovery
    assert compute_missing(auth, 49, (4, 59), _info((4, 59), last_backfill=("", "m", "")),
                           auth) is None
    # exactly at the tail: lines up
    assert compute_missing(auth, 49, (4, 59), _info((3, 49)), []) is not None


def test_auth_is_newest_les_then_newest_eversion():
    infos = {0: _info((2, 10), les=5), 1: _info((1, 12), les=5), 2: _info((9, 3), les=3),
             3: _info((2, 11), les=5, last_backfill=())}
    assert choose_auth(infos, 5, me=0) == 0     # (2,10) > (1,12); 3 is mid-backfill
    assert choose_auth({0: _info((0, 0), les=0, exists=False)}, 0, me=0) == 0
    assert choose_auth({1: _info((0, 0), les=0, exists=False)}, 4, me=0) is None


class _Map:
    def __init__(self, epoch, acting, size=3, min_size=2):
        from cluster.osdmap import Pool
        self.epoch = epoch
        self.pools = {1: Pool(id=1, name="p", size=size, min_size=min_size, pg_num=1, pgp_num=1)}
        self._acting = acting

    def pg_to_acting(self, pool, seed):
        return list(self._acting), (self._acting[0] if self._acting else -1)


def test_interval_tracker_records_past_intervals_and_maybe_rw():
    tr = IntervalTracker()
    assert tr.advance(_Map(1, [0, 1, 2]), 0) == [(1, 0)]
    assert tr.advance(_Map(2, [0, 1, 2]), 1) == []
    assert tr.advance(_Map(3, [1]), 2) == [(1, 0)]
    assert tr.advance(_Map(4, [1, 2]), 3) == [(1, 0)]
    ivs = tr.intervals((1, 0))
    assert [(iv.first, iv.last, iv.acting, iv.maybe_rw) for iv in ivs] == [
        (1, 2, (0, 1, 2), True), (3, 3, (1,), False)]
    assert tr.since((1, 0)) == 4 and tr.known_from[(1, 0)] == 0
    # a tracker that starts later learns older intervals from a peer
    late = IntervalTracker()
    late.advance(_Map(4, [1, 2]), 0)
    assert late.known_from[(1, 0)] == 4
    assert late.merge((1, 0), ivs) and late.known_from[(1, 0)] == 1


# -- failure detection ----------------------------------------------------------------------------
class _Osd:
    def __init__(self, host, up=True, in_=True):
        self.host, self.up, self.in_, self.exists = host, up, in_, True


class _FMap:
    def __init__(self, n=4, flags=()):
        self.osds = {i: _Osd(f"h{i}") for i in range(n)}
        self.flags = set(flags)


def test_failure_detector_needs_reporters_from_two_hosts_and_the_grace():
    fd = FailureDetector(grace_s=20, min_reporters=2, down_out_interval_s=600)
    m = _FMap()
    fd.report_failure(1, 0, failed_since=100, now=110)
    assert not fd.tick(m, 130).mark_down        # one reporter only
    fd.report_failure(2, 0, failed_since=105, now=112)
    assert not fd.tick(m, 119).mark_down        # grace not over
    assert fd.tick(m, 121).mark_down == [0]
    fd.cancel_failure(1, 0)
    assert not fd.tick(m, 122).mark_down
    assert not fd.tick(_FMap(flags={"nodown"}), 500).mark_down


def test_down_out_interval_noout_and_auto_in_on_boot():
    fd = FailureDetector(down_out_interval_s=600)
    m = _FMap()
    m.osds[3].up = False
    fd.marked_down(3, now=1000)
    assert fd.tick(m, 1599).mark_out == []
    assert fd.tick(_FMap(flags={"noout"}) if False else m, 1600).mark_out == [3]
    noout = _FMap(flags={"noout"})
    noout.osds[3].up = False
    assert fd.tick(noout, 5000).mark_out == []
    fd.marked_out(3, auto=True)
    m.osds[3].in_ = False
    assert fd.boot(3, m, 2000).mark_in and fd.boot(3, m, 2000).mark_up
    m.flags = {"noin", "noup"}
    d = fd.boot(3, m, 2000)
    assert not d.mark_in and not d.mark_up


def test_heartbeat_reports_once_and_cancels_when_answered():
    hb = Heartbeat(0, interval_s=6, grace_s=20)
    hb.set_peers([0, 1, 2], now=0)
    assert hb.due(0) == [1, 2] and hb.due(3) == [] and hb.due(6) == [1, 2]
    hb.pong(1, 15)
    assert hb.failures(21) == [(2, 0)] and hb.failures(30) == []
    hb.pong(2, 31)
    assert hb.recovered() == [2]


def test_pg_map_marks_stale_when_the_primary_is_down():
    from cluster.sim import Sim
    sim = Sim(1, SimConfig(thrash=False, pg_num=4)).start()
    pgmap = PGMap(stale_s=10)
    for osd in sim.osds.values():
        pgmap.report(osd.osd_id, osd.svc.pg_stats(), sim.net.now)
    rows = pgmap.dump(sim.mon.osdmap, sim.net.now)
    assert [r["state"] for r in rows] == ["active+clean"] * 4
    assert pgmap.stat_text(sim.mon.osdmap, sim.net.now).startswith("4 pgs: 4 active+clean")
    assert all(r["state"].startswith("stale+") for r in pgmap.dump(sim.mon.osdmap,
                                                                    sim.net.now + 60))


# -- LMDB store -----------------------------------------------------------------------------------
def test_lmdb_store_survives_reopen_byte_for_byte(tmp_path):
    rng = random.Random(7)
    path = str(tmp_path / "osd.0")
    lm, mem = LmdbStore(path, sync=False), MemStore()
    objs = [(1, "", "", f"o{i}", 2**64 - 2) for i in range(4)] + [(1, "ns", "k", "o1", 5)]
    for step in range(600):
        h = rng.choice(objs)
        t = Transaction(rng.randrange(3))
        r = rng.random()
        if r < 0.3:
            t.write(h, rng.randrange(150000), rng.randbytes(rng.randrange(1, 70000)))
        elif r < 0.4 and mem.exists(h):
            t.truncate(h, rng.randrange(100000))
        elif r < 0.5 and mem.exists(h):
            t.remove(h)
        elif r < 0.65:
            t.omap_setkeys(h, {f"k{rng.randrange(20)}": rng.randbytes(3)})
        elif r < 0.7 and mem.exists(h):
            t.omap_rmrange(h, "k1", "k5")
        elif r < 0.8:
            t.setattrs(h, {"a": rng.randbytes(2)})
        elif r < 0.9 and mem.exists(h):
            t.set_meta(h, step, 1.5, SnapSet(3, ()), False)
        elif mem.exists(h):
            dst = rng.choice(objs)
            if dst != h:
                t.clone(h, dst)
        for store in (lm, mem):
            try:
                store.apply_transaction(t, (1, 0, {"log/%d" % step: ("entry", step)}))
            except Exception:
                pass
        if step % 200 == 199:
            lm.close()
            lm = LmdbStore(path, sync=False)
            assert dump_store(lm) == dump_store(mem)
    assert lm.load_pg_meta()[(1, 0)]["log/599"] == ("entry", 599)
    lm.set_store_meta("birth", 7)
    lm.close()
    again = LmdbStore(path, sync=False)
    assert again.get_store_meta("birth") == 7 and dump_store(again) == dump_store(mem)
    again.close()


# -- stories under the deterministic driver -------------------------------------------------------
def _sim(seed=1, **kw) -> Sim:
    kw.setdefault("thrash", False)
    kw.setdefault("pg_num", 8)
    return Sim(seed, SimConfig(**kw)).start()


def _write(sim, oid, data):
    reply = sim.request(oid, [("write_full", data)])
    assert reply is not None and reply.result == 0, (oid, reply)


def _read(sim, oid, timeout_s=30.0):
    reply = sim.request(oid, [("read", 0, 0)], timeout_s=timeout_s)
    return None if reply is None else (reply.result, reply.outs[0][1] if reply.outs else None)


def test_killed_memstore_replica_is_backfilled_and_identical():
    sim = _sim()
    for i in range(40):
        _write(sim, f"o{i}", bytes([i]) * 3000)
    _seed, acting, primary = sim.pg_of("o1")
    victim = acting[1]
    sim.kill(victim)
    sim.run_for(15)            # heartbeats fail, the monitor marks it down
    assert not sim.mon.osdmap.osds[victim].up
    assert "undersized" in sim.pg_states()[f"1.{_seed:x}"]
    for i in range(40, 60):
        _write(sim, f"o{i}", bytes([i]) * 3000)
    sim.revive(victim)          # comes back empty
    sim.wait_clean(120)
    totals = sim.recovery_totals()
    assert totals["objects_backfilled"] > 0 or totals["objects_recovered"] > 0
    sim.verify_replicas()
    for i in range(60):
        assert _read(sim, f"o{i}") == (0, bytes([i]) * 3000)


def test_restarted_lmdb_osd_catches_up_by_log_recovery(tmp_path):
    sim = _sim(objectstore="lmdb", data_dir=str(tmp_path), log_max_entries=500)
    for i in range(30):
        _write(sim, f"o{i}", b"a" * 100)
    _seed, acting, _p = sim.pg_of("o3")
    victim = acting[-1]
    sim.kill(victim)
    sim.run_for(15)
    for i in range(10):
        _write(sim, f"o{i}", b"b" * 100)
    before = sim.recovery_totals()
    sim.revive(victim)          # same directory: data, logs and les come back
    sim.wait_clean(120)
    after = sim.recovery_totals()
    assert after["objects_backfilled"] == before["objects_backfilled"], "no backfill needed"
    assert after["objects_recovered"] > before["objects_recovered"]
    sim.verify_replicas()
    sim.close()


def test_writes_below_min_size_wait_then_resume():
    sim = _sim(num_osds=3, pg_num=4, min_size=3)
    _write(sim, "x", b"1")
    _seed, acting, primary = sim.pg_of("x")
    victim = [o for o in acting if o != primary][0]
    sim.kill(victim)
    sim.run_for(15)
    state = sim.pg_states()[f"1.{_seed:x}"]
    assert state == "undersized+degraded+peered", state
    # blocked, not applied: the OSD holds it osd_op_queue_wait_s, then tells the client to
    # retry on a newer map; this client gives up after 20 s (its op timeout)
    assert sim.request("x", [("write_full", b"2")], timeout_s=20) is None
    assert _read(sim, "x", timeout_s=10) is None     # peered: reads wait too
    sim.revive(victim)
    sim.wait_clean(120)
    assert _read(sim, "x") == (0, b"1")
    _write(sim, "x", b"3")
    assert _read(sim, "x") == (0, b"3")
    sim.verify_replicas()


def test_pg_goes_down_until_a_member_holding_acked_writes_returns(tmp_path):
    # lmdb keeps data across kills; size 3, min_size 2
    sim = _sim(objectstore="lmdb", data_dir=str(tmp_path), num_osds=4, pg_num=1)
    _write(sim, "y", b"first")
    _seed, acting, primary = sim.pg_of("y")
    a, b, c = acting
    sim.kill(c)
    sim.run_for(15)
    _write(sim, "y", b"acked-by-a-and-b")        # acting is now a, b (+ maybe a 4th, empty)
    _s, acting2, _p = sim.pg_of("y")
    holders = [o for o in acting2 if o in (a, b)]
    for o in acting2:
        sim.kill(o)
    sim.revive(c)                                # c never saw the second write
    sim.run_for(30)
    state = sim.pg_states()["1.0"]
    assert state == "down", state
    assert _read(sim, "y", timeout_s=10) is None  # nothing served from c's stale copy
    sim.revive(holders[0])
    sim.wait_clean(200)
    assert _read(sim, "y") == (0, b"acked-by-a-and-b")
    sim.close()


def test_isolated_primary_cannot_acknowledge_and_heals():
    sim = _sim()
    _write(sim, "z", b"0")
    _seed, acting, primary = sim.pg_of("z")
    sim.isolate(primary)
    sim.run_for(15)
    assert not sim.mon.osdmap.osds[primary].up
    _write(sim, "z", b"1")                       # served by the new primary
    sim.unisolate(primary)
    sim.wait_clean(120)
    assert _read(sim, "z") == (0, b"1")
    sim.verify_replicas()


def test_same_seed_same_run():
    cfg = dict(ops=300, fault_time_s=40.0)
    a = Sim(11, SimConfig(**cfg)).run()
    b = Sim(11, SimConfig(**cfg)).run()
    for k in ("ops", "faults", "epochs", "events", "objects_recovered", "objects_backfilled",
              "virtual_s"):
        assert a[k] == b[k], k


def test_ops_on_a_peering_pg_wait_in_order():
    from osd.messages import OSDOpRequest
    sim = _sim(num_osds=3, pg_num=1)
    _seed, acting, primary = sim.pg_of("w")
    svc = sim.osds[primary].svc
    pg = svc.pgs[(1, 0)]
    pg.ps.phase = "getinfo"     # as if a new interval were peering
    reqs = [OSDOpRequest(reqid=(7, i), pool=1, pgid=0, oid="w", epoch=svc.epoch,
                         ops=[("append", bytes([i]))]) for i in range(3)]
    assert all(svc.handle_op(r).waiting for r in reqs)
    pg.ps.phase = "active"
    ready = svc.peering_tick(sim.net.now)
    assert [req.reqid for req, _ in ready.outcomes] == [r.reqid for r in reqs]
    assert [o.reply.version for _, o in ready.outcomes] == sorted(
        o.reply.version for _, o in ready.outcomes)
    # and a request waiting longer than the bound is told to retry
    svc.op_queue_wait_s = 1.0
    pg.ps.phase = "getinfo"
    assert svc.handle_op(OSDOpRequest(reqid=(7, 9), pool=1, pgid=0, oid="w", epoch=svc.epoch,
                                      ops=[("stat",)])).waiting
    late = svc.peering_tick(sim.net.now + 5)
    (_req, outcome), = late.outcomes
    assert outcome.reply.retry_epoch == svc.epoch + 1
    assert errno.ENOENT  # keep the import used


@pytest.mark.parametrize("store", ["memstore", "lmdb"])
def test_degraded_write_pushes_the_whole_object(store, tmp_path):
    kw = {"objectstore": store, "data_dir": str(tmp_path)} if store == "lmdb" else {}
    sim = _sim(log_max_entries=500, **kw)
    _write(sim, "d", b"v1" * 1000)
    _seed, acting, primary = sim.pg_of("d")
    victim = acting[1]
    sim.kill(victim)
    sim.run_for(15)
    _write(sim, "d", b"v2" * 1000)
    for osd in sim.osds.values():
        osd.svc.throttle.max_active = 0      # hold recovery back: the write finds it missing
    sim.revive(victim)
    sim.osds[victim].svc.throttle.max_active = 0
    sim.run_for(5)
    reply = sim.request("d", [("write", 0, b"v3")])
    assert reply is not None and reply.result == 0
    assert sim.recovery_totals()["degraded_writes"] >= 1
    for osd in sim.osds.values():
        osd.svc.throttle.max_active = 3
    sim.wait_clean(120)
    sim.verify_replicas()
    assert _read(sim, "d") == (0, b"v3" + (b"v2" * 1000)[2:])
    sim.close()


def test_heartbeat_peers_are_pg_peers_plus_ring_neighbours():
    from osd.heartbeat import choose_peers

    up = range(100)
    peers = choose_peers(50, up, pg_peers={3, 77, 50, 200}, min_peers=10)
    assert {3, 77, 49, 51} <= peers and 50 not in peers and 200 not in peers   # 200 is not up
    assert len(peers) == 10
    assert choose_peers(0, [0, 1, 2], pg_peers=set()) == {1, 2}       # small: everyone
    assert choose_peers(5, [5], pg_peers=set()) == set()
    assert choose_peers(99, up, pg_peers=set(), min_peers=2) == {98, 0}   # wraps around
