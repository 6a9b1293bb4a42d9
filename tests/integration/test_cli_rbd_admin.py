"""`rbd` subcommands beyond create/ls/info/export: copies, flatten, status, watch,
image-meta, feature, lock, object-map, sparsify, pool init, trash, namespace, group.

Run in-process (`ray address = inprocess`): output layouts, error lines and exit codes as
Ceph 16's `rbd` prints them, and the effect checked through the `rbd` Python API.
"""
from __future__ import annotations

import json
import re
import time

import pytest

import rados
import rbd
from rbd import cli as rbd_cli


@pytest.fixture(scope="module")
def conf(tmp_path_factory):
    path = tmp_path_factory.mktemp("clirbdadmin") / "cli.conf"
    path.write_text("[global]\nmon allow pool delete = true\n"
                    "[rayceph]\nray address = inprocess\ncluster name = cli-rbd-admin\n")
    return str(path)


@pytest.fixture(scope="module")
def cluster(conf):
    with rados.Rados(conffile=conf) as c:
        yield c


def _rbd(conf, *args):
    return rbd_cli.main(["-c", conf, *args])


def _write(cluster, name, data, off=0, pool="rbd"):
    with cluster.open_ioctx(pool) as io, rbd.Image(io, name) as img:
        img.write(data, off)


def _read(cluster, name, pool="rbd"):
    with cluster.open_ioctx(pool) as io, rbd.Image(io, name, read_only=True) as img:
        return img.read(0, img.size())


def test_cp_deep_cp_and_flatten_copy_the_data(conf, cluster, capsys):
    assert _rbd(conf, "create", "--size", "8M", "cpsrc") == 0
    _write(cluster, "cpsrc", b"A" * 4096, 4 << 20)
    assert _rbd(conf, "snap", "create", "cpsrc@s1") == 0
    _write(cluster, "cpsrc", b"B" * 4096, 0)
    assert _rbd(conf, "cp", "cpsrc", "cpdst") == 0
    assert capsys.readouterr().err == "Image copy: 100% complete...done.\n"
    assert _rbd(conf, "deep", "cp", "cpsrc", "deepdst") == 0
    assert capsys.readouterr().err == "Image deep copy: 100% complete...done.\n"
    assert _read(cluster, "cpdst") == _read(cluster, "cpsrc") == _read(cluster, "deepdst")
    with cluster.open_ioctx("rbd") as io:
        with rbd.Image(io, "cpdst") as a, rbd.Image(io, "deepdst") as b:
            assert [s["name"] for s in a.list_snaps()] == []        # cp: head only
            assert [s["name"] for s in b.list_snaps()] == ["s1"]    # deep cp: snapshots too
        with rbd.Image(io, "deepdst", snapshot="s1") as snap:
            assert snap.read(0, 4096) == bytes(4096) and snap.read(4 << 20, 4) == b"AAAA"
    assert _rbd(conf, "cp", "cpsrc", "cpdst") == 17
    assert capsys.readouterr().err == "rbd: copy failed: (17) File exists\n"
    assert _rbd(conf, "cp", "cpsrc") == 22
    assert capsys.readouterr().err == "rbd: destination image name was not specified\n"
    assert _rbd(conf, "deep", "frob", "cpsrc", "x") == 22
    capsys.readouterr()

    assert _rbd(conf, "snap", "protect", "cpsrc@s1") == 0
    assert _rbd(conf, "clone", "cpsrc@s1", "cpkid") == 0
    assert _rbd(conf, "flatten", "cpkid") == 0
    assert capsys.readouterr().err == "Image flatten: 100% complete...done.\n"
    assert _rbd(conf, "info", "cpkid") == 0
    assert "parent:" not in capsys.readouterr().out
    assert _read(cluster, "cpkid")[4 << 20:(4 << 20) + 4] == b"AAAA"
    assert _rbd(conf, "flatten", "cpsrc") == 22           # no parent
    assert capsys.readouterr().err == "rbd: flatten error: (22) Invalid argument\n"


