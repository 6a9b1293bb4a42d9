"""The comparison table of `python -m bench compare` (pure: no cluster)."""
from __future__ import annotations

import sys

from bench import compare


def _row(key):
    return next(r for r in compare.ROWS if r.key == key)


def test_ratio_is_times_better_for_rates_and_for_times():
    # a rate: ours / theirs over the reference range
    assert compare.ratios(_row("rbd_4k_randwrite"), 2900, (1900, 2900)) == (1.0, 2900 / 1900)
    # a time: theirs / ours (half the time = 2x better)
    assert compare.ratios(_row("create_ms"), 2.5, (5.0, 5.0)) == (2.0, 2.0)


def test_targets_follow_the_issue():
    assert compare.target_met(_row("rbd_4k_randwrite"), 3000, (1900, 2900)).startswith("no")
    assert compare.target_met(_row("rbd_4k_randwrite"), 3800, (1900, 2900)).startswith("yes")
    assert compare.target_met(_row("py_4k_read"), 7499, (7500, 7500)).startswith("no")
    assert compare.target_met(_row("open_ms"), 4.9, (3.5, 3.5)).startswith("yes")
    assert compare.target_met(_row("rados_4m_write"), 1, (170, 190)) == ""


def test_table_marks_reference_figures_and_missing_rows():
    ours = {"rbd_4k_randwrite": 2400.0, "errors": {"start_s": "HEALTH_WARN after 60 s"}}
    text = compare.table(ours, None)
    assert "ratios vs reference numbers" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("rbd bench 4K rand write"))
    assert "1,900-2,900" in line and "0.83-1.26x" in line
    start = next(ln for ln in text.splitlines() if ln.startswith("cluster start"))
    assert "HEALTH_WARN after 60 s" in start


def test_table_prefers_a_real_cluster_measured_in_the_same_run():
    ours = {"py_4k_write": 3000.0, "crush_us": 1.0, "errors": {}}
    real = {"py_4k_write": 1500.0, "errors": {}}
    text = compare.table(ours, real)
    assert "real Ceph (same run)" in text and "ratios vs reference numbers" not in text
    line = next(ln for ln in text.splitlines() if ln.startswith("python 4K sequential Image.write"))
    assert "2.00x" in line
    crush = next(ln for ln in text.splitlines() if ln.startswith("bulk CRUSH"))
    assert "(ref)" in crush         # not measured on the real cluster: the reference figure


def test_rayceph_bindings_are_not_taken_for_cephs(monkeypatch):
    # this interpreter imports rayceph's pure-Python `rados` (or none from "/"): not Ceph's
    monkeypatch.setattr(compare, "CEPH_PYTHON", sys.executable)
    assert compare.real_ceph_python() is None
    monkeypatch.setattr(compare, "CEPH_PYTHON", "/nonexistent/python3")
    assert compare.real_ceph_python() is None
