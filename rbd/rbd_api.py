"""rbd.RBD: pool-level image operations (create, clone, list, remove, rename, ...).

Invariants:
- Creation validates everything before the first RADOS change, then makes `rbd_id.<name>`,
  the directory entry, the header (and parent link), the object map, in that order; any
  failure removes what was made, so a failed create or clone leaves no object behind.
- Removal refuses while the header is watched (EBUSY), while snapshots exist (ENOTEMPTY),
  while the image is in a group (EMLINK); then deletes data objects, object map, header,
  id object and directory entry, and detaches a clone from its parent.
- Trash, groups, namespaces, pool metadata/config/stats, migration and mirroring come from
  the mixins in rbd/pool_features.py and rbd/mirror_api.py.
"""
from __future__ import annotations

import errno
import os

from rbd import _args
from rbd import config
from rbd._rados_io import RadosIO
from rbd.completion import Completion
from rbd.constants import (
    RBD_FEATURE_DATA_POOL, RBD_FEATURE_OBJECT_MAP, RBD_FEATURE_STRIPINGV2,
    RBD_SNAP_NAMESPACE_TYPE_MIRROR, RBD_SNAP_NAMESPACE_TYPE_TRASH, SNAP_HEAD,
)
from rbd.errors import InvalidArgument, RbdError, cstr, decode_cstr
from rbd.features import (
    features_from_string, features_to_string, validate_create_features,
)
from rbd.header import (
    RBD_DIRECTORY, RBD_INFO, ParentSpec, dir_list, generate_image_id, get_image_id,
    header_oid, id_oid, object_map_oid,
)
from rbd.iterators import ImageIterator
from rbd.mirror_api import PoolMirrorMixin
from rbd.pool_features import PoolFeaturesMixin
from rbd.striping import Layout, num_objects

MIN_ORDER = 12
MAX_ORDER = 25
LIBRBD_VERSION = (1, 18, 0)


def _errors(msg):
    from rbd.image import _errors as errors_cm
    return errors_cm(msg)


# -- creation -------------------------------------------------------------------------------------
def _pool_id(io, name: str) -> int | None:
    osdmap = io.client.osdmap
    names = getattr(osdmap, "pool_names", None) or {}
    if name in names:
        return names[name]
    for pid, pool in osdmap.pools.items():
        if getattr(pool, "name", None) == name:
            return pid
    return None


def _image_exists(io, name: str) -> bool:
    from rbd import format1
    try:
        get_image_id(io, name)
        return True
    except RbdError as exc:
        if exc.ret != -errno.ENOENT:
            raise
    return format1.exists(io, name)


