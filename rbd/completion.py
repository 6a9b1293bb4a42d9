"""rbd.Completion: the handle of an asynchronous image operation.

An aio call submits its object ops in the caller's thread (so per-object order follows call
order); once their replies are in, a shared finisher pool gathers them (no thread waits on
an op in flight). The completion then records the
return value (bytes for reads, 0 for writes, -errno on failure), marks itself complete, runs
the user's callback, and keeps any exception the callback raised for
`wait_for_complete_and_cb()` to re-raise.
"""
from __future__ import annotations

import errno
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from rbd.errors import RbdError

_finisher = ThreadPoolExecutor(max_workers=16, thread_name_prefix="rbd-aio")
WAIT_LIMIT_S = 600.0


class Completion:
    """completion object"""

    def __init__(self, image, oncomplete, buf_cb=None):
        self.image = image
        self.oncomplete = oncomplete
        self._buf_cb = buf_cb       # (completion) -> the callback's extra args
        self._complete = threading.Event()
        self._cb_done = threading.Event()
        self._ret = 0
        self.exc_info = None
        self._value = None

    def is_complete(self) -> bool:
        """Has the operation completed?"""
        return self._complete.is_set()

    def wait_for_complete(self) -> None:
        """Wait for the operation (not the callback) to complete."""
        self._complete.wait(WAIT_LIMIT_S)

    def wait_for_complete_and_cb(self) -> None:
        """Wait for the operation and its callback; re-raise what the callback raised."""
        self._complete.wait(WAIT_LIMIT_S)
        self._cb_done.wait(WAIT_LIMIT_S)
        if self.exc_info:
            exc = self.exc_info[1]
            raise exc.with_traceback(self.exc_info[2])

    def get_return_value(self) -> int:
        """0 or bytes read on success, a negative errno on failure."""
        return self._ret

    def __del__(self):
        pass

    # -- internal ------------------------------------------------------------------------------
    def _finish(self, ret: int, value=None) -> None:
        self._ret = ret
        self._value = value
        self._complete.set()
        try:
            if self.oncomplete is not None:
                if self._buf_cb is not None:
                    self.oncomplete(self, *self._buf_cb(self))
                else:
                    self.oncomplete(self)
        except BaseException:
            self.exc_info = sys.exc_info()
        finally:
            self._cb_done.set()

    def _run(self, fn, to_ret=None, pending=None) -> "Completion":
        """Run fn() on the finisher; its value (or RbdError) becomes the return value.
        With `pending` (rbd.io.Pending), fn starts only once its replies are all in, so a
        finisher thread is taken only while there is work, never to wait for an OSD."""
        def work():
            try:
                value = fn()
            except RbdError as exc:
                self._finish(exc.ret)
                return
            except BaseException:   # a bug: report EIO rather than hang the caller
                import logging
                logging.getLogger("rayceph.rbd").exception("aio operation failed")
                self._finish(-errno.EIO)
                return
            self._finish(to_ret(value) if to_ret is not None else 0, value)
        if pending is None:
            _finisher.submit(work)
        else:
            pending.when_ready(lambda: _finisher.submit(work))
        return self

    def _fail(self, ret: int) -> "Completion":
        _finisher.submit(self._finish, ret)
        return self
