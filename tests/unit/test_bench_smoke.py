"""CI smoke run of the pure experiments (`python -m bench all --quick` minus the Ray and
simulator ones) and checks that what they wrote is physically sane."""
from __future__ import annotations

import csv
import json
import os

import pytest

from bench import __main__ as bench_main
from bench import whatif
from bench.report import have_matplotlib
from cluster.placement import PoolPlacement

FIXTURE_MAP = os.path.join(os.path.dirname(__file__), "..", "fixtures", "crush_appendix_b.txt")


def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_quick_placement_and_whatif_write_sane_csv_and_png(tmp_path, capsys):
    out = str(tmp_path / "results")
    parser = bench_main.build_parser()
    rc = bench_main.run_all(parser, ["--quick", "--out", out], out,
                            names=["placement", "whatif"])
    assert rc == 0
    summary = open(os.path.join(out, "summary.txt"), encoding="utf-8").read()
    assert "== placement ==" in summary and "== whatif ==" in summary
    assert "x binomial ideal" in summary and "x the Δw/W optimum" in summary

    placement = _rows(os.path.join(out, "placement.csv"))
    dist = [r for r in placement if r["section"] == "distribution"]
    assert [int(r["osds"]) for r in dist] == [12, 24, 48]
    for r in dist:
        # CRUSH is pseudo-random: its spread is of the binomial's order, never far off
        assert 0.5 < float(r["ratio"]) < 2.0, r
        assert float(r["mean"]) == pytest.approx(1024 * 3 / int(r["osds"]))
    for r in (r for r in placement if r["section"] == "movement"):
        assert int(r["measured"]) >= int(r["min_shards"]) > 0, r
        assert 0.5 < float(r["ratio"]) < 2.0, r          # straw2 moves about Δw/W
    speed = [r for r in placement if r["section"] == "speed"][0]
    assert float(speed["ratio"]) < 1.0                 # bulk beats one PG at a time

    changes = _rows(os.path.join(out, "whatif.csv"))
    totals = [r for r in changes if r["pool"] == "(all)"]
    assert len(totals) == len(whatif_demo_changes())
    for r in totals:
        assert int(r["pgs_moved"]) <= int(r["pgs"])
        assert int(r["shards_moved"]) >= int(r["min_shards"]) > 0, r
        assert int(r["bytes_moved"]) == pytest.approx(
            int(r["shards_moved"]) * 10 * 2**40 / 1024, rel=1e-6)
    add = next(r for r in totals if r["change"].startswith("add-host"))
    assert float(add["optimum_shards"]) == pytest.approx(3 / 39 * 3072, abs=0.01)
    fail_rack = next(r for r in totals if r["change"] == "fail rack1")
    assert int(fail_rack["shards_moved"]) >= float(fail_rack["optimum_shards"]) * 0.9

    if not have_matplotlib():
        pytest.skip("matplotlib missing: PNG part skipped")
    for name in ("placement", "whatif"):
        with open(os.path.join(out, f"{name}.png"), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def whatif_demo_changes():
    from bench.whatif_bench import DEMO_CHANGES
    return DEMO_CHANGES


def test_failed_osd_moves_exactly_its_shards_and_bad_changes_are_refused():
    state = whatif.ClusterState.from_crush(whatif.build_racked_map(2, 2, 2))
    pool = PoolPlacement(1, 256, 256, 2, 0)
    on_osd3 = int(whatif.shards_per_osd(state, pool)[3])
    row = whatif.what_if(state, [whatif.PoolSpec(pool, "p", 256 << 20)], "fail osd.3")[0]
    # every shard on the dead OSD has to move, and CRUSH (straw2) moves nothing else
    assert row["min_shards"] == on_osd3 == row["shards_moved"]
    assert row["bytes_moved"] == on_osd3 * (1 << 20)
    for bad in ("fail nosuchrack", "reweight osd.1 2", "explode osd.1", "out 3", ""):
        with pytest.raises(ValueError):
            whatif.apply_change(state, bad)


def test_whatif_reads_ceph_json_and_crushtool_text(tmp_path, capsys):
    from cluster.config import CephConfig
    from cluster.monitor import MonitorCore
    from cluster.osdmap import build_initial_osdmap

    conf = CephConfig()
    conf.parse_text("[global]\nosd pool default pg num = 64\n[rayceph]\npools = rbd\n")
    mon = MonitorCore(build_initial_osdmap(conf, "fsid"))
    _, ls_detail, _ = mon.handle_command({"prefix": "osd pool ls", "detail": "detail",
                                          "format": "json"})
    df = {"pools": [{"name": "rbd", "id": 1, "stats": {"stored": 64 << 30}}]}
    (tmp_path / "pools.json").write_bytes(ls_detail)
    (tmp_path / "df.json").write_text(json.dumps(df))
    pools = whatif.load_pools(ls_detail.decode(), json.dumps(df))
    assert [(p.name, p.placement.pg_num, p.stored_bytes) for p in pools] == \
        [("rbd", 64, 64 << 30)]
    rc = bench_main.main(["whatif", "--out", str(tmp_path), "--crush-map", FIXTURE_MAP,
                          "--pools", str(tmp_path / "pools.json"), "--df",
                          str(tmp_path / "df.json"), "--change", "add-host default 2 1.0",
                          "--change", "fail host2"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "add-host default 2 1.0: shards moved:" in out and "fail host2" in out
    rows = [r for r in _rows(tmp_path / "whatif.csv") if r["pool"] == "rbd"]
    # host2 holds 4.75 of 12.25: its shards all move, so about that share of the 192
    fail = next(r for r in rows if r["change"] == "fail host2")
    assert int(fail["shards_moved"]) == int(fail["min_shards"]) > 0


def test_recovery_on_the_simulator_copies_what_the_dead_osd_held():
    from bench.recovery_bench import run_on_sim

    r = run_on_sim(seed=3, osds=5, pg_num=16, objects=40, obj_size=8192)
    assert r["error"] is None
    # the monitor needs the grace to mark it down and the down-out interval to mark it out
    assert r["grace_s"] <= r["t_down"] < r["grace_s"] + 2
    assert r["t_out"] >= r["t_down"] + r["down_out_s"] - 1
    assert r["t_out"] <= r["t_clean"]
    assert 0 < r["held_bytes"] <= r["moved_bytes"]
    last_t = max(s["t_s"] for s in r["timeline"])
    assert {s["state"] for s in r["timeline"] if s["t_s"] == last_t} == {"active+clean"}
    assert any("degraded" in s["state"] for s in r["timeline"])
