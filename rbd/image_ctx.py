"""ImageCtx: one open image — its header state, snapshot view, watch, lock and parent.

Invariants:
- `info` is the HeaderInfo of the last refresh, replaced whole; `snap_id` is the snapshot
  being read (SNAP_HEAD for the live image). Every public call starts with
  `maybe_refresh()`, which reloads the header when a peer announced a change (header
  notify) or when this handle changed it.
- A writable open keeps one RADOS watch on `rbd_header.<id>` (that is what
  `watchers_list` shows and what makes `RBD.remove` refuse with EBUSY); read-only opens
  and parent images opened for reads-through do not watch.
- Every change of the header made through this ctx is followed by `notify_update()`, which
  reloads this ctx and waits for the other watchers to have noted the change, so a peer's
  next call sees it.
- In-flight I/O is counted (`start_op`/`finish_op`); `flush`, lock release and snapshot
  creation wait for the count to drain (bounded).
"""
from __future__ import annotations

import errno
import logging
import threading
import time

from rbd import config
from rbd._rados_io import RadosIO, pack, unpack
from rbd.constants import RBD_FEATURE_DEEP_FLATTEN, RBD_SNAP_NAMESPACE_TYPE_USER, SNAP_HEAD
from rbd.errors import RbdError
from rbd.header import HeaderInfo, ParentInfo, SnapInfo, dir_get_name, get_image_id, header_oid
from rbd.striping import Layout

log = logging.getLogger("rayceph.rbd")

IO_DRAIN_TIMEOUT_S = 60.0
NOTIFY_TIMEOUT_MS = 5000