def create_image(io, name: str, size: int, order=None, features=None, stripe_unit=None,
                 stripe_count=None, data_pool=None, parent=None, fmt: int = 2) -> str:
    """Create an image; returns its id ('' for format 1). RbdError on failure."""
    if not name:
        raise RbdError(-errno.EINVAL, "image name must not be empty")
    # pool features: refuse images in an RBD namespace that was never created
    from rbd.pool_features import require_namespace
    require_namespace(io)
    if _image_exists(io, name):
        raise RbdError(-errno.EEXIST, "rbd image %s already exists" % name)
    pool_conf = config.pool_overrides(io)       # read once, as librbd's create does
    if not order:
        order = config.get(io, "rbd_default_order", pool=pool_conf)
    if not MIN_ORDER <= order <= MAX_ORDER:
        raise RbdError(-errno.EDOM, "order must be in the range [12, 25]")
    if fmt == 1:
        if not os.environ.get("RBD_FORCE_ALLOW_V1"):
            raise RbdError(-errno.EINVAL, "Format 1 image creation unsupported.")
        from rbd import format1
        format1.create(io, name, size, order)
        return ""
    if features is None:
        try:
            features = features_from_string(str(config.lookup(io, "rbd_default_features", pool=pool_conf)[0]))
        except RbdError:
            raise RbdError(-errno.EINVAL, "bad rbd_default_features") from None
    validate_create_features(features)
    object_size = 1 << order
    su = stripe_unit or 0
    sc = stripe_count or 0
    if su == 0 and sc == 0:
        su = config.get(io, "rbd_default_stripe_unit", pool=pool_conf)
        sc = config.get(io, "rbd_default_stripe_count", pool=pool_conf)
    if (su and not sc) or (sc and not su):
        raise RbdError(-errno.EINVAL, "must specify both (or neither) of stripe-unit and "
                       "stripe-count")
    if su and (object_size % su or su > object_size):
        raise RbdError(-errno.EINVAL, "stripe unit is not a factor of the object size")
    if su and su < 512:
        raise RbdError(-errno.EINVAL, "stripe unit must be at least 512 bytes")
    if (su and su != object_size) or (sc and sc != 1):
        features |= RBD_FEATURE_STRIPINGV2
    else:
        features &= ~RBD_FEATURE_STRIPINGV2
        su = sc = 0
    if data_pool is None:
        data_pool = str(config.get(io, "rbd_default_data_pool", pool=pool_conf) or "") or None
    data_pool_id = -1
    if data_pool:
        data_pool_id = _pool_id(io, data_pool)
        if data_pool_id is None:
            raise RbdError(-errno.ENOENT, "data pool %s does not exist" % data_pool)
        if data_pool_id == io.pool:
            data_pool_id = -1
    if data_pool_id >= 0:
        features |= RBD_FEATURE_DATA_POOL
    else:
        features &= ~RBD_FEATURE_DATA_POOL
    image_id = generate_image_id(io.gid)
    prefix = "rbd_data." + image_id if data_pool_id < 0 else "rbd_data.%d.%s" % (data_pool_id,
                                                                                  image_id)
    undo = []
    try:
        io.call(id_oid(name), "set_id", {"id": image_id})
        undo.append(lambda: io.remove(id_oid(name)))
        io.call(RBD_DIRECTORY, "dir_add_image", {"name": name, "id": image_id})
        undo.append(lambda: io.call(RBD_DIRECTORY, "dir_remove_image",
                                    {"name": name, "id": image_id}))
        io.call(header_oid(image_id), "create", {
            "size": size, "order": order, "features": features, "object_prefix": prefix,
            "data_pool_id": data_pool_id, "stripe_unit": su, "stripe_count": sc})
        undo.append(lambda: io.remove(header_oid(image_id)))
        if parent is not None:
            spec, overlap = parent
            io.call(header_oid(image_id), "set_parent",
                    {"parent": spec.as_list(), "overlap": overlap})
        if features & RBD_FEATURE_OBJECT_MAP:
            from rbd import object_map
            layout = Layout.from_order(order, su, sc)
            object_map.create(io, image_id, num_objects(layout, size))
            undo.append(lambda: io.remove(object_map_oid(image_id)))
    except BaseException:
        for step in reversed(undo):
            try:
                step()
            except Exception:
                pass
        raise
    return image_id


def remove_image_quiet(io, name: str, image_id: str) -> None:
    """Undo a create that failed after the header existed (best effort, no checks)."""
    for oid in (object_map_oid(image_id), header_oid(image_id), id_oid(name)):
        try:
            io.remove(oid)
        except Exception:
            pass
    try:
        io.call(RBD_DIRECTORY, "dir_remove_image", {"name": name, "id": image_id})
    except Exception:
        pass


def remove_image(io, name: str | None, image_id: str | None = None, on_progress=None) -> None:
    from rbd import clone as clone_mod
    from rbd import format1
    from rbd import io as image_io
    from rbd.image_ctx import ImageCtx
    if image_id is None:
        try:
            image_id = get_image_id(io, name)
        except RbdError as exc:
            if exc.ret == -errno.ENOENT and format1.exists(io, name):
                format1.remove(io, name, on_progress)
                return
            raise
    ctx = ImageCtx(io, name=name, image_id=image_id, watch=False)
    try:
        try:
            ctx.open()
        except RbdError as exc:
            if exc.ret != -errno.ENOENT:
                raise
            # header gone: clean up what is left of the image
            _remove_names(io, name, image_id)
            return
        # librbd's pre-remove checks snapshots before watchers: an image that is open and
        # has user snapshots reports ENOTEMPTY (mirror/trash ones are dealt with below)
        if any(snap.namespace_type not in (RBD_SNAP_NAMESPACE_TYPE_MIRROR,
                                           RBD_SNAP_NAMESPACE_TYPE_TRASH)
               for snap in ctx.info.snaps.values()):
            raise RbdError(-errno.ENOTEMPTY, "image has snapshots - not removing")
        if ctx.io.list_watchers(ctx.header_oid):
            raise RbdError(-errno.EBUSY, "image still has watchers")
        # mirroring: a primary mirrored image drops its mirror snapshots and records first
        from rbd.mirror_api import disable_for_remove
        disable_for_remove(io, ctx)
        if ctx.info.snaps:
            raise RbdError(-errno.ENOTEMPTY, "image has snapshots - not removing")
        if ctx.info.group:
            raise RbdError(-errno.EMLINK, "image is in a group - not removing")
        if ctx.info.migration:
            raise RbdError(-errno.EBUSY, "image is migrating")
        parent = ctx.info.parent
        layout = ctx.layout
        count = num_objects(layout, ctx.info.size)
        batch = image_io.GATHER_BATCH
        for start in range(0, count, batch):
            futures = [ctx.data_io.submit(ctx.data_oid(n), [("remove",)])
                       for n in range(start, min(count, start + batch))]
            for reply in ctx.data_io.gather(futures):
                if reply.result < 0 and reply.result != -errno.ENOENT:
                    raise RbdError(reply.result, "cannot remove data object")
            if on_progress is not None:
                on_progress(min(count, start + batch), count)
        if count == 0 and on_progress is not None:
            on_progress(0, 0)
        if parent is not None:
            clone_mod.detach(io, image_id, parent.spec)
        io.remove(object_map_oid(image_id))
        io.remove(header_oid(image_id))
        _remove_names(io, name or ctx.name, image_id)
    finally:
        ctx.close()


