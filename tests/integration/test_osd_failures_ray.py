"""OSD failures on Ray: the failure cores wired into the OSD actors (osd/actor.py).

Each test runs on its own small cluster (4 OSDs, size 3 / min_size 2, 1 s heartbeats with a
3 s grace) inside the session's embedded Ray, so killing OSDs never touches the shared
`ceph` cluster the other integration tests use. Failures are detected the way Ceph does:
the peers' heartbeats fail, they report to the monitor, the monitor marks the OSD down.
"""
from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest
import ray

import rados
from cluster import bootstrap

ray_test = pytest.mark.ray

POOL = "failures"
CLEAN_TIMEOUT_S = 60.0


def _write_conf(path, name: str, objectstore: str) -> str:
    path.write_text(
        "[global]\n"
        "osd pool default size = 3\n"
        "osd pool default min size = 2\n"
        "osd pool default pg num = 8\n"
        "osd heartbeat interval = 1\n"
        "osd heartbeat grace = 3\n"
        "[rayceph]\n"
        "ray address = local\n"
        f"cluster name = {name}\n"
        "hosts = 4\n"
        "osds per host = 1\n"
        "pools = rbd\n"
        f"objectstore = {objectstore}\n"
    )
    return str(path)


class _Cluster:
    """A small cluster of its own, with helpers to look inside its OSDs."""

    def __init__(self, tmp_path_factory, name: str, objectstore: str):
        self.name = name
        self.conffile = _write_conf(tmp_path_factory.mktemp(name) / "ceph.conf", name,
                                    objectstore)
        self.rados = rados.Rados(conffile=self.conffile)
        self.rados.connect(timeout=120)
        if not self.rados.pool_exists(POOL):
            self.rados.create_pool(POOL)
        self.ioctx = self.rados.open_ioctx(POOL)
        self.pool_id = self.ioctx.get_pool_id()

    def close(self) -> None:
        self.ioctx.close()
        self.rados.shutdown()
        bootstrap.stop_cluster(self.name)

    def mon(self):
        return ray.get_actor(f"{self.name}.mon", namespace=bootstrap.NAMESPACE)

    def osd(self, osd_id: int):
        return ray.get_actor(f"{self.name}.osd.{osd_id}", namespace=bootstrap.NAMESPACE)

    def osdmap(self):
        return ray.get(self.mon().get_osdmap.remote(), timeout=30)

    def osd_call(self, osd_id: int, method: str, *args):
        return ray.get(self.osd(osd_id).call.remote(method, *args), timeout=30)

    def acting(self, oid: str):
        m = self.osdmap()
        seed = m.object_locator_to_pg(self.pool_id, oid)
        acting, primary = m.pg_to_acting(self.pool_id, seed)
        return seed, [o for o in acting if o >= 0], primary

    def wait_for(self, what: str, predicate, timeout_s: float = CLEAN_TIMEOUT_S):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"{self.name}: timed out waiting for {what}")

    def unclean_pgs(self) -> dict:
        """{pgid: state} of the PGs (every pool) not active+clean on their primary."""
        m = self.osdmap()
        bad = {}
        for osd_id, info in m.osds.items():
            if info.up:
                status = json.loads(self.osd_call(osd_id, "command",
                                                  json.dumps({"prefix": "status"}))[1])
                if status["epoch"] != m.epoch:
                    bad[f"osd.{osd_id}"] = f"at epoch {status['epoch']} < {m.epoch}"
        for pool_id, pool in m.pools.items():
            for seed in range(pool.pg_num):
                acting, primary = m.pg_to_acting(pool_id, seed)
                if primary < 0 or len([o for o in acting if o >= 0]) < pool.size:
                    bad[f"{pool_id}.{seed:x}"] = f"acting {acting}"
                    continue
                state = self.osd_call(primary, "pg_state", pool_id, seed)
                if state != "active+clean":
                    bad[f"{pool_id}.{seed:x}"] = state
        return bad

    def wait_clean(self) -> None:
        self.wait_for("every PG active+clean", lambda: not self.unclean_pgs())

    def assert_replicas_identical(self, oids) -> None:
        """Every acting member of each object's PG holds the same copy of it."""
        m = self.osdmap()
        digests = {o: self.osd_call(o, "object_digests", self.pool_id)
                   for o, info in m.osds.items() if info.up}
        for oid in oids:
            _seed, acting, _primary = self.acting(oid)
            copies = {o: digests[o].get(("", "", oid)) for o in acting}
            assert len(set(copies.values())) == 1 and None not in copies.values(), \
                f"{oid}: replicas differ {copies}"

    def wait_down(self, osd_id: int) -> None:
        self.wait_for(f"osd.{osd_id} marked down",
                      lambda: not self.osdmap().osds[osd_id].up, timeout_s=30)

    def wait_up(self, osd_id: int) -> None:
        self.wait_for(f"osd.{osd_id} up", lambda: self.osdmap().osds[osd_id].up, timeout_s=30)


