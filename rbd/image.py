"""rbd.Image: the public image handle, argument checking and error translation.

Every method (except close) raises InvalidArgument("image is closed") after close(), then
reloads the header if a peer changed it, runs the librbd-level operation and turns its
RbdError into the binding's exception (`make_ex(ret, msg)` with Ceph's messages).
Mirroring and encryption methods live in rbd/mirror_api.py and are mixed in here.
"""
from __future__ import annotations

import errno
from contextlib import contextmanager
from datetime import datetime, timezone

from rbd import _args
from rbd import clone as clone_mod
from rbd import config as config_mod
from rbd import io as image_io
from rbd import locks
from rbd import snapshots
from rbd._rados_io import RadosIO
from rbd.completion import Completion
from rbd.constants import (
    RBD_FEATURE_EXCLUSIVE_LOCK, RBD_FEATURE_FAST_DIFF, RBD_FEATURE_JOURNALING,
    RBD_FEATURE_OBJECT_MAP,
    RBD_FLAG_FAST_DIFF_INVALID, RBD_FLAG_OBJECT_MAP_INVALID, RBD_LOCK_MODE_EXCLUSIVE,
    RBD_LOCK_MODE_EXCLUSIVE_TRANSIENT, RBD_LOCK_MODE_SHARED, RBD_SNAP_NAMESPACE_TYPE_GROUP,
    RBD_SNAP_NAMESPACE_TYPE_MIRROR, RBD_SNAP_NAMESPACE_TYPE_TRASH, RBD_SNAP_NAMESPACE_TYPE_USER,
    RBD_PROTECTION_STATUS_UNPROTECTED, RBD_SNAP_CREATE_IGNORE_QUIESCE_ERROR,
    RBD_SNAP_CREATE_SKIP_QUIESCE, SNAP_HEAD, UINT64_MAX,
)
from rbd.errors import (
    IncompleteWriteError, InvalidArgument, LogicError, RbdError, cstr,
    decode_cstr, make_ex,
)
from rbd.features import validate_update
from rbd.image_ctx import ImageCtx
from rbd.iterators import (
    ChildIterator, ConfigImageIterator, LockOwnerIterator, MetadataIterator, SnapIterator,
    WatcherIterator,
)
from rbd.mirror_api import ImageMirrorMixin
from rbd.pool_features import ImageMigrationMixin
from rbd.striping import num_objects


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(float(ts), tz=timezone.utc)


@contextmanager
def _errors(msg: str):
    try:
        yield
    except RbdError as exc:
        raise make_ex(exc.ret, msg() if callable(msg) else msg) from None


def requires_not_closed(fn):
    def wrapper(self, *args, **kwargs):
        self.require_not_closed()
        return fn(self, *args, **kwargs)
    wrapper.__name__ = fn.__name__
    wrapper.__qualname__ = fn.__qualname__
    wrapper.__doc__ = fn.__doc__
    wrapper.__wrapped__ = fn        # inspect.signature shows the real parameters
    return wrapper


