"""Watch/notify in the OSD core with a fake clock and no threads: events, acks, timeouts
with partial acks, watch expiry and pings, and disconnects on delete / primary change."""
from __future__ import annotations

import errno

import pytest

from osd.messages import OSDOpReply
from tests.unit.osd_fakes import Client, FakeOSDMap, FakePool, MiniCluster, SingleOSD

A, B, N = 4100, 4200, 4300      # two watchers and a notifier


@pytest.fixture
def osd():
    o = SingleOSD()
    o.ok("obj", ("create", False))
    return o


def notify(osd, payload=b"hi", timeout_ms=5000, oid="obj"):
    return osd.outcome(oid, ("notify", 1, payload, timeout_ms), gid=N)


def test_watch_list_unwatch(osd):
    osd.ok("obj", ("watch", 11, 30), gid=A)
    osd.ok("obj", ("watch", 22, 30), gid=B)
    assert osd.ok("obj", ("list_watchers",)) == [[
        {"name": "client.4100", "cookie": 11, "addr": "127.0.0.1:0/4100"},
        {"name": "client.4200", "cookie": 22, "addr": "127.0.0.1:0/4200"}]]
    osd.ok("obj", ("unwatch", 11), gid=A)
    assert osd.err("obj", ("unwatch", 11), gid=A) == errno.ENOENT
    assert osd.err("obj", ("unwatch", 22), gid=A) == errno.ENOENT     # someone else's cookie
    assert [w["cookie"] for w in osd.ok("obj", ("list_watchers",))[0]] == [22]
    assert osd.err("missing", ("watch", 1, 30), gid=A) == errno.ENOENT
    assert osd.err("obj", ("watch", "c", 30), gid=A) == errno.EINVAL


def test_notify_without_watchers_completes_at_once(osd):
    outcome = notify(osd)
    assert outcome.notify is None
    assert outcome.reply.result == 0 and outcome.reply.outs == [(0, ([], []))]
    assert osd.err("missing", ("notify", 1, b"", 1000), gid=N) == errno.ENOENT


def test_notify_all_acked(osd):
    osd.ok("obj", ("watch", 11, 30), gid=A)
    osd.ok("obj", ("watch", 22, 30), gid=B)
    outcome = notify(osd, b"payload")
    pending = outcome.notify
    assert outcome.reply is None and pending.timeout_s == 5.0
    assert osd.svc.has_pending_events()
    ev_a, ev_b = osd.svc.pop_events(A), osd.svc.pop_events(B)
    assert ev_a == [("notify", pending.notify_id, "obj", "", 1, 11, N, b"payload")]
    assert ev_b == [("notify", pending.notify_id, "obj", "", 1, 22, N, b"payload")]
    assert osd.svc.pop_events(A) == [] and not osd.svc.has_pending_events()
    assert osd.svc.notify_ack(pending.notify_id, A, 11, b"from a") is False
    assert not osd.svc.notify_done(pending.notify_id)
    assert osd.svc.notify_ack(pending.notify_id, A, 11, b"dup") is False     # duplicate ack
    assert osd.svc.notify_ack(pending.notify_id, B, 22, b"") is True
    assert osd.svc.notify_done(pending.notify_id)
    assert osd.svc.tick() == [pending.notify_id]
    reply = osd.svc.finish_notify(pending.notify_id)
    assert isinstance(reply, OSDOpReply) and reply.result == 0
    assert reply.outs == [(0, ([(A, 11, b"from a"), (B, 22, b"")], []))]
    assert osd.svc.finish_notify(pending.notify_id) is None


def test_notify_timeout_reports_partial_acks(osd):
    osd.ok("obj", ("watch", 11, 60), gid=A)
    osd.ok("obj", ("watch", 22, 60), gid=B)
    pending = notify(osd, timeout_ms=2000).notify
    osd.svc.notify_ack(pending.notify_id, A, 11, b"ok")
    osd.clock.advance(1.9)
    assert osd.svc.tick() == [] and not osd.svc.notify_done(pending.notify_id)
    osd.clock.advance(0.2)
    assert osd.svc.tick() == [pending.notify_id]
    reply = osd.svc.finish_notify(pending.notify_id)
    assert reply.result == -errno.ETIMEDOUT
    assert reply.outs == [(-errno.ETIMEDOUT, ([(A, 11, b"ok")], [(B, 22)]))]
    # a late ack is ignored
    assert osd.svc.notify_ack(pending.notify_id, B, 22, b"late") is False


