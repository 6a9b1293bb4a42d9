"""The rbd / rados / ceph command-line tools, run in-process against an embedded cluster."""
from __future__ import annotations

import json

import pytest

from cluster import ceph_cli
from rados import cli as rados_cli
from rbd import cli as rbd_cli


@pytest.fixture(scope="module")
def conf(tmp_path_factory):
    path = tmp_path_factory.mktemp("cliconf") / "cli.conf"
    path.write_text("[global]\nmon allow pool delete = true\n"
                    "[rayceph]\nray address = inprocess\ncluster name = cli-tests\n")
    return str(path)


def _rbd(conf, *args):
    return rbd_cli.main(["-c", conf, *args])


def test_rbd_create_ls_info_resize_snap_clone(conf, capsys):
    assert _rbd(conf, "create", "--size", "8M", "img") == 0
    assert _rbd(conf, "ls") == 0
    assert "img" in capsys.readouterr().out.split()
    assert _rbd(conf, "info", "img") == 0
    out = capsys.readouterr().out
    assert out.startswith("rbd image 'img':\n\tsize 8 MiB in 2 objects\n\torder 22 (4 MiB objects)")
    assert "\tformat: 2\n" in out and "block_name_prefix: rbd_data." in out
    assert _rbd(conf, "info", "--format", "json", "img") == 0
    assert json.loads(capsys.readouterr().out)["size"] == 8 << 20
    assert _rbd(conf, "resize", "--size", "4M", "img") == 22
    assert _rbd(conf, "resize", "--size", "16M", "img") == 0
    assert "Resizing image: 100% complete...done." in capsys.readouterr().err
    assert _rbd(conf, "snap", "create", "img@s1") == 0
    assert _rbd(conf, "snap", "protect", "img@s1") == 0
    assert _rbd(conf, "snap", "rm", "img@s1") == 16
    assert "snapshot 's1' is protected from removal." in capsys.readouterr().err
    assert _rbd(conf, "snap", "ls", "img") == 0
    out = capsys.readouterr().out
    assert out.split()[:5] == ["SNAPID", "NAME", "SIZE", "PROTECTED", "TIMESTAMP"] and "s1" in out
    assert _rbd(conf, "clone", "img@s1", "kid") == 0
    assert _rbd(conf, "children", "img@s1") == 0
    assert capsys.readouterr().out.strip() == "rbd/kid"
    assert _rbd(conf, "info", "kid") == 0
    assert "\tparent: rbd/img@s1\n" in capsys.readouterr().out
    assert _rbd(conf, "ls", "-l") == 0
    assert "img@s1" in capsys.readouterr().out
    assert _rbd(conf, "rm", "kid") == 0
    assert "Removing image: 100% complete...done." in capsys.readouterr().err


def test_rbd_export_import_and_diff_round_trip(conf, tmp_path, capsys):
    import rados
    import rbd
    data = bytes(range(256)) * 4096          # 1 MiB
    assert _rbd(conf, "create", "--size", "4M", "src") == 0
    cluster = rados.Rados(conffile=conf)
    cluster.connect()
    try:
        with cluster.open_ioctx("rbd") as io:
            with rbd.Image(io, "src") as img:
                img.write(data, 1 << 20)
        assert _rbd(conf, "snap", "create", "src@a") == 0
        with cluster.open_ioctx("rbd") as io:
            with rbd.Image(io, "src") as img:
                img.write(b"x" * 4096, 0)
        assert _rbd(conf, "snap", "create", "src@b") == 0
        full = tmp_path / "full.raw"
        assert _rbd(conf, "export", "src", str(full)) == 0
        assert _rbd(conf, "import", str(full), "copy") == 0
        d1, d2 = tmp_path / "d1", tmp_path / "d2"
        assert _rbd(conf, "export-diff", "src@a", str(d1)) == 0
        assert _rbd(conf, "export-diff", "--from-snap", "a", "src@b", str(d2)) == 0
        assert d1.read_bytes().startswith(b"rbd diff v1\n") and d1.read_bytes().endswith(b"e")
        assert _rbd(conf, "create", "--size", "1M", "dst") == 0
        assert _rbd(conf, "import-diff", str(d1), "dst") == 0
        assert _rbd(conf, "import-diff", str(d2), "dst") == 0
        with cluster.open_ioctx("rbd") as io:
            with rbd.Image(io, "src") as a, rbd.Image(io, "copy") as b, \
                    rbd.Image(io, "dst") as c:
                want = a.read(0, a.size())
                assert full.read_bytes() == want
                assert b.read(0, b.size()) == want
                assert c.size() == a.size() and c.read(0, c.size()) == want
                assert [s["name"] for s in c.list_snaps()] == ["a", "b"]
    finally:
        cluster.shutdown()
    assert _rbd(conf, "import-diff", str(d2), "copy") == 22   # start snap 'a' missing
    capsys.readouterr()