def test_status_lists_watchers(conf, cluster, capsys):
    assert _rbd(conf, "create", "--size", "4M", "stimg") == 0
    assert _rbd(conf, "status", "stimg") == 0
    assert capsys.readouterr().out == "Watchers: none\n"
    with cluster.open_ioctx("rbd") as io, rbd.Image(io, "stimg"):
        assert _rbd(conf, "status", "stimg") == 0
        out = capsys.readouterr().out
        assert re.fullmatch(r"Watchers:\n\twatcher=\S+ client\.(\d+) cookie=\d+\n", out), out
        assert int(re.search(r"client\.(\d+)", out).group(1)) == cluster.get_instance_id()
        assert _rbd(conf, "status", "--format", "json", "stimg") == 0
        watchers = json.loads(capsys.readouterr().out)["watchers"]
        assert [w["client"] for w in watchers] == [cluster.get_instance_id()]
        assert set(watchers[0]) == {"address", "client", "cookie"}


def test_watch_prints_header_notifications(conf, monkeypatch, capsys):
    assert _rbd(conf, "create", "--size", "4M", "wimg") == 0

    class StdinThatResizes:
        """`press enter` once another client has changed the image."""
        def readline(self):
            assert _rbd(conf, "resize", "--size", "8M", "--no-progress", "wimg") == 0
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and "HeaderUpdate" not in capsys.readouterr().out:
                time.sleep(0.05)
            return "\n"

    lines = []
    real_write = __import__("sys").stdout.write
    monkeypatch.setattr("sys.stdin", StdinThatResizes())
    monkeypatch.setattr("sys.stdout.write", lambda s: (lines.append(s), real_write(s))[1])
    assert _rbd(conf, "watch", "wimg") == 0
    text = "".join(lines)
    assert text.startswith("press enter to exit...\n")
    assert re.search(r"^wimg received notification: notify_id=\d+, cookie=\d+, "
                     r"notifier_id=\d+, bl.length=\d+, notify_op=HeaderUpdate$", text, re.M), text
    assert _rbd(conf, "watch", "nosuchimage") == 2


def test_image_meta(conf, capsys):
    assert _rbd(conf, "create", "--size", "4M", "mimg") == 0
    assert _rbd(conf, "image-meta", "list", "mimg") == 0
    assert capsys.readouterr().out == ""
    assert _rbd(conf, "image-meta", "set", "mimg", "conf_rbd_cache", "false") == 0
    assert _rbd(conf, "image-meta", "list", "mimg") == 0
    assert capsys.readouterr().out == ("There is 1 metadatum on this image:\n\n"
                                       "Key             Value\nconf_rbd_cache  false\n")
    assert _rbd(conf, "image-meta", "set", "mimg", "owner", "ops") == 0
    assert _rbd(conf, "image-meta", "ls", "mimg") == 0
    assert capsys.readouterr().out.startswith("There are 2 metadata on this image:\n")
    assert _rbd(conf, "image-meta", "get", "mimg", "owner") == 0
    assert capsys.readouterr().out == "ops\n"
    assert _rbd(conf, "image-meta", "list", "--format", "json", "mimg") == 0
    assert json.loads(capsys.readouterr().out) == {"conf_rbd_cache": "false", "owner": "ops"}
    assert _rbd(conf, "image-meta", "remove", "mimg", "owner") == 0
    assert _rbd(conf, "image-meta", "get", "mimg", "owner") == 2
    assert capsys.readouterr().err == \
        "rbd: failed to get metadata owner of image : (2) No such file or directory\n"
    assert _rbd(conf, "image-meta", "rm", "mimg", "owner") == 2
    assert capsys.readouterr().err == \
        "rbd: failed to remove metadata owner of image : (2) No such file or directory\n"
    assert _rbd(conf, "image-meta", "get", "mimg") == 22
    assert _rbd(conf, "image-meta", "frob", "mimg") == 22


