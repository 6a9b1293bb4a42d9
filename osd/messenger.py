"""A small messenger: ordered RPC over one TCP connection per peer, beside Ray.

Why: a Ray actor call costs ~0.5-0.7 ms and the node manages a few thousand a second, which
caps replicated 4 KiB writes well below real Ceph. A plain socket round trip costs tens of
microseconds. Ray still owns the processes (actors), their names, lifecycle and the maps;
the data path (client -> primary -> replicas) travels here.

Wire format: a frame is `u32 body length | u32 n | n x u32 buffer length | pickle(protocol 5)
| n raw buffers`. The buffers are the large payloads of data-path messages
(osd.messages.OUT_OF_BAND_REDUCERS), sent from the caller's own bytes object and rebuilt as
bytes on the other side, so a 4 MiB write is never copied into a pickle. A request is
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
import io
import itertools
import logging
import pickle
import socket
import struct
import threading
from concurrent.futures import Future

from osd.messages import OUT_OF_BAND_REDUCERS

log = logging.getLogger("rayceph.msgr")

_HEADER = struct.Struct("<II")     # body length, number of out-of-band buffers
MAX_FRAME = 1 << 31
# asyncio pauses a socket whenever its buffer passes 2 x limit; with the 64 KiB default a
# 4 MiB write needs dozens of pause/resume rounds. Frames are bounded by the client's batch.
STREAM_LIMIT = 1 << 26
# what a client's reader asks the kernel for at once (a frame larger than this gets a
# buffer of its own size, dropped once decoded)
READ_BUFFER = 1 << 18


_BUFFER_LEN = struct.Struct("<I")
# write the big buffers of a frame with calls of their own rather than joining them to it
_JOIN_LIMIT = 64 << 10


class _Encoder:
    """A reusable pickler: making one per frame costs more than pickling a small message."""

    def __init__(self):
        self.stream = io.BytesIO()
        self.buffers: list = []
        self.pickler = pickle.Pickler(self.stream, protocol=5,
                                      buffer_callback=self.buffers.append)
        self.pickler.dispatch_table = OUT_OF_BAND_REDUCERS


# one per thread, by thread id (a threading.local costs more per frame than the lookup);
# a new thread with a recycled id takes over its predecessor's idle encoder
_encoders: dict[int, _Encoder] = {}


def encode(obj) -> list:
    """The frame as [header, pickle, raw buffers...]: written with one gather call, never
    concatenated (a 4 MiB payload would otherwise be copied once more)."""
    enc = _encoders.get(threading.get_ident())
    if enc is None:
        enc = _encoders[threading.get_ident()] = _Encoder()
    stream, buffers = enc.stream, enc.buffers
    stream.seek(0)
    stream.truncate()
    try:
        enc.pickler.dump(obj)
    except BaseException:
        buffers.clear()
        raise
    finally:
        enc.pickler.clear_memo()
    skeleton = stream.getvalue()
    if not buffers:
        return [_HEADER.pack(len(skeleton), 0), skeleton]
    raws = [buffer.raw() for buffer in buffers]
    buffers.clear()
    lengths = [len(raw) for raw in raws]
    header = _HEADER.pack(len(skeleton) + 4 * len(raws) + sum(lengths), len(raws))
    return [header + b"".join(_BUFFER_LEN.pack(n) for n in lengths), skeleton, *raws]


def decode(body, nbuffers: int):
    """The message of a frame body (bytes or a memoryview of it); out-of-band payloads come
    back as bytes of their own, so nothing keeps the receive buffer alive."""
    if nbuffers == 0:
        return pickle.loads(body)
    view = memoryview(body)
    lengths = [_BUFFER_LEN.unpack_from(view, 4 * i)[0] for i in range(nbuffers)]
    start = 4 * nbuffers
    end = len(view) - sum(lengths)
    skeleton = view[start:end]
    buffers = []
    for length in lengths:
        buffers.append(bytes(view[end:end + length]))
        end += length
    return pickle.loads(skeleton, buffers=buffers)


async def read_message(reader: asyncio.StreamReader):
    """The next message on an asyncio stream. Each out-of-band buffer is read by a call of
    its own, so the bytes object asyncio returns is the payload itself (decoding a whole
    body would copy every payload once more)."""
    length, nbuffers = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    if nbuffers == 0:
        return pickle.loads(await reader.readexactly(length))
    lengths = struct.unpack(f"<{nbuffers}I", await reader.readexactly(4 * nbuffers))
    skeleton = await reader.readexactly(length - 4 * nbuffers - sum(lengths))
    buffers = [await reader.readexactly(n) for n in lengths]
    return pickle.loads(skeleton, buffers=buffers)


def write_frame(writer: asyncio.StreamWriter, frame: list) -> None:
    """asyncio's writelines joins its chunks (one more copy of every payload): small chunks
    go together, each big buffer in a write of its own."""
    if len(frame) == 2:
        writer.write(frame[0] + frame[1])
        return
    small = frame[0] + frame[1]
    for chunk in frame[2:]:
        if len(chunk) < _JOIN_LIMIT:
            small += bytes(chunk)
        else:
            if small:
                writer.write(small)
                small = b""
            writer.write(chunk)
    if small:
        writer.write(small)


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
                write_frame(writer, frame)
                await writer.drain()

        try:
            while True:
                msg_id, method, args = await read_message(reader)
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
                msg_id, ok, value = await read_message(reader)
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

    def close(self) -> None:
        """Drop the connection; calls waiting on it fail with ConnectionClosed."""
        writer = self._writer
        self._fail_all(ConnectionClosed(f"connection to {self.addr} closed"))
        if writer is not None:
            writer.close()

    async def call(self, method: str, *args):
        if self._writer is None:
            if self.closed:
                raise ConnectionClosed(f"connection to {self.addr} closed")
            await self._connect()
        msg_id = next(self._ids)
        waiter = asyncio.get_running_loop().create_future()
        self._waiting[msg_id] = waiter
        write_frame(self._writer, encode((msg_id, method, args)))
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
                    length, nbuffers = _HEADER.unpack_from(buf, start)
                    frame_end = start + header_size + length
                    if frame_end > end:
                        break
                    self._deliver(decode(view[start + header_size:frame_end], nbuffers))
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

    def _send_all(self, frame: list) -> None:
        """Gather-send every chunk, resuming after a partial send where it stopped."""
        sock = self._sock
        while frame:
            sent = sock.sendmsg(frame)
            for i, chunk in enumerate(frame):
                if sent < len(chunk):
                    frame = [memoryview(chunk)[sent:], *frame[i + 1:]]
                    break
                sent -= len(chunk)
            else:
                return

    def call(self, method: str, *args) -> Future:
        future: Future = Future()
        if self.closed:
            future.set_exception(ConnectionClosed(f"connection to {self.addr} closed"))
            return future
        msg_id = next(self._ids)
        with self._waiting_lock:
            self._waiting[msg_id] = future
        try:
            frame = encode((msg_id, method, args))
            with self._send_lock:
                self._send_all(frame)
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
