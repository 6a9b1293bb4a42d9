"""A small messenger: ordered RPC over one TCP connection per peer, beside Ray.

Why: a Ray actor call costs ~0.5-0.7 ms and the node manages a few thousand a second, which
caps replicated 4 KiB writes well below real Ceph. A plain socket round trip costs tens of
microseconds. Ray still owns the processes (actors), their names, lifecycle and the maps;
the data path (client -> primary -> replicas) travels here.

Wire format: frames of `u32 length | pickle(protocol 5)`. A request is
`(msg_id, method, args)`, a reply `(msg_id, ok, value)` where `value` is the result or the
exception raised. Invariants:
- one connection delivers requests in order, and the server starts handling them in that
  order (tasks are created in arrival order and asyncio runs ready tasks FIFO), so a
  method whose synchronous prefix does the ordered work (OSD batches) keeps per-peer order;
- replies may return out of order; they are matched by msg_id;
- a broken connection fails every request waiting on it; callers resend (the OSD dedupes
  by reqid).
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import pickle
import socket
import struct
import threading
from concurrent.futures import Future

log = logging.getLogger("rayceph.msgr")

_HEADER = struct.Struct("<I")
MAX_FRAME = 1 << 31
# asyncio pauses a socket whenever its buffer passes 2 x limit; with the 64 KiB default a
# 4 MiB write needs dozens of pause/resume rounds. Frames are bounded by the client's batch.
STREAM_LIMIT = 1 << 26
# what a client's reader asks the kernel for at once (a frame larger than this gets a
# buffer of its own size, dropped once decoded)
READ_BUFFER = 1 << 18


def encode(obj) -> list[bytes]:
    """The frame as [header, payload]: written with one gather call, never concatenated
    (a 4 MiB payload would otherwise be copied once more)."""
    payload = pickle.dumps(obj, protocol=5)
    return [_HEADER.pack(len(payload)), payload]


class ConnectionClosed(ConnectionError):
    pass


# -- server (inside an actor's event loop) ----------------------------------------------------
async def serve(target, host: str = "127.0.0.1", port: int = 0):
    """Serve `target`'s async methods; returns (server, (host, port))."""

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        lock = asyncio.Lock()

        async def run(msg_id, method, args):
            try:
                value = await getattr(target, method)(*args)
                frame = encode((msg_id, True, value))
            except Exception as exc:  # the caller gets the exception, the server lives on
                try:
                    frame = encode((msg_id, False, exc))
                except Exception:
                    frame = encode((msg_id, False, RuntimeError(repr(exc))))
            async with lock:
                writer.writelines(frame)
                await writer.drain()

        try:
            while True:
                header = await reader.readexactly(_HEADER.size)
                (length,) = _HEADER.unpack(header)
                msg_id, method, args = pickle.loads(await reader.readexactly(length))
                if method.startswith("_"):
                    continue
                asyncio.ensure_future(run(msg_id, method, args))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connection, host, port, limit=STREAM_LIMIT)
    bound = server.sockets[0].getsockname()
    return server, (bound[0], bound[1])


