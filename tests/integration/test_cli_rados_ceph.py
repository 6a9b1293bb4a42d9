"""`rados` object subcommands (rmpool, truncate, append, xattrs, omap keys and header, lock)
and `ceph -w`, run in-process: Ceph 16's output layouts, error lines and exit codes."""
from __future__ import annotations

import json
import threading
import time

import pytest

import rados
from cluster import ceph_cli
from rados import cli as rados_cli


@pytest.fixture(scope="module")
def conf(tmp_path_factory):
    path = tmp_path_factory.mktemp("cliradosceph") / "cli.conf"
    path.write_text("[global]\nmon allow pool delete = true\n"
                    "[rayceph]\nray address = inprocess\ncluster name = cli-rados-ceph\n")
    return str(path)


@pytest.fixture(scope="module")
def ioctx(conf):
    with rados.Rados(conffile=conf) as cluster, cluster.open_ioctx("rbd") as io:
        yield io


def _rados(conf, *args):
    return rados_cli.main(["-c", conf, *args])


def _obj(conf, *args):
    return rados_cli.main(["-c", conf, "-p", "rbd", *args])


def test_mkpool_rmpool_needs_confirmation(conf, capsys):
    assert _rados(conf, "mkpool", "scratch") == 0
    assert capsys.readouterr().out == "successfully created pool scratch\n"
    warning = ("WARNING:\n  This will PERMANENTLY DESTROY an entire pool of objects with no "
               "way back.\n  To confirm, pass the pool to remove twice, followed by\n"
               "  --yes-i-really-really-mean-it\n")
    assert _rados(conf, "rmpool", "scratch") == 1
    assert capsys.readouterr().err == warning
    assert _rados(conf, "rmpool", "scratch", "other", "--yes-i-really-really-mean-it") == 1
    assert _rados(conf, "lspools") == 0
    assert "scratch" in capsys.readouterr().out.split()
    assert _rados(conf, "rmpool", "scratch", "scratch", "--yes-i-really-really-mean-it") == 0
    assert capsys.readouterr().out == "successfully deleted pool scratch\n"
    assert _rados(conf, "lspools") == 0
    assert "scratch" not in capsys.readouterr().out.split()
    assert _rados(conf, "rmpool", "scratch", "scratch", "--yes-i-really-really-mean-it") == 2
    assert capsys.readouterr().err.startswith("pool scratch could not be removed\n")


def test_append_truncate(conf, ioctx, tmp_path, capsys):
    part = tmp_path / "part"
    part.write_bytes(b"hello ")
    assert _obj(conf, "put", "at", str(part)) == 0
    part.write_bytes(b"world")
    assert _obj(conf, "append", "at", str(part)) == 0
    assert ioctx.read("at") == b"hello world"
    assert _obj(conf, "truncate", "at", "5") == 0
    assert ioctx.read("at") == b"hello"
    assert _obj(conf, "stat", "at") == 0
    assert capsys.readouterr().out.endswith(", size 5\n")
    assert _obj(conf, "append", "at") == 22
    assert _obj(conf, "truncate", "at") == 22
    assert _obj(conf, "rm", "nothere") == 2
    assert capsys.readouterr().err.splitlines()[-1] == \
        "error removing rbd>nothere: (2) No such file or directory"


def test_xattrs_and_omap_keys(conf, ioctx, capsys):
    ioctx.write_full("kv", b"x")
    assert _obj(conf, "setxattr", "kv", "color", "blue") == 0
    assert ioctx.get_xattr("kv", "color") == b"blue"
    assert _obj(conf, "rmxattr", "kv", "color") == 0
    assert _obj(conf, "listxattr", "kv") == 0
    assert capsys.readouterr().out == ""
    assert _obj(conf, "rmxattr", "kv", "color") == 61
    assert capsys.readouterr().err == "error removing xattr rbd/kv/color: (61) No data available\n"
    assert _obj(conf, "getxattr", "kv", "color") == 61
    assert capsys.readouterr().err == "error getting xattr rbd/kv/color: (61) No data available\n"
    assert _obj(conf, "setomapval", "kv", "a", "1") == 0
    assert _obj(conf, "setomapval", "kv", "b", "2") == 0
    assert _obj(conf, "rmomapkey", "kv", "a") == 0
    assert _obj(conf, "listomapkeys", "kv") == 0
    assert capsys.readouterr().out == "b\n"
    assert _obj(conf, "rmomapkey", "nothere", "a") == 2
    assert capsys.readouterr().err == \
        "error removing omap key rbd/nothere/a: (2) No such file or directory\n"


