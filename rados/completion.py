"""Completion: the handle of one asynchronous op, and the finisher that runs its callbacks.

Invariants (those of librados' AioCompletion as the Python binding exposes it):
- `is_complete()` turns true when the reply is in, before the callbacks run; the callbacks
  (`oncomplete` then `onsafe`) run exactly once, on the Rados handle's finisher thread, never
  on the caller's thread, in the order the replies arrived.
- While an op with callbacks is in flight the library holds the Completion (in its Ioctx's
  `complete_completions` / `safe_completions` lists, as the real binding does), so a caller
  may drop it. Once the callbacks have run, every library reference is gone before
  `wait_for_complete_and_cb()` returns: `sys.getrefcount(comp) == 2` then holds.
- Every wait is bounded: an op whose reply never comes completes with -ETIMEDOUT after the
  client's op timeout plus a margin.
"""
from __future__ import annotations

import errno
import logging
import queue
import threading
from concurrent.futures import Future

log = logging.getLogger("rayceph.rados")

FINISHER_IDLE_S = 5.0          # an idle finisher thread exits; the next callback restarts it
WAIT_MARGIN_S = 30.0           # beyond the client's op timeout, before we give up on a reply
DEFAULT_WAIT_S = 150.0


class Finisher:
    """One thread that runs completion callbacks in FIFO order (librados' Finisher)."""

    def __init__(self, name: str = "rados-finisher"):
        self.name = name
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pending = 0

    def queue(self, comp: "Completion") -> None:
        with self._lock:
            self._pending += 1
            self._queue.put(comp)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def is_finisher_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def _run(self) -> None:
        while True:
            try:
                comp = self._queue.get(timeout=FINISHER_IDLE_S)
            except queue.Empty:
                with self._lock:
                    if self._pending == 0:
                        self._thread = None
                        return
                continue
            done_event = comp._cb_done
            comp._run_callbacks()
            # Drop our reference before waking waiters: they may count references.
            del comp
            with self._lock:
                self._pending -= 1
            done_event.set()


class Completion:
    """Handle of an asynchronous op: `is_complete`, `wait_for_complete[_and_cb]`,
    `get_return_value` (0 / bytes read / -errno, as librados reports it)."""

    def __init__(self, ioctx, oncomplete=None, onsafe=None):
        self.ioctx = ioctx
        self.oncomplete = oncomplete
        self.onsafe = onsafe
        self._ret = 0
        self._value = None          # what the op produced (data read, stat, notify replies)
        self._complete = threading.Event()
        self._cb_done = threading.Event()
        self._holder: list | None = None
        self._wait_s = DEFAULT_WAIT_S

    # -- the binding's API --------------------------------------------------------------------
    def is_complete(self) -> bool:
        return self._complete.is_set()

    def is_safe(self) -> bool:
        return self.is_complete()

    def wait_for_complete(self) -> None:
        """Block until the reply is in (the callbacks may still be running)."""
        self._wait(self._complete)

    def wait_for_safe(self) -> None:
        self.wait_for_complete()

    def wait_for_complete_and_cb(self) -> None:
        """Block until the reply is in and the callbacks have returned."""
        self._wait(self._complete)
        if self._finisher().is_finisher_thread():
            return      # called from a callback: waiting for the finisher would deadlock
        self._cb_done.wait(self._wait_s)

    def wait_for_safe_and_cb(self) -> None:
        self.wait_for_complete_and_cb()

    def get_return_value(self) -> int:
        return self._ret

    def __repr__(self):
        state = "complete" if self.is_complete() else "pending"
        return "<rados.Completion %s ret=%d>" % (state, self._ret)

    # -- library side -------------------------------------------------------------------------
    def _finisher(self) -> Finisher:
        return self.ioctx.rados._finisher

    def _attach(self, future: Future, interpret, wait_s: float | None = None) -> None:
        """Complete from `future` (an OSDOpReply); `interpret(reply) -> (ret, value)`."""
        if wait_s:
            self._wait_s = wait_s
        holder = [self]
        self._holder = holder

        def done(f: Future) -> None:
            try:
                comp = holder.pop()
            except IndexError:
                return          # already completed (timed out)
            comp._finish_from(f, interpret)

        future.add_done_callback(done)

    def _finish_from(self, future: Future, interpret) -> None:
        try:
            reply = future.result()
            ret, value = interpret(reply)
        except Exception as exc:  # transport failure: report it as librados would, an errno
            from rados.errors import errno_of
            ret, value = -errno_of(exc), None
        self._finish(ret, value)

    def _fail_async(self, ret: int) -> None:
        """Complete with -errno without sending anything (an error the OSD would give)."""
        self._finish(ret, None)

    def _finish(self, ret: int, value) -> None:
        self._ret = ret
        self._value = value
        self._holder = None
        self._complete.set()
        ioctx = self.ioctx
        if ioctx is not None and hasattr(ioctx, "_op_done"):
            ioctx._op_done()
        if self.oncomplete or self.onsafe:
            self._finisher().queue(self)
        else:
            self._cb_done.set()

    def _wait(self, event: threading.Event) -> None:
        if event.wait(self._wait_s):
            return
        holder = self._holder
        if holder:
            try:
                comp = holder.pop()
            except IndexError:
                comp = None
            if comp is not None:
                log.warning("aio op gave no reply within %.0fs; completing it with ETIMEDOUT",
                            self._wait_s)
                comp._finish(-errno.ETIMEDOUT, None)
                del comp
        event.wait(self._wait_s)

    def _run_callbacks(self) -> None:
        for cb in (self.oncomplete, self.onsafe):
            if cb is None:
                continue
            try:
                cb(self)
            except Exception:
                log.exception("rados completion callback raised")
        self._cleanup()

    def _cleanup(self) -> None:
        ioctx = self.ioctx
        if ioctx is None or not hasattr(ioctx, "lock"):
            return
        with ioctx.lock:
            for lst in (ioctx.complete_completions, ioctx.safe_completions):
                try:
                    lst.remove(self)
                except ValueError:
                    pass
