"""The monitor's side of failures on MonitorCore (no Ray): map history, boots under new
incarnations, failure reports, beacons, down/out timers and flags, PG statistics in
`pg stat` / `pg dump` / `status` / `health`."""
import errno
import json

import pytest

from cluster.config import CephConfig, bundled_config_path
from cluster.mon_failures import MAP_HISTORY_EPOCHS
from cluster.monitor import MonitorCore
from cluster.osdmap import build_initial_osdmap

from .test_monitor import Clock
from .test_osdmap import FSID

GRACE = "[global]\nosd heartbeat grace = 5\nmon osd down out interval = 30\n"


def make_mon(text: str = "", clock=None, booted: bool = False) -> MonitorCore:
    """A monitor over the bundled default cluster (3 hosts x 1 OSD, pool rbd of 32 PGs),
    reading its options from the config as the Ray monitor actor does; `booted`: every
    OSD has booted once (incarnation 1), as the hosts do when the cluster starts."""
    conf = CephConfig()
    conf.parse_text(open(bundled_config_path("default")).read() + "\n" + text)
    clock = clock or Clock()
    mon = MonitorCore(build_initial_osdmap(conf, FSID, stamp=clock()), clock=clock,
                      conf=conf)
    if booted:
        mon.osd_boot_many([(osd, 1, None) for osd in mon.get_osdmap().osds])
    return mon


def cmd(mon, **kw):
    ret, out, outs = mon.handle_command(kw)
    assert ret == 0, outs
    return out.decode(), outs


def up(mon, osd):
    return mon.get_osdmap().osds[osd].up


def in_(mon, osd):
    return mon.get_osdmap().osds[osd].in_


# -- map history --------------------------------------------------------------------------
def test_get_osdmaps_returns_every_epoch_in_order():
    mon = make_mon()
    first = mon.get_osdmap().epoch
    for flag in ("noout", "noin", "nodown"):
        cmd(mon, prefix="osd set", key=flag)
    maps = mon.get_osdmaps(first, 0)
    assert [m.epoch for m in maps] == [first + 1, first + 2, first + 3]
    assert "nodown" in maps[-1].flags and "nodown" not in maps[-2].flags
    assert [m.epoch for m in mon.get_osdmaps(first, first + 2)] == [first + 1, first + 2]
    assert mon.get_osdmaps(first + 3, 0) == []


def test_get_osdmaps_history_is_bounded_and_starts_at_the_oldest_kept():
    mon = make_mon()
    for i in range(MAP_HISTORY_EPOCHS + 10):
        cmd(mon, prefix="osd set" if i % 2 == 0 else "osd unset", key="noout")
    newest = mon.get_osdmap().epoch
    maps = mon.get_osdmaps(0, 0)
    assert len(maps) == MAP_HISTORY_EPOCHS
    assert maps[0].epoch == newest - MAP_HISTORY_EPOCHS + 1 and maps[-1].epoch == newest


# -- boot ---------------------------------------------------------------------------------
def test_first_boot_of_an_up_osd_publishes_nothing_and_a_retry_is_a_no_op():
    mon = make_mon()
    e = mon.get_osdmap().epoch
    assert mon.osd_boot(1, 111, None) == e
    assert mon.osd_boot(1, 111, None) == e


def test_boot_under_a_new_incarnation_marks_down_then_up_in_the_next_epoch():
    mon = make_mon()
    mon.osd_boot(2, 1, None)
    e = mon.get_osdmap().epoch
    assert mon.osd_boot(2, 2, ("127.0.0.1", 6900)) == e + 2
    down, back = mon.get_osdmaps(e, 0)
    assert not down.osds[2].up and back.osds[2].up
    assert back.osds[2].up_from == e + 2 and back.osds[2].addr == "127.0.0.1:6900/2"
    assert any("osd.2 [127.0.0.1:6900/2] boot" in ev["message"] for ev in mon.events())


def test_boot_of_a_down_osd_marks_it_up_and_noup_refuses():
    mon = make_mon()
    cmd(mon, prefix="osd down", ids=["1"])
    cmd(mon, prefix="osd set", key="noup")
    e = mon.get_osdmap().epoch
    assert mon.osd_boot(1, 5, None) == e and not up(mon, 1)
    cmd(mon, prefix="osd unset", key="noup")
    mon.osd_boot(1, 5, None)
    assert up(mon, 1)


