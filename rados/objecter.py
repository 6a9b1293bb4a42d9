"""The Objecter: maps each object op to its PG's primary and keeps it moving until answered.

Invariants:
- Per OSD there is at most one batch in flight (`_OsdSession`). Ops queued meanwhile travel
  together in the next batch. That is both the batching that makes small ops cheap and what
  keeps per-object order: Ray may start an async actor's calls out of order, but a session
  never has two calls outstanding.
- An op keeps its reqid across resends, so a primary that already applied it answers from
  its PG log instead of applying it twice.
- A reply with `retry_epoch` or a dead OSD sends the op back through routing after the
  client has a newer map; every op has a deadline after which it fails with -ETIMEDOUT,
  also while it waits on an OSD that never answers (the watchdog).
- On every new map (seen by the monc listener or by the next op routed) queued ops whose
  primary changed move to the new primary, and every op held by a session to an OSD the
  map shows down is resent and the session dropped, as Ceph's objecter rescans its
  sessions: a paused or cut-off primary cannot hold ops once the monitor marks it down.
  Routing and that rescan hold one lock, so an op routed on the new map never overtakes
  an older op to the same object that the rescan is about to move.
"""
from __future__ import annotations

import errno
import itertools
import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor

from osd.host import is_notify
from osd.messages import SNAP_HEAD, OSDOpReply, OSDOpRequest

log = logging.getLogger("rayceph.objecter")

MAX_BATCH_OPS = 512
MAX_BATCH_BYTES = 64 << 20
# librados waits forever when rados_osd_op_timeout is 0; we bound it so nothing hangs.
DEFAULT_OP_TIMEOUT_S = 120.0
RETRY_BACKOFF_S = 0.05


WATCHDOG_S = 0.5


def _finish(future: Future, reply: OSDOpReply) -> None:
    """Complete an op's future unless someone already did (a late reply, the watchdog's
    timeout and a resend may race for it)."""
    try:
        future.set_result(reply)
    except InvalidStateError:
        pass


class _InFlight:
    __slots__ = ("request", "future", "deadline", "attempts", "session")

    def __init__(self, request: OSDOpRequest, future: Future, deadline: float):
        self.request = request
        self.future = future
        self.deadline = deadline
        self.attempts = 0
        self.session: _OsdSession | None = None     # the session holding it, if any


def _payload_bytes(request: OSDOpRequest) -> int:
    size = 0
    for op in request.ops:
        for arg in op[1:]:
            if isinstance(arg, (bytes, bytearray, memoryview)):
                size += len(arg)
    return size


class _OsdSession:
    """The ordered pipe from this client to one OSD."""

    def __init__(self, objecter: "Objecter", osd_id: int):
        self.objecter = objecter
        self.osd_id = osd_id
        self.queue: deque[_InFlight] = deque()
        self.in_flight: list[_InFlight] | None = None
        self.lock = threading.Lock()

    def enqueue(self, op: _InFlight) -> list[_InFlight] | None:
        """Queue `op`; returns the batch the caller must `_send` (outside its locks)."""
        with self.lock:
            op.session = self
            self.queue.append(op)
            if self.in_flight is not None:
                return None
            return self._take_batch()

    def held(self) -> tuple[list[_InFlight], list[_InFlight]]:
        """(in flight, queued), read together."""
        with self.lock:
            return list(self.in_flight or ()), list(self.queue)

    def take_back(self, ops: list[_InFlight]) -> None:
        """Withdraw `ops` (in flight or queued): their replies from here are ignored."""
        ids = {id(op) for op in ops}
        with self.lock:
            self.queue = deque(op for op in self.queue if id(op) not in ids)
            for op in ops:
                op.session = None

    def _take_batch(self) -> list[_InFlight]:
        if len(self.queue) == 1:        # the sequential caller's case: no size to weigh
            batch = self.in_flight = [self.queue.popleft()]
            return batch
        batch, size = [], 0
        while self.queue and len(batch) < MAX_BATCH_OPS:
            nbytes = _payload_bytes(self.queue[0].request)
            if batch and size + nbytes > MAX_BATCH_BYTES:
                break
            batch.append(self.queue.popleft())
            size += nbytes
        self.in_flight = batch
        return batch

    def _send(self, batch: list[_InFlight]) -> None:
        try:
            future = self.objecter.transport.osd_call(
                self.osd_id, "osd_ops", [op.request for op in batch])
        except Exception as exc:  # transport refused synchronously (e.g. OSD unknown)
            future = Future()
            future.set_exception(exc)
        future.add_done_callback(lambda f: self._on_done(batch, f))

    def _on_done(self, batch: list[_InFlight], future: Future) -> None:
        try:
            replies = future.result()
        except Exception as exc:
            log.debug("osd.%d batch failed: %r", self.osd_id, exc)
            for op in batch:
                if op.session is self:
                    self.objecter._retry_later(op, need_newer_map=True)
        else:
            for op, reply in zip(batch, replies):
                if op.session is self:      # else a rescan moved it to another OSD
                    self.objecter._handle_reply(op, reply)
        with self.lock:
            self.in_flight = None
            next_batch = self._take_batch() if self.queue else None
        if next_batch:
            # we may be on a reply thread (the messenger's reader, Ray's callback thread):
            # it must never block on connecting to an OSD, or every reply behind it waits
            self.objecter._send_all([(self, next_batch)])


