"""Small value and iterator classes of the rados binding.

Object (file-like wrapper of one RADOS object), ObjectIterator (what `Ioctx.list_objects`
returns), XattrIterator, SnapIterator, Snap, Version, Watch (a registered watch) and
MonitorLog (legacy wrapper of `Rados.monitor_log`). Each behaves as its namesake in Ceph's
binding: same attributes, same `str()`, same exceptions.
"""
from __future__ import annotations

import logging
import weakref
from datetime import datetime, timedelta

from rados import _args
from rados.errors import LogicError, ObjectStateError, make_ex

log = logging.getLogger("rayceph.rados")

__all__ = ["Object", "ObjectIterator", "XattrIterator", "SnapIterator", "Snap", "Version",
           "Watch", "MonitorLog"]


class Version:
    """librados version: `.major`, `.minor`, `.extra`; str "M.m.e"."""

    def __init__(self, major, minor, extra):
        self.major = major
        self.minor = minor
        self.extra = extra

    def __str__(self):
        return "%d.%d.%d" % (self.major, self.minor, self.extra)


# -- Object -------------------------------------------------------------------------------------

def _in_object_context(func):
    """Run an Object method with the ioctx's locator key and namespace set to the object's,
    restoring the previous ones afterwards (the binding's set_object_locator/namespace)."""

    def wrapper(self, *args, **kwargs):
        if self.nspace is None:
            raise LogicError("Namespace not set properly in context")
        ioctx = self.ioctx
        old_locator = ioctx.get_locator_key() if self.locator_key is not None else None
        old_nspace = ioctx.get_namespace()
        if self.locator_key is not None:
            ioctx.set_locator_key(self.locator_key)
        ioctx.set_namespace(self.nspace)
        try:
            return func(self, *args, **kwargs)
        finally:
            ioctx.set_namespace(old_nspace)
            if old_locator is not None:
                ioctx.set_locator_key(old_locator)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


class Object:
    """A RADOS object seen as a file: read/write at `offset`, `seek`, xattrs, `remove`."""

    def __init__(self, ioctx, key, locator_key=None, nspace=None):
        self.key = key
        self.ioctx = ioctx
        self.offset = 0
        self.state = "exists"
        self.locator_key = locator_key
        self.nspace = "" if nspace is None else nspace

    def __str__(self):
        return "rados.Object(ioctx=%s,key=%s,nspace=%s,locator=%s)" % (
            str(self.ioctx), self.key, "--default--" if self.nspace == "" else self.nspace,
            self.locator_key)

    def __repr__(self):
        return self.__str__()

    def require_object_exists(self):
        if self.state != "exists":
            raise ObjectStateError("The object is %s" % self.state)

    @_in_object_context
    def read(self, length=1024 * 1024):
        self.require_object_exists()
        ret = self.ioctx.read(self.key, length, self.offset)
        self.offset += len(ret)
        return ret

    @_in_object_context
    def write(self, string_to_write):
        self.require_object_exists()
        ret = self.ioctx.write(self.key, string_to_write, self.offset)
        if ret == 0:
            self.offset += len(string_to_write)
        return ret

    @_in_object_context
    def remove(self):
        self.require_object_exists()
        self.ioctx.remove_object(self.key)
        self.state = "removed"

    @_in_object_context
    def stat(self):
        self.require_object_exists()
        return self.ioctx.stat(self.key)

    def seek(self, position):
        self.require_object_exists()
        self.offset = position

    @_in_object_context
    def get_xattr(self, xattr_name):
        self.require_object_exists()
        return self.ioctx.get_xattr(self.key, xattr_name)

    @_in_object_context
    def get_xattrs(self):
        self.require_object_exists()
        return self.ioctx.get_xattrs(self.key)

    @_in_object_context
    def set_xattr(self, xattr_name, xattr_value):
        self.require_object_exists()
        return self.ioctx.set_xattr(self.key, xattr_name, xattr_value)

    @_in_object_context
    def rm_xattr(self, xattr_name):
        self.require_object_exists()
        return self.ioctx.rm_xattr(self.key, xattr_name)


class ObjectIterator:
    """Iterates `rados.Object`s of the ioctx's pool, in its namespace (or all namespaces
    with LIBRADOS_ALL_NSPACES); the locator key is None for objects without one."""

    def __init__(self, ioctx):
        self.ioctx = ioctx
        self._entries = ioctx._list_entries()

    def __iter__(self):
        return self

    def __next__(self):
        try:
            nspace, oid, key = next(self._entries)
        except StopIteration:
            raise
        except Exception:  # a listing that fails midway ends the iteration, as in the binding
            log.debug("object listing stopped", exc_info=True)
            raise StopIteration() from None
        return Object(self.ioctx, oid, key or None, nspace)