def test_boot_of_an_unknown_osd_is_enoent():
    assert make_mon().osd_boot(42, 1, None) == -errno.ENOENT


def test_boots_of_a_batch_publish_one_epoch_with_every_address():
    mon = make_mon()
    e = mon.get_osdmap().epoch
    epochs = mon.osd_boot_many([(0, 7, ("127.0.0.1", 7000)), (1, 7, ("127.0.0.1", 7001)),
                                (2, 7, ("127.0.0.1", 7002)), (42, 7, None)])
    assert epochs == [e + 1, e + 1, e + 1, -errno.ENOENT]
    m = mon.get_osdmap()
    assert m.epoch == e + 1
    assert [m.osds[o].addr for o in range(3)] == [f"127.0.0.1:{7000 + o}/7" for o in range(3)]
    assert mon.osd_boot_many([(0, 7, ("127.0.0.1", 7000))]) == [e + 1]     # a retry


def test_restarts_in_a_batch_are_marked_down_in_one_epoch_then_up_in_the_next():
    mon = make_mon()
    mon.osd_boot_many([(o, 1, None) for o in range(3)])
    cmd(mon, prefix="osd down", ids=["2"])
    e = mon.get_osdmap().epoch
    # osd.0 and osd.1 restarted unnoticed; osd.2 was down and boots again
    assert mon.osd_boot_many([(0, 2, None), (1, 2, None), (2, 2, None)]) == [e + 2] * 3
    down, back = mon.get_osdmaps(e, 0)
    assert [down.osds[o].up for o in range(3)] == [False, False, False]
    assert [back.osds[o].up for o in range(3)] == [True, True, True]
    assert all(back.osds[o].up_from == e + 2 for o in range(3))


def test_a_batch_of_reports_is_handled_in_order_like_separate_calls():
    clock = Clock()
    mon = make_mon(GRACE, clock=clock, booted=True)
    rows = _rows(mon, "active+undersized+degraded", objects=1, degraded=1)
    mon.osd_reports([("report_failure", (0, 2, clock.t)), ("report_failure", (1, 2, clock.t)),
                     ("cancel_failure", (1, 2)), ("osd_beacon", (0,))] +
                    [("report_pg_stats", (osd, r)) for osd, r in rows.items()])
    clock.t += 6
    assert not mon.tick_failures().mark_down        # the cancel came after the report
    out, _ = cmd(mon, prefix="pg stat")
    assert "32 active+undersized+degraded" in out
    assert any(ev["message"].startswith("Health check failed: Degraded data redundancy: ")
               for ev in mon.events())
    with pytest.raises(ValueError, match="not an OSD report"):
        mon.osd_reports([("osd_boot", (0, 1, None))])


# -- failure reports and beacons -----------------------------------------------------------
def test_two_reporters_from_other_hosts_mark_down_after_the_grace():
    clock = Clock()
    mon = make_mon(GRACE, clock=clock, booted=True)
    mon.report_failure(0, 2, clock.t)
    mon.report_failure(1, 2, clock.t)
    clock.t += 4.0
    assert not mon.tick_failures().mark_down and up(mon, 2)
    clock.t += 1.5
    assert mon.tick_failures().mark_down == [2] and not up(mon, 2)
    msgs = [ev["message"] for ev in mon.events()]
    assert any(m.startswith("osd.2 failed (root=default,host=host2) (2 reporters from "
                            "different host after 5.500 >= grace 5.000)") for m in msgs), msgs


def test_one_reporter_is_not_enough_and_a_cancel_withdraws_the_report():
    clock = Clock()
    mon = make_mon(GRACE, clock=clock, booted=True)
    mon.report_failure(0, 2, clock.t)
    clock.t += 10
    mon.tick_failures()
    assert up(mon, 2)
    mon.report_failure(1, 2, clock.t - 10)
    mon.cancel_failure(0, 2)
    mon.tick_failures()
    assert up(mon, 2)


