"""The asynchronous half of Ioctx: every `aio_*` call of the binding and `aio_flush`.

Each call checks its arguments like its sync twin, creates a Completion, lets the Ioctx hold
it while callbacks are pending (the binding's `complete_completions`/`safe_completions`),
submits the request through the client without waiting and returns. The reply completes the
Completion; callbacks run on the Rados handle's finisher thread, with the extra arguments
the binding gives them (data read, stat result, notify replies).

Client-side refusals librados returns at submission (EROFS while reading at a snapshot) are
raised at once; errors the OSD would give (ENAMETOOLONG) complete the Completion.
"""
from __future__ import annotations

import errno
import time

from rados import _args
from rados.completion import WAIT_MARGIN_S, Completion
from rados.errors import make_ex


def _result(reply):
    return reply.result, None


class AioMixin:
    # -- plumbing -----------------------------------------------------------------------------
    def _get_completion(self, oncomplete, onsafe) -> Completion:
        return Completion(self, oncomplete, onsafe)

    def _track_completion(self, comp: Completion) -> None:
        with self.lock:
            if comp.oncomplete:
                self.complete_completions.append(comp)
            if comp.onsafe:
                self.safe_completions.append(comp)

    def _op_started(self) -> None:
        with self._inflight_cond:
            self._inflight += 1

    def _op_done(self) -> None:
        with self._inflight_cond:
            self._inflight -= 1
            if self._inflight <= 0:
                self._inflight_cond.notify_all()

    def _wait_s(self) -> float:
        client = getattr(self.rados, "_client_obj", None)
        return float(getattr(client, "op_timeout_s", 120.0) or 120.0) + WAIT_MARGIN_S

    def _aio(self, oid: str, ops: list, oncomplete, onsafe, msg: str, *, write,
             interpret=_result, flags: int = 0, mtime=None, at_head: bool = False) -> Completion:
        """Create, track and submit; returns the Completion (raises on submit refusal)."""
        comp = self._get_completion(oncomplete, onsafe)
        self._track_completion(comp)
        err = self._precheck(oid, write)
        if err == -errno.EROFS:
            comp._cleanup()
            raise make_ex(err, msg)
        self._op_started()
        if err:
            comp._fail_async(err)
            return comp
        try:
            future = self._client().submit(self._pool_id, oid, ops,
                                           **self._target(flags, mtime, write, at_head))
        except Exception as exc:
            from rados.errors import errno_of
            comp._fail_async(-errno_of(exc))
            return comp

        def interpret_and_track(reply):
            if getattr(reply, "version", 0):
                self._last_version = reply.version
            return interpret(reply)

        comp._attach(future, interpret_and_track, self._wait_s())
        return comp

    # -- writes -------------------------------------------------------------------------------
    def aio_write(self, object_name, to_write, offset=0, oncomplete=None, onsafe=None):
        """Write `to_write` at `offset`; callbacks get (completion)."""
        self.require_ioctx_open()
        oid = self._oid(object_name, "object_name")
        data = _args.data(to_write)
        offset = _args.uint(offset, "uint64_t")
        return self._aio(oid, [("write", offset, data)], oncomplete, onsafe,
                         "error writing object %s" % object_name, write=True)

    def aio_write_full(self, object_name, to_write, oncomplete=None, onsafe=None):
        self.require_ioctx_open()
        oid = self._oid(object_name, "object_name")
        data = _args.data(to_write)
        return self._aio(oid, [("write_full", data)], oncomplete, onsafe,
                         "error writing object %s" % object_name, write=True)

    def aio_writesame(self, object_name, to_write, write_len, offset=0, oncomplete=None):
        self.require_ioctx_open()
        oid = self._oid(object_name, "object_name")
        data = _args.data(to_write)
        write_len = _args.uint(write_len, "size_t")
        offset = _args.uint(offset, "uint64_t")
        return self._aio(oid, [("writesame", offset, write_len, data)], oncomplete, None,
                         "error writing object %s" % object_name, write=True)

    def aio_append(self, object_name, to_append, oncomplete=None, onsafe=None):
        self.require_ioctx_open()
        oid = self._oid(object_name, "object_name")
        data = _args.data(to_append)
        return self._aio(oid, [("append", data)], oncomplete, onsafe,
                         "error appending object %s" % object_name, write=True)

    def aio_remove(self, object_name, oncomplete=None, onsafe=None):
        self.require_ioctx_open()
        oid = self._oid(object_name, "object_name")
        return self._aio(oid, [("remove",)], oncomplete, onsafe,
                         "error removing %s" % object_name, write=True)

    def aio_setxattr(self, object_name, xattr_name, xattr_value, oncomplete=None):
        self.require_ioctx_open()
        oid = self._oid(object_name, "object_name")
        name = _args.to_str(xattr_name, "xattr_name")
        value = _args.data(xattr_value)
        return self._aio(oid, [("setxattr", name, value)], oncomplete, None,
                         "Failed to set xattr %r" % xattr_name, write=True)

    def aio_rmxattr(self, object_name, xattr_name, oncomplete=None):
        self.require_ioctx_open()
        oid = self._oid(object_name, "object_name")
        name = _args.to_str(xattr_name, "xattr_name")
        return self._aio(oid, [("rmxattr", name)], oncomplete, None,
                         "Failed to remove xattr %r" % xattr_name, write=True)

    # -- reads --------------------------------------------------------------------------------
    def aio_read(self, object_name, length, offset, oncomplete=None):
        """Read up to `length` bytes at `offset`; oncomplete(completion, data or None).
        The return value is the number of bytes read or -errno."""
        self.require_ioctx_open()
        oid = self._oid(object_name, "object_name")
        offset = _args.uint(offset, "uint64_t")
        length = _args.uint(length, "size_t")

        def interpret(reply):
            if reply.result < 0:
                return reply.result, None
            data = bytes(reply.outs[0][1] or b"") if reply.outs else b""
            if length == 0 and data:
                return -errno.ERANGE, None
            data = data[:length]
            return len(data), data

        def oncomplete_(comp):
            if oncomplete is not None:
                return oncomplete(comp, comp._value if comp._ret >= 0 else None)

        return self._aio(oid, [("read", offset, length)], oncomplete_, None,
                         "error reading %s" % object_name, write=False, interpret=interpret)

    def aio_stat(self, object_name, oncomplete):
        """oncomplete(completion, size, time.struct_time) or (completion, None, None)."""
        self.require_ioctx_open()
        oid = self._oid(object_name, "object_name")

        def interpret(reply):
            if reply.result < 0:
                return reply.result, None
            return 0, reply.outs[0][1]

        def oncomplete_(comp):
            if comp._ret >= 0 and comp._value is not None:
                size, mtime = comp._value
                return oncomplete(comp, size, time.localtime(int(mtime)))
            return oncomplete(comp, None, None)

        return self._aio(oid, [("stat",)], oncomplete_, None, "error stating %s" % object_name,
                         write=False, interpret=interpret)

    def aio_getxattr(self, object_name, xattr_name, oncomplete=None):
        """oncomplete(completion, value or None); the return value is the value's length."""
        self.require_ioctx_open()
        oid = self._oid(object_name, "object_name")
        name = _args.to_str(xattr_name, "xattr_name")

        def interpret(reply):
            if reply.result < 0:
                return reply.result, None
            value = bytes(reply.outs[0][1] or b"")
            return len(value), value

        def oncomplete_(comp):
            if oncomplete is not None:
                return oncomplete(comp, comp._value if comp._ret >= 0 else None)

        return self._aio(oid, [("getxattr", name)], oncomplete_, None,
                         "Failed to get xattr %r" % xattr_name, write=False,
                         interpret=interpret)

    def aio_cmpext(self, object_name, cmp_buf, offset=0, oncomplete=None):
        """Return value 0, or -MAX_ERRNO - offset of the first difference."""
        self.require_ioctx_open()
        oid = self._oid(object_name, "object_name")
        cmp_buf = _args.data(cmp_buf)
        offset = _args.uint(offset, "uint64_t")
        return self._aio(oid, [("cmpext", offset, cmp_buf)], oncomplete, None,
                         "failed to compare %s" % object_name, write=False)

    def aio_execute(self, object_name, cls, method, data, length=8192, oncomplete=None,
                    onsafe=None):
        """Run object class method `cls.method`; callbacks get (completion, output or None).
        The return value is the output length (or the method's return code when it has no
        output) or -errno."""
        self.require_ioctx_open()
        oid = self._oid(object_name, "object_name")
        cls_name = _args.to_str(cls, "cls")
        method_name = _args.to_str(method, "method")
        data = _args.data(data)
        length = _args.uint(length, "size_t")

        def interpret(reply):
            if reply.result < 0:
                return reply.result, None
            rval, out = reply.outs[0] if reply.outs else (0, b"")
            out = bytes(out or b"")
            if out and len(out) > length:
                return -errno.ERANGE, None
            return (len(out) if out else (rval or 0)), out

        def oncomplete_(comp):
            return oncomplete(comp, comp._value if comp._ret >= 0 else None)

        def onsafe_(comp):
            return onsafe(comp, comp._value if comp._ret >= 0 else None)

        return self._aio(oid, [("call", cls_name, method_name, data)],
                         oncomplete_ if oncomplete else None, onsafe_ if onsafe else None,
                         "error executing %s::%s on %s" % (cls, method, object_name),
                         write=None, interpret=interpret)

    # -- compound ops -------------------------------------------------------------------------
    def operate_aio_write_op(self, write_op, oid, oncomplete=None, onsafe=None, mtime=0,
                             flags=0):
        """Apply `write_op` asynchronously; callbacks get (completion)."""
        from rados.ops import WriteOp
        self.require_ioctx_open()
        self._check_op(write_op, WriteOp, "write_op")
        obj = self._oid(oid, "oid")
        mtime = _args.sint(mtime, "time_t", 64)
        flags = _args.sint(flags, "int")
        ops, _ = write_op._take()
        return self._aio(obj, ops, oncomplete, onsafe,
                         "Failed to operate aio write op for oid %s" % oid, write=True,
                         flags=flags, mtime=float(mtime) if mtime else None)

    def operate_aio_read_op(self, read_op, oid, oncomplete=None, onsafe=None, flag=0):
        """Run `read_op` asynchronously; its iterators are filled before the callbacks run."""
        from rados.ioctx import _run_handlers
        from rados.ops import ReadOp
        self.require_ioctx_open()
        self._check_op(read_op, ReadOp, "read_op")
        obj = self._oid(oid, "oid")
        flag = _args.sint(flag, "int")
        ops, handlers = read_op._take()

        def interpret(reply):
            _run_handlers(reply, handlers)
            return reply.result, None

        return self._aio(obj, ops, oncomplete, onsafe,
                         "Failed to operate aio read op for oid %s" % oid, write=False,
                         flags=flag, interpret=interpret)

    # names the issue text uses for the same calls
    aio_operate_write_op = operate_aio_write_op
    aio_operate_read_op = operate_aio_read_op

    def aio_flush(self):
        """Block until every aio op of this ioctx submitted so far has completed."""
        self.require_ioctx_open()
        deadline = time.monotonic() + self._wait_s()
        with self._inflight_cond:
            while self._inflight > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise make_ex(-errno.ETIMEDOUT, "error flushing")
                self._inflight_cond.wait(remaining)