class XattrIterator:
    """Iterates `(name, value_bytes)` of one object's extended attributes."""

    def __init__(self, ioctx, oid):
        self.ioctx = ioctx
        self.oid = _args.cstr(oid, "oid")
        items = ioctx._getxattrs(oid)
        self._items = iter(sorted(items.items()))

    def __iter__(self):
        return self

    def __next__(self):
        name, value = next(self._items)
        return (name, bytes(value))


class Snap:
    """A pool snapshot: `.ioctx`, `.name`, `.snap_id`, `get_timestamp()`."""

    def __init__(self, ioctx, name, snap_id):
        self.ioctx = ioctx
        self.name = name
        self.snap_id = _args.uint(snap_id, "rados_snap_t")

    def __str__(self):
        return "rados.Snap(ioctx=%s,name=%s,snap_id=%d)" % (str(self.ioctx), self.name,
                                                            self.snap_id)

    def get_timestamp(self) -> datetime:
        """When the snapshot was taken (naive local time); ObjectNotFound if it is gone."""
        return datetime.fromtimestamp(self.ioctx._snap_stamp(self.snap_id))


class SnapIterator:
    """Iterates the pool's snapshots (`Snap`) in snap id order."""

    def __init__(self, ioctx):
        self.ioctx = ioctx
        self._snaps = iter(ioctx._pool_snaps())

    def __iter__(self):
        return self

    def __next__(self) -> Snap:
        snap_id, name = next(self._snaps)
        return Snap(self.ioctx, name, snap_id)


class Watch:
    """A watch on one object, registered by `Ioctx.watch`.

    `callback(notify_id, notifier_id, watch_id, data)` runs for every notify; a non-None
    return value (str or bytes) is the reply the notifier receives. `error_callback(watch_id,
    error)` runs when the watch is lost. The watch holds its own ioctx (a dup), so closing the
    ioctx it was created from does not end it; `close()` (or leaving a `with` block, or the
    Watch being garbage collected) does.
    """

    def __init__(self, ioctx, oid, callback, error_callback=None, timeout=None):
        self.id = 0
        self.oid = _args.cstr(oid, "oid")
        self.callback = callback
        self.error_callback = error_callback
        timeout_s = _args.uint(0 if timeout is None else timeout, "uint32_t", 32)
        self.ioctx = ioctx.dup()
        # The client must not keep us alive: a dropped Watch closes itself, as in Ceph.
        ref = weakref.ref(self)

        def on_notify(notify_id, notifier_id, watch_id, data):
            watch = ref()
            if watch is None:
                return None
            return watch._callback(notify_id, notifier_id, watch_id, data)

        def on_error(watch_id, error):
            watch = ref()
            if watch is not None:
                watch._error_callback(watch_id, error)

        ret = self.ioctx._watch(self.oid.decode("utf-8", "surrogateescape"), on_notify,
                                on_error, timeout_s)
        if ret < 0:
            self.ioctx.close()
            raise make_ex(ret, "watch error")
        self.id = ret

    def __enter__(self):
        return self

    def __exit__(self, type_, value, traceback):
        self.close()
        return False

    def __del__(self):
        if getattr(self, "id", 0) == 0:
            return
        try:
            if self.ioctx.rados.state == "connected":
                self.close()
        except Exception:
            pass

    def _callback(self, notify_id, notifier_id, watch_id, data):
        reply = self.callback(notify_id, notifier_id, watch_id, data)
        if reply is not None:
            reply = _args.cstr(reply, "replay")
        return reply

    def _error_callback(self, watch_id, error):
        if self.error_callback is None:
            return
        self.error_callback(watch_id, error)

    def get_id(self) -> int:
        return self.id

    def check(self) -> timedelta:
        """Time since the OSD last confirmed the watch; raises the watch's error if lost."""
        ret = self.ioctx._watch_check(self.id)
        if ret < 0:
            raise make_ex(int(ret), "check error")
        return timedelta(seconds=ret)

    def close(self):
        """Unregister the watch (idempotent)."""
        if self.id == 0:
            return
        self.ioctx.require_ioctx_open()
        ret = self.ioctx._unwatch(self.id)
        if ret < 0 and ret != -2:
            raise make_ex(ret, "unwatch error")
        self.id = 0
        self.ioctx.close()


class MonitorLog:
    """Legacy form of `Rados.monitor_log(level, callback, arg)`: keep it while logging."""

    def __init__(self, cluster, level, callback, arg):
        self.level = level
        self.callback = callback
        self.arg = arg
        self.cluster = cluster
        self.cluster.monitor_log(level, callback, arg)