def test_reports_against_an_osd_that_never_booted_are_ignored_until_it_boots():
    clock = Clock()
    mon = make_mon(GRACE, clock=clock)
    mon.osd_boot_many([(0, 1, None), (1, 1, None)])     # osd.2 is still starting
    mon.report_failure(0, 2, clock.t)
    mon.report_failure(1, 2, clock.t)
    clock.t += 30
    assert not mon.tick_failures().mark_down and up(mon, 2)
    assert not any("reported failed" in ev["message"] for ev in mon.events())
    mon.osd_boot(2, 1, None)
    mon.report_failure(0, 2, clock.t)
    mon.report_failure(1, 2, clock.t)
    clock.t += 6
    assert mon.tick_failures().mark_down == [2]


def test_nodown_keeps_a_reported_osd_up():
    clock = Clock()
    mon = make_mon(GRACE, clock=clock, booted=True)
    cmd(mon, prefix="osd set", key="nodown")
    mon.report_failure(0, 2, clock.t)
    mon.report_failure(1, 2, clock.t)
    clock.t += 60
    mon.tick_failures()
    assert up(mon, 2)


def test_no_beacon_for_the_report_timeout_marks_down():
    clock = Clock()
    mon = make_mon(GRACE, clock=clock)
    mon.failure_detector.report_timeout_s = 100.0   # the option may not be in the table
    mon.options.pop("mon_osd_report_timeout", None)
    mon.tick_failures()
    for _ in range(11):
        clock.t += 10
        mon.osd_beacon(0)
        mon.osd_beacon(1)
        mon.tick_failures()
    assert up(mon, 0) and up(mon, 1) and not up(mon, 2)
    assert any("osd.2 marked down after no beacon" in ev["message"] for ev in mon.events())


def test_down_osd_goes_out_after_the_interval_and_comes_back_in_when_it_boots():
    clock = Clock()
    mon = make_mon(GRACE, clock=clock)
    cmd(mon, prefix="osd down", ids=["1"])
    clock.t += 29
    mon.tick_failures()
    assert in_(mon, 1)
    clock.t += 2
    assert mon.tick_failures().mark_out == [1] and not in_(mon, 1)
    assert any(ev["message"] == "Marking osd.1 out (has been down for 31 seconds)"
               for ev in mon.events())
    mon.osd_boot(1, 7, None)
    assert up(mon, 1) and in_(mon, 1)


def test_noout_and_an_operator_out_are_not_undone_by_boot():
    clock = Clock()
    mon = make_mon(GRACE, clock=clock)
    cmd(mon, prefix="osd set", key="noout")
    cmd(mon, prefix="osd down", ids=["0"])
    clock.t += 100
    mon.tick_failures()
    assert in_(mon, 0)
    cmd(mon, prefix="osd unset", key="noout")
    cmd(mon, prefix="osd out", ids=["0"])
    mon.osd_boot(0, 9, None)
    assert up(mon, 0) and not in_(mon, 0)


def test_config_set_changes_the_grace_of_the_running_detector():
    clock = Clock()
    mon = make_mon(GRACE, clock=clock, booted=True)
    cmd(mon, prefix="config set", who="mon", name="osd_heartbeat_grace", value="50")
    mon.report_failure(0, 2, clock.t)
    mon.report_failure(1, 2, clock.t)
    clock.t += 10
    mon.tick_failures()
    assert up(mon, 2)
    clock.t += 41
    assert mon.tick_failures().mark_down == [2]


# -- PG statistics --------------------------------------------------------------------------
def _rows(mon, state, objects=0, degraded=0):
    """Every PG's row as its current primary would report it."""
    m = mon.get_osdmap()
    by_primary = {}
    for pool_id, pool in m.pools.items():
        for seed in range(pool.pg_num):
            mp = m.pg_to_up_acting(pool_id, seed)
            by_primary.setdefault(mp.acting_primary, []).append({
                "pgid": f"{pool_id}.{seed:x}", "state": state, "up": list(mp.up),
                "acting": list(mp.acting), "up_primary": mp.up_primary,
                "acting_primary": mp.acting_primary, "reported_epoch": m.epoch,
                "last_update": "5'3", "log_size": 3, "num_objects": objects,
                "num_bytes": 4096 * objects, "num_objects_degraded": degraded,
                "num_objects_unfound": 0, "num_rd": 1, "num_wr": 2})
    return by_primary


