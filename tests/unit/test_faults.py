"""cluster.faults without Ray: target parsing, the refusal rules, partitions, the merged
per-OSD state, and the Faults API over a fake monitor/OSD plumbing (a MonitorCore and
recording OSD stubs), so the records, refusals and heal are checked in milliseconds."""
import pytest

from cluster import bootstrap, faults
from cluster.faults import (MAY_LOSE_DATA, Faults, check_fault, effects, entity_name,
                            host_osds, osd_id, partition_blocks, partition_dead)

from .test_faults_monitor import make_mon

FIVE_HOSTS = "[rayceph]\nhosts = 5\n[global]\nosd pool default size = 2\n" \
             "osd pool default min size = 1\n"


# -- pure parts ------------------------------------------------------------------------------
def test_osd_and_entity_names():
    m = make_mon().get_osdmap()
    assert osd_id(2, m) == osd_id("2", m) == osd_id("osd.2", m) == 2
    with pytest.raises(KeyError, match="osd.9 does not exist"):
        osd_id("osd.9", m)
    with pytest.raises(ValueError, match="not an OSD"):
        osd_id("disk3", m)
    assert entity_name("client.4100", m) == "client.4100" and entity_name("mon", m) == "mon"
    assert entity_name("1", m) == "osd.1"
    assert host_osds(m, "host1") == [1]
    with pytest.raises(KeyError, match="host 'nohost' does not exist"):
        host_osds(m, "nohost")


def test_min_size_rule_names_the_pool_and_the_pg():
    m = make_mon().get_osdmap()          # size 3, min_size 2, 3 hosts
    assert check_fault(m, {0}, set(), "kill osd.0") is None
    reason = check_fault(m, {0, 1}, set(), "kill osd.1")
    assert reason.startswith("refusing to kill osd.1: pool 'rbd' pg 1.0 would keep 1 live "
                             "of acting [") and reason.endswith("(min_size 2)")


def test_down_osds_in_the_map_count_as_dead():
    mon = make_mon()
    mon.handle_command({"prefix": "osd down", "ids": ["2"]})
    assert "min_size 2" in check_fault(mon.get_osdmap(), {0}, set(), "stop osd.0")


def test_wiped_failure_domains_count_against_size_minus_one():
    m = make_mon(FIVE_HOSTS).get_osdmap()   # size 2, min_size 1
    assert check_fault(m, {0}, set(), "kill osd.0") is None
    # osd.0 came back empty and has not recovered yet: losing its partner loses data
    reason = check_fault(m, {1}, {0}, "kill osd.1")
    assert reason is not None and "dead or wiped failure domains (host=host0, host=host1)" \
        in reason and "of size 2" in reason


def test_partition_blocks_and_the_side_expected_to_go_down():
    groups = [["osd.0", "osd.1", "client.4100"], ["osd.2", "mon"]]
    blocks = partition_blocks(groups, [0, 1, 2, 3])
    assert blocks[0] == blocks[1] == ["mon", "osd.2", "osd.3"]
    assert blocks[2] == ["client.4100", "osd.0", "osd.1", "osd.3"]
    assert 3 not in blocks
    assert partition_dead(groups) == {2}
    assert partition_dead([["osd.2"], ["osd.1"]]) == {2}      # tie: lowest id stays up


def test_effects_merge_every_record_per_osd():
    records = [{"kind": "stop", "osds": [1]}, {"kind": "slow", "osds": [1], "delay_s": 0.2},
               {"kind": "slow", "osds": [1], "delay_s": 0.5},
               {"kind": "drop", "osds": [0, 2], "blocks": {"0": ["osd.2"], "2": ["osd.0"]}},
               {"kind": "partition", "osds": [0], "blocks": {"0": ["osd.1", "osd.2"]}},
               {"kind": "disk_errors", "osds": [2]}]
    e = effects(records, [0, 1, 2])
    assert e[1].spec() == {"paused": True, "delay_s": 0.5, "blocked": [], "eio": False}
    assert e[0].spec()["blocked"] == ["osd.1", "osd.2"]
    assert e[2].spec() == {"paused": False, "delay_s": 0.0, "blocked": ["osd.0"], "eio": True}


# -- the API over fakes ------------------------------------------------------------------------
class _Call:
    def __init__(self, fn):
        self.remote = fn


class FakeMon:
    """The monitor actor's methods Faults uses, answered synchronously by a MonitorCore."""

    def __init__(self, core):
        self.core = core
        self.records = []
        self.get_osdmap = _Call(core.get_osdmap)
        self.command = _Call(lambda cmd: (*core.handle_command(cmd), core.get_osdmap().epoch))
        self.get_fault_records = _Call(lambda: [dict(r) for r in self.records])
        self.set_fault_records = _Call(lambda rs: setattr(self, "records", list(rs)))


class FakeOSD:
    def __init__(self):
        self.state = {}
        self.fault_set = _Call(lambda spec: self.state.update(spec) or dict(self.state))
        self.fault_clear = _Call(lambda: self.state.clear() or {})


class LocalFaults(Faults):
    def __init__(self, core, osds, **kw):
        super().__init__("test", mon=FakeMon(core), **kw)
        self.osds = osds

    def _get(self, ref, timeout=None):
        return ref

    def _osd(self, osd):
        return self.osds.get(osd)


@pytest.fixture
def cluster(monkeypatch):
    core = make_mon()
    osds = {o: FakeOSD() for o in core.get_osdmap().osds}
    log = []

    def kill_osd(name, osd):
        log.append(("kill", osd))
        osds.pop(osd, None)

    def spawn_osd(name, osd):
        log.append(("spawn", osd))
        osds[osd] = FakeOSD()
        return osds[osd]

    monkeypatch.setattr(bootstrap, "kill_osd", kill_osd, raising=False)
    monkeypatch.setattr(bootstrap, "spawn_osd", spawn_osd, raising=False)
    return LocalFaults(core, osds), core, osds, log


