"""The socket messenger without Ray: a server in a thread's event loop, a SyncPeer client.
Frames of every size (many in one recv, one frame across many recvs and bigger than the
read buffer), replies out of order, exceptions, and a dropped connection."""
from __future__ import annotations

import asyncio
import os
import pickle
import threading

import pytest

from osd import messenger
from osd.messages import OSDOpReply, OSDOpRequest, RepOp


class _Target:
    async def echo(self, value):
        return value

    async def slow_then(self, delay_s, value):
        await asyncio.sleep(delay_s)
        return value

    async def fail(self, text):
        raise ValueError(text)


@pytest.fixture
def server():
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder = {}

    def run():
        asyncio.set_event_loop(loop)

        async def start():
            holder["server"], holder["addr"] = await messenger.serve(_Target())
            ready.set()
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield holder
    loop.call_soon_threadsafe(holder["server"].close)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def test_small_and_huge_frames_come_back_intact_and_matched(server):
    peer = messenger.SyncPeer(server["addr"])
    try:
        payloads = [os.urandom(n) for n in (0, 1, 4096, messenger.READ_BUFFER - 7,
                                             messenger.READ_BUFFER + 1, 5 << 20)] * 3
        futures = [peer.call("echo", p) for p in payloads]       # all in flight at once
        assert [f.result(timeout=30) for f in futures] == payloads
        many = [peer.call("echo", i) for i in range(2000)]
        assert [f.result(timeout=30) for f in many] == list(range(2000))
    finally:
        peer.close()


def test_replies_out_of_order_and_errors_reach_their_caller(server):
    peer = messenger.SyncPeer(server["addr"])
    try:
        slow = peer.call("slow_then", 0.2, "slow")
        fast = peer.call("echo", "fast")
        failing = peer.call("fail", "boom")
        assert fast.result(timeout=10) == "fast"
        assert slow.result(timeout=10) == "slow"
        with pytest.raises(ValueError, match="boom"):
            failing.result(timeout=10)
    finally:
        peer.close()


def test_a_closed_connection_fails_waiting_calls(server):
    peer = messenger.SyncPeer(server["addr"])
    waiting = peer.call("slow_then", 5, "never")
    peer.close()
    with pytest.raises(Exception):
        waiting.result(timeout=10)
    assert peer.call("echo", 1).exception(timeout=10) is not None


def test_data_path_messages_pickle_with_every_field():
    request = OSDOpRequest(reqid=(4100, 7), pool=2, pgid=5, oid="o", nspace="ns", key="k",
                           epoch=9, ops=[("write", 0, b"x")], snapc=(3, [3, 2]), snapid=4,
                           flags=1024, mtime=1.5)
    reply = OSDOpReply(result=-2, outs=[(0, b"d")], version=3, retry_epoch=8)
    repop = RepOp(pool=1, pgid=2, epoch=3, transaction=[("t",)], log_entry={"v": 1},
                  push=None, interval=4)
    for message in (request, reply, repop):
        assert pickle.loads(pickle.dumps(message, protocol=5)) == message


def _frame_body(frame: list) -> bytes:
    return b"".join(bytes(chunk) for chunk in frame)[messenger._HEADER.size:]


def test_large_payloads_travel_beside_the_pickle_without_a_copy():
    data = os.urandom(4 << 20)
    request = OSDOpRequest(reqid=(1, 2), pool=1, pgid=3, oid="o",
                           ops=[("write", 0, data), ("setxattr", "k", b"v")])
    frame = messenger.encode((7, "osd_ops", ([request],)))
    assert len(frame) == 3 and frame[2].obj is data      # the caller's own bytes object
    assert len(frame[1]) < 512                            # the pickle holds no payload
    msg_id, method, (requests,) = messenger.decode(_frame_body(frame), 1)
    assert requests == [request] and type(requests[0].ops[0][2]) is bytes
    small = messenger.encode(OSDOpRequest(reqid=(1, 3), pool=1, pgid=3, oid="o",
                                          ops=[("write", 0, os.urandom(4096))]))
    assert len(small) == 2                                # small data stays in-band


def test_replies_and_repops_carry_large_payloads_out_of_band():
    data, other = os.urandom(1 << 20), os.urandom(messenger_min())
    reply = OSDOpReply(result=0, outs=[(0, ([(0, len(data))], data)), (0, other), (0, b"s")])
    repop = RepOp(pool=1, pgid=2, epoch=3, transaction=[(1, "hobj", 0, data), (2, "hobj")],
                  log_entry=("entry",))
    barray = OSDOpRequest(reqid=(1, 4), pool=1, pgid=3, oid="o",
                          ops=[("write", 0, bytearray(data))])
    for message, nbuffers in ((reply, 2), (repop, 1), (barray, 0)):
        frame = messenger.encode(message)
        assert len(frame) == 2 + nbuffers
        decoded = messenger.decode(_frame_body(frame), nbuffers)
        assert decoded == message
    assert type(messenger.decode(_frame_body(messenger.encode(barray)), 0).ops[0][2]) \
        is bytearray
    # outside the messenger (Ray, deepcopy) the messages pickle as before
    assert pickle.loads(pickle.dumps(reply, protocol=5)) == reply


def messenger_min() -> int:
    from osd.messages import OUT_OF_BAND_MIN_BYTES
    return OUT_OF_BAND_MIN_BYTES


def test_out_of_band_frames_round_trip_through_server_and_client(server):
    peer = messenger.SyncPeer(server["addr"])
    try:
        payloads = [OSDOpReply(result=0, outs=[(0, os.urandom(n))])
                    for n in (messenger_min(), messenger.READ_BUFFER + 3, 5 << 20, 10)] * 2
        futures = [peer.call("echo", p) for p in payloads]
        assert [f.result(timeout=30) for f in futures] == payloads
    finally:
        peer.close()


def test_async_peer_round_trips_out_of_band_frames(server):
    data = os.urandom(3 << 20)
    repop = RepOp(pool=1, pgid=2, epoch=3, transaction=[(1, "hobj", 0, data)], log_entry=None)

    async def calls():
        peer = messenger.AsyncPeer(server["addr"])
        got = await asyncio.gather(peer.call("echo", repop), peer.call("echo", 5),
                                   peer.call("echo", OSDOpReply(result=0, outs=[(0, data)])))
        peer._writer.close()
        return got

    got = asyncio.run(calls())
    assert got[0] == repop and got[1] == 5 and got[2].outs[0][1] == data
    assert type(got[0].transaction[0][3]) is bytes