class Image(ImageMirrorMixin, ImageMigrationMixin):
    """An open RBD image (format 2, or format 1 when forced)."""

    def __init__(self, ioctx, name=None, snapshot=None, read_only=False, image_id=None,
                 _oncomplete=None):
        name = cstr(name, "name", opt=True)
        image_id = cstr(image_id, "image_id", opt=True)
        snapshot = cstr(snapshot, "snapshot", opt=True)
        self.closed = True
        self._ctx = None
        if name is not None and image_id is not None:
            raise InvalidArgument("only need to specify image name or image id")
        elif name is None and image_id is None:
            raise InvalidArgument("image name or image id was not specified")
        self.name = decode_cstr(name if name is not None else image_id)
        self.ioctx = ioctx
        snap = decode_cstr(snapshot)
        try:
            io = RadosIO(ioctx)
            ctx = ImageCtx(io, name=decode_cstr(name), image_id=decode_cstr(image_id),
                           read_only=bool(read_only))
            try:
                ctx.open(snap_name=snap)
            except BaseException:
                ctx.close()
                raise
        except RbdError as exc:
            raise make_ex(exc.ret, "error opening image %s at snapshot %s"
                          % (self.name, snap)) from None
        self._ctx = ctx
        self.closed = False
        if name is None:
            self.name = ctx.name or self.name

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, type_, value, traceback):
        self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self):
        return "rbd.Image(ioctx, %r)" % self.name

    def require_not_closed(self):
        """Raise InvalidArgument if the image has been closed."""
        if self.closed:
            raise InvalidArgument("image is closed")

    def close(self):
        """Release the resources of the image (idempotent)."""
        if not self.closed:
            self.closed = True
            with _errors("error while closing image %s" % self.name):
                self._ctx.close()

    def aio_close(self, oncomplete):
        """Close asynchronously; oncomplete(completion) runs when done."""
        self.require_not_closed()
        comp = Completion(self, oncomplete)
        self.closed = True
        ctx = self._ctx
        return comp._run(ctx.close)

    def _enter(self) -> ImageCtx:
        self.require_not_closed()
        ctx = self._ctx
        if ctx.blocklisted:
            raise make_ex(-errno.ESHUTDOWN, "client was blocklisted")
        try:
            ctx.maybe_refresh()
        except RbdError as exc:
            raise make_ex(exc.ret, "error refreshing image %s" % self.name) from None
        return ctx

    # -- identity / info -----------------------------------------------------------------------
    @requires_not_closed
    def id(self):
        """The image id."""
        ctx = self._enter()
        if ctx.old_format:
            raise make_ex(-errno.EINVAL, "error getting id for image %s" % self.name)
        return ctx.id

    @requires_not_closed
    def get_name(self):
        """The image name."""
        return self._enter().name

    @requires_not_closed
    def block_name_prefix(self):
        """`rbd_data.<id>` (format 2) / `rb.0.x.y` (format 1)."""
        return self._enter().info.object_prefix

    @requires_not_closed
    def data_pool_id(self):
        """Id of the pool holding the data objects (the image's pool without a data pool)."""
        return self._enter().data_io.pool

    @requires_not_closed
    def size(self):
        """Size in bytes of the image (or of the snapshot being viewed)."""
        ctx = self._enter()
        with _errors("error getting size for image %s" % self.name):
            return ctx.size_at()

    @requires_not_closed
    def stat(self):
        """{'size','obj_size','num_objs','order','block_name_prefix','parent_pool',
        'parent_name'}."""
        ctx = self._enter()
        with _errors("error getting info for image %s" % self.name):
            size = ctx.size_at()
            return {"size": size, "obj_size": ctx.object_size,
                    "num_objs": num_objects(ctx.layout, size), "order": ctx.info.order,
                    "block_name_prefix": ctx.info.object_prefix, "parent_pool": -1,
                    "parent_name": ""}

    @requires_not_closed
    def old_format(self):
        return self._enter().old_format

    @requires_not_closed
    def features(self):
        return self._enter().info.features

    @requires_not_closed
    def op_features(self):
        return self._enter().info.op_features

    @requires_not_closed
    def flags(self):
        ctx = self._enter()
        with _errors("error getting flags for image %s" % self.name):
            if ctx.snap_id == SNAP_HEAD:
                return ctx.info.flags
            snap = ctx.snap_info()
            if snap is None:
                raise RbdError(-errno.ENOENT)
            return snap.flags

    @requires_not_closed
    def overlap(self):
        """Bytes shared with the parent (0 for a non-clone)."""
        ctx = self._enter()
        with _errors("error getting overlap for image %s" % self.name):
            return ctx.overlap_at()

    @requires_not_closed
    def stripe_unit(self):
        ctx = self._enter()
        return ctx.layout.stripe_unit

    @requires_not_closed
    def stripe_count(self):
        ctx = self._enter()
        return ctx.layout.stripe_count

    @requires_not_closed
    def create_timestamp(self):
        return _dt(self._enter().info.create_timestamp)

    @requires_not_closed
    def access_timestamp(self):
        return _dt(self._enter().info.access_timestamp)

    @requires_not_closed
    def modify_timestamp(self):
        return _dt(self._enter().info.modify_timestamp)

    @requires_not_closed
    def group(self):
        """{'pool', 'name'} of the group the image belongs to ('' / -1 when none)."""
        ctx = self._enter()
        group = ctx.info.group or {}
        return {"pool": group.get("pool", -1), "name": group.get("name", "")}

    @requires_not_closed
    def update_features(self, features, enabled):
        """Enable or disable mutable features (InvalidArgument per librbd's rules)."""
        features = _args.uint(features)
        ctx = self._enter()
        with _errors("error updating features for image %s" % self.name):
            _update_features(ctx, features, bool(enabled))

    # -- parent --------------------------------------------------------------------------------
    def _parent_names(self, ctx):
        parent = ctx.parent_at()
        if parent is None:
            raise RbdError(-errno.ENOENT, "no parent")
        spec = parent.spec
        pctx = ctx.parent_ctx(parent)
        pool_name = pctx.io.pool_name() or ""
        snap = pctx.info.snaps.get(spec.snap_id)
        snap_name = snap.name if snap is not None else ""
        return pool_name, spec.nspace, pctx.name or "", snap_name, spec.image_id

    @requires_not_closed
    def get_parent_image_spec(self):
        ctx = self._enter()
        with _errors("error getting parent info for image %s" % self.name):
            pool, nspace, image, snap, _ = self._parent_names(ctx)
        return {"pool_name": pool, "pool_namespace": nspace, "image_name": image,
                "snap_name": snap}

    @requires_not_closed
    def parent_info(self):
        """(pool_name, image_name, snap_name) of the parent; ImageNotFound if none."""
        ctx = self._enter()
        with _errors("error getting parent info for image %s" % self.name):
            pool, _, image, snap, _ = self._parent_names(ctx)
        return pool, image, snap

    @requires_not_closed
    def parent_id(self):
        ctx = self._enter()
        with _errors("error getting parent id for image %s" % self.name):
            parent = ctx.parent_at()
            if parent is None:
                raise RbdError(-errno.ENOENT)
            return parent.spec.image_id

    # -- data path -----------------------------------------------------------------------------
    @requires_not_closed
    def read(self, offset, length, fadvise_flags=0):
        """Read `length` bytes at `offset` (shorter at the end of the image)."""
        offset, length = _args.uint(offset), _args.uint(length)
        _args.sint(fadvise_flags)
        ctx = self._enter()
        try:        # not `with _errors(...)`: a generator context manager per 4K op shows
            return image_io.start_read(ctx, offset, length).finish()
        except RbdError as exc:
            raise make_ex(exc.ret, "error reading %s %ld~%ld"
                          % (self.name, offset, length)) from None

    @requires_not_closed
    def write(self, data, offset, fadvise_flags=0):
        """Write bytes at offset; returns len(data). IncompleteWriteError past the end."""
        if not isinstance(data, bytes):
            raise TypeError("data must be a byte string")
        offset = _args.uint(offset)
        _args.sint(fadvise_flags)
        length = len(data)
        ctx = self._enter()
        try:
            if _journaling(ctx):
                _journal(ctx, op="write", off=offset, data=data)
            ret = image_io.start_write(ctx, offset, data).finish()
        except RbdError as exc:
            raise make_ex(exc.ret, "error writing to %s" % self.name) from None
        if ret == length:
            return ret
        if ret < length:
            raise IncompleteWriteError("Wrote only %ld out of %ld bytes" % (ret, length))
        raise LogicError("logic error: rbd_write(%s) returned %ld, but %ld was the maximum "
                         "number of bytes it could have written." % (self.name, ret, length))

    @requires_not_closed
    def discard(self, offset, length):
        offset, length = _args.uint(offset), _args.uint(length)
        ctx = self._enter()
        with _errors(lambda: "error discarding region %d~%d" % (offset, length)):
            _journal(ctx, op="discard", off=offset, len=length)
            image_io.start_discard(ctx, offset, length).finish()

    @requires_not_closed
    def write_zeroes(self, offset, length, zero_flags=0):
        offset, length = _args.uint(offset), _args.uint(length)
        zero_flags = _args.sint(zero_flags)
        ctx = self._enter()
        with _errors(lambda: "error zeroing region %d~%d" % (offset, length)):
            _journal(ctx, op="zero", off=offset, len=length)
            image_io.start_write_zeroes(ctx, offset, length, zero_flags).finish()

    @requires_not_closed
    def flush(self):
        ctx = self._enter()
        with _errors("error flushing image"):
            ctx.drain_io()

    @requires_not_closed
    def invalidate_cache(self):
        self._enter()

    @requires_not_closed
    def resize(self, size, allow_shrink=True):
        """Change the size; shrinking with allow_shrink=False is InvalidArgument."""
        size = _args.uint(size)
        old_size = self.size()
        if old_size == size:
            return
        if not allow_shrink and old_size > size:
            raise InvalidArgument("error resizing image %s" % self.name)
        ctx = self._enter()
        with _errors("error resizing image %s" % self.name):
            _journal(ctx, op="resize", size=size)
            _resize(ctx, size, None)

    @requires_not_closed
    def sparsify(self, sparse_size):
        sparse_size = _args.uint(sparse_size, "size_t")
        ctx = self._enter()
        with _errors("error sparsifying %s" % self.name):
            from rbd import copy as copy_mod
            copy_mod.sparsify(ctx, sparse_size)

    @requires_not_closed
    def diff_iterate(self, offset, length, from_snapshot, iterate_cb, include_parent=True,
                     whole_object=False):
        """Call iterate_cb(offset, length, exists) for every changed extent."""
        from_snapshot = cstr(from_snapshot, "from_snapshot", opt=True)
        offset, length = _args.uint(offset), _args.uint(length)
        from rbd import diff
        ctx = self._enter()
        snap = decode_cstr(from_snapshot)
        with _errors(lambda: "error generating diff from snapshot %s" % snap):
            diff.diff_iterate(ctx, offset, length, snap, iterate_cb, bool(include_parent),
                              bool(whole_object))

    # -- aio -----------------------------------------------------------------------------------
    def _aio(self, oncomplete, start, to_ret, buf_cb=None):
        comp = Completion(self, oncomplete, buf_cb)
        try:
            pending = start()
        except RbdError as exc:
            return comp._fail(exc.ret)
        return comp._run(pending.finish, to_ret, pending)

    @requires_not_closed
    def aio_read(self, offset, length, oncomplete, fadvise_flags=0):
        """oncomplete(completion, data_or_None)."""
        offset, length = _args.uint(offset), _args.uint(length)
        ctx = self._enter()

        def buf(comp):
            return (comp._value if comp.get_return_value() >= 0 else None,)
        return self._aio(oncomplete, lambda: image_io.start_read(ctx, offset, length),
                         len, buf)

    @requires_not_closed
    def aio_write(self, data, offset, oncomplete, fadvise_flags=0):
        if not isinstance(data, bytes):
            raise TypeError("data must be a byte string")
        offset = _args.uint(offset)
        ctx = self._enter()
        if _journaling(ctx):
            with _errors(lambda: "error writing to %s" % self.name):
                _journal(ctx, op="write", off=offset, data=data)
        return self._aio(oncomplete, lambda: image_io.start_write(ctx, offset, data),
                         lambda _: 0)

    @requires_not_closed
    def aio_discard(self, offset, length, oncomplete):
        offset, length = _args.uint(offset), _args.uint(length)
        ctx = self._enter()
        with _errors(lambda: "error discarding region %d~%d" % (offset, length)):
            _journal(ctx, op="discard", off=offset, len=length)
        return self._aio(oncomplete, lambda: image_io.start_discard(ctx, offset, length),
                         lambda _: 0)

    @requires_not_closed
    def aio_write_zeroes(self, offset, length, oncomplete, zero_flags=0):
        offset, length = _args.uint(offset), _args.uint(length)
        ctx = self._enter()
        return self._aio(oncomplete, lambda: image_io.start_write_zeroes(
            ctx, offset, length, zero_flags), lambda _: 0)

    @requires_not_closed
    def aio_flush(self, oncomplete):
        ctx = self._enter()
        comp = Completion(self, oncomplete)
        return comp._run(ctx.drain_io)

    # -- snapshots -----------------------------------------------------------------------------
    def _snap_list(self):
        ctx = self._enter()
        return [ctx.info.snaps[s] for s in sorted(ctx.info.snaps)]

    @requires_not_closed
    def list_snaps(self):
        return SnapIterator(self)

    @requires_not_closed
    def create_snap(self, name, flags=0):
        name = cstr(name, "name")
        flags = _args.uint(flags, "uint32_t", 32)
        ctx = self._enter()
        sname = decode_cstr(name)
        with _errors("error creating snapshot %s from %s" % (sname, self.name)):
            # librbd: SKIP_QUIESCE wins; anything left over (including IGNORE_QUIESCE_ERROR
            # together with SKIP_QUIESCE) is EINVAL
            if flags & RBD_SNAP_CREATE_SKIP_QUIESCE:
                flags &= ~RBD_SNAP_CREATE_SKIP_QUIESCE
            else:
                flags &= ~RBD_SNAP_CREATE_IGNORE_QUIESCE_ERROR
            if flags:
                raise RbdError(-errno.EINVAL, "invalid snap create flags")
            _journal(ctx, op="snap_create", name=sname)
            snapshots.create(ctx, sname)

    @requires_not_closed
    def rename_snap(self, srcname, dstname):
        srcname = decode_cstr(cstr(srcname, "srcname"))
        dstname = decode_cstr(cstr(dstname, "dstname"))
        ctx = self._enter()
        with _errors("error renaming snapshot of %s from %s to %s"
                     % (self.name, srcname, dstname)):
            snapshots.rename(ctx, srcname, dstname)

    @requires_not_closed
    def remove_snap(self, name):
        name = decode_cstr(cstr(name, "name"))
        ctx = self._enter()
        with _errors("error removing snapshot %s from %s" % (name, self.name)):
            snap = ctx.info.snap_by_name(name)
            if snap is None:
                raise RbdError(-errno.ENOENT)
            snapshots.remove(ctx, snap.id)

    @requires_not_closed
    def remove_snap2(self, name, flags):
        name = decode_cstr(cstr(name, "name"))
        flags = _args.uint(flags, "uint32_t", 32)
        ctx = self._enter()
        with _errors("error removing snapshot %s from %s with flags %d"
                     % (name, self.name, flags)):
            snap = ctx.info.snap_by_name(name)
            if snap is None:
                raise RbdError(-errno.ENOENT)
            snapshots.remove(ctx, snap.id, flags)

    @requires_not_closed
    def remove_snap_by_id(self, snap_id):
        snap_id = _args.uint(snap_id)
        ctx = self._enter()
        with _errors("error removing snapshot %s from %s" % (snap_id, self.name)):
            snapshots.remove(ctx, snap_id)

    @requires_not_closed
    def rollback_to_snap(self, name, on_progress=None):
        name = decode_cstr(cstr(name, "name"))
        ctx = self._enter()
        with _errors("error rolling back image %s to snapshot %s" % (self.name, name)):
            from rbd import migration_io
            if migration_io.copyup_limit(ctx):
                # objects still reading through to a migration source get their history first
                ctx.require_writable()
                ctx.exclusive_lock.ensure_owner()
                migration_io.copy_all(ctx)
            snapshots.rollback(ctx, name, _progress(on_progress))

    @requires_not_closed
    def protect_snap(self, name):
        name = decode_cstr(cstr(name, "name"))
        ctx = self._enter()
        with _errors("error protecting snapshot %s@%s" % (self.name, name)):
            snapshots.protect(ctx, name)

    @requires_not_closed
    def unprotect_snap(self, name):
        name = decode_cstr(cstr(name, "name"))
        ctx = self._enter()
        with _errors("error unprotecting snapshot %s@%s" % (self.name, name)):
            snapshots.unprotect(ctx, name)

    @requires_not_closed
    def is_protected_snap(self, name):
        name = decode_cstr(cstr(name, "name"))
        ctx = self._enter()
        with _errors("error checking if snapshot %s@%s is protected" % (self.name, name)):
            snap = ctx.info.snap_by_name(name)
            if snap is None:
                raise RbdError(-errno.ENOENT)
            return snap.protection_status != RBD_PROTECTION_STATUS_UNPROTECTED

    @requires_not_closed
    def snap_exists(self, name):
        name = decode_cstr(cstr(name, "name"))
        ctx = self._enter()
        return ctx.info.snap_by_name(name) is not None

    @requires_not_closed
    def get_snap_limit(self):
        return self._enter().info.snap_limit

    @requires_not_closed
    def set_snap_limit(self, limit):
        limit = _args.uint(limit)
        ctx = self._enter()
        with _errors("error setting snapshot limit for %s" % self.name):
            snapshots.set_limit(ctx, limit)

    @requires_not_closed
    def remove_snap_limit(self):
        ctx = self._enter()
        with _errors("error removing snapshot limit for %s" % self.name):
            snapshots.set_limit(ctx, UINT64_MAX)

    @requires_not_closed
    def get_snap_timestamp(self, snap_id):
        snap_id = _args.uint(snap_id)
        ctx = self._enter()
        snap = ctx.info.snaps.get(snap_id)
        if snap is None:
            raise make_ex(-errno.ENOENT, "error getting snapshot timestamp for image: %s, "
                          "snap_id: %d" % (self.name, snap_id))
        return _dt(snap.timestamp)

    @requires_not_closed
    def set_snap(self, name):
        """View snapshot `name` (None: back to HEAD); writes then raise ReadOnlyImage."""
        name = cstr(name, "name", opt=True)
        ctx = self._enter()
        name = decode_cstr(name)
        with _errors("error setting image %s to snapshot %s" % (self.name, name)):
            if name is None:
                _set_snap(ctx, SNAP_HEAD)
            else:
                snap = ctx.info.snap_by_name(name)
                if snap is None:
                    raise RbdError(-errno.ENOENT)
                _set_snap(ctx, snap.id)

    @requires_not_closed
    def set_snap_by_id(self, snap_id):
        if snap_id is None:
            snap_id = SNAP_HEAD
        snap_id = _args.uint(snap_id)
        ctx = self._enter()
        with _errors("error setting image %s to snapshot %d" % (self.name, snap_id)):
            if snap_id != SNAP_HEAD and snap_id not in ctx.info.snaps:
                raise RbdError(-errno.ENOENT)
            _set_snap(ctx, snap_id)

    @requires_not_closed
    def snap_get_name(self, snap_id):
        snap_id = _args.uint(snap_id)
        ctx = self._enter()
        snap = ctx.info.snaps.get(snap_id)
        if snap is None:
            raise make_ex(-errno.ENOENT, "error snap_get_name for image %s snap id %d"
                          % (self.name, snap_id))
        return snap.name

    @requires_not_closed
    def snap_get_id(self, snap_name):
        snap_name = decode_cstr(cstr(snap_name, "snap_name"))
        ctx = self._enter()
        snap = ctx.info.snap_by_name(snap_name)
        if snap is None:
            raise make_ex(-errno.ENOENT, "error snap_get_id for image %s snap name %s"
                          % (self.name, snap_name))
        return snap.id

    def _snap_or_raise(self, snap_id, what):
        snap_id = _args.uint(snap_id)
        ctx = self._enter()
        snap = ctx.info.snaps.get(snap_id)
        if snap is None:
            raise make_ex(-errno.ENOENT, "error getting snapshot %s for image: %s, snap_id: %d"
                          % (what, self.name, snap_id))
        return snap

    @requires_not_closed
    def snap_get_namespace_type(self, snap_id):
        return self._snap_or_raise(snap_id, "namespace type").namespace_type

    @requires_not_closed
    def snap_get_group_namespace(self, snap_id):
        snap = self._snap_or_raise(snap_id, "group namespace")
        if snap.namespace_type != RBD_SNAP_NAMESPACE_TYPE_GROUP:
            raise make_ex(-errno.EINVAL, "error getting snapshot group namespace for image: "
                          "%s, snap_id: %d" % (self.name, snap.id))
        ns = snap.namespace
        return {"pool": ns.get("pool", -1), "name": ns.get("group_name", ns.get("name", "")),
                "snap_name": ns.get("group_snap_name", ns.get("snap_name", ""))}

    @requires_not_closed
    def snap_get_trash_namespace(self, snap_id):
        snap = self._snap_or_raise(snap_id, "trash namespace")
        if snap.namespace_type != RBD_SNAP_NAMESPACE_TYPE_TRASH:
            raise make_ex(-errno.EINVAL, "error getting snapshot trash namespace for image: "
                          "%s, snap_id: %d" % (self.name, snap.id))
        return {"original_name": snap.namespace.get("original_name", "")}

    @requires_not_closed
    def snap_get_mirror_namespace(self, snap_id):
        snap = self._snap_or_raise(snap_id, "mirror namespace")
        if snap.namespace_type != RBD_SNAP_NAMESPACE_TYPE_MIRROR:
            raise make_ex(-errno.EINVAL, "error getting snapshot mirror namespace for image: "
                          "%s, snap_id: %d" % (self.name, snap.id))
        ns = snap.namespace
        return {"state": ns.get("state", 0),
                "mirror_peer_uuids": list(ns.get("mirror_peer_uuids", [])),
                "complete": bool(ns.get("complete", False)),
                "primary_mirror_uuid": ns.get("primary_mirror_uuid", ""),
                "primary_snap_id": ns.get("primary_snap_id", 0),
                "last_copied_object_number": ns.get("last_copied_object_number", 0)}

    # -- clones --------------------------------------------------------------------------------
    @requires_not_closed
    def flatten(self, on_progress=None):
        ctx = self._enter()
        with _errors("error flattening %s" % self.name):
            clone_mod.flatten(ctx, _progress(on_progress))

    def _children(self, descendants=False):
        ctx = self._enter()
        with _errors("error listing children."):
            children = (clone_mod.descendants_of if descendants else clone_mod.children_of)(
                ctx, ctx.snap_id)
        return [{k: v for k, v in c.items() if not k.startswith("_")} for c in children]

    @requires_not_closed
    def list_children(self):
        """[(pool_name, image_name)] of the clones of the current snapshot (not trashed)."""
        return [(c["pool"], c["image"]) for c in self._children() if not c["trash"]]

    @requires_not_closed
    def list_children2(self):
        return ChildIterator(self)

    @requires_not_closed
    def list_descendants(self):
        return ChildIterator(self, True)

    @requires_not_closed
    def copy(self, dest_ioctx, dest_name, features=None, order=None, stripe_unit=None,
             stripe_count=None, data_pool=None):
        dest_name = decode_cstr(cstr(dest_name, "dest_name"))
        data_pool = decode_cstr(cstr(data_pool, "data_pool", opt=True))
        ctx = self._enter()
        from rbd import copy as copy_mod
        with _errors("error copying image %s to %s" % (self.name, dest_name)):
            copy_mod.copy(ctx, RadosIO(dest_ioctx), dest_name, features, order, stripe_unit,
                          stripe_count, data_pool)

    @requires_not_closed
    def deep_copy(self, dest_ioctx, dest_name, features=None, order=None, stripe_unit=None,
                  stripe_count=None, data_pool=None, clone_format=None, flatten=False):
        dest_name = decode_cstr(cstr(dest_name, "dest_name"))
        data_pool = decode_cstr(cstr(data_pool, "data_pool", opt=True))
        ctx = self._enter()
        from rbd import copy as copy_mod
        with _errors("error copying image %s to %s" % (self.name, dest_name)):
            copy_mod.deep_copy(ctx, RadosIO(dest_ioctx), dest_name, features, order,
                               stripe_unit, stripe_count, data_pool, clone_format,
                               bool(flatten))

    # -- object map ----------------------------------------------------------------------------
    @requires_not_closed
    def rebuild_object_map(self):
        ctx = self._enter()
        with _errors("error rebuilding object map %s" % self.name):
            if not ctx.info.features & RBD_FEATURE_OBJECT_MAP:
                raise RbdError(-errno.EINVAL, "object map not enabled")
            ctx.require_writable()
            ctx.exclusive_lock.ensure_owner()
            from rbd import object_map
            object_map.rebuild(ctx)
            ctx.notify_update()

    # -- locks ---------------------------------------------------------------------------------
    @requires_not_closed
    def is_exclusive_lock_owner(self):
        ctx = self._enter()
        return ctx.exclusive_lock.is_owner()

    @requires_not_closed
    def lock_acquire(self, lock_mode):
        lock_mode = _args.sint(lock_mode)
        ctx = self._enter()
        with _errors("error acquiring lock on image"):
            if lock_mode == RBD_LOCK_MODE_SHARED:
                raise RbdError(-errno.EOPNOTSUPP, "shared lock mode not supported")
            if lock_mode not in (RBD_LOCK_MODE_EXCLUSIVE, RBD_LOCK_MODE_EXCLUSIVE_TRANSIENT):
                raise RbdError(-errno.EINVAL, "bad lock mode")
            if not ctx.info.features & RBD_FEATURE_EXCLUSIVE_LOCK:
                raise RbdError(-errno.EINVAL, "exclusive-lock feature is not enabled")
            if ctx.read_only:
                raise RbdError(-errno.EROFS, "image is read-only")
            ctx.exclusive_lock.ensure_owner(
                explicit=lock_mode == RBD_LOCK_MODE_EXCLUSIVE)

    @requires_not_closed
    def lock_release(self):
        ctx = self._enter()
        with _errors("error releasing lock on image"):
            if not ctx.info.features & RBD_FEATURE_EXCLUSIVE_LOCK:
                raise RbdError(-errno.EINVAL, "exclusive-lock feature is not enabled")
            if not ctx.exclusive_lock.owner:
                raise RbdError(-errno.EINVAL, "not the lock owner")
            ctx.exclusive_lock.release()

    def _lock_owners(self):
        ctx = self._enter()
        with _errors("error getting lock owners for image"):
            if not ctx.info.features & RBD_FEATURE_EXCLUSIVE_LOCK:
                raise RbdError(-errno.EINVAL, "exclusive-lock feature is not enabled")
            return ctx.exclusive_lock.owners()

    @requires_not_closed
    def lock_get_owners(self):
        return LockOwnerIterator(self)

    @requires_not_closed
    def lock_break(self, lock_mode, lock_owner):
        lock_mode = _args.sint(lock_mode)
        lock_owner = decode_cstr(cstr(lock_owner, "lock_owner"))
        ctx = self._enter()
        with _errors("error breaking lock on image"):
            if not ctx.info.features & RBD_FEATURE_EXCLUSIVE_LOCK:
                raise RbdError(-errno.EINVAL, "exclusive-lock feature is not enabled")
            if lock_mode != RBD_LOCK_MODE_EXCLUSIVE:
                raise RbdError(-errno.EOPNOTSUPP, "only exclusive locks can be broken")
            ctx.exclusive_lock.break_owner(lock_owner)

    @requires_not_closed
    def list_lockers(self):
        ctx = self._enter()
        with _errors("error listing images"):
            return locks.list_lockers(ctx)

    @requires_not_closed
    def lock_exclusive(self, cookie):
        cookie = decode_cstr(cstr(cookie, "cookie"))
        ctx = self._enter()
        with _errors("error acquiring exclusive lock on image"):
            _require_lockable(ctx)
            locks.advisory_lock(ctx, True, cookie, "")

    @requires_not_closed
    def lock_shared(self, cookie, tag):
        cookie = decode_cstr(cstr(cookie, "cookie"))
        tag = decode_cstr(cstr(tag, "tag"))
        ctx = self._enter()
        with _errors("error acquiring shared lock on image"):
            _require_lockable(ctx)
            locks.advisory_lock(ctx, False, cookie, tag)

    @requires_not_closed
    def unlock(self, cookie):
        cookie = decode_cstr(cstr(cookie, "cookie"))
        ctx = self._enter()
        with _errors("error unlocking image"):
            _require_lockable(ctx)
            locks.advisory_unlock(ctx, cookie)

    @requires_not_closed
    def break_lock(self, client, cookie):
        client = decode_cstr(cstr(client, "client"))
        cookie = decode_cstr(cstr(cookie, "cookie"))
        ctx = self._enter()
        with _errors("error unlocking image"):
            _require_lockable(ctx)
            locks.advisory_break(ctx, client, cookie)

    # -- watchers ------------------------------------------------------------------------------
    def _watchers(self):
        ctx = self._enter()
        with _errors("error listing watchers."):
            out = []
            for w in ctx.io.list_watchers(ctx.header_oid):
                gid = locks.locker_gid(w.get("name", ""))
                out.append({"addr": w.get("addr", ""), "id": gid if gid is not None else 0,
                            "cookie": w.get("cookie", 0)})
            return out

    @requires_not_closed
    def watchers_list(self):
        return WatcherIterator(self)

    # -- metadata / config ---------------------------------------------------------------------
    @requires_not_closed
    def metadata_get(self, key):
        key = decode_cstr(cstr(key, "key"))
        ctx = self._enter()
        try:
            value = ctx.io.call(ctx.header_oid, "metadata_get", {"key": key})
        except RbdError as exc:
            if exc.ret == -errno.ENOENT:
                raise KeyError("no metadata %s for image %s" % (key, self.name)) from None
            raise make_ex(exc.ret, "error getting metadata %s for image %s"
                          % (key, self.name)) from None
        return decode_cstr(value)

    @requires_not_closed
    def metadata_set(self, key, value):
        key = decode_cstr(cstr(key, "key"))
        value = decode_cstr(cstr(value, "value"))
        ctx = self._enter()
        with _errors("error setting metadata %s for image %s" % (key, self.name)):
            _metadata_set(ctx, key, value)

    @requires_not_closed
    def metadata_remove(self, key):
        key = decode_cstr(cstr(key, "key"))
        ctx = self._enter()
        try:
            _metadata_remove(ctx, key)
        except RbdError as exc:
            if exc.ret == -errno.ENOENT:
                raise KeyError("no metadata %s for image %s" % (key, self.name)) from None
            raise make_ex(exc.ret, "error removing metadata %s for image %s"
                          % (key, self.name)) from None

    def _metadata_page(self, start, max_read):
        ctx = self._enter()
        with _errors("error listing metadata for image %s" % self.name):
            page = ctx.io.call(ctx.header_oid, "metadata_list",
                               {"start": start, "max": max_read}) or {}
        return [(k, decode_cstr(v)) for k, v in sorted(page.items())]

    @requires_not_closed
    def metadata_list(self):
        return MetadataIterator(self)

    @requires_not_closed
    def config_get(self, key):
        key = decode_cstr(cstr(key, "key"))
        ctx = self._enter()
        try:
            value = ctx.io.call(ctx.header_oid, "metadata_get", {"key": "conf_" + key})
        except RbdError as exc:
            if exc.ret == -errno.ENOENT:
                raise KeyError("no config %s for image %s" % (key, self.name)) from None
            raise make_ex(exc.ret, "error getting config %s for image %s"
                          % (key, self.name)) from None
        return decode_cstr(value)

    @requires_not_closed
    def config_set(self, key, value):
        key = decode_cstr(cstr(key, "key"))
        value = decode_cstr(cstr(value, "value"))
        ctx = self._enter()
        with _errors("error setting config %s for image %s" % (key, self.name)):
            _metadata_set(ctx, "conf_" + key, value)

    @requires_not_closed
    def config_remove(self, key):
        key = decode_cstr(cstr(key, "key"))
        ctx = self._enter()
        try:
            _metadata_remove(ctx, "conf_" + key)
        except RbdError as exc:
            if exc.ret == -errno.ENOENT:
                raise KeyError("no config %s for image %s" % (key, self.name)) from None
            raise make_ex(exc.ret, "error removing config %s for image %s"
                          % (key, self.name)) from None

    def _config_list(self):
        ctx = self._enter()
        out = []
        for name in sorted(config_mod.OPTIONS):
            value, source = config_mod.lookup(ctx.io, name, ctx.conf_overrides)
            out.append({"name": name, "value": value, "source": source})
        return out

    @requires_not_closed
    def config_list(self):
        return ConfigImageIterator(self)