# -- async client (OSD -> OSD) -----------------------------------------------------------------
class AsyncPeer:
    """An ordered RPC channel from one actor's event loop to another's server."""

    def __init__(self, addr: tuple[str, int]):
        self.addr = addr
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._connecting: asyncio.Lock | None = None
        self.closed = False

    async def _connect(self) -> None:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._writer is not None:
                return
            reader, writer = await asyncio.open_connection(*self.addr, limit=STREAM_LIMIT)
            writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._writer = writer
            asyncio.ensure_future(self._read_loop(reader))

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                (length,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
                msg_id, ok, value = pickle.loads(await reader.readexactly(length))
                waiter = self._waiting.pop(msg_id, None)
                if waiter is not None and not waiter.done():
                    if ok:
                        waiter.set_result(value)
                    else:
                        waiter.set_exception(value)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self._fail_all(ConnectionClosed(f"connection to {self.addr} closed"))

    def _fail_all(self, exc: Exception) -> None:
        self._writer = None
        self.closed = True
        waiting, self._waiting = self._waiting, {}
        for waiter in waiting.values():
            if not waiter.done():
                waiter.set_exception(exc)

    async def call(self, method: str, *args):
        if self._writer is None:
            if self.closed:
                raise ConnectionClosed(f"connection to {self.addr} closed")
            await self._connect()
        msg_id = next(self._ids)
        waiter = asyncio.get_running_loop().create_future()
        self._waiting[msg_id] = waiter
        self._writer.writelines(encode((msg_id, method, args)))
        return await waiter


# -- blocking client (driver process -> OSD) ---------------------------------------------------
class SyncPeer:
    """Thread-safe client channel: calls return concurrent futures resolved by a reader thread."""

    def __init__(self, addr: tuple[str, int], connect_timeout_s: float = 10.0):
        self.addr = addr
        self._sock = socket.create_connection(addr, timeout=connect_timeout_s)
        self._sock.settimeout(None)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._send_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._waiting: dict[int, Future] = {}
        self._waiting_lock = threading.Lock()
        self.closed = False
        self._reader = threading.Thread(target=self._read_loop, name=f"msgr-{addr[1]}",
                                        daemon=True)
        self._reader.start()

    def _read_loop(self) -> None:
        """Receive into one reusable buffer and decode every whole frame it holds: one
        recv per burst of replies instead of two per frame (header, then payload)."""
        buf = bytearray(READ_BUFFER)
        view = memoryview(buf)
        start = end = 0             # buf[start:end] holds received, undecoded bytes
        header_size = _HEADER.size
        try:
            while True:
                while end - start >= header_size:
                    (length,) = _HEADER.unpack_from(buf, start)
                    frame_end = start + header_size + length
                    if frame_end > end:
                        break
                    self._deliver(pickle.loads(view[start + header_size:frame_end]))
                    start = frame_end
                if start == end:
                    start = end = 0
                    if len(buf) > READ_BUFFER:          # drop a buffer grown for a big frame
                        view.release()
                        buf = bytearray(READ_BUFFER)
                        view = memoryview(buf)
                need = header_size
                if end - start >= header_size:
                    need += _HEADER.unpack_from(buf, start)[0]
                if start + need > len(buf):
                    # the frame does not fit behind `start`: move its beginning to the front
                    # of a buffer that holds it whole
                    grown = bytearray(max(need, READ_BUFFER))
                    grown[:end - start] = view[start:end]
                    view.release()
                    buf, view = grown, memoryview(grown)
                    start, end = 0, end - start
                received = self._sock.recv_into(view[end:])
                if received == 0:
                    raise ConnectionClosed("peer closed")
                end += received
        except Exception as exc:
            self._fail_all(ConnectionClosed(f"connection to {self.addr} lost: {exc!r}"))

    def _deliver(self, message) -> None:
        msg_id, ok, value = message
        with self._waiting_lock:
            future = self._waiting.pop(msg_id, None)
        if future is not None:
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def _fail_all(self, exc: Exception) -> None:
        self.closed = True
        with self._waiting_lock:
            waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(exc)

    def _send_all(self, header: bytes, payload: bytes) -> None:
        sent = self._sock.sendmsg([header, payload])
        if sent < len(header):
            self._sock.sendall(header[sent:])
            sent = len(header)
        if sent < len(header) + len(payload):
            self._sock.sendall(memoryview(payload)[sent - len(header):])

    def call(self, method: str, *args) -> Future:
        future: Future = Future()
        if self.closed:
            future.set_exception(ConnectionClosed(f"connection to {self.addr} closed"))
            return future
        msg_id = next(self._ids)
        with self._waiting_lock:
            self._waiting[msg_id] = future
        try:
            header, payload = encode((msg_id, method, args))
            with self._send_lock:
                self._send_all(header, payload)
        except Exception as exc:
            with self._waiting_lock:
                self._waiting.pop(msg_id, None)
            if not future.done():
                future.set_exception(exc if not isinstance(exc, OSError)
                                     else ConnectionClosed(repr(exc)))
            self.close()
        return future

    def close(self) -> None:
        self.closed = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
