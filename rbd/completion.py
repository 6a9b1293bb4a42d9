"""rbd.Completion: the handle of an asynchronous image operation.

An aio call submits its object ops in the caller's thread (so per-object order follows call
order); once their replies are in, a shared finisher pool gathers them (no thread waits on
an op in flight). The completion then records the return value (bytes for reads, 0 for
writes, -errno on failure), marks itself complete, runs the user's callback, and keeps any
exception the callback raised for `wait_for_complete_and_cb()` to re-raise.

Invariants:
- a finisher job never waits for a free thread while a thread is busy: a job goes to an idle
  thread or to a new one (up to FINISHER_THREADS), so a callback that waits on another
  completion cannot starve it below that bound;
- the state a waiter reads (complete, callback done) is set before any waiter is woken; the
  condition waiters sleep on exists only once someone waits (an op whose caller only uses
  the callback creates no lock of its own);
- "callback done" is set only once the finisher holds no reference to the Completion.
"""
from __future__ import annotations

import errno
import logging
import queue
import sys
import threading

from rbd.errors import RbdError

FINISHER_THREADS = 16
WAIT_LIMIT_S = 600.0
log = logging.getLogger("rayceph.rbd")


class _FinisherPool:
    """Runs submitted jobs on up to `max_threads` threads started on demand (lighter per job
    than a ThreadPoolExecutor: no Future per job, one lock round per submit)."""

    def __init__(self, max_threads: int, name: str):
        self._max_threads = max_threads
        self._name = name
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0              # threads waiting for a job and not promised one yet

    def submit(self, fn, *args) -> None:
        with self._lock:
            if self._idle:
                self._idle -= 1     # promised to the job put below
                start = False
            else:
                start = self._threads < self._max_threads
                if start:
                    self._threads += 1
        self._jobs.put((fn, args))
        if start:
            threading.Thread(target=self._work, daemon=True,
                             name=f"{self._name}_{self._threads - 1}").start()

    def _work(self) -> None:
        jobs, lock = self._jobs, self._lock
        while True:
            fn, args = jobs.get()
            try:
                fn(*args)
            except BaseException:
                log.exception("rbd finisher job raised")
            fn = args = None        # drop references before idling (waiters count them)
            with lock:
                self._idle += 1


_finisher = _FinisherPool(FINISHER_THREADS, "rbd-aio")
_waits_lock = threading.Lock()      # guards creating a condition


class _Waits:
    """What a waiter reads, apart from the Completion: the finisher sets `cb_done` only once
    it holds no reference to the Completion, so a caller woken by it holds the only one
    (the binding's tests check sys.getrefcount(comp) == 2 right after the wait)."""
    __slots__ = ("complete", "cb_done", "cond")

    def __init__(self):
        self.complete = False
        self.cb_done = False
        self.cond: threading.Condition | None = None

    def wait_until(self, flag: str) -> None:
        if getattr(self, flag):
            return
        with _waits_lock:
            if getattr(self, flag):
                return
            cond = self.cond
            if cond is None:
                cond = self.cond = threading.Condition(threading.Lock())
        with cond:
            cond.wait_for(lambda: getattr(self, flag), WAIT_LIMIT_S)

    def set(self, flag: str) -> None:
        with _waits_lock:
            setattr(self, flag, True)
            cond = self.cond
        if cond is not None:
            with cond:
                cond.notify_all()


class Completion:
    """completion object"""

    def __init__(self, image, oncomplete, buf_cb=None):
        self.image = image
        self.oncomplete = oncomplete
        self._buf_cb = buf_cb       # (completion) -> the callback's extra args
        self._waits = _Waits()
        self._ret = 0
        self.exc_info = None
        self._value = None

    def is_complete(self) -> bool:
        """Has the operation completed?"""
        return self._waits.complete

    def wait_for_complete(self) -> None:
        """Wait for the operation (not the callback) to complete."""
        self._waits.wait_until("complete")

    def wait_for_complete_and_cb(self) -> None:
        """Wait for the operation and its callback; re-raise what the callback raised."""
        self._waits.wait_until("cb_done")
        if self.exc_info:
            exc = self.exc_info[1]
            raise exc.with_traceback(self.exc_info[2])

    def get_return_value(self) -> int:
        """0 or bytes read on success, a negative errno on failure."""
        return self._ret

    def __del__(self):
        pass

    # -- internal ------------------------------------------------------------------------------
    def _complete_and_call_back(self, ret: int, value=None) -> _Waits:
        """Record the result, wake wait_for_complete, run the callback; the caller sets
        `cb_done` on the returned _Waits once it has let go of this Completion."""
        self._ret = ret
        self._value = value
        waits = self._waits
        waits.set("complete")
        try:
            if self.oncomplete is not None:
                if self._buf_cb is not None:
                    self.oncomplete(self, *self._buf_cb(self))
                else:
                    self.oncomplete(self)
        except BaseException:
            self.exc_info = sys.exc_info()
        return waits

    def _finish(self, ret: int, value=None) -> None:
        self._complete_and_call_back(ret, value).set("cb_done")

    def _run(self, fn, to_ret=None, pending=None) -> "Completion":
        """Run fn() on the finisher; its value (or RbdError) becomes the return value.
        With `pending` (rbd.io.Pending), fn starts only once its replies are all in, so a
        finisher thread is taken only while there is work, never to wait for an OSD.
        The job reaches this Completion only through `holder`, emptied as it starts."""
        holder = [self]

        def work():
            comp = holder.pop()
            try:
                value = fn()
                ret = to_ret(value) if to_ret is not None else 0
            except RbdError as exc:
                ret, value = exc.ret, None
            except BaseException:   # a bug: report EIO rather than hang the caller
                log.exception("aio operation failed")
                ret, value = -errno.EIO, None
            waits = comp._complete_and_call_back(ret, value)
            del comp, value
            waits.set("cb_done")
        if pending is None:
            _finisher.submit(work)
        else:
            pending.when_ready(lambda: _finisher.submit(work))
        return self

    def _fail(self, ret: int) -> "Completion":
        def failed():
            raise RbdError(ret)
        return self._run(failed)
