"""The Objecter's routing against a map that changes under it, without Ray: a transport
that records each batch and answers only when told to."""
from __future__ import annotations

import errno
import threading
import time
from concurrent.futures import Future

from cluster.config import CephConfig
from cluster.monitor import MonitorCore
from cluster.osdmap import build_initial_osdmap
from osd.messages import OSDOpReply
from rados.objecter import Objecter


class _Monc:
    def __init__(self, osdmap):
        self.osdmap = osdmap
        self._listeners = []

    def add_listener(self, fn):
        self._listeners.append(fn)

    def install(self, osdmap):
        old, self.osdmap = self.osdmap, osdmap
        for fn in self._listeners:
            fn(old, osdmap)

    def refresh(self):
        return self.osdmap.epoch

    def wait_for_epoch(self, epoch, timeout_s=5.0):
        return self.osdmap.epoch >= epoch


class _SilentTransport:
    """Every batch is recorded with its future; nothing answers unless the test does."""

    def __init__(self, connected=True):
        self.calls: list[tuple[int, list, Future]] = []
        self.threads: list[str] = []
        self.is_connected = connected

    def connected(self, osd_id):
        return self.is_connected

    def osd_call(self, osd_id, method, requests):
        future = Future()
        self.calls.append((osd_id, requests, future))
        self.threads.append(threading.current_thread().name)
        return future


def _cluster():
    conf = CephConfig()
    conf.set("rayceph_pools", "rbd")
    osdmap = build_initial_osdmap(conf, "fsid")
    return osdmap, next(iter(osdmap.pools))


def _with_osd_down(osdmap, osd_id):
    core = MonitorCore(osdmap)
    core.set_osd_state(osd_id, up=False)
    return core.get_osdmap()


def test_ops_held_by_a_primary_marked_down_go_to_the_new_primary():
    osdmap, pool = _cluster()
    monc, transport = _Monc(osdmap), _SilentTransport()
    objecter = Objecter(monc, transport, gid=7, op_timeout_s=30)
    try:
        first = objecter.submit(pool, "obj", [("write_full", b"one")])
        second = objecter.submit(pool, "obj", [("write_full", b"two")])
        old_primary = transport.calls[0][0]
        assert len(transport.calls) == 1          # the second waits behind the first
        monc.install(_with_osd_down(osdmap, old_primary))
        # the first op is resent, with its reqid, to a new primary; the second follows it
        new_primary, requests, future = transport.calls[1]
        assert new_primary != old_primary and [r.reqid for r in requests] == [(7, 1)]
        future.set_result([OSDOpReply(result=0)])
        assert transport.calls[2][0] == new_primary
        assert [r.reqid for r in transport.calls[2][1]] == [(7, 2)]
        transport.calls[2][2].set_result([OSDOpReply(result=0)])
        assert first.result(timeout=5).result == 0
        assert second.result(timeout=5).result == 0
        # the silent old primary's late answer changes nothing
        transport.calls[0][2].set_result([OSDOpReply(result=-errno.EIO)])
        assert first.result().result == 0
    finally:
        objecter.close()


def test_an_op_nobody_answers_times_out():
    osdmap, pool = _cluster()
    objecter = Objecter(_Monc(osdmap), _SilentTransport(), gid=8)
    try:
        future = objecter.submit(pool, "obj", [("read", 0, 10)], timeout_s=0.3)
        assert future.result(timeout=5).result == -errno.ETIMEDOUT
    finally:
        objecter.close()


def test_a_reply_thread_never_makes_the_first_call_to_an_unconnected_osd():
    """Connecting may block on Ray; the thread delivering a reply must not be the one."""
    osdmap, pool = _cluster()
    transport = _SilentTransport(connected=False)
    objecter = Objecter(_Monc(osdmap), transport, gid=9, op_timeout_s=30)
    try:
        first = objecter.submit(pool, "obj", [("write_full", b"one")])
        second = objecter.submit(pool, "obj", [("write_full", b"two")])
        deadline = time.monotonic() + 5
        while not transport.calls and time.monotonic() < deadline:
            time.sleep(0.01)
        transport.calls[0][2].set_result([OSDOpReply(result=0)])   # on this thread
        while len(transport.calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert all(name.startswith("objecter-connect") for name in transport.threads)
        transport.calls[1][2].set_result([OSDOpReply(result=0)])
        assert first.result(timeout=5).result == 0 and second.result(timeout=5).result == 0
    finally:
        objecter.close()