# -- operations behind the methods ---------------------------------------------------------------
def _journaling(ctx) -> bool:
    """Whether _journal could record anything (it imports and checks more per call)."""
    info = ctx.info
    return info is not None and bool(info.features & RBD_FEATURE_JOURNALING)


def _journal(ctx, **event) -> None:
    """Journal-based mirroring: append the event to the image journal before applying it
    (no-op unless the journaling feature is on); see rbd/mirror/journal.py."""
    from rbd.mirror import journal
    journal.append(ctx, event)


def _progress(on_progress):
    if on_progress is None:
        return None

    def cb(offset, total):
        ret = on_progress(offset, total)
        if isinstance(ret, int) and ret < 0:
            raise RbdError(ret, "operation canceled by progress callback")
    return cb


def _require_lockable(ctx) -> None:
    if ctx.old_format:
        return
    if ctx.read_only:
        raise RbdError(-errno.EROFS, "image is read-only")


def _set_snap(ctx, snap_id: int) -> None:
    if snap_id != SNAP_HEAD and ctx.exclusive_lock.owner:
        ctx.exclusive_lock.release()
    snap = ctx.info.snaps.get(snap_id) if snap_id != SNAP_HEAD else None
    ctx.snap_id = snap_id
    ctx.snap_name = snap.name if snap is not None else None
    ctx.snap_namespace_type = snap.namespace_type if snap is not None \
        else RBD_SNAP_NAMESPACE_TYPE_USER