def test_omap_header(conf, ioctx, tmp_path, capsys):
    ioctx.write_full("hdr", b"")
    assert _obj(conf, "getomapheader", "hdr") == 0
    assert capsys.readouterr().out == "header (0 bytes) :\n00000000\n\n"
    assert _obj(conf, "setomapheader", "hdr", "rayceph header!!") == 0
    assert _obj(conf, "getomapheader", "hdr") == 0
    assert capsys.readouterr().out == (
        "header (16 bytes) :\n"
        "00000000  72 61 79 63 65 70 68 20  68 65 61 64 65 72 21 21  |rayceph header!!|\n"
        "00000010\n\n")
    out = tmp_path / "hdr.bin"
    assert _obj(conf, "getomapheader", "hdr", str(out)) == 0
    assert out.read_bytes() == b"rayceph header!!"
    assert _obj(conf, "getomapheader", "nothere") == 2
    assert capsys.readouterr().err == \
        "error getting omap header rbd/nothere: (2) No such file or directory\n"


def test_object_locks(conf, ioctx, capsys):
    ioctx.write_full("lk", b"")
    assert _obj(conf, "lock", "get", "lk", "mylock") == 0
    assert _obj(conf, "lock", "get", "lk", "mylock") == 16           # another client now
    assert capsys.readouterr().err == \
        "error locking rbd/lk/mylock: (16) Device or resource busy\n"
    assert _obj(conf, "lock", "get", "lk", "shared1", "--lock-type", "shared",
                "--lock-tag", "t", "--lock-cookie", "c1") == 0
    assert _obj(conf, "lock", "list", "lk") == 0
    assert json.loads(capsys.readouterr().out) == \
        {"objname": "lk", "locks": [{"name": "mylock"}, {"name": "shared1"}]}
    assert _obj(conf, "lock", "info", "lk", "shared1") == 0
    text = capsys.readouterr().out
    assert text.startswith('{\n    "name": "shared1",\n    "type": "shared",\n    "tag": "t",')
    info = json.loads(text)
    (locker,) = info["lockers"]
    assert locker["cookie"] == "c1" and locker["name"].startswith("client.")
    assert _obj(conf, "lock", "info", "lk", "mylock", "--format", "json") == 0
    holder = json.loads(capsys.readouterr().out)["lockers"][0]["name"]
    assert _obj(conf, "lock", "break", "lk", "mylock", "client.1") == 2
    assert capsys.readouterr().err == \
        "error breaking lock rbd/lk/mylock: (2) No such file or directory\n"
    assert _obj(conf, "lock", "break", "lk", "mylock", holder) == 0
    assert ioctx.list_lockers("lk", "mylock")["lockers"] == []
    assert _obj(conf, "lock", "list", "nothere") == 2
    assert _obj(conf, "lock", "frob", "lk", "x") == 22


def test_rados_usage_errors(conf, capsys):
    assert _rados(conf, "frobnicate") == 22
    assert capsys.readouterr().err == "unrecognized command frobnicate; -h or --help for usage\n"
    assert _rados(conf, "--no-such-option", "lspools") == 22
    assert _obj(conf, "stat") == 22
    assert rados_cli.main(["-c", conf]) == 22
    assert rados_cli.main(["--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: rados ")


def test_ceph_watch_prints_status_then_new_log_lines(conf, capsys):
    assert ceph_cli.main(["-c", conf, "log", "before", "the", "watch"]) == 0
    result = {}

    def watch():
        result["rc"] = ceph_cli.main(["-c", conf, "-w", "--watch-seconds", "1.5"])
    t = threading.Thread(target=watch)
    t.start()
    time.sleep(0.5)
    assert ceph_cli.main(["-c", conf, "log", "during", "the", "watch"]) == 0
    t.join(10)
    assert result["rc"] == 0
    out = capsys.readouterr().out
    assert out.startswith("  cluster:\n    id:")
    lines = [ln for ln in out.splitlines() if "client.admin" in ln]
    assert len(lines) == 2
    for line, text in zip(lines, ("before the watch", "during the watch")):
        stamp, name, prio, message = line.split(" ", 3)
        assert (name, prio, message) == ("client.admin", "[INF]", text)
        assert stamp.endswith("+0000") and "T" in stamp


def test_ceph_unknown_command_and_option(conf, capsys):
    assert ceph_cli.main(["-c", conf, "osd", "frobnicate"]) == 22
    assert capsys.readouterr().err.endswith("Error EINVAL: invalid command\n")
    assert ceph_cli.main(["-c", conf, "--no-such-option", "status"]) == 22
    assert capsys.readouterr().err == ("Invalid command: unused arguments: "
                                       "['--no-such-option']\nError EINVAL: invalid command\n")
    assert ceph_cli.main(["-c", conf]) == 22
    assert capsys.readouterr().err == "usage: ceph [-c CONF] [-f FORMAT] [-w] <command> ...\n"
    assert ceph_cli.main(["-h"]) == 0
    assert capsys.readouterr().out.startswith("usage: ceph ")
