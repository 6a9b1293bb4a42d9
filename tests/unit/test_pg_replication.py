"""Primary/replica replication driven in process: replicas end byte-identical, a resent
request is applied once (also by a new primary), the log stays bounded, writes block below
min_size, and a deleted pool's PGs go away."""
from __future__ import annotations

import errno
import pickle
import random

from osd.cls import pack
from osd.messages import RepOp
from osd.service import OSDService
from osd.transaction import Transaction
from tests.unit.osd_fakes import (
    Client, FakeClock, FakeOSDMap, FakePool, MiniCluster, dump_store, head,
)


def _random_ops(rng: random.Random, oid_size: int) -> list:
    roll = rng.random()
    if roll < 0.30:
        return [("write", rng.randrange(0, 4096), rng.randbytes(rng.randint(1, 512)))]
    if roll < 0.38:
        return [("append", rng.randbytes(rng.randint(1, 64)))]
    if roll < 0.44:
        return [("truncate", rng.randrange(0, max(1, oid_size + 10)))]
    if roll < 0.48:
        return [("zero", rng.randrange(0, 4096), rng.randrange(0, 512))]
    if roll < 0.53:
        return [("remove",)]
    if roll < 0.60:
        return [("setxattr", rng.choice("abc"), rng.randbytes(8))]
    if roll < 0.64:
        return [("rmxattr", rng.choice("abc"))]
    if roll < 0.75:
        return [("omap_set", {f"k{rng.randrange(50):02d}": rng.randbytes(4)
                              for _ in range(rng.randint(1, 5))})]
    if roll < 0.80:     # may name a key twice
        return [("omap_rm_keys", [f"k{rng.randrange(50):02d}" for _ in range(3)])]
    if roll < 0.83:
        a = rng.randrange(50)
        return [("omap_rm_range", f"k{a:02d}", f"k{a + 10:02d}")]
    if roll < 0.85:
        return [("omap_clear",)]
    if roll < 0.88:
        return [("omap_set_header", rng.randbytes(6))]
    if roll < 0.92:
        return [("call", "lock", "lock", pack({"name": "l", "type": 1, "cookie": "c",
                                                "flags": 1, "duration": 30}))]
    if roll < 0.95:
        return [("call", "version", "inc", b"")]
    # a compound op, sometimes failing in its last op (nothing may reach the replicas)
    return [("write", 0, b"compound"), ("setxattr", "z", b"1"),
            ("rmxattr", rng.choice(["z", "never-set"]))]


def test_replicas_identical_after_random_workload(seed, caplog):
    rng = random.Random(seed)
    cluster = MiniCluster(FakeOSDMap(pools=[FakePool(1, size=3)]))
    client = Client()
    oids = [f"rbd_data.{i:04x}" for i in range(12)]
    sizes = dict.fromkeys(oids, 0)
    results = {"ok": 0, "err": 0}
    for step in range(600):
        oid = rng.choice(oids)
        reply = cluster.op(client.req(oid, _random_ops(rng, sizes[oid])))
        results["ok" if reply.result == 0 else "err"] += 1
        stat = cluster.op(client.req(oid, [("stat",)]))
        sizes[oid] = stat.outs[0][1][0] if stat.result == 0 else 0
    assert results["ok"] > 300 and results["err"] > 10, f"seed={seed} {results}"
    assert not [r for r in caplog.records if r.levelname == "ERROR"], f"seed={seed}: internal errors"
    dumps = [dump_store(osd.store) for osd in cluster.osds.values()]
    assert dumps[0] == dumps[1] == dumps[2], f"seed={seed}: replicas differ"
    for pgkey, pg in cluster.osds[0].pgs.items():
        for other in (1, 2):
            assert cluster.osds[other].pgs[pgkey].last_update == pg.last_update, f"seed={seed}"


def test_repops_are_the_primarys_transaction_and_pickle():
    cluster = MiniCluster(FakeOSDMap(pools=[FakePool(1, size=3)]))
    client = Client()
    req = client.req("o", [("write", 0, b"x" * 4096), ("call", "hello", "say_hello", b"")])
    primary = cluster.osds[cluster.primary(1, req.pgid)]
    outcome = primary.handle_op(req)
    assert sorted(outcome.repops) == sorted(set(cluster.osdmap.osds) - {primary.osd_id})
    for repop in outcome.repops.values():
        again = pickle.loads(pickle.dumps(repop))
        assert isinstance(again, RepOp) and again.log_entry.reqid == req.reqid
        assert len(pickle.dumps(repop)) < 4096 + 600
    # reads produce no repops
    assert primary.handle_op(client.req("o", [("read", 0, 0)])).repops == {}


def test_resent_request_is_applied_once():
    cluster = MiniCluster(FakeOSDMap(pools=[FakePool(1, size=3)]))
    client = Client()
    req = client.req("o", [("append", b"once"), ("call", "version", "inc", b"")])
    first = cluster.op(req)
    again = cluster.op(req)
    assert again.result == first.result == 0 and again.version == first.version
    assert cluster.op(client.req("o", [("read", 0, 0)])).outs[0][1] == b"once"
    # a failed write is not logged: its resend runs again (it applied nothing either time)
    bad = client.req("o", [("create", True)])
    assert cluster.op(bad).result == cluster.op(bad).result == -errno.EEXIST