@pytest.fixture(scope="module")
def memstore_cluster(ray_rados, tmp_path_factory):
    # ray_rados: the session's Ray (and its shared cluster) is up before ours starts
    cluster = _Cluster(tmp_path_factory, "osdfail", "memstore")
    cluster.wait_clean()
    yield cluster
    cluster.close()


@pytest.fixture(scope="module")
def lmdb_cluster(ray_rados, tmp_path_factory):
    cluster = _Cluster(tmp_path_factory, "osdfail-lmdb", "lmdb")
    cluster.wait_clean()
    yield cluster
    cluster.close()


def _writers(ioctx, prefix: str, nthreads: int, stop: threading.Event, model: dict,
             errors: list):
    """Threads that overwrite their own objects until `stop`; `model` keeps the value of
    each object's last acknowledged write (one write per object at a time)."""

    def run(n):
        i = 0
        while not stop.is_set():
            oid = f"{prefix}-{n}-{i % 5}"
            data = f"{oid} version {i}".encode() * 50
            try:
                ioctx.write_full(oid, data)
            except Exception as exc:   # an error is not an acknowledgement: keep the old one
                errors.append((oid, repr(exc)))
            else:
                model[oid] = data
            i += 1

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(nthreads)]
    for t in threads:
        t.start()
    return threads


@ray_test
def test_first_booted_osd_lost_for_good_recovers_on_the_others(memstore_cluster):
    """The OSDs of a new cluster share its whole history: losing the first one to boot
    (and marking it out) lets its PGs peer, remap and recover on the three others instead of
    staying 'down' waiting for it (its peers were once counted as born after it)."""
    c = memstore_cluster
    # pool 'rbd' is in the cluster's first map, older than every OSD's first boot
    ioctx = c.rados.open_ioctx("rbd")
    data = {f"first-{i}": f"object {i}".encode() * 100 for i in range(24)}
    for oid, value in data.items():
        ioctx.write_full(oid, value)
    victim = 0
    assert bootstrap.kill_osd(c.name, victim)
    c.wait_down(victim)
    ret, _, outs = c.rados.mon_command(json.dumps({"prefix": "osd out", "ids": [str(victim)]}),
                                       b"")
    assert ret == 0, outs
    c.wait_clean()
    for oid, value in data.items():
        assert ioctx.read(oid, len(value) + 10) == value, oid
    ioctx.close()
    bootstrap.spawn_osd(c.name, victim)      # leave the module's cluster whole again
    ret, _, outs = c.rados.mon_command(json.dumps({"prefix": "osd in", "ids": [str(victim)]}),
                                       b"")
    assert ret == 0, outs
    c.wait_up(victim)
    c.wait_clean()


@ray_test
def test_killed_replica_loses_no_acknowledged_write(memstore_cluster):
    c = memstore_cluster
    model: dict = {}
    errors: list = []
    stop = threading.Event()
    threads = _writers(c.ioctx, "kill", 4, stop, model, errors)
    time.sleep(0.5)
    victim = 3
    assert bootstrap.kill_osd(c.name, victim)
    c.wait_down(victim)
    acked_at_down = len(model)
    time.sleep(1.0)        # writes go on with two copies (min_size 2)
    bootstrap.spawn_osd(c.name, victim)   # memstore: it comes back empty and is backfilled
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors[:3]
    assert acked_at_down > 0 and len(model) >= acked_at_down
    c.wait_clean()
    for oid, data in model.items():
        assert c.ioctx.read(oid, len(data) + 10) == data, oid
    c.assert_replicas_identical(model)
    assert c.osdmap().osds[victim].up


@ray_test
def test_primary_dying_mid_write_applies_the_write_once(memstore_cluster):
    c = memstore_cluster
    oid = "append-once"
    c.ioctx.write_full(oid, b"base;")
    _seed, acting, primary = c.acting(oid)
    lagging = [o for o in acting if o != primary][0]
    # the lagging replica refuses the primary's messages: the primary keeps the append
    # queued, unacknowledged, while the other replica has applied it
    ray.get(c.osd(lagging).fault_set.remote({"blocked": [f"osd.{primary}"]}), timeout=10)
    done = c.ioctx.aio_append(oid, b"once;")
    time.sleep(0.5)
    assert not done.is_complete(), "acknowledged before every replica applied it"
    bootstrap.kill_osd(c.name, primary)
    ray.get(c.osd(lagging).fault_clear.remote(), timeout=10)
    done.wait_for_complete()
    assert done.get_return_value() == 0
    assert c.ioctx.read(oid) == b"base;once;"
    bootstrap.spawn_osd(c.name, primary)
    c.wait_clean()
    assert c.ioctx.read(oid) == b"base;once;"
    c.assert_replicas_identical([oid])