def test_notify_default_timeout_is_30s(osd):
    osd.ok("obj", ("watch", 11, 60), gid=A)
    pending = notify(osd, timeout_ms=0).notify
    assert pending.timeout_s == 30.0


def test_watch_expires_without_pings(osd):
    osd.ok("obj", ("watch", 11, 10), gid=A)
    osd.ok("obj", ("watch", 22, 10), gid=B)
    for _ in range(3):
        osd.clock.advance(6)
        assert osd.svc.watch_ping(B, 22) is True
        osd.svc.tick()
    assert osd.svc.pop_events(A) == [("error", 11, -errno.ENOTCONN)]
    assert osd.svc.pop_events(B) == []
    assert [w["cookie"] for w in osd.ok("obj", ("list_watchers",))[0]] == [22]
    assert osd.svc.watch_ping(A, 11) is False           # the client must re-watch
    assert osd.svc.client_ping(B) == 1
    osd.ok("obj", ("watch", 11, 10), gid=A)              # re-watch works
    assert osd.svc.watch_ping(A, 11) is True


def test_expired_watcher_is_not_awaited_by_a_notify(osd):
    osd.ok("obj", ("watch", 11, 5), gid=A)
    osd.ok("obj", ("watch", 22, 100), gid=B)
    pending = notify(osd, timeout_ms=60_000).notify
    osd.svc.notify_ack(pending.notify_id, B, 22, b"b")
    osd.clock.advance(6)
    assert osd.svc.tick() == [pending.notify_id]         # A expired: nobody left to wait for
    reply = osd.svc.finish_notify(pending.notify_id)
    assert reply.result == 0 and reply.outs[0][1] == ([(B, 22, b"b")], [])


def test_unwatch_during_notify_completes_it(osd):
    osd.ok("obj", ("watch", 11, 30), gid=A)
    pending = notify(osd).notify
    osd.ok("obj", ("unwatch", 11), gid=A)
    assert osd.svc.notify_done(pending.notify_id)
    assert osd.svc.finish_notify(pending.notify_id).outs[0] == (0, ([], []))


def test_removing_the_object_disconnects_watchers(osd):
    osd.ok("obj", ("watch", 11, 30), gid=A)
    osd.ok("obj", ("remove",))
    assert osd.svc.pop_events(A) == [("error", 11, -errno.ENOTCONN)]
    osd.ok("obj", ("create", False))
    assert osd.ok("obj", ("list_watchers",)) == [[]]


def test_primary_change_disconnects_watchers():
    fmap = FakeOSDMap(pools=[FakePool(1, size=2)], osds=[0, 1], acting={(1, 0): [0, 1]})
    cluster = MiniCluster(fmap)
    client = Client(gid=A)
    assert cluster.op(client.req("obj", [("create", False)], pgid=0)).result == 0
    assert cluster.op(client.req("obj", [("watch", 11, 30)], pgid=0)).result == 0
    cluster.push_map(fmap.next(acting={(1, 0): [1, 0]}))
    assert cluster.osds[0].pop_events(A) == [("error", 11, -errno.ENOTCONN)]
    # the client re-watches on the new primary
    assert cluster.op(client.req("obj", [("watch", 11, 30)], pgid=0, epoch=2)).result == 0
    listed = cluster.op(client.req("obj", [("list_watchers",)], pgid=0, epoch=2)).outs[0][1]
    assert [w["cookie"] for w in listed] == [11]


def test_resent_watch_registers_on_a_new_primary():
    fmap = FakeOSDMap(pools=[FakePool(1, size=2)], osds=[0, 1], acting={(1, 0): [0, 1]})
    cluster = MiniCluster(fmap)
    client = Client(gid=A)
    assert cluster.op(client.req("obj", [("create", False)], pgid=0)).result == 0
    watch = client.req("obj", [("watch", 11, 30)], pgid=0)
    first = cluster.op(watch)
    cluster.push_map(fmap.next(acting={(1, 0): [1, 0]}))
    watch.epoch = 2                 # the reply was lost: the client resends the same reqid
    again = cluster.op(watch)
    assert (again.result, again.version) == (0, first.version)
    assert cluster.osds[1].watch_ping(A, 11) is True