def _remove_names(io, name, image_id) -> None:
    if name:
        io.remove(id_oid(name))
        try:
            io.call(RBD_DIRECTORY, "dir_remove_image", {"name": name, "id": image_id})
        except RbdError as exc:
            if exc.ret != -errno.ENOENT:
                raise


def _resolve_format(io, old_format: bool) -> int:
    if not old_format:
        return 2
    return int(config.get(io, "rbd_default_format") or 2)


class RBD(PoolFeaturesMixin, PoolMirrorMixin):
    """This class wraps librbd CRUD functions."""

    def version(self):
        """(major, minor, extra) of librbd."""
        return LIBRBD_VERSION

    def create(self, ioctx, name, size, order=None, old_format=False, features=None,
               stripe_unit=None, stripe_count=None, data_pool=None):
        """Create an rbd image (see spec 1A.3 for the errors)."""
        name = decode_cstr(cstr(name, "name"))
        data_pool = decode_cstr(cstr(data_pool, "data_pool", opt=True))
        size = _args.uint(size)
        if order is not None:
            order = _args.sint(order)
        if features is not None:
            features = _args.uint(features)
        if stripe_unit is not None:
            stripe_unit = _args.uint(stripe_unit)
        if stripe_count is not None:
            stripe_count = _args.uint(stripe_count)
        if old_format:
            if (features or (stripe_unit is not None and stripe_unit != 0)
                    or (stripe_count is not None and stripe_count != 0) or data_pool):
                raise InvalidArgument("format 1 images do not support feature masks, "
                                      "non-default striping, nor data pool")
        with _errors("error creating image"):
            io = RadosIO(ioctx)
            fmt = _resolve_format(io, old_format)
            if old_format:
                create_image(io, name, size, order=order, fmt=fmt)
            else:
                create_image(io, name, size, order=order, features=features,
                             stripe_unit=stripe_unit, stripe_count=stripe_count,
                             data_pool=data_pool, fmt=2)

    def clone(self, p_ioctx, p_name, p_snapshot, c_ioctx, c_name, features=None, order=None,
              stripe_unit=None, stripe_count=None, data_pool=None, clone_format=None):
        """Clone snapshot p_name@p_snapshot (name or id) into c_name."""
        from rbd import clone as clone_mod
        p_name = decode_cstr(cstr(p_name, "p_name"))
        if not isinstance(p_snapshot, int) or isinstance(p_snapshot, bool):
            p_snapshot = decode_cstr(cstr(p_snapshot, "p_snapshot"))
        c_name = decode_cstr(cstr(c_name, "c_name"))
        data_pool = decode_cstr(cstr(data_pool, "data_pool", opt=True))
        if features is not None:
            features = _args.uint(features)
        if order is not None:
            order = _args.sint(order)
        with _errors("error creating clone"):
            clone_mod.clone(RadosIO(p_ioctx), p_name, p_snapshot, RadosIO(c_ioctx), c_name,
                            features, order, stripe_unit, stripe_count, data_pool,
                            clone_format)

    def list(self, ioctx):
        """Names of the images in the pool (current namespace)."""
        with _errors("error listing images"):
            return [entry["name"] for entry in self._list2(ioctx)]

    def _list2(self, ioctx):
        from rbd import format1
        with _errors("error listing images"):
            io = RadosIO(ioctx)
            entries = [{"id": image_id, "name": name} for name, image_id in dir_list(io).items()]
            entries.extend({"id": "", "name": name} for name in format1.list_names(io))
        entries.sort(key=lambda e: e["name"])
        return entries

    def list2(self, ioctx):
        """ImageIterator of {'id', 'name'}."""
        return ImageIterator(self._list2(ioctx))

    def remove(self, ioctx, name, on_progress=None):
        """Delete an image (ImageBusy while open, ImageHasSnapshots, ImageNotFound)."""
        name = decode_cstr(cstr(name, "name"))
        from rbd.image import _progress
        with _errors("error removing image"):
            io = RadosIO(ioctx)
            # pool features: trash instead of delete when the pool/client says so
            from rbd.pool_features import maybe_trash_on_remove, member_of_group_errors
            with member_of_group_errors("error removing image"):
                if maybe_trash_on_remove(io, name):
                    return
                remove_image(io, name, on_progress=_progress(on_progress))

    def rename(self, ioctx, src, dest):
        src = decode_cstr(cstr(src, "src"))
        dest = decode_cstr(cstr(dest, "dest"))
        with _errors("error renaming image"):
            rename_image(RadosIO(ioctx), src, dest)

    def features_to_string(self, features):
        features = _args.uint(features)
        with _errors("error converting features bitmask to str"):
            return features_to_string(features)

    def features_from_string(self, str_features):
        str_features = decode_cstr(cstr(str_features, "str_features"))
        with _errors("error getting features bitmask from str"):
            return features_from_string(str_features)

    def aio_open_image(self, oncomplete, ioctx, name=None, snapshot=None, read_only=False,
                       image_id=None):
        """Open asynchronously; oncomplete(completion, image)."""
        from rbd.image import Image
        holder = {}

        def buf(comp):
            return (holder.get("image"),)
        comp = Completion(None, oncomplete, buf)

        def open_():
            try:
                holder["image"] = Image(ioctx, name, snapshot, read_only, image_id)
            except Exception as exc:
                err = getattr(exc, "errno", None)
                if isinstance(err, int):
                    raise RbdError(-abs(err)) from None
                raise
            return holder["image"]
        return comp._run(open_)

    def pool_init(self, ioctx, force=False):
        """Tag the pool with application `rbd` and validate it for RBD use."""
        with _errors("error initializing pool"):
            io = RadosIO(ioctx)
            try:
                ioctx.application_enable("rbd", bool(force))
            except Exception as exc:
                err = getattr(exc, "errno", None) or errno.EIO
                raise RbdError(-abs(err), "cannot enable application rbd") from None
            if not force:
                snap_id = io.selfmanaged_snap_create()
                io.selfmanaged_snap_remove(snap_id)
            reply = io.operate(RBD_INFO, [("write_full", b"overwrite validated")])
            if reply.result < 0:
                raise RbdError(reply.result, "cannot validate pool")


def rename_image(io, src: str, dest: str) -> None:
    from rbd import format1
    from rbd._rados_io import pack
    if not dest:
        raise RbdError(-errno.EINVAL, "empty name")
    try:
        image_id = get_image_id(io, src)
    except RbdError as exc:
        if exc.ret == -errno.ENOENT and format1.exists(io, src):
            if _image_exists(io, dest):
                raise RbdError(-errno.EEXIST, "destination exists") from None
            format1.rename(io, src, dest)
            return
        raise
    if _image_exists(io, dest):
        raise RbdError(-errno.EEXIST, "destination exists")
    io.call(id_oid(dest), "set_id", {"id": image_id})
    try:
        io.call(RBD_DIRECTORY, "dir_rename_image", {"src": src, "dest": dest, "id": image_id})
    except BaseException:
        io.remove(id_oid(dest))
        raise
    io.remove(id_oid(src))
    try:
        io.notify(header_oid(image_id), pack({"op": "header_update", "gid": io.gid,
                                              "cookie": 0, "rename": dest}), 5000)
    except RbdError:
        pass


__all__ = ["RBD", "create_image", "remove_image", "rename_image", "ParentSpec", "SNAP_HEAD"]