def test_new_primary_after_acting_change_dedupes():
    fmap = FakeOSDMap(pools=[FakePool(1, size=3)], acting={(1, 0): [0, 1, 2]})
    cluster = MiniCluster(fmap)
    client = Client()
    req = client.req("o", [("append", b"abc")], pgid=0)
    first = cluster.op(req)
    assert first.result == 0
    # osd.0 goes away: osd.1 leads the PG with the log it received as a replica
    cluster.push_map(fmap.next(acting={(1, 0): [1, 2]}))
    stale = cluster.osds[0].handle_op(req).reply
    assert stale.retry_epoch == 2
    resent = client.req("o", [], pgid=0)
    resent.reqid, resent.ops, resent.epoch = req.reqid, req.ops, 2
    reply = cluster.op(resent)
    assert (reply.result, reply.version) == (0, first.version)
    read = cluster.op(client.req("o", [("read", 0, 0)], pgid=0, epoch=2))
    assert read.outs[0][1] == b"abc"
    # and new writes continue the PG's version sequence on the new primary
    assert cluster.op(client.req("o", [("append", b"d")], pgid=0, epoch=2)).version == first.version + 1


def test_resent_repop_is_idempotent():
    cluster = MiniCluster(FakeOSDMap(pools=[FakePool(1, size=2)], osds=[0, 1]))
    client = Client()
    req = client.req("o", [("append", b"x")])
    primary = cluster.osds[cluster.primary(1, req.pgid)]
    outcome = primary.handle_op(req)
    (replica_id, repop), = outcome.repops.items()
    replica = cluster.osds[replica_id]
    assert replica.handle_repop(repop) == 0
    assert replica.handle_repop(repop) == 0
    assert dump_store(replica.store) == dump_store(primary.store)


def test_diverged_replica_rejects_without_applying():
    cluster = MiniCluster(FakeOSDMap(pools=[FakePool(1, size=2)], osds=[0, 1]))
    client = Client()
    cluster.op(client.req("o", [("write", 0, b"abc")]))
    req = client.req("o", [("truncate", 1), ("setxattr", "a", b"1")])
    primary = cluster.osds[cluster.primary(1, req.pgid)]
    outcome = primary.handle_op(req)
    (replica_id, repop), = outcome.repops.items()
    replica = cluster.osds[replica_id]
    lost = Transaction(req.pgid)        # lose the object behind the OSD's back
    lost.remove(head("o"))
    replica.store.apply_transaction(lost)
    before = dump_store(replica.store)
    assert replica.handle_repop(repop) == -errno.ENOENT
    assert dump_store(replica.store) == before


def test_log_is_bounded_and_dedup_follows_it():
    fmap = FakeOSDMap(pools=[FakePool(1, size=1)], osds=[0])
    svc = OSDService(0, clock=FakeClock(), log_max_entries=50)
    svc.set_osdmap(fmap)
    client = Client()
    reqs = [client.req("o", [("append", b"x")], pgid=0) for _ in range(120)]
    for req in reqs:
        assert svc.handle_op(req).reply.result == 0
    pg = svc.pgs[(1, 0)]
    assert len(pg.log) == 50 and len(pg.log.dups) == 50
    assert pg.last_update == 120 and pg.log.tail == 70
    assert svc.handle_op(reqs[-1]).reply.version == 120       # still deduped
    assert reqs[0].reqid not in pg.log.dups                   # trimmed away


def test_writes_block_below_min_size_reads_do_not():
    fmap = FakeOSDMap(pools=[FakePool(1, size=3, min_size=2)], acting={(1, 0): [0, 1, 2]})
    cluster = MiniCluster(fmap)
    client = Client()
    assert cluster.op(client.req("o", [("write", 0, b"x")], pgid=0)).result == 0
    cluster.push_map(fmap.next(acting={(1, 0): [0]}))
    blocked = cluster.op(client.req("o", [("write", 0, b"y")], pgid=0, epoch=2))
    assert (blocked.result, blocked.retry_epoch) == (0, 3)
    read = cluster.op(client.req("o", [("read", 0, 0)], pgid=0, epoch=2))
    assert read.outs[0][1] == b"x"


def test_deleted_pool_drops_its_pgs_and_objects():
    fmap = FakeOSDMap(pools=[FakePool(1, size=3), FakePool(2, name="other", size=3)])
    cluster = MiniCluster(fmap)
    c1, c2 = Client(pool=1), Client(pool=2)
    for i in range(10):
        cluster.op(c1.req(f"a{i}", [("write", 0, b"x" * 10)]))
        cluster.op(c2.req(f"b{i}", [("write", 0, b"y" * 10)]))
    new = fmap.next()
    del new.pools[2]
    cluster.push_map(new)
    for osd in cluster.osds.values():
        assert osd.store.pool_stats(2)["num_objects"] == 0
        assert osd.store.pool_stats(1)["num_objects"] == 10
        assert all(pool == 1 for pool, _ in osd.pgs)
    assert cluster.osds[0].handle_op(c2.req("b0", [("stat",)], epoch=2)).reply.result == -errno.ENOENT