def test_feature_enable_disable(conf, cluster, capsys):
    assert _rbd(conf, "create", "--size", "4M", "fimg") == 0
    assert _rbd(conf, "feature", "disable", "fimg", "fast-diff") == 0
    assert _rbd(conf, "feature", "disable", "fimg", "object-map") == 0
    with cluster.open_ioctx("rbd") as io, rbd.Image(io, "fimg") as img:
        assert not img.features() & (rbd.RBD_FEATURE_OBJECT_MAP | rbd.RBD_FEATURE_FAST_DIFF)
    assert _rbd(conf, "feature", "enable", "fimg", "object-map", "fast-diff") == 0
    assert _rbd(conf, "info", "fimg") == 0
    assert "features: layering, exclusive-lock, object-map, fast-diff, deep-flatten" in \
        capsys.readouterr().out
    # exclusive-lock cannot go while object-map depends on it; layering cannot be toggled
    assert _rbd(conf, "feature", "disable", "fimg", "exclusive-lock") == 22
    assert _rbd(conf, "feature", "enable", "fimg", "layering") == 22
    assert capsys.readouterr().err.splitlines()[-1] == \
        "rbd: failed to update image features: (22) Invalid argument"
    assert _rbd(conf, "feature", "enable", "fimg", "warp-drive") == 22
    assert capsys.readouterr().err == "rbd: invalid image feature: warp-drive\n"
    assert _rbd(conf, "feature", "toggle", "fimg", "layering") == 22


def test_advisory_locks(conf, capsys):
    assert _rbd(conf, "create", "--size", "4M", "--image-feature", "layering", "limg") == 0
    assert _rbd(conf, "lock", "ls", "limg") == 0
    assert capsys.readouterr().out == ""
    assert _rbd(conf, "lock", "add", "limg", "mylock") == 0
    assert _rbd(conf, "lock", "add", "limg", "other") == 16
    assert capsys.readouterr().err == "rbd: lock is already held by someone else\n"
    assert _rbd(conf, "lock", "ls", "limg") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "There is 1 exclusive lock on this image."
    assert lines[1].split() == ["Locker", "ID", "Address"]
    locker = lines[2].split()[0]
    assert re.fullmatch(r"client\.\d+", locker) and lines[2].split()[1] == "mylock"
    assert _rbd(conf, "lock", "ls", "--format", "json", "limg") == 0
    assert [(x["id"], x["locker"]) for x in json.loads(capsys.readouterr().out)] == \
        [("mylock", locker)]
    assert _rbd(conf, "lock", "rm", "limg", "mylock", "client.1") == 2
    assert capsys.readouterr().err == \
        "rbd: releasing lock failed: (2) No such file or directory\n"
    assert _rbd(conf, "lock", "rm", "limg", "mylock", locker) == 0
    assert _rbd(conf, "lock", "add", "--shared", "t1", "limg", "a") == 0
    assert _rbd(conf, "lock", "add", "--shared", "t1", "limg", "b") == 0
    assert _rbd(conf, "lock", "add", "--shared", "t2", "limg", "c") == 16
    assert capsys.readouterr().err == \
        "rbd: lock is already held by someone else with a different tag\n"
    assert _rbd(conf, "lock", "ls", "limg") == 0
    assert capsys.readouterr().out.splitlines()[:2] == \
        ["There are 2 shared locks on this image.", "Lock tag: t1"]
    assert _rbd(conf, "lock", "add", "limg") == 22
    assert _rbd(conf, "lock", "steal", "limg", "x") == 22


