"""Ioctx calls beyond plain object I/O: object classes, cls_lock locks, watch/notify,
application metadata and pool statistics.

Locks are calls of the `lock` object class (osd/cls/lock.py), with msgpack-encoded
arguments; conflicts come back with cls_lock's errnos (EBUSY, EEXIST, ENOENT). Watches go
through the ClusterClient, which runs callbacks on its own threads. Application metadata is
read from the client's OSDMap and changed with the monitor commands librados sends
(`osd pool application enable|set|rm`).
"""
from __future__ import annotations

import errno
import itertools

from rados import _args
from rados.errors import errno_of, make_ex

_notify_cookies = itertools.count(1)


def _pack(obj) -> bytes:
    try:
        from osd.cls import pack
    except ImportError:  # pragma: no cover - the OSD package ships with us
        import msgpack
        return msgpack.packb(obj, use_bin_type=True)
    return pack(obj)


def _unpack(data: bytes):
    import msgpack
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


class ExtrasMixin:
    # -- object classes -----------------------------------------------------------------------
    def execute(self, key, cls, method, data, length=8192):
        """Run object class method `cls.method` on the object: returns (ret, output bytes).
        An unknown class or method fails with EOPNOTSUPP (rados.OSError)."""
        self.require_ioctx_open()
        oid = self._oid(key)
        cls_name = _args.to_str(cls, "cls")
        method_name = _args.to_str(method, "method")
        data = _args.data(data)
        length = _args.uint(length, "size_t")
        msg = "Ioctx.read(%s): failed to read %s" % (self.name, key)
        reply = self._operate(oid, [("call", cls_name, method_name, data)], msg, write=None)
        rval, out = reply.outs[0] if reply.outs else (0, b"")
        out = bytes(out or b"")
        if out:
            if len(out) > length:
                raise make_ex(-errno.ERANGE, msg)
            return len(out), out
        return (rval or 0), b""

    def _cls(self, key, method: str, args: dict, msg: str, write: bool = True):
        oid = self._oid(key)
        return self._operate(oid, [("call", "lock", method, _pack(args))], msg, write=write)

    # -- locks (cls_lock) ---------------------------------------------------------------------
    def _lock(self, key, name, cookie, tag, desc, duration, flags, lock_type, what):
        self.require_ioctx_open()
        name_s = _args.to_str(name, "name")
        cookie_s = _args.to_str(cookie, "cookie")
        tag_s = _args.to_str(tag, "tag") if tag is not None else ""
        desc_s = _args.to_str(desc, "desc")
        flags = _args.uint(flags, "uint8_t", 8)
        seconds = 0 if duration is None else _args.sint(duration, "time_t", 64)
        args = {"name": name_s, "type": lock_type, "cookie": cookie_s, "tag": tag_s,
                "description": desc_s, "duration": seconds, "flags": flags}
        self._cls(key, "lock", args, "Ioctx.rados_lock_%s(%s): failed to set lock %s on %s"
                  % (what, self.name, name, key))

    def lock_exclusive(self, key, name, cookie, desc="", duration=None, flags=0):
        """Take exclusive lock `name` on the object as (this client, cookie). EBUSY if someone
        else holds it, EEXIST if we already hold it (unless flags has MAY_RENEW);
        `duration` seconds (None = until unlocked)."""
        _args.cstr(key, "key")
        self._lock(key, name, cookie, "", desc, duration, flags, 1, "exclusive")

    def lock_shared(self, key, name, cookie, tag, desc="", duration=None, flags=0):
        """Take shared lock `name` with `tag`; EBUSY if held exclusively or with another tag."""
        _args.cstr(key, "key")
        _args.cstr(tag, "tag")
        self._lock(key, name, cookie, tag, desc, duration, flags, 2, "shared")

    def unlock(self, key, name, cookie):
        """Release lock `name` held as (this client, cookie); ObjectNotFound if not held so."""
        self.require_ioctx_open()
        args = {"name": _args.to_str(name, "name"), "cookie": _args.to_str(cookie, "cookie")}
        self._cls(key, "unlock", args, "Ioctx.rados_lock_exclusive(%s): failed to set lock %s "
                  "on %s" % (self.name, name, key))

    def break_lock(self, key, name, client, cookie):
        """Remove another client's lock (`client` is its entity, e.g. 'client.4123')."""
        self.require_ioctx_open()
        args = {"name": _args.to_str(name, "name"), "locker": _args.to_str(client, "client"),
                "cookie": _args.to_str(cookie, "cookie")}
        self._cls(key, "break_lock", args,
                  "Ioctx.rados_break_lock(%s): failed to break lock %s on %s"
                  % (self.name, name, key))

    def list_lockers(self, key, name) -> dict:
        """{'tag', 'exclusive', 'lockers': [(client, cookie, addr)]} of lock `name`
        (librados' rados_list_lockers; not in Ceph's Python binding)."""
        self.require_ioctx_open()
        args = {"name": _args.to_str(name, "name")}
        reply = self._cls(key, "get_info", args,
                          "Ioctx.list_lockers(%s): failed to list lockers of %s on %s"
                          % (self.name, name, key), write=False)
        info = _unpack(self._out(reply) or b"\x80")
        lockers = info.get("lockers", [])
        return {"tag": info.get("tag", ""), "exclusive": info.get("type") in (1, 3),
                "lockers": [(lk["name"], lk["cookie"], lk["addr"]) for lk in lockers]}

    # -- watch / notify -----------------------------------------------------------------------
    def watch(self, obj, callback, error_callback=None, timeout=None):
        """Register a watch on `obj` (which must exist: ObjectNotFound otherwise).
        Returns a `Watch`; see its docstring for the callback signatures."""
        from rados.objects import Watch
        self.require_ioctx_open()
        return Watch(self, obj, callback, error_callback, timeout)

    def _watch(self, oid: str, on_notify, on_error, timeout_s: int) -> int:
        err = self._precheck(oid, False)
        if err:
            return err
        try:
            return int(self._client().watch(self._pool_id, oid, self.nspace,
                                            self._target()["key"], on_notify, on_error,
                                            timeout_s))
        except Exception as exc:
            return -errno_of(exc)

    def _watch_check(self, cookie: int):
        try:
            return self._client().watch_check(cookie)
        except Exception as exc:
            return -errno_of(exc)

    def _unwatch(self, cookie: int) -> int:
        try:
            return int(self._client().unwatch(cookie) or 0)
        except Exception as exc:
            return -errno_of(exc)

    def list_watchers(self, obj) -> list:
        """[{'name', 'cookie', 'addr'}] of the watches on `obj` (librados'
        rados_list_watchers; not in Ceph's Python binding)."""
        self.require_ioctx_open()
        oid = self._oid(obj, "obj")
        reply = self._operate(oid, [("list_watchers",)],
                              "Failed to list watchers of %r" % obj, write=False)
        return list(self._out(reply) or [])

    def _notify_ops(self, obj, msg, timeout_ms):
        oid = self._oid(obj, "obj")
        data = _args.cstr(msg, "msg")
        timeout_ms = _args.uint(timeout_ms, "uint64_t")
        return oid, [("notify", next(_notify_cookies), data, timeout_ms)]

    def notify(self, obj, msg="", timeout_ms=5000) -> bool:
        """Notify every watcher of `obj` and wait for their replies; returns True.
        TimedOut if a watcher did not answer within `timeout_ms`."""
        self.require_ioctx_open()
        oid, ops = self._notify_ops(obj, msg, timeout_ms)
        message = "Failed to notify %r" % (obj,)
        err = self._precheck(oid, False)
        if err:
            raise make_ex(err, message)
        try:
            reply = self._client().operate(self._pool_id, oid, ops,
                                           **self._target(at_head=True))
        except Exception as exc:
            raise make_ex(-errno_of(exc), message) from None
        if reply.result < 0:
            raise make_ex(reply.result, message)
        return True

    def aio_notify(self, obj, oncomplete, msg="", timeout_ms=5000):
        """Notify asynchronously; oncomplete(completion, ret, acks, timeouts) with acks
        [(notifier_id, cookie, payload)] and timeouts [(notifier_id, cookie)] (both None
        when ret < 0)."""
        self.require_ioctx_open()
        oid, ops = self._notify_ops(obj, msg, timeout_ms)

        def interpret(reply):
            if reply.result != 0:
                return reply.result, None
            return 0, (reply.outs[0][1] if reply.outs else ([], []))

        def oncomplete_(comp):
            if oncomplete is None:
                return None
            ret = comp.get_return_value()
            if ret == 0 and comp._value is not None:
                acks, timeouts = comp._value
                ack_list = [(gid, cookie, payload if payload else "")
                            for gid, cookie, payload in acks]
                timeout_list = [(gid, cookie) for gid, cookie in timeouts]
                return oncomplete(comp, 0, ack_list, timeout_list)
            return oncomplete(comp, ret, None, None)

        return self._aio(oid, ops, oncomplete_, None, "aio_notify error: %s" % obj,
                         write=False, interpret=interpret, at_head=True)

    # -- application metadata -----------------------------------------------------------------
    def _apps(self) -> dict:
        pool = self._pool()
        if pool is None:
            return {}
        return dict(getattr(pool, "application_metadata", None) or {})

    def _pool_mon_command(self, cmd: dict, msg: str) -> None:
        cmd = dict(cmd, pool=self._pool_name)
        ret, _, _ = self.rados._mon_command_dict(cmd)
        if ret < 0:
            raise make_ex(ret, msg)
        self.rados._refresh_map()

    def application_enable(self, app_name, force=False):
        """Enable application `app_name` on the pool; a second application needs `force`
        (PermissionError otherwise)."""
        self.require_ioctx_open()
        cmd = {"prefix": "osd pool application enable", "app": _args.to_str(app_name, "app_name")}
        if force:
            cmd["yes_i_really_mean_it"] = True
        self._pool_mon_command(cmd, "error enabling application")

    def application_list(self) -> list:
        """Names of the applications enabled on the pool."""
        self.require_ioctx_open()
        return sorted(self._apps())

    def application_metadata_get(self, app_name, key) -> str:
        """One metadata value; ObjectNotFound if the application or key is missing."""
        self.require_ioctx_open()
        app = _args.to_str(app_name, "app_name")
        key_s = _args.to_str(key, "key")
        meta = self._apps().get(app)
        if meta is None or key_s not in meta:
            raise make_ex(-errno.ENOENT, "error getting application metadata for '%s'"
                          % app_name)
        return meta[key_s]

    def application_metadata_set(self, app_name, key, value):
        self.require_ioctx_open()
        cmd = {"prefix": "osd pool application set", "app": _args.to_str(app_name, "app_name"),
               "key": _args.to_str(key, "key"), "value": _args.to_str(value, "value")}
        self._pool_mon_command(cmd, "error setting application metadata")

    def application_metadata_remove(self, app_name, key):
        self.require_ioctx_open()
        cmd = {"prefix": "osd pool application rm", "app": _args.to_str(app_name, "app_name"),
               "key": _args.to_str(key, "key")}
        self._pool_mon_command(cmd, "error removing application metadata")

    def application_metadata_list(self, app_name) -> list:
        """[(key, value)] of the application's metadata in key order; ObjectNotFound if the
        application is not enabled."""
        self.require_ioctx_open()
        app = _args.to_str(app_name, "app_name")
        meta = self._apps().get(app)
        if meta is None:
            raise make_ex(-errno.ENOENT, "error listing application metadata")
        return sorted(meta.items())

    # -- statistics ---------------------------------------------------------------------------
    def get_stats(self) -> dict:
        """Pool statistics (num_bytes, num_kb, num_objects, ... num_wr_kb) summed over PGs."""
        self.require_ioctx_open()
        try:
            raw = dict(self._client().pool_stats(self._pool_id) or {})
        except Exception as exc:
            raise make_ex(-errno_of(exc), "Ioctx.get_stats(%s): get_stats failed"
                          % self.name) from None
        num_bytes = int(raw.get("num_bytes", 0))
        stats = {"num_bytes": num_bytes, "num_kb": int(raw.get("num_kb", (num_bytes + 1023) >> 10))}
        for name in ("num_objects", "num_object_clones", "num_object_copies",
                     "num_objects_missing_on_primary", "num_objects_unfound",
                     "num_objects_degraded", "num_rd", "num_rd_kb", "num_wr", "num_wr_kb"):
            stats[name] = int(raw.get(name, 0))
        return stats

