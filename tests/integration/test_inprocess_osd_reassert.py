"""On the in-process host an OSD marked down while it lives comes back by itself, as Ceph's
OSDs do ("wrongly marked me down"), unless flag noup holds it down: an op waiting for it
then completes once the flag goes."""
from __future__ import annotations

import json
import time

import rados


def _conf(tmp_path) -> str:
    path = tmp_path / "ceph.conf"
    path.write_text("[rayceph]\nray address = inprocess\ncluster name = reassert\n")
    return str(path)


def _up(cluster) -> list[int]:
    ret, out, outs = cluster.mon_command(json.dumps({"prefix": "osd dump", "format": "json"}),
                                         b"")
    assert ret == 0, outs
    return [o["up"] for o in json.loads(out)["osds"]]


def _command(cluster, **cmd) -> None:
    ret, _, outs = cluster.mon_command(json.dumps(cmd), b"")
    assert ret == 0, outs


def test_osd_marked_down_comes_back_and_noup_holds_it(tmp_path):
    with rados.Rados(conffile=_conf(tmp_path)) as cluster, cluster.open_ioctx("rbd") as ioctx:
        ioctx.write_full("obj", b"hello")
        _command(cluster, prefix="osd down", ids=["1"])
        deadline = time.monotonic() + 10
        while _up(cluster)[1] != 1:
            assert time.monotonic() < deadline, "osd.1 never came back"
            time.sleep(0.1)

        _command(cluster, prefix="osd set", key="noup")
        _command(cluster, prefix="osd down", ids=["0", "1", "2"])
        completion = ioctx.aio_read("obj", 5, 0, lambda comp, data: None)
        time.sleep(1.5)
        assert _up(cluster) == [0, 0, 0] and not completion.is_complete()
        _command(cluster, prefix="osd unset", key="noup")
        completion.wait_for_complete_and_cb()
        assert completion.get_return_value() == 5
        assert _up(cluster) == [1, 1, 1]