def test_object_map_rebuild_and_sparsify(conf, cluster, capsys):
    assert _rbd(conf, "create", "--size", "8M", "oimg") == 0
    _write(cluster, "oimg", b"\0" * (4 << 20), 0)          # a whole object of zeros
    _write(cluster, "oimg", b"data", 4 << 20)
    assert _rbd(conf, "object-map", "rebuild", "oimg") == 0
    assert capsys.readouterr().err == "Object Map Rebuild: 100% complete...done.\n"
    assert _rbd(conf, "sparsify", "oimg") == 0
    assert capsys.readouterr().err == "Image sparsify: 100% complete...done.\n"
    with cluster.open_ioctx("rbd") as io:
        with rbd.Image(io, "oimg") as img:
            prefix = img.block_name_prefix()
            assert img.read(4 << 20, 4) == b"data"
        objects = {o.key for o in io.list_objects() if o.key.startswith(prefix)}
    assert objects == {f"{prefix}.{1:016x}"}                # the zero object is gone
    assert _rbd(conf, "sparsify", "--sparse-size", "1000", "oimg") == 22
    assert _rbd(conf, "create", "--size", "4M", "--image-feature", "layering", "noom") == 0
    assert _rbd(conf, "object-map", "rebuild", "noom") == 22
    assert capsys.readouterr().err.endswith(
        "rbd: rebuilding object map failed: (22) Invalid argument\n")
    assert _rbd(conf, "object-map", "frob", "oimg") == 22


def test_pool_init(conf, cluster, capsys):
    cluster.create_pool("initpool")
    assert _rbd(conf, "pool", "init", "initpool") == 0
    with cluster.open_ioctx("initpool") as io:
        assert io.application_list() == ["rbd"]
    assert _rbd(conf, "pool", "init", "nopool") == 2
    assert capsys.readouterr().err == \
        "rbd: error opening pool 'nopool': (2) No such file or directory\n"
    assert _rbd(conf, "pool", "frob") == 22


def test_trash_mv_ls_restore_rm_purge(conf, capsys):
    assert _rbd(conf, "create", "--size", "4M", "timg") == 0
    assert _rbd(conf, "create", "--size", "4M", "timg2") == 0
    assert _rbd(conf, "trash", "mv", "timg") == 0
    assert _rbd(conf, "ls") == 0
    assert "timg" not in capsys.readouterr().out.split()
    assert _rbd(conf, "trash", "ls") == 0
    (image_id, name), = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert name == "timg"
    assert _rbd(conf, "trash", "ls", "--format", "json") == 0
    assert json.loads(capsys.readouterr().out) == [{"id": image_id, "name": "timg"}]
    assert _rbd(conf, "trash", "restore", image_id) == 0
    assert _rbd(conf, "info", "timg") == 0
    assert _rbd(conf, "trash", "mv", "timg") == 0
    assert _rbd(conf, "trash", "rm", image_id) == 0
    assert capsys.readouterr().err.endswith("Removing image: 100% complete...done.\n")
    assert _rbd(conf, "trash", "mv", "timg2") == 0
    assert _rbd(conf, "trash", "purge") == 0
    assert _rbd(conf, "trash", "ls") == 0
    assert capsys.readouterr().out == ""
    assert _rbd(conf, "trash", "mv", "nothere") == 2
    assert capsys.readouterr().err == \
        "rbd: deferred delete error: (2) No such file or directory\n"
    assert _rbd(conf, "trash", "restore", "0123") == 2
    assert capsys.readouterr().err == "rbd: restore error: (2) No such file or directory\n"
    assert _rbd(conf, "trash", "rm") == 22
    assert _rbd(conf, "trash", "frob") == 22


def test_namespaces(conf, capsys):
    assert _rbd(conf, "namespace", "create", "rbd/ns1") == 0
    assert _rbd(conf, "namespace", "create", "--namespace", "ns2") == 0
    assert _rbd(conf, "namespace", "ls") == 0
    assert capsys.readouterr().out.split() == ["ns1", "ns2"]
    assert _rbd(conf, "namespace", "ls", "--format", "json") == 0
    assert json.loads(capsys.readouterr().out) == [{"name": "ns1"}, {"name": "ns2"}]
    assert _rbd(conf, "namespace", "create", "rbd/ns1") == 17
    assert capsys.readouterr().err == "rbd: failed to created namespace: (17) File exists\n"
    assert _rbd(conf, "create", "--size", "1M", "rbd/ns1/nsimg") == 0
    assert _rbd(conf, "ls", "--namespace", "ns1") == 0
    assert capsys.readouterr().out.split() == ["nsimg"]
    assert _rbd(conf, "namespace", "rm", "rbd/ns1") == 16          # not empty
    assert capsys.readouterr().err == \
        "rbd: failed to remove namespace: (16) Device or resource busy\n"
    assert _rbd(conf, "rm", "--no-progress", "rbd/ns1/nsimg") == 0
    assert _rbd(conf, "namespace", "rm", "rbd/ns1") == 0
    assert _rbd(conf, "namespace", "rm", "rbd/ns1") == 2
    assert _rbd(conf, "namespace", "ls") == 0
    assert capsys.readouterr().out.split() == ["ns2"]
    assert _rbd(conf, "namespace", "frob", "x") == 22