def _resize(ctx, size: int, on_progress) -> None:
    ctx.require_writable()
    ctx.exclusive_lock.ensure_owner()
    if ctx.old_format:
        from rbd import format1
        format1.resize(ctx, size)
        return
    old_size = ctx.info.size
    if size == old_size:
        return
    if size < old_size:
        ctx.block_io()
        try:
            image_io.trim(ctx, old_size, size, on_progress)
            ctx.io.call(ctx.header_oid, "set_size", {"size": size})
            ctx.object_map.resize(size)
        finally:
            ctx.unblock_io()
    else:
        ctx.object_map.resize(size)
        ctx.io.call(ctx.header_oid, "set_size", {"size": size})
    ctx.notify_update()


def _metadata_set(ctx, key: str, value: str) -> None:
    ctx.require_writable_or_snap_view()
    if key.startswith("conf_"):
        option = key[len("conf_"):]
        if not config_mod.is_option(option):
            raise RbdError(-errno.EINVAL, "not an image-level config option")
    ctx.exclusive_lock.ensure_owner()
    ctx.io.call(ctx.header_oid, "metadata_set", {"data": {key: value.encode()}})
    ctx.notify_update()


def _metadata_remove(ctx, key: str) -> None:
    ctx.require_writable_or_snap_view()
    ctx.exclusive_lock.ensure_owner()
    ctx.io.call(ctx.header_oid, "metadata_remove", {"key": key})
    ctx.notify_update()