def test_rbd_bench_prints_ceph_table(conf, capsys):
    assert _rbd(conf, "create", "--size", "4M", "bimg") == 0
    assert _rbd(conf, "bench", "--io-type", "write", "--io-total", "256K", "bimg") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("bench  type write io_size 4096 io_threads 16 bytes 262144 "
                      "pattern sequential")
    assert out[1] == "  SEC       OPS   OPS/SEC   BYTES/SEC"
    assert out[-1].startswith("elapsed:") and "ops: 64" in out[-1]


def test_rbd_errors(conf, capsys):
    assert _rbd(conf, "info", "nope") == 2
    assert capsys.readouterr().err == \
        "rbd: error opening image nope: (2) No such file or directory\n"
    assert _rbd(conf, "ls", "nopool") == 2
    assert "error opening pool 'nopool'" in capsys.readouterr().err
    assert _rbd(conf, "frobnicate") == 22
    assert _rbd(conf, "ls", "--bogus-option") == 22


def test_rados_put_get_ls_xattr_omap(conf, tmp_path, capsys):
    src = tmp_path / "in"
    src.write_bytes(b"hello world")
    r = lambda *a: rados_cli.main(["-c", conf, "-p", "rbd", *a])   # noqa: E731
    assert r("put", "obj", str(src)) == 0
    assert r("ls") == 0
    assert "obj" in capsys.readouterr().out.split()
    dst = tmp_path / "out"
    assert r("get", "obj", str(dst)) == 0 and dst.read_bytes() == b"hello world"
    assert r("stat", "obj") == 0
    assert ", size 11" in capsys.readouterr().out
    assert r("setxattr", "obj", "k", "v") == 0
    assert r("listxattr", "obj") == 0
    assert capsys.readouterr().out.split() == ["k"]
    assert r("setomapval", "obj", "ok", "val") == 0
    assert r("listomapkeys", "obj") == 0
    assert capsys.readouterr().out.split() == ["ok"]
    assert r("rm", "obj") == 0
    assert r("stat", "obj") == 2
    assert "No such file or directory" in capsys.readouterr().err
    assert rados_cli.main(["-c", conf, "-p", "nopool", "ls"]) == 2


def test_ceph_status_tree_pool_health(conf, capsys):
    c = lambda *a: ceph_cli.main(["-c", conf, *a])   # noqa: E731
    assert c("-s") == 0
    assert "health: HEALTH_OK" in capsys.readouterr().out
    assert c("osd", "tree") == 0
    assert capsys.readouterr().out.startswith("ID  CLASS  WEIGHT")
    assert c("osd", "pool", "create", "clipool", "8") == 0
    assert "pool 'clipool' created" in capsys.readouterr().err
    assert c("osd", "pool", "ls") == 0
    assert "clipool" in capsys.readouterr().out.split()
    assert c("health", "-f", "json") == 0
    assert json.loads(capsys.readouterr().out)["status"] == "HEALTH_OK"
    assert c("no", "such", "command") == 22


def test_rbd_export_format_2_round_trip(conf, tmp_path, capsys):
    import rados
    import rbd
    assert _rbd(conf, "create", "--size", "4M", "v2src") == 0
    assert _rbd(conf, "bench", "--io-total", "64K", "v2src") == 0
    assert _rbd(conf, "snap", "create", "v2src@a") == 0
    assert _rbd(conf, "resize", "--allow-shrink", "--size", "2M", "v2src") == 0
    path = tmp_path / "v2.bin"
    assert _rbd(conf, "export", "--export-format", "2", "v2src", str(path)) == 0
    assert path.read_bytes().startswith(b"rbd image v2\n")
    assert _rbd(conf, "import", "--export-format", "2", str(path), "v2dst") == 0
    with rados.Rados(conffile=conf) as cluster, cluster.open_ioctx("rbd") as io:
        with rbd.Image(io, "v2src") as a, rbd.Image(io, "v2dst") as b:
            assert b.size() == a.size() == 2 << 20
            assert b.read(0, b.size()) == a.read(0, a.size())
            assert [s["name"] for s in b.list_snaps()] == ["a"]
    capsys.readouterr()
