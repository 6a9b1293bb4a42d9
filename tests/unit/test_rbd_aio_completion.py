"""rbd aio completions gather their replies only once every reply is in: no finisher thread
waits on an op in flight (rbd.io.Pending.when_ready, rbd.completion.Completion._run)."""
from __future__ import annotations

import threading
from concurrent.futures import Future

from rbd.completion import Completion
from rbd.io import Pending


def test_when_ready_runs_once_after_the_last_future():
    futures = [Future() for _ in range(3)]
    calls = []
    Pending(lambda: None, futures=futures).when_ready(lambda: calls.append(1))
    futures[2].set_result(None)
    futures[0].set_result(None)
    assert calls == []
    futures[1].set_result(None)
    assert calls == [1]


def test_when_ready_without_futures_runs_at_once():
    calls = []
    Pending(None, 5).when_ready(lambda: calls.append(1))
    assert calls == [1]


def test_aio_completion_starts_gathering_only_when_the_reply_is_in():
    reply = Future()
    started = threading.Event()
    seen = []

    def gather():
        started.set()
        return reply.result(timeout=0)      # would raise if called before the reply

    pending = Pending(gather, futures=[reply])
    comp = Completion(None, lambda c: seen.append(c.get_return_value()))
    comp._run(pending.finish, lambda value: len(value), pending)
    assert not started.wait(0.2) and not comp.is_complete()
    reply.set_result(b"abcd")
    comp.wait_for_complete_and_cb()
    assert comp.get_return_value() == 4 and seen == [4]


def test_a_callback_waiting_on_another_completion_does_not_starve_it():
    # the first job blocks until the second completes: the pool must give the second a
    # thread of its own rather than queue it behind the first
    second = Completion(None, None)
    first = Completion(None, lambda c: second.wait_for_complete())
    first._run(lambda: None)
    second._run(lambda: None)
    first.wait_for_complete_and_cb()
    assert second.is_complete()


def test_callback_exception_is_reraised_to_the_waiter():
    def boom(_):
        raise KeyError("cb")
    comp = Completion(None, boom)._fail(-5)
    try:
        comp.wait_for_complete_and_cb()
    except KeyError:
        pass
    else:
        raise AssertionError("the callback's exception was not re-raised")
    assert comp.get_return_value() == -5


def test_the_caller_holds_the_only_reference_right_after_the_wait():
    # Ceph's binding tests check sys.getrefcount(comp) == 2 straight after the wait: the
    # finisher must have let go of the Completion before it wakes the waiter
    import sys
    for i in range(300):
        reply = Future()
        pending = Pending(lambda: reply.result(timeout=0), futures=[reply])
        comp = Completion(None, lambda c: None)
        comp._run(pending.finish, len, pending)
        reply.set_result(b"xy")
        comp.wait_for_complete_and_cb()
        assert sys.getrefcount(comp) == 2, i