@ray_test
def test_partitioned_replica_gets_the_write_after_the_heal(memstore_cluster):
    c = memstore_cluster
    oid = "partitioned"
    c.ioctx.write_full(oid, b"v1")
    _seed, acting, primary = c.acting(oid)
    replica = [o for o in acting if o != primary][-1]
    ray.get(c.osd(replica).fault_set.remote({"blocked": [f"osd.{primary}"]}), timeout=10)
    done = c.ioctx.aio_write_full(oid, b"v2")
    time.sleep(0.5)
    assert not done.is_complete(), "acknowledged while a replica was cut off"
    ray.get(c.osd(replica).fault_clear.remote(), timeout=10)
    done.wait_for_complete()       # the primary's pipe resends once the link heals
    assert done.get_return_value() == 0
    assert c.ioctx.read(oid) == b"v2"
    c.assert_replicas_identical([oid])


@ray_test
def test_blocked_client_gets_no_reply_until_healed_and_slow_osd_still_answers(
        memstore_cluster):
    c = memstore_cluster
    oid = "client-blocked"
    _seed, _acting, primary = c.acting(oid)
    me = f"client.{c.rados.get_instance_id()}"
    ray.get(c.osd(primary).fault_set.remote({"blocked": [me]}), timeout=10)
    done = c.ioctx.aio_write_full(oid, b"held")
    time.sleep(0.5)
    assert not done.is_complete()
    state = ray.get(c.osd(primary).fault_set.remote({"blocked": [], "delay_s": 0.2}),
                    timeout=10)
    assert state == {"paused": False, "delay_s": 0.2, "blocked": [], "eio": False}
    done.wait_for_complete()
    assert done.get_return_value() == 0
    started = time.monotonic()
    assert c.ioctx.read(oid) == b"held"
    assert time.monotonic() - started >= 0.2        # the injected latency
    ray.get(c.osd(primary).fault_clear.remote(), timeout=10)


@ray_test
def test_restarted_lmdb_osd_catches_up_by_log_recovery(lmdb_cluster):
    c = lmdb_cluster
    oids = [f"lmdb-{i}" for i in range(24)]
    for oid in oids:
        c.ioctx.write_full(oid, b"before " + oid.encode())
    victim = 2
    held = [oid for oid in oids if victim in c.acting(oid)[1]]
    assert held
    bootstrap.kill_osd(c.name, victim)
    c.wait_down(victim)
    for oid in oids:        # written while the victim is down: its copies fall behind
        c.ioctx.write_full(oid, b"after " + oid.encode())
    bootstrap.spawn_osd(c.name, victim)
    c.wait_clean()
    for oid in oids:
        assert c.ioctx.read(oid) == b"after " + oid.encode()
    c.assert_replicas_identical(oids)
    # the victim came back with its store: log recovery pushed what it missed, and no
    # PG had to be backfilled from scratch
    totals: dict = {}
    for osd_id in range(4):
        for key, value in c.osd_call(osd_id, "recovery_stats").items():
            if isinstance(value, (int, float)):
                totals[key] = totals.get(key, 0) + value
    # (pushed by a primary, or pulled by the victim when it leads the PG again)
    moved = totals.get("objects_recovered", 0) + totals.get("objects_pulled", 0)
    assert moved >= len(held), totals
    assert totals.get("objects_backfilled", 0) == 0, totals


@ray_test
def test_paused_osd_is_marked_down_and_boots_again_when_resumed(memstore_cluster):
    c = memstore_cluster
    victim = 1
    state = ray.get(c.osd(victim).fault_set.remote({"paused": True}), timeout=10)
    assert state["paused"] is True
    c.wait_down(victim)        # no heartbeats or beacons: the peers report it
    ray.get(c.osd(victim).fault_clear.remote(), timeout=10)
    c.wait_up(victim)
    c.wait_clean()
    c.ioctx.write_full("after-pause", b"ok")
    assert c.ioctx.read("after-pause") == b"ok"


@ray_test
def test_op_to_a_paused_primary_goes_to_the_new_primary_once_it_is_marked_down(
        memstore_cluster):
    """The client resends what a silent primary holds when the map marks it down (Ceph's
    objecter rescans its sessions on each map): the write completes without the resume."""
    c = memstore_cluster
    oid = "paused-primary"
    c.ioctx.write_full(oid, b"before")
    _seed, _acting, primary = c.acting(oid)
    ray.get(c.osd(primary).fault_set.remote({"paused": True}), timeout=10)
    try:
        done = threading.Event()
        result: list = []

        def write():
            try:
                c.ioctx.write_full(oid, b"while paused")
                result.append("ok")
            except Exception as exc:
                result.append(repr(exc))
            done.set()

        threading.Thread(target=write, daemon=True).start()
        c.wait_down(primary)
        assert done.wait(20), "the write stayed with the paused primary"
        assert result == ["ok"], result
        assert c.ioctx.read(oid) == b"while paused"
    finally:
        ray.get(c.osd(primary).fault_clear.remote(), timeout=10)
    c.wait_up(primary)
    c.wait_clean()
    assert c.ioctx.read(oid) == b"while paused"
    c.assert_replicas_identical([oid])


