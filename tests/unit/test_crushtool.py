"""`cluster.crushtool.main` prints what crushtool 16.2.15 prints (spec Appendix B)."""
import io
import subprocess
import sys
from pathlib import Path

import pytest

from cluster.crush_text import parse_crush_text
from cluster.crushtool import EINVAL, main

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "crush_appendix_b.txt"
MAP = str(FIXTURE)


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    rc = main(list(args), out=out, err=err)
    return rc, out.getvalue(), err.getvalue()


def mappings(rule, num_rep, lo, hi, *extra):
    rc, out, err = run("-i", MAP, "--test", "--show-mappings", "--rule", str(rule),
                       "--num-rep", str(num_rep), "--min-x", str(lo), "--max-x", str(hi), *extra)
    assert rc == 0, err
    return out


def test_show_mappings_appendix_b():
    assert mappings(0, 3, 0, 9) == "".join(
        f"CRUSH rule 0 x {x} [{v}]\n" for x, v in enumerate(
            ["8,5,2", "9,3,1", "7,4,9", "5,4,8", "5,8,1", "7,0,3", "6,9,4", "9,5,1", "2,3,5",
             "5,1,3"]))
    assert mappings(1, 5, 0, 2) == ("CRUSH rule 1 x 0 [8,7,4,0,2147483647]\n"
                                    "CRUSH rule 1 x 1 [9,4,1,5,2147483647]\n"
                                    "CRUSH rule 1 x 2 [7,2147483647,1,3,9]\n")
    assert mappings(3, 4, 4, 4) == "CRUSH rule 3 x 4 [5,7,8,9]\n"


def test_weight_and_pool_id_options():
    out = mappings(0, 3, 0, 9, "--weight", "1", "0.5", "--weight", "5", "0",
                   "--weight", "8", "0.25")
    assert out.splitlines()[0] == "CRUSH rule 0 x 0 [7,2,4]"
    assert out.splitlines()[9] == "CRUSH rule 0 x 9 [7,3,0]"
    out = mappings(0, 3, 0, 4, "--pool-id", "1")
    assert out.splitlines() == [f"CRUSH rule 0 x {x} [{v}]" for x, v in
                                enumerate(["8,0,7", "8,5,4", "8,3,5", "4,5,8", "1,7,8"])]
    rc, out, _ = run("-i", MAP, "--test", "--show-mappings", "--rule", "0", "--num-rep", "3",
                     "--x", "7")
    assert (rc, out) == (0, "CRUSH rule 0 x 7 [9,5,1]\n")


def test_statistics_and_defaults():
    rc, out, _ = run("-i", MAP, "--test", "--show-statistics", "--rule", "2", "--num-rep", "12",
                     "--min-x", "0", "--max-x", "9")
    assert rc == 0
    assert out == ("rule 2 (osd_rule), x = 0..9, numrep = 12..12\n"
                   "rule 2 (osd_rule) num_rep 12 result size == 9:\t4/10\n"
                   "rule 2 (osd_rule) num_rep 12 result size == 10:\t6/10\n")
    # no --rule / --num-rep: every rule, min_size..max_size replicas, x 0..1023
    rc, out, _ = run("-i", MAP, "--test", "--show-statistics")
    assert rc == 0 and out.count("numrep = ") == 5
    assert "rule 1 (ec_rule), x = 0..1023, numrep = 3..10\n" in out
    rc, out, err = run("-i", MAP, "--test", "--rule", "9", "--num-rep", "3")
    assert (rc, out) == (0, "") and "no output selected" in err


@pytest.mark.parametrize("args", [
    ("-i", MAP, "--test", "--bogus"),
    ("-i", MAP, "--test", "--rule", "x"),
    ("-i", MAP, "--test", "--num-rep"),
    ("-i", "/nonexistent/map.txt", "--test"),
    ("--test", "--show-mappings"),
    ("-i", MAP, "--show-mappings"),
    ("-i", MAP, "--test", "--min-x", "5", "--max-x", "1"),
])
def test_invalid_arguments_exit_einval(args):
    rc, out, err = run(*args)
    assert rc == EINVAL == 22
    assert err.startswith("crushtool: ") and out == ""


def test_bad_map_reports_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("type 0 osd\ntype 1 host\nhost h { item osd.3 }\n")
    rc, _, err = run("-i", str(bad), "--test")
    assert rc == EINVAL and ":3 error:" in err


def test_help_and_decompile():
    rc, out, _ = run("--help")
    assert rc == 0 and "no binary map format" in out
    rc, out, _ = run("-d", MAP)
    assert rc == 0 and out.startswith("# begin crush map\n")
    assert parse_crush_text(out) == parse_crush_text(FIXTURE.read_text())


def test_runs_as_module():
    proc = subprocess.run([sys.executable, "-m", "cluster.crushtool", "-i", MAP, "--test",
                           "--show-mappings", "--rule", "0", "--num-rep", "3", "--x", "0"],
                          capture_output=True, text=True, cwd=FIXTURE.parents[2], timeout=60)
    assert (proc.returncode, proc.stdout) == (0, "CRUSH rule 0 x 0 [8,5,2]\n")