def test_groups(conf, capsys):
    assert _rbd(conf, "create", "--size", "4M", "gimg") == 0
    assert _rbd(conf, "group", "create", "grp") == 0
    assert _rbd(conf, "group", "ls") == 0
    assert capsys.readouterr().out.split() == ["grp"]
    assert _rbd(conf, "group", "image", "add", "grp", "gimg") == 0
    assert _rbd(conf, "group", "image", "ls", "grp") == 0
    assert capsys.readouterr().out == "rbd/gimg\n"
    assert _rbd(conf, "group", "image", "list", "--format", "json", "grp") == 0
    assert json.loads(capsys.readouterr().out) == \
        [{"image": "gimg", "namespace": "", "pool": "rbd"}]
    assert _rbd(conf, "group", "image", "add", "grp", "nothere") == 2
    assert capsys.readouterr().err == "rbd: add image error: (2) No such file or directory\n"
    assert _rbd(conf, "group", "image", "rm", "grp", "gimg") == 0
    assert _rbd(conf, "group", "image", "ls", "grp") == 0
    assert capsys.readouterr().out == ""
    assert _rbd(conf, "group", "rm", "grp") == 0
    assert _rbd(conf, "group", "rm", "grp") == 2
    assert capsys.readouterr().err == "rbd: remove error: (2) No such file or directory\n"
    assert _rbd(conf, "group", "frob") == 22
    capsys.readouterr()
    assert _rbd(conf, "group", "image", "frob", "grp") == 22
    assert capsys.readouterr().err == \
        "rbd: error parsing command 'group image frob grp'; -h or --help for usage\n"


def test_unknown_commands_and_options_print_usage(conf, capsys):
    assert _rbd(conf, "frobnicate") == 22
    assert capsys.readouterr().err == \
        "rbd: error parsing command 'frobnicate'; -h or --help for usage\n"
    assert _rbd(conf, "--no-such-option", "ls") == 22
    assert capsys.readouterr().err.startswith("rbd: ")
    assert rbd_cli.main([]) == 22
    assert capsys.readouterr().out.startswith("usage: rbd <command>")
    for ask in (["help"], ["--help"], ["-h"]):
        assert rbd_cli.main(ask) == 0
        assert "commands: " in capsys.readouterr().out


def test_failed_import_leaves_no_half_created_image(conf, cluster, tmp_path, capsys):
    assert _rbd(conf, "create", "--size", "8M", "impsrc") == 0
    _write(cluster, "impsrc", b"Z" * (1 << 20), 2 << 20)
    full = tmp_path / "impsrc.v2"
    assert _rbd(conf, "export", "--export-format", "2", "impsrc", str(full)) == 0
    cut = tmp_path / "cut.v2"
    cut.write_bytes(full.read_bytes()[:len(full.read_bytes()) // 2])
    capsys.readouterr()
    assert _rbd(conf, "import", "--export-format", "2", str(cut), "impdst") == 5
    assert capsys.readouterr().err == \
        "rbd: import failed: (5) Input/output error: truncated stream\n"
    assert _rbd(conf, "ls") == 0
    assert "impdst" not in capsys.readouterr().out.split()
    assert _rbd(conf, "import", str(tmp_path / "missing"), "impdst") == 2
    assert capsys.readouterr().err == "rbd: import error: (2) No such file or directory\n"
    assert _rbd(conf, "import", "--export-format", "2", str(full), "impdst") == 0
    assert _read(cluster, "impdst") == _read(cluster, "impsrc")