def _update_features(ctx, features: int, enabled: bool) -> None:
    from rbd import object_map
    from rbd.constants import RBD_FEATURE_DEEP_FLATTEN, RBD_FEATURES_MUTABLE
    if ctx.read_only:
        raise RbdError(-errno.EROFS, "image is read-only")
    if ctx.old_format:
        raise RbdError(-errno.EINVAL, "old-format images do not support features")
    disable_mask = RBD_FEATURES_MUTABLE | RBD_FEATURE_DEEP_FLATTEN
    if (enabled and features & ~RBD_FEATURES_MUTABLE) or \
            (not enabled and features & ~disable_mask):
        raise RbdError(-errno.EINVAL, "cannot update immutable features")
    if features == 0:
        raise RbdError(-errno.EINVAL, "update requires at least one feature")
    current = ctx.info.features
    if enabled and features & current:
        raise RbdError(-errno.EINVAL, "one or more requested features are already enabled")
    if not enabled and features & ~current:
        raise RbdError(-errno.EINVAL, "one or more requested features are already disabled")
    new, changed = validate_update(current, features, enabled)
    if not enabled and changed != features:
        raise RbdError(-errno.EINVAL, "dependent features must be disabled first")
    if current & RBD_FEATURE_EXCLUSIVE_LOCK or new & RBD_FEATURE_EXCLUSIVE_LOCK:
        if ctx.snap_id == SNAP_HEAD:
            ctx.exclusive_lock.ensure_owner()
    flags_set = 0
    if enabled and changed & RBD_FEATURE_OBJECT_MAP:
        object_map.create(ctx.io, ctx.id, num_objects(ctx.layout, ctx.info.size))
        flags_set |= RBD_FLAG_OBJECT_MAP_INVALID
    if enabled and changed & RBD_FEATURE_FAST_DIFF:
        flags_set |= RBD_FLAG_FAST_DIFF_INVALID
    ctx.io.call(ctx.header_oid, "set_features", {"features": new, "mask": changed})
    if flags_set:
        ctx.io.call(ctx.header_oid, "set_flags", {"flags": flags_set, "mask": flags_set})
    if not enabled and changed & RBD_FEATURE_OBJECT_MAP:
        from rbd.header import object_map_oid
        ctx.io.remove(object_map_oid(ctx.id))
        for snap_id in ctx.info.snaps:
            ctx.io.remove(object_map_oid(ctx.id, snap_id))
        clear = RBD_FLAG_OBJECT_MAP_INVALID | RBD_FLAG_FAST_DIFF_INVALID
        ctx.io.call(ctx.header_oid, "set_flags", {"flags": 0, "mask": clear})
    elif not enabled and changed & RBD_FEATURE_FAST_DIFF:
        ctx.io.call(ctx.header_oid, "set_flags",
                    {"flags": 0, "mask": RBD_FLAG_FAST_DIFF_INVALID})
    ctx.notify_update()
    if not enabled and changed & RBD_FEATURE_EXCLUSIVE_LOCK:
        ctx.exclusive_lock.release()
