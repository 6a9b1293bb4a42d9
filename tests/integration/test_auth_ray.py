"""cephx on the Ray hosts: the monitor actor gets the auth mode through the config copy it is
started with, OSD actors refuse ops by caps over the socket messenger, and a wrong key fails
connect. One small cluster beside the session's (a few seconds)."""
from __future__ import annotations

import errno
import json

import pytest

rados = pytest.importorskip("rados")

from cluster.auth import parse_keyring  # noqa: E402

NAME = "cephx-ray"


@pytest.fixture(scope="module")
def conffile(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cephx-ray")
    path = tmp / "ceph.conf"
    path.write_text(
        "[global]\n"
        "auth client required = cephx\n"
        f"keyring = {tmp}/ceph.client.admin.keyring\n"
        "osd pool default size = 2\n"
        "osd pool default pg num = 8\n"
        "[rayceph]\n"
        "ray address = local\n"
        f"cluster name = {NAME}\n"
        "hosts = 2\n"
        "pools = rbd\n")
    yield str(path)
    from cluster.bootstrap import stop_cluster
    stop_cluster(NAME)


def test_cephx_on_ray(conffile):
    admin = rados.Rados(conffile=conffile)
    admin.connect(timeout=120)
    try:
        with admin.open_ioctx("rbd") as io:
            io.write_full("obj", b"by admin")
        ret, out, outs = admin.mon_command(json.dumps({
            "prefix": "auth get-or-create", "entity": "client.reader",
            "caps": ["mon", "allow r", "osd", "allow r pool=rbd"]}), b"")
        assert ret == 0, outs
        key = parse_keyring(out.decode())["client.reader"]["key"]
        reader = rados.Rados(rados_id="reader", conffile=conffile, conf={"key": key})
        reader.connect(timeout=60)
        try:
            with reader.open_ioctx("rbd") as io:
                assert io.read("obj") == b"by admin"
                with pytest.raises(rados.PermissionError):
                    io.write_full("obj", b"by reader")
            assert reader.mon_command(json.dumps({"prefix": "osd pool create",
                                                  "pool": "x"}), b"")[0] == -errno.EACCES
        finally:
            reader.shutdown()
        wrong = rados.Rados(rados_id="reader", conffile=conffile,
                            conf={"key": "AQBSdFhcAAAAABAAt5IH3I5dlAJ0zUkjdrXDXQ=="})
        with pytest.raises(rados.PermissionDeniedError):
            wrong.connect(timeout=60)
        with admin.open_ioctx("rbd") as io:
            assert io.read("obj") == b"by admin"
    finally:
        admin.shutdown()