@ray_test
def test_replica_store_eio_holds_the_ack_until_it_heals(memstore_cluster):
    c = memstore_cluster
    oid = "eio-object"
    c.ioctx.write_full(oid, b"first")
    _seed, acting, primary = c.acting(oid)
    replica = [o for o in acting if o != primary][0]
    ray.get(c.osd(replica).fault_set.remote({"eio": True}), timeout=10)
    done = c.ioctx.aio_write_full(oid, b"second")
    time.sleep(0.5)
    assert not done.is_complete(), "acknowledged although a replica could not store it"
    ray.get(c.osd(replica).fault_clear.remote(), timeout=10)
    done.wait_for_complete()
    assert done.get_return_value() == 0
    assert c.ioctx.read(oid) == b"second"
    c.assert_replicas_identical([oid])


# -- the pure pieces of the actor, without Ray --------------------------------------------------
def test_blocklisted_client_loses_its_watches_on_advance_map():
    from cluster.sim import Sim, SimConfig
    from osd.cls import client_addr

    sim = Sim(1, SimConfig(thrash=False, num_osds=3, pg_num=4))
    sim.wait_clean()
    svc = sim.osds[0].svc
    svc.watch.watch((1, "", "", "watched"), (1, 0), 4242, 7, 30.0, sim.net.now)
    svc.watch.watch((1, "", "", "watched"), (1, 0), 4343, 8, 30.0, sim.net.now)
    newer = svc.osdmap.copy_for_next_epoch()
    newer.blocklist[client_addr(4242)] = time.time() + 3600
    svc.advance_maps([newer])
    assert {gid for gid, _cookie in svc.watch.by_client} == {4343}


class _FlakyPeer:
    """An OrderedPipe owner whose peer fails, then takes part of a delivery, then all."""

    def __init__(self, script):
        self.script = list(script)      # per delivery: "fail" | number of messages taken
        self.delivered: list = []
        self.acks: list = []
        self.gone = False

    async def deliver(self, dest, messages):
        step = self.script.pop(0) if self.script else len(messages)
        if step == "fail":
            raise ConnectionError("unreachable")
        self.delivered.extend(messages[:step])
        return [0] * min(step, len(messages))

    def forget_peer(self, dest):
        pass

    def peer_gone(self, dest):
        return self.gone

    def acked(self, osd, result):
        self.acks.append((osd, result))


def test_ordered_pipe_resends_in_order_until_delivered(monkeypatch):
    from osd import actor_links

    monkeypatch.setattr(actor_links, "RETRY_S", 0.001)

    async def run():
        owner = _FlakyPeer(["fail", 2, "fail"])
        pipe = actor_links.OrderedPipe(owner, 5)
        for n in range(6):
            pipe.push(n, owner)
        while pipe.sending:
            await asyncio.sleep(0.001)
        return owner, pipe

    owner, pipe = asyncio.run(run())
    assert owner.delivered == [0, 1, 2, 3, 4, 5]
    assert owner.acks == [(5, 0)] * 6 and not pipe.queue


def test_ordered_pipe_drops_messages_to_a_peer_marked_down(monkeypatch):
    from osd import actor_links

    monkeypatch.setattr(actor_links, "RETRY_S", 0.001)

    async def run():
        owner = _FlakyPeer(["fail"] * 1000)
        pipe = actor_links.OrderedPipe(owner, 5)
        pipe.push("a", owner)
        await asyncio.sleep(0.01)
        assert pipe.sending and pipe.queue      # retried while the peer is still up
        owner.gone = True
        while pipe.sending:
            await asyncio.sleep(0.001)
        return owner, pipe

    owner, pipe = asyncio.run(run())
    assert not pipe.queue and owner.acks == [] and owner.delivered == []


def test_fault_state_merges_and_clears():
    from osd.actor_faults import FaultState

    faults = FaultState()
    assert not faults.active
    faults.set({"blocked": ["osd.1", "mon"]})
    state = faults.set({"delay_s": 0.5})
    assert state == {"paused": False, "delay_s": 0.5, "blocked": ["mon", "osd.1"],
                     "eio": False}
    assert faults.active and not faults.mon_reachable() and faults.is_blocked("osd.1")
    with pytest.raises(ValueError):
        faults.set({"pause": True})
    assert faults.clear() == {"paused": False, "delay_s": 0.0, "blocked": [], "eio": False}
    assert not faults.active and faults.mon_reachable()