class ImageCtx:
    def __init__(self, io: RadosIO, name: str | None = None, image_id: str | None = None,
                 read_only: bool = False, watch: bool = True):
        self.io = io
        self.name = name
        self.id = image_id
        self.read_only = read_only
        self.want_watch = watch and not read_only
        self.info: HeaderInfo | None = None
        self.snap_id = SNAP_HEAD
        self.snap_name: str | None = None
        self.snap_namespace_type = RBD_SNAP_NAMESPACE_TYPE_USER
        self.lock = threading.RLock()
        self.refresh_needed = False
        self.watch_cookie: int | None = None
        self.closed = False
        self.blocklisted = False
        self.data_io = io
        self.header_oid = ""
        self.old_format = False
        self.conf_overrides: dict = {}
        self._parents: dict = {}
        self._io_cond = threading.Condition()
        self._in_flight = 0
        self._blocked = 0
        self._last_atime = 0.0
        self._last_mtime = 0.0
        self._io_config: dict = {}   # options read on every I/O, kept until the next refresh
        # rbd-mirror writes to non-primary images through contexts with this set
        self.mirror_bypass = False
        # live migration (rbd/migration.py): the source a destination reads through to, and
        # the flag that lets the migration itself open either side whatever its state
        self.migration_source = None
        self.ignore_migrating = False
        from rbd.locks import ExclusiveLock
        from rbd.object_map import ObjectMap
        self.exclusive_lock = ExclusiveLock(self)
        self.object_map = ObjectMap(self)

    # -- open / close --------------------------------------------------------------------------
    def open(self, snap_name: str | None = None, snap_id: int | None = None) -> None:
        """Resolve name/id, load the header, select the snapshot, start the watch.
        RbdError(-ENOENT) if the image or the snapshot does not exist."""
        if self.id is None:
            try:
                self.id = get_image_id(self.io, self.name)
            except RbdError as exc:
                if exc.ret == -errno.ENOENT:
                    from rbd import format1
                    if format1.exists(self.io, self.name):
                        format1.open_ctx(self)
                        self._select_snap(snap_name, snap_id)
                        return
                raise
        elif self.name is None:
            try:
                self.name = dir_get_name(self.io, self.id)
            except RbdError:
                self.name = self._name_from_trash()
        self.header_oid = header_oid(self.id)
        self.refresh()
        if not self.ignore_migrating:
            from rbd.migration import check_open
            check_open(self)
        self._select_snap(snap_name, snap_id)
        if self.want_watch:
            self.watch_cookie = self.io.watch(self.header_oid, self._on_notify,
                                              self._on_watch_error)

    def _select_snap(self, snap_name, snap_id) -> None:
        if snap_name is not None:
            snap = self.info.snap_by_name(snap_name)
            if snap is None:
                raise RbdError(-errno.ENOENT, "snapshot %s not found" % snap_name)
            self.snap_id, self.snap_name = snap.id, snap.name
            self.snap_namespace_type = snap.namespace_type
        elif snap_id is not None and snap_id != SNAP_HEAD:
            snap = self.info.snaps.get(snap_id)
            if snap is None:
                raise RbdError(-errno.ENOENT, "snapshot %d not found" % snap_id)
            self.snap_id, self.snap_name = snap.id, snap.name
            self.snap_namespace_type = snap.namespace_type

    def close(self) -> None:
        if self.closed:
            return
        try:
            self.drain_io()
        except RbdError:
            pass
        try:
            self.exclusive_lock.shut_down()
        except Exception:
            log.exception("releasing the exclusive lock on close failed")
        if self.watch_cookie is not None:
            self.io.unwatch(self.watch_cookie)
            self.watch_cookie = None
        for parent in self._parents.values():
            parent.close()
        self._parents.clear()
        if self.migration_source is not None:
            self.migration_source.close()
            self.migration_source = None
        self.closed = True

    # -- header state --------------------------------------------------------------------------
    def _name_from_trash(self) -> str:
        # librbd's open by id falls back to the trash entry, so an image opened while in
        # the trash still knows the name it had
        from rbd.pool_features import _trash_record
        try:
            return str(_trash_record(self.io, self.id).get("name", ""))
        except RbdError:
            return ""

    def refresh(self) -> None:
        if self.old_format:
            from rbd import format1
            format1.refresh(self)
            return
        try:
            raw = self.io.call(self.header_oid, "get_image_info")
        except RbdError as exc:
            if exc.ret == -errno.ENOEXEC:
                raise RbdError(-errno.ENOENT, "image header is gone") from None
            raise
        info = HeaderInfo.decode(raw)
        with self.lock:
            old = self.info
            self.info = info
            self.refresh_needed = False
            self.conf_overrides = dict(raw.get("conf") or {})
            self._io_config = {}
            if info.data_pool_id >= 0:
                self.data_io = self.io.with_pool(info.data_pool_id)
            else:
                self.data_io = self.io
            if old is not None and old.parent != info.parent:
                self._drop_unused_parents()
            if self.migration_source is not None and info.migration is None:
                self.migration_source.close()       # committed / aborted: no more read-through
                self.migration_source = None
        if old is not None and old.features != info.features:
            self.exclusive_lock.features_changed()
        self.object_map.header_refreshed(old, info)

    def maybe_refresh(self) -> None:
        if self.refresh_needed and not self.closed:
            self.refresh()

    def notify_update(self) -> None:
        """This ctx changed the header: reload it and tell the other watchers."""
        self.refresh()
        self.send_notify({"op": "header_update"})

    def send_notify(self, message: dict, timeout_ms: int = NOTIFY_TIMEOUT_MS):
        message = dict(message)
        message.setdefault("gid", self.io.gid)
        message.setdefault("cookie", self.watch_cookie or 0)
        try:
            return self.io.notify(self.header_oid, pack(message), timeout_ms)
        except RbdError as exc:
            if exc.ret == -errno.ENOENT:
                return [], []
            log.debug("notify %s failed: %s", message.get("op"), exc)
            return [], []

    def _on_notify(self, notify_id, notifier_id, cookie, data):
        try:
            message = unpack(data) or {}
        except Exception:
            message = {}
        if not isinstance(message, dict):
            message = {}
        if message.get("gid") == self.io.gid and message.get("cookie") == self.watch_cookie:
            return pack({"result": 0})     # our own announcement
        op = message.get("op")
        if op == "header_update":
            if isinstance(message.get("rename"), str):
                self.name = message["rename"]
            self.refresh_needed = True
            return pack({"result": 0})
        return pack(self.exclusive_lock.handle_notify(op, message))

    def _on_watch_error(self, cookie, err) -> None:
        log.debug("watch on %s lost: %s", self.header_oid, err)
        self.refresh_needed = True

    # -- derived state -------------------------------------------------------------------------
    @property
    def layout(self) -> Layout:
        info = self.info
        return Layout.from_order(info.order, info.stripe_unit, info.stripe_count)

    @property
    def object_size(self) -> int:
        return 1 << self.info.order

    @property
    def object_prefix(self) -> str:
        return self.info.object_prefix

    def data_oid(self, objectno: int) -> str:
        if self.old_format:
            return "%s.%012x" % (self.info.object_prefix, objectno)
        return "%s.%016x" % (self.info.object_prefix, objectno)

    def snapc(self) -> tuple[int, list[int]] | None:
        seq, snaps = self.info.snapc()
        if not seq and not snaps:
            return None
        return seq, snaps

    def features(self) -> int:
        return self.info.features

    def test_features(self, mask: int) -> bool:
        return (self.info.features & mask) == mask

    def snap_info(self, snap_id: int | None = None) -> SnapInfo | None:
        snap_id = self.snap_id if snap_id is None else snap_id
        if snap_id == SNAP_HEAD:
            return None
        return self.info.snaps.get(snap_id)

    def require_snap(self, snap_id: int | None = None) -> None:
        """RbdError(-ENOENT) when the selected snapshot has been removed."""
        snap_id = self.snap_id if snap_id is None else snap_id
        if snap_id != SNAP_HEAD and snap_id not in self.info.snaps:
            raise RbdError(-errno.ENOENT, "snapshot was removed")

    def size_at(self, snap_id: int | None = None) -> int:
        snap_id = self.snap_id if snap_id is None else snap_id
        if snap_id == SNAP_HEAD:
            return self.info.size
        snap = self.info.snaps.get(snap_id)
        if snap is None:
            raise RbdError(-errno.ENOENT, "snapshot was removed")
        return snap.size

    def parent_at(self, snap_id: int | None = None) -> ParentInfo | None:
        snap_id = self.snap_id if snap_id is None else snap_id
        if snap_id == SNAP_HEAD:
            return self.info.parent
        snap = self.info.snaps.get(snap_id)
        if snap is None:
            raise RbdError(-errno.ENOENT, "snapshot was removed")
        return snap.parent

    def overlap_at(self, snap_id: int | None = None) -> int:
        """Bytes of the image that read through to the parent at snap_id (0: no parent)."""
        parent = self.parent_at(snap_id)
        if parent is None:
            return 0
        return min(parent.overlap, self.size_at(snap_id))

    def is_writable(self) -> bool:
        return not self.read_only and self.snap_id == SNAP_HEAD

    def config(self, name: str):
        return config.get(self.io, name, self.conf_overrides)

    def require_writable(self) -> None:
        """RbdError(-EROFS) for a read-only open or a snapshot view."""
        if self.blocklisted:
            raise RbdError(-errno.ESHUTDOWN, "client was blocklisted")
        if not self.is_writable():
            raise RbdError(-errno.EROFS, "image is read-only")
        self._require_mirror_primary()

    def require_writable_or_snap_view(self) -> None:
        """Maintenance ops (snapshot management) are allowed while a snapshot is being
        viewed; only a read-only open refuses them (EROFS)."""
        if self.blocklisted:
            raise RbdError(-errno.ESHUTDOWN, "client was blocklisted")
        if self.read_only:
            raise RbdError(-errno.EROFS, "image is read-only")
        self._require_mirror_primary()

    def _require_mirror_primary(self) -> None:
        """Mirroring: a non-primary (or demoted) image refuses user changes (EROFS), see
        rbd/mirror/image_state.py; the newest MIRROR-namespace snapshot decides."""
        if self.mirror_bypass or self.info is None:
            return
        from rbd.mirror.image_state import is_non_primary
        if is_non_primary(self.info):
            raise RbdError(-errno.EROFS, "image is not primary (mirroring)")
        from rbd.mirror.journal import require_primary
        require_primary(self)

    def copyup_overlap_epochs(self) -> list[tuple[int, int]]:
        """[(snap id, overlap)] of the snapshots (oldest first) whose reads fall through to
        the same parent as HEAD, when copy-ups must preserve parent data for them
        (deep-flatten images); [] otherwise."""
        info = self.info
        if info.parent is None or not info.features & RBD_FEATURE_DEEP_FLATTEN:
            return []
        out = []
        for snap_id in sorted(info.snaps):
            snap = info.snaps[snap_id]
            if snap.parent is not None and snap.parent.spec == info.parent.spec:
                out.append((snap_id, min(snap.parent.overlap, snap.size)))
        return out

    # -- parents -------------------------------------------------------------------------------
    def parent_ctx(self, parent: ParentInfo) -> "ImageCtx":
        """The parent image opened read-only at the parent snapshot (cached)."""
        spec = parent.spec
        with self.lock:
            ctx = self._parents.get(spec)
            if ctx is not None and not ctx.closed:
                ctx.maybe_refresh()
                return ctx
        if not self.io.client.osdmap.pools.get(spec.pool):
            raise RbdError(-errno.ENOENT, "parent pool is gone")
        io = self.io.with_pool(spec.pool, spec.nspace)
        ctx = ImageCtx(io, image_id=spec.image_id, read_only=True, watch=False)
        ctx.open(snap_id=spec.snap_id)
        with self.lock:
            self._parents[spec] = ctx
        return ctx

    def _drop_unused_parents(self) -> None:
        keep = set()
        if self.info.parent is not None:
            keep.add(self.info.parent.spec)
        for snap in self.info.snaps.values():
            if snap.parent is not None:
                keep.add(snap.parent.spec)
        for spec in list(self._parents):
            if spec not in keep:
                self._parents.pop(spec).close()

    # -- in-flight I/O -------------------------------------------------------------------------
    def start_op(self) -> None:
        with self._io_cond:
            deadline = time.monotonic() + IO_DRAIN_TIMEOUT_S
            while self._blocked:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RbdError(-errno.ETIMEDOUT, "I/O blocked too long")
                self._io_cond.wait(remaining)
            self._in_flight += 1

    def finish_op(self) -> None:
        with self._io_cond:
            self._in_flight -= 1
            self._io_cond.notify_all()

    def drain_io(self) -> None:
        with self._io_cond:
            deadline = time.monotonic() + IO_DRAIN_TIMEOUT_S
            while self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RbdError(-errno.ETIMEDOUT, "in-flight I/O did not drain")
                self._io_cond.wait(remaining)

    def block_io(self) -> None:
        """Stop new I/O and wait for in-flight I/O (snapshot create, lock release)."""
        with self._io_cond:
            self._blocked += 1
        try:
            self.drain_io()
        except RbdError:
            self.unblock_io()
            raise

    def unblock_io(self) -> None:
        with self._io_cond:
            self._blocked -= 1
            self._io_cond.notify_all()

    # -- timestamps ----------------------------------------------------------------------------
    def touch_timestamp(self, which: str) -> None:
        """Stamp access/modify time at most once per rbd_{a,m}time_update_interval."""
        if self.old_format or self.read_only:
            return
        now = time.monotonic()
        if which == "access":
            interval = self.io_config("rbd_atime_update_interval")
            if self._last_atime and now - self._last_atime < interval:
                return
            self._last_atime = now
        else:
            interval = self.io_config("rbd_mtime_update_interval")
            if self._last_mtime and now - self._last_mtime < interval:
                return
            self._last_mtime = now
        self.io.call_future(self.header_oid, "set_timestamp", {"which": which})

    def io_config(self, name: str):
        """`config(name)` for the options every I/O consults: a lookup reads the pool's
        overrides from rbd_info (a round trip), so the value is kept until the next
        refresh, which is when librbd applies configuration too."""
        value = self._io_config.get(name)
        if value is None:
            value = self._io_config[name] = self.config(name)
        return value


def open_image(io: RadosIO, name=None, image_id=None, snap_name=None, snap_id=None,
               read_only=False) -> ImageCtx:
    ctx = ImageCtx(io, name=name, image_id=image_id, read_only=read_only)
    try:
        ctx.open(snap_name=snap_name, snap_id=snap_id)
    except BaseException:
        ctx.close()
        raise
    return ctx