class Objecter:
    def __init__(self, monc, transport, gid: int, op_timeout_s: float = 0.0):
        self.monc = monc
        self.transport = transport
        self.gid = gid
        self.op_timeout_s = op_timeout_s or DEFAULT_OP_TIMEOUT_S
        self._tids = itertools.count(1)
        self._sessions: dict[int, _OsdSession] = {}
        self._sessions_lock = threading.Lock()
        self._retry_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="objecter-retry")
        # first sends to an OSD whose channel is not up yet (the lookup may block on Ray)
        self._connect_pool = ThreadPoolExecutor(max_workers=4,
                                                thread_name_prefix="objecter-connect")
        self._closed = False
        self._route_lock = threading.RLock()
        self._scanned_epoch = monc.osdmap.epoch
        monc.add_listener(lambda old, new: self._on_new_map())
        self._stop = threading.Event()
        self._watchdog = threading.Thread(target=self._watch_deadlines, daemon=True,
                                          name="objecter-watchdog")
        self._watchdog.start()

    # -- public -------------------------------------------------------------------------------
    def submit(self, pool: int, oid: str, ops: list, nspace: str = "", key: str = "",
               snapc=None, snapid: int = SNAP_HEAD, flags: int = 0, mtime=None,
               timeout_s: float | None = None) -> Future:
        request = OSDOpRequest(reqid=(self.gid, next(self._tids)), pool=pool, pgid=0, oid=oid,
                               nspace=nspace or "", key=key or "", ops=list(ops), snapc=snapc,
                               snapid=snapid, flags=flags, mtime=mtime)
        future: Future = Future()
        if self._closed:
            future.set_result(OSDOpReply(result=-errno.ESHUTDOWN))
            return future
        deadline = time.monotonic() + (timeout_s or self.op_timeout_s)
        self._route(_InFlight(request, future, deadline))
        return future

    def close(self) -> None:
        self._closed = True
        self._stop.set()
        self._connect_pool.shutdown(wait=False, cancel_futures=True)
        self._retry_pool.shutdown(wait=False, cancel_futures=True)

    # -- routing ------------------------------------------------------------------------------
    def _route(self, op: _InFlight) -> None:
        with self._route_lock:
            sends = self._rescan_if_new_map()
            sends.extend(self._route_locked(op))
        self._send_all(sends)

    def _send_all(self, sends: list) -> None:
        for session, batch in sends:
            if self.transport.connected(session.osd_id):
                session._send(batch)
                continue
            try:
                self._connect_pool.submit(session._send, batch)
            except RuntimeError:    # closed under us: the batch's ops fail as shut down
                for op in batch:
                    if not op.future.done():
                        _finish(op.future, OSDOpReply(result=-errno.ESHUTDOWN))

    def _route_locked(self, op: _InFlight) -> list:
        """Route `op` on the current map; returns the (session, batch) pairs to send."""
        if op.future.done():
            return []
        osdmap = self.monc.osdmap
        request = op.request
        pool = osdmap.pools.get(request.pool)
        if pool is None:
            if op.attempts == 0:
                self._retry_later(op, need_newer_map=True)
            else:
                _finish(op.future, OSDOpReply(result=-errno.ENOENT))
            return []
        seed = osdmap.object_locator_to_pg(request.pool, request.oid, request.nspace, request.key)
        _, primary = osdmap.pg_to_acting(request.pool, seed)
        if primary < 0:
            self._retry_later(op, need_newer_map=True)
            return []
        request.pgid = seed
        request.epoch = osdmap.epoch
        if is_notify(request):
            future = self.transport.osd_call(primary, "osd_notify", request)
            future.add_done_callback(lambda f: self._on_single_done(op, f))
            return []
        session = self._session(primary)
        batch = session.enqueue(op)
        return [(session, batch)] if batch else []

    def _primary(self, osdmap, request: OSDOpRequest) -> int:
        if request.pool not in osdmap.pools:
            return -1
        seed = osdmap.object_locator_to_pg(request.pool, request.oid, request.nspace, request.key)
        return osdmap.pg_to_acting(request.pool, seed)[1]

    def _on_new_map(self) -> None:
        with self._route_lock:
            sends = self._rescan_if_new_map()
        self._send_all(sends)

    def _rescan_if_new_map(self) -> list:
        """Move the ops a new map sends elsewhere (call with the route lock held)."""
        osdmap = self.monc.osdmap
        if osdmap.epoch == self._scanned_epoch:
            return []
        self._scanned_epoch = osdmap.epoch
        with self._sessions_lock:
            sessions = list(self._sessions.items())
        moved: list[_InFlight] = []
        for osd_id, session in sessions:
            in_flight, queued = session.held()
            if not osdmap.is_up(osd_id):
                # its in-flight call may never return (a paused OSD keeps its socket):
                # resend everything and let a new session start clean if it comes back
                with self._sessions_lock:
                    if self._sessions.get(osd_id) is session:
                        del self._sessions[osd_id]
                elsewhere = in_flight + queued
            else:
                # in-flight ops stay: a live OSD answers them (with a retry if no longer
                # primary); queued ones go straight to their new primary
                elsewhere = [op for op in queued if self._primary(osdmap, op.request) != osd_id]
            if elsewhere:
                session.take_back(elsewhere)
                moved.extend(elsewhere)
        moved.sort(key=lambda op: op.request.reqid[1])     # submission order per object
        sends: list = []
        for op in moved:
            sends.extend(self._route_locked(op))
        return sends

    def _await_map(self, op: _InFlight, need_epoch: int, need_newer_map: bool) -> None:
        remaining = max(0.0, op.deadline - time.monotonic())
        have = self.monc.osdmap.epoch
        if need_epoch > have:
            self.monc.wait_for_epoch(need_epoch, timeout_s=min(remaining, 5.0))
        elif need_newer_map:
            self.monc.refresh()
            if self.monc.osdmap.epoch == have and op.attempts > 1:
                # Nothing changed yet (an OSD died and the monitor hasn't noticed):
                # back off instead of hammering the same dead primary.
                self.monc.wait_for_epoch(have + 1,
                                         timeout_s=min(remaining, RETRY_BACKOFF_S * op.attempts))

    def _watch_deadlines(self) -> None:
        """Fail ops past their deadline even while no reply ever comes (rados_osd_op_timeout)."""
        while not self._stop.wait(WATCHDOG_S):
            now = time.monotonic()
            with self._sessions_lock:
                sessions = list(self._sessions.values())
            for session in sessions:
                for op in itertools.chain(*session.held()):
                    if now >= op.deadline and not op.future.done():
                        _finish(op.future, OSDOpReply(result=-errno.ETIMEDOUT))

    def _session(self, osd_id: int) -> _OsdSession:
        with self._sessions_lock:
            session = self._sessions.get(osd_id)
            if session is None:
                session = self._sessions[osd_id] = _OsdSession(self, osd_id)
            return session

    def _on_single_done(self, op: _InFlight, future: Future) -> None:
        try:
            reply = future.result()
        except Exception:
            self._retry_later(op, need_newer_map=True)
            return
        self._handle_reply(op, reply)

    def _handle_reply(self, op: _InFlight, reply: OSDOpReply) -> None:
        if reply.retry_epoch:
            self._retry_later(op, need_epoch=reply.retry_epoch)
            return
        if not op.future.done():
            _finish(op.future, reply)

    def _retry_later(self, op: _InFlight, need_epoch: int = 0, need_newer_map: bool = False) -> None:
        if op.future.done():        # timed out meanwhile: nothing left to resend
            return
        op.attempts += 1
        if self._closed:
            _finish(op.future, OSDOpReply(result=-errno.ESHUTDOWN))
            return
        if time.monotonic() >= op.deadline:
            _finish(op.future, OSDOpReply(result=-errno.ETIMEDOUT))
            return
        try:
            self._retry_pool.submit(self._resend, op, need_epoch, need_newer_map)
        except RuntimeError:  # pool shut down under us
            _finish(op.future, OSDOpReply(result=-errno.ESHUTDOWN))

    def _resend(self, op: _InFlight, need_epoch: int, need_newer_map: bool) -> None:
        try:
            try:
                self._await_map(op, need_epoch, need_newer_map)
            except Exception as exc:    # the monitor is slow or unreachable: not the op's end
                log.debug("waiting for a map failed: %r", exc)
                if time.monotonic() < op.deadline:
                    time.sleep(RETRY_BACKOFF_S)
            self._route(op)
        except Exception as exc:  # keep the op's future from hanging on an internal error
            log.exception("resend failed")
            try:
                op.future.set_exception(exc)
            except InvalidStateError:
                pass
