"""Thrash runs (Ceph's thrashosds) under the deterministic driver: a seeded RADOS workload
while OSDs are killed, revived, marked down/out/in and isolated within the pool's limits;
every read is checked against the model, and after the heal every PG must be active+clean
with byte-identical replicas equal to the model. `pytest tests/sim --seed N` replays one seed
(the seed starts every failure message); `python -m cluster.sim --seeds 20 --ops 10000` is
the long run."""
from __future__ import annotations

import cluster.sim as sim_module
from cluster.sim import Sim, SimConfig, SimFailure


def _check(stats: dict) -> None:
    assert stats["ops"] > 0 and stats["faults"] > 0
    # a thrash run that never recovered anything tested nothing
    assert stats["objects_recovered"] + stats["objects_backfilled"] + stats["objects_pulled"] > 0


def test_thrash_memstore(seed):
    _check(Sim(seed, SimConfig(ops=1500, fault_time_s=120.0)).run())


def test_thrash_lmdb(seed, tmp_path):
    _check(Sim(seed, SimConfig(ops=1500, fault_time_s=120.0, objectstore="lmdb",
                               data_dir=str(tmp_path))).run())


def test_thrash_wider_cluster(seed):
    _check(Sim(seed, SimConfig(num_osds=9, pg_num=32, ops=1500, fault_time_s=120.0,
                               num_clients=4)).run())


def test_thrash_min_size_one(seed):
    # size 2 / min_size 1: one copy may acknowledge alone, so only one OSD may be impaired
    _check(Sim(seed, SimConfig(pool_size=2, min_size=1, num_osds=5, ops=1000,
                               fault_time_s=100.0)).run())


def test_checker_catches_an_osd_that_acks_before_replicating(monkeypatch):
    """The history checker is only worth something if it fails a broken OSD: this one
    answers the client as soon as it sent its repops, without waiting for the acks."""
    original = sim_module.SimOSD.handle_outcome

    def ack_early(self, clients, req, outcome):
        if outcome.repops and not outcome.waiting:
            for osd, repop in outcome.repops.items():
                self.sim.net.send(self.node, ("osd", osd), self.sim.osd_call, osd, "on_repop",
                                  self.osd_id, repop, None)
            self.sim.thrasher.repop_sent(self.osd_id)
            self.reply(clients, req, outcome.reply)
            return
        return original(self, clients, req, outcome)

    monkeypatch.setattr(sim_module.SimOSD, "handle_outcome", ack_early)
    caught = []
    for seed in range(1, 13):
        try:
            Sim(seed, SimConfig(ops=1500, fault_time_s=120.0)).run()
        except SimFailure as exc:
            caught.append(str(exc).splitlines()[0])
    assert caught, "12 thrash runs did not notice acknowledged writes being lost"
    assert all(c.startswith("seed=") for c in caught)