def test_pg_states_come_from_the_map_until_an_osd_reports():
    mon = make_mon()
    out, _ = cmd(mon, prefix="pg stat")
    assert out.startswith("32 pgs: 32 active+clean; 0 B data")
    for osd, rows in _rows(mon, "active+clean", objects=1).items():
        mon.report_pg_stats(osd, rows)
    out, _ = cmd(mon, prefix="pg stat")
    assert out.startswith("32 pgs: 32 active+clean; 128 KiB data"), out


def test_reported_recovery_states_appear_in_status_and_health():
    mon = make_mon()
    for osd, rows in _rows(mon, "active+recovering+degraded", objects=1, degraded=1).items():
        mon.report_pg_stats(osd, rows)
    out, _ = cmd(mon, prefix="pg stat")
    assert "32 active+recovering+degraded" in out
    assert out.rstrip().endswith("; 32/96 objects degraded (33.333%)")
    h = mon.health(detail=True)
    check = h["checks"]["PG_DEGRADED"]
    assert check["summary"]["message"] == (
        "Degraded data redundancy: 32/96 objects degraded (33.333%), 32 pgs degraded")
    assert check["detail"][0]["message"].startswith("pg 1.0 is active+recovering+degraded, "
                                                    "acting [")
    status, _ = cmd(mon, prefix="status")
    assert "objects: 32 objects, 128 KiB" in status
    assert "pgs:     32/96 objects degraded (33.333%)" in status
    doc = json.loads(cmd(mon, prefix="pg dump", format="json")[0])
    first = doc["pg_map"]["pg_stats"][0]
    assert first["stat_sum"]["num_objects_degraded"] == 1 and first["version"] == "5'3"
    assert doc["pg_map"]["pg_stats_sum"]["stat_sum"]["num_objects"] == 32


def test_a_new_primary_shows_peering_until_it_reports_and_no_primary_is_stale():
    mon = make_mon()
    for osd, rows in _rows(mon, "active+clean").items():
        mon.report_pg_stats(osd, rows)
    cmd(mon, prefix="osd down", ids=["0"])
    doc = json.loads(cmd(mon, prefix="pg dump", dumpcontents=["pgs_brief"], format="json")[0])
    led_by_0 = {pgid for pgid, (osd, _, _) in mon.pgmap.rows.items() if osd == 0}
    assert led_by_0
    assert {e["state"] for e in doc["pg_stats"] if e["pgid"] in led_by_0} == {"peering"}
    assert {e["state"] for e in doc["pg_stats"] if e["pgid"] not in led_by_0} == \
        {"active+clean"}
    h = mon.health(detail=False)
    assert "OSD_DOWN" in h["checks"]
    assert h["checks"]["PG_AVAILABILITY"]["summary"]["message"] == \
        f"Reduced data availability: {len(led_by_0)} pgs inactive, {len(led_by_0)} pgs peering"
    cmd(mon, prefix="osd down", ids=["1", "2"])
    out, _ = cmd(mon, prefix="pg stat")
    assert out.startswith("32 pgs: 32 stale+"), out
    assert mon.health()["checks"]["PG_AVAILABILITY"]["summary"]["message"] == \
        "Reduced data availability: 32 pgs stale"
    ls_out, _ = cmd(mon, prefix="pg ls", states=["stale"])
    assert len(ls_out.splitlines()) == 33


def test_health_transitions_from_reports_reach_the_cluster_log():
    mon = make_mon()
    for osd, rows in _rows(mon, "active+undersized+degraded", objects=2, degraded=2).items():
        mon.report_pg_stats(osd, rows)
    assert any(ev["message"].startswith("Health check failed: Degraded data redundancy: ")
               for ev in mon.events())
    for osd, rows in _rows(mon, "active+clean", objects=2).items():
        mon.report_pg_stats(osd, rows)
    assert any(ev["message"].startswith("Health check cleared: PG_DEGRADED")
               for ev in mon.events())