def test_kill_refuses_what_would_break_min_size_and_force_labels_it(cluster):
    f, core, osds, log = cluster
    assert f.kill("osd.0") == "kill osd.0"
    assert f.kill(0) == "osd.0 is already dead"
    with pytest.raises(ValueError, match="pool 'rbd'.*min_size 2"):
        f.kill(1)
    assert log == [("kill", 0)]
    assert f.kill(1, force=True) == f"kill osd.1 ({MAY_LOSE_DATA})"
    assert f.active() == ["1: kill osd.0", f"2: kill osd.1 ({MAY_LOSE_DATA})"]
    done = f.heal()
    assert done[0] == "restarted osd.0, osd.1" and sorted(osds) == [0, 1, 2]
    assert f.active() == []


def test_stop_resume_and_slow_send_the_whole_merged_state(cluster):
    f, core, osds, log = cluster
    f.stop(1)
    f.slow(1, 0.25)
    assert osds[1].state == {"paused": True, "delay_s": 0.25, "blocked": [], "eio": False}
    assert f.stop(1) == "osd.1 is already stopped"
    assert f.resume("osd.1") == "osd.1 resumed"
    assert osds[1].state["paused"] is False and osds[1].state["delay_s"] == 0.25
    with pytest.raises(ValueError, match="delay_s"):
        f.slow(1, -1)


def test_partition_blocks_both_sides_and_heal_clears_them(cluster):
    f, core, osds, log = cluster
    text = f.partition([["osd.0", "osd.1"], ["osd.2"]])
    assert text == "partition osd.0,osd.1 / osd.2"
    assert osds[0].state["blocked"] == ["osd.2"] and osds[2].state["blocked"] == ["osd.0",
                                                                                   "osd.1"]
    with pytest.raises(ValueError, match="refusing to partition"):
        f.partition([["osd.0"], ["osd.1", "client.4100"]])
    assert "cleared partition osd.0,osd.1 / osd.2" in f.heal()
    assert all(o.state == {} for o in osds.values())
    with pytest.raises(KeyError, match="osd.7"):
        f.partition([["osd.0"], ["osd.7"]])


def test_host_down_and_up(cluster):
    f, core, osds, log = cluster
    assert f.host_down("host2") == "host host2 down (osd.2)"
    assert f.host_down("host2") == "host host2 is already down"
    with pytest.raises(ValueError, match="refusing"):
        f.host_down("host1")
    assert f.host_up("host2") == "host host2 up (osd.2)" and 2 in osds
    with pytest.raises(KeyError):
        f.host_down("host9")


def test_mark_out_is_counted_and_heal_marks_it_in(cluster):
    f, core, osds, log = cluster
    assert f.mark_out(2) == "mark out osd.2"
    assert not core.get_osdmap().osds[2].in_
    assert f.mark_out(2) == "osd.2 is already out"
    with pytest.raises(ValueError):
        f.disk_errors(0)
    assert "marked in osd.2" in f.heal() and core.get_osdmap().osds[2].in_


def test_restart_of_memstore_is_wiped_until_clean(cluster, monkeypatch):
    f, core, osds, log = cluster
    assert f.restart(1) == "restart osd.1 (empty store until clean)"
    assert log == [("kill", 1), ("spawn", 1)]
    assert f.active() == ["1: restart osd.1 (empty store until clean)"]
    assert f.wait_for_clean(1) == {"active+clean": 32}      # map-only: all up, all clean
    assert f.active() == []


def test_wait_for_clean_times_out_with_the_states(cluster, monkeypatch):
    f, core, osds, log = cluster
    core.handle_command({"prefix": "osd down", "ids": ["2"]})
    monkeypatch.setattr(faults, "CLEAN_POLL_S", 0.01)
    with pytest.raises(TimeoutError, match="active\\+undersized"):
        f.wait_for_clean(0.05)


def test_cli_usage_errors_exit_einval_before_touching_ray(capsys):
    from cluster.cli import main

    assert main(["fault", "kill"]) == 22
    assert main(["fault", "partition", "osd.0", "osd.1"]) == 22
    assert main(["fault", "heal", "--force"]) == 22
    assert main(["fault", "explode", "osd.1"]) == 22
    err = capsys.readouterr().err
    assert "kill takes 1 argument(s)" in err and "separated by '/'" in err


def test_restart_ends_the_kill_of_that_osd_only(cluster):
    f, core, osds, log = cluster
    f.host_down("host2")
    f.restart(2)
    assert log == [("kill", 2), ("spawn", 2)]
    assert [r["kind"] for r in core_records(f)] == ["restarted"]


def test_slow_and_drop_are_never_labelled_data_losing(cluster):
    f, core, osds, log = cluster
    f.kill(0)
    f.kill(1, force=True)
    assert f.slow(2, 0.1) == "slow osd.2 by 0.1s"
    assert f.drop("osd.2", "client.4100") == "drop osd.2 <-> client.4100"
    assert osds[2].state["blocked"] == ["client.4100"]


def core_records(f):
    return f._records()


def test_faults_on_a_dead_osd_are_no_ops_with_a_message(cluster):
    f, core, osds, log = cluster
    f.kill(2)
    assert f.stop(2) == "osd.2 is dead"
    assert f.slow(2, 1) == "osd.2 is dead"
    assert f.disk_errors(2) == "osd.2 is dead"
    assert f.active() == ["1: kill osd.2"]
    f.heal()
    assert f.disk_errors(2) == "disk errors on osd.2"
    assert f.disk_errors(2) == "osd.2 already has disk errors"
    assert osds[2].state["eio"] is True
