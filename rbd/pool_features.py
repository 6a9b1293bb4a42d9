"""Pool-level features: trash, namespaces, groups (rbd/group.py), pool metadata and config,
pool stats. Migration lives in rbd/migration.py (these methods only delegate).

Invariants:
- `rbd_trash` (image's pool and namespace) holds `id_<image id>` -> msgpack record {source,
  name, deletion_time, deferment_end_time, state}. A trashed image keeps its header, data
  and snapshots; only `rbd_id.<name>` and the directory entry go away. The trash record is
  written before the names are removed (trash_move) and removed only after the names are
  back (trash_restore), so a failed call never loses an image: at worst it is listed both
  in the directory and in the trash, and the failing step is undone.
- Pool metadata and config overrides live in the omap of `rbd_info` in the pool's default
  namespace (`metadata_<key>`, `conf_<option>`), so overrides apply pool-wide.
- `rbd_namespace` (default namespace) has `name_<ns>` keys and agrees with the monitor's
  namespace registry: both are written on create (monitor first) and removed on remove.
"""
from __future__ import annotations

import datetime
import errno
import time

from rbd.constants import (
    RBD_CONFIG_SOURCE_CONFIG, RBD_CONFIG_SOURCE_POOL, RBD_SNAP_NAMESPACE_TYPE_TRASH,
    RBD_TRASH_IMAGE_SOURCE_MIGRATION, RBD_TRASH_IMAGE_SOURCE_REMOVING, RBD_TRASH_IMAGE_SOURCE_USER,
    RBD_TRASH_IMAGE_SOURCE_USER_PARENT,
)
from rbd.errors import RbdError, make_ex, name_arg

RBD_TRASH = "rbd_trash"
RBD_NAMESPACE = "rbd_namespace"
RBD_INFO = "rbd_info"
TRASH_PREFIX = "id_"
METADATA_PREFIX = "metadata_"
CONF_PREFIX = "conf_"
NS_PREFIX = "name_"
MAX_NAME_LEN = 4096
SOURCE_NAMES = {0: "USER", 1: "MIRRORING", 2: "MIGRATION", 3: "REMOVING", 4: "USER_PARENT"}


def _errors(msg):
    from rbd.image import _errors as errors_cm
    return errors_cm(msg)


def _group_errors(msg):
    """Like _errors but with group_errno_to_exception (ENOENT -> ObjectNotFound ...)."""
    from contextlib import contextmanager

    from rbd.errors import group_errno_to_exception

    @contextmanager
    def cm():
        try:
            yield
        except RbdError as exc:
            raise make_ex(exc.ret, msg, group_errno_to_exception) from None
    return cm()


def member_of_group_errors(msg):
    """EMLINK from a remove / trash move -> ImageMemberOfGroup (spec appendix: the binding's
    errno table maps EMLINK to plain OSError, but these calls raise ImageMemberOfGroup)."""
    from contextlib import contextmanager

    from rbd.errors import ImageMemberOfGroup

    @contextmanager
    def cm():
        try:
            yield
        except RbdError as exc:
            if exc.ret == -errno.EMLINK:
                raise ImageMemberOfGroup(msg, errno=errno.EMLINK) from None
            raise
    return cm()


def _io(ioctx):
    from rbd._rados_io import RadosIO
    return RadosIO(ioctx)


# -- omap helpers --------------------------------------------------------------------------------
def _omap_vals(io, oid: str, prefix: str = "") -> dict[str, bytes]:
    reply = io.operate(oid, [("omap_get_vals", "", prefix, 1 << 30)])
    if reply.result == -errno.ENOENT:
        return {}
    if reply.result < 0:
        raise RbdError(reply.result, "cannot read %s" % oid)
    vals, _ = reply.outs[0][1]
    return dict(vals)


def _omap_set(io, oid: str, kv: dict) -> None:
    reply = io.operate(oid, [("omap_set", kv)])
    if reply.result < 0:
        raise RbdError(reply.result, "cannot write %s" % oid)


def _omap_rm(io, oid: str, keys: list) -> None:
    reply = io.operate(oid, [("omap_rm_keys", list(keys))])
    if reply.result < 0 and reply.result != -errno.ENOENT:
        raise RbdError(reply.result, "cannot write %s" % oid)


def _check_name(name: str, what: str) -> None:
    """Ceph refuses empty names, names with '/' or '@' and over-long ones (EINVAL)."""
    if not name or "/" in name or "@" in name or len(name) > MAX_NAME_LEN:
        raise RbdError(-errno.EINVAL, "invalid %s name %r" % (what, name))


# -- namespaces ----------------------------------------------------------------------------------
def _ns_exists(io, ns: str) -> bool:
    if not ns:
        return True
    root = io.with_pool(io.pool, "")
    return (NS_PREFIX + ns) in _omap_vals(root, RBD_NAMESPACE, NS_PREFIX)


def require_namespace(io) -> None:
    """RbdError(-ENOENT) when the io's namespace is not a registered RBD namespace."""
    if io.nspace and not _ns_exists(io, io.nspace):
        raise RbdError(-errno.ENOENT, "namespace %s does not exist" % io.nspace)


# -- trash ---------------------------------------------------------------------------------------
def _trash_records(io) -> dict[str, dict]:
    from rbd._rados_io import unpack
    return {k[len(TRASH_PREFIX):]: unpack(v)
            for k, v in _omap_vals(io, RBD_TRASH, TRASH_PREFIX).items()}


def _trash_record(io, image_id: str) -> dict:
    from rbd._rados_io import unpack
    reply = io.operate(RBD_TRASH, [("omap_get_vals_by_keys", [TRASH_PREFIX + image_id])])
    if reply.result < 0 and reply.result != -errno.ENOENT:
        raise RbdError(reply.result, "cannot read trash")
    vals = reply.outs[0][1] if reply.result >= 0 else {}
    raw = vals.get(TRASH_PREFIX + image_id)
    if raw is None:
        raise RbdError(-errno.ENOENT, "image %s is not in the trash" % image_id)
    return unpack(raw)


def _utc(ts: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).replace(tzinfo=None)


def _trash_view(image_id: str, rec: dict) -> dict:
    return {"id": image_id, "name": rec["name"],
            "source": SOURCE_NAMES.get(rec["source"], "USER"),
            "deletion_time": _utc(rec["deletion_time"]),
            "deferment_end_time": _utc(rec["deferment_end_time"])}


def trash_image_name(io, image_id: str):
    """Original name of a trashed image, or None."""
    try:
        return _trash_record(io, image_id)["name"]
    except RbdError:
        return None


def trash_entries(ioctx) -> list:
    with _errors("error listing images in trash"):
        io = _io(ioctx)
        require_namespace(io)
        entries = [_trash_view(i, r) for i, r in _trash_records(io).items()
                   if r["source"] != RBD_TRASH_IMAGE_SOURCE_REMOVING]
    entries.sort(key=lambda e: e["id"])
    return entries


def trash_move_image(io, name: str, delay_s: float,
                     source: int = RBD_TRASH_IMAGE_SOURCE_USER) -> str:
    """Move image `name` to the trash; returns its id. RbdError on failure (nothing changed)."""
    from rbd import format1
    from rbd._rados_io import pack
    from rbd.header import RBD_DIRECTORY, get_image_id, get_image_info, id_oid
    require_namespace(io)
    try:
        image_id = get_image_id(io, name)
    except RbdError as exc:
        if exc.ret == -errno.ENOENT and format1.exists(io, name):
            raise RbdError(-errno.EOPNOTSUPP, "cannot move v1 image to trash") from None
        raise
    info = get_image_info(io, image_id)
    if info.group:
        raise RbdError(-errno.EMLINK, "image is in a group")
    if info.migration:
        raise RbdError(-errno.EBUSY, "image is migrating")
    now = time.time()
    rec = {"source": source, "name": name, "deletion_time": now,
           "deferment_end_time": now + max(0.0, float(delay_s)), "state": 0}
    _omap_set(io, RBD_TRASH, {TRASH_PREFIX + image_id: pack(rec)})
    try:
        io.call(RBD_DIRECTORY, "dir_remove_image", {"name": name, "id": image_id})
    except BaseException:
        _omap_rm(io, RBD_TRASH, [TRASH_PREFIX + image_id])
        raise
    io.remove(id_oid(name))
    return image_id


def maybe_trash_on_remove(io, name: str) -> bool:
    """RBD.remove's hook: move the image to the trash instead of deleting it when
    `rbd_move_to_trash_on_remove` is set (source USER), or when
    `rbd_move_parent_to_trash_on_remove` is set and the image's only snapshots are
    trash-namespace ones kept for clone-v2 children (source USER_PARENT). True if moved."""
    from rbd import config
    from rbd.header import get_image_id, get_image_info
    if config.get(io, "rbd_move_to_trash_on_remove"):
        delay = config.get(io, "rbd_move_to_trash_on_remove_expire_seconds")
        try:
            trash_move_image(io, name, delay)
        except RbdError as exc:
            if exc.ret == -errno.EOPNOTSUPP:      # format 1: removed in place
                return False
            raise
        return True
    if config.get(io, "rbd_move_parent_to_trash_on_remove"):
        try:
            info = get_image_info(io, get_image_id(io, name))
        except RbdError:
            return False
        if info.snaps and all(s.namespace_type == RBD_SNAP_NAMESPACE_TYPE_TRASH
                              for s in info.snaps.values()):
            trash_move_image(io, name, 0, RBD_TRASH_IMAGE_SOURCE_USER_PARENT)
            return True
    return False


def trash_restore_image(io, image_id: str, name: str | None) -> None:
    from rbd.header import RBD_DIRECTORY, id_oid
    from rbd.rbd_api import _image_exists
    require_namespace(io)
    rec = _trash_record(io, image_id)
    if rec["source"] == RBD_TRASH_IMAGE_SOURCE_REMOVING:
        raise RbdError(-errno.EBUSY, "image is being removed")
    name = name or rec["name"]
    if "/" in name or "@" in name or len(name) > MAX_NAME_LEN:
        raise RbdError(-errno.EINVAL, "invalid image name")
    if _image_exists(io, name):
        raise RbdError(-errno.EEXIST, "an image with the same name already exists")
    io.call(id_oid(name), "set_id", {"id": image_id})
    try:
        io.call(RBD_DIRECTORY, "dir_add_image", {"name": name, "id": image_id})
    except BaseException:
        io.remove(id_oid(name))
        raise
    _omap_rm(io, RBD_TRASH, [TRASH_PREFIX + image_id])


def trash_remove_image(io, image_id: str, force: bool, on_progress=None) -> None:
    from rbd._rados_io import pack
    from rbd.header import get_image_info
    from rbd.rbd_api import remove_image
    require_namespace(io)
    rec = _trash_record(io, image_id)
    if not force and time.time() < rec["deferment_end_time"] \
            and rec["source"] != RBD_TRASH_IMAGE_SOURCE_REMOVING:
        raise RbdError(-errno.EPERM, "error: deferment time has not expired")
    try:
        info = get_image_info(io, image_id)
    except RbdError as exc:
        if exc.ret != -errno.ENOENT:
            raise
        info = None
    if info is not None and info.snaps:
        raise RbdError(-errno.ENOTEMPTY, "image has snapshots - these must be deleted with "
                       "'rbd snap purge' before the image can be removed")
    # Ceph marks the record REMOVING first so a crash mid-removal leaves a visible entry
    rec = dict(rec, state=1)
    _omap_set(io, RBD_TRASH, {TRASH_PREFIX + image_id: pack(rec)})
    if info is not None:
        remove_image(io, None, image_id, on_progress=on_progress)
    elif on_progress is not None:
        on_progress(0, 0)
    _omap_rm(io, RBD_TRASH, [TRASH_PREFIX + image_id])


def trash_purge_images(io, expire_ts: float, threshold: float) -> None:
    """Remove the USER / USER_PARENT entries whose deferment ended before expire_ts.
    A threshold (0..1 pool-usage fraction) needs pool usage figures the simulator does not
    keep per pool: with a threshold given nothing is purged (usage counts as below it)."""
    require_namespace(io)
    if threshold is not None and threshold >= 0:
        return
    records = _trash_records(io)
    victims = [i for i, r in records.items()
               if r["source"] in (RBD_TRASH_IMAGE_SOURCE_USER, RBD_TRASH_IMAGE_SOURCE_USER_PARENT)
               and r["deferment_end_time"] <= expire_ts]
    # clones before their parents: a parent with trashed children keeps trash snapshots
    pending = list(victims)
    for _ in range(len(victims) + 1):
        if not pending:
            return
        left = []
        for image_id in pending:
            try:
                trash_remove_image(io, image_id, force=True)
            except RbdError as exc:
                if exc.ret != -errno.ENOTEMPTY:
                    raise
                left.append(image_id)
        if len(left) == len(pending):
            raise RbdError(-errno.ENOTEMPTY, "image has snapshots - these must be deleted "
                           "with 'rbd snap purge' before the image can be removed")
        pending = left


# -- pool metadata and config --------------------------------------------------------------------
def _root(io):
    return io.with_pool(io.pool, "")


def pool_config(io) -> dict[str, str]:
    """{option: value} of the pool's `conf_*` overrides (config.pool_overrides' source)."""
    try:
        vals = _omap_vals(_root(io), RBD_INFO, CONF_PREFIX)
    except RbdError:
        return {}
    return {k[len(CONF_PREFIX):]: v.decode("utf-8", "replace") for k, v in vals.items()}


def _meta_get(io, key: str) -> str:
    reply = _root(io).operate(RBD_INFO, [("omap_get_vals_by_keys", [key])])
    vals = reply.outs[0][1] if reply.result >= 0 else {}
    if reply.result < 0 and reply.result != -errno.ENOENT:
        raise RbdError(reply.result, "cannot read pool metadata")
    if key not in vals:
        raise KeyError(key)
    return vals[key].decode("utf-8", "replace")


def _meta_set(io, key: str, value: str) -> None:
    from rbd import config
    if not key:
        raise RbdError(-errno.EINVAL, "empty key")
    if key.startswith(CONF_PREFIX):
        option = key[len(CONF_PREFIX):]
        if not config.is_option(option):
            raise RbdError(-errno.EINVAL, "validation for %s failed" % option)
    _omap_set(_root(io), RBD_INFO, {key: value.encode("utf-8")})


def _meta_remove(io, key: str) -> None:
    _meta_get(io, key)
    _omap_rm(_root(io), RBD_INFO, [key])


# -- stats ---------------------------------------------------------------------------------------
def _image_figures(io, image_id: str) -> tuple[int, int, int]:
    """(provisioned bytes, max provisioned bytes incl. snapshots, snapshot count)."""
    from rbd.header import get_image_info
    info = get_image_info(io, image_id)
    snaps = list(info.snaps.values()) if isinstance(info.snaps, dict) else list(info.snaps)
    # provisioned = the HEAD size; max provisioned adds every snapshot's size (Ceph's
    # figures when fast-diff cannot tell the allocated extent)
    return info.size, info.size + sum(s.size for s in snaps), len(snaps)


def pool_stats(io) -> dict:
    from rbd.header import dir_list
    out = dict.fromkeys(("image_count", "image_provisioned_bytes",
                         "image_max_provisioned_bytes", "image_snap_count", "trash_count",
                         "trash_provisioned_bytes", "trash_max_provisioned_bytes",
                         "trash_snap_count"), 0)
    for kind, ids in (("image", dir_list(io).values()), ("trash", _trash_records(io).keys())):
        for image_id in ids:
            try:
                prov, max_prov, snaps = _image_figures(io, image_id)
            except RbdError:
                continue
            out[kind + "_count"] += 1
            out[kind + "_provisioned_bytes"] += prov
            out[kind + "_max_provisioned_bytes"] += max_prov
            out[kind + "_snap_count"] += snaps
    return out


def _deadline(expire_ts) -> float:
    if expire_ts is None:
        return time.time()
    if isinstance(expire_ts, datetime.datetime):
        if expire_ts.tzinfo is None:
            expire_ts = expire_ts.replace(tzinfo=datetime.timezone.utc)
        return expire_ts.timestamp()
    return float(expire_ts)


class PoolFeaturesMixin:
    """RBD methods: trash, namespaces, groups, pool metadata/config/stats, migration."""

    # trash
    def trash_move(self, ioctx, name, delay=0):
        """Move an image to the trash (ImageNotFound, ImageMemberOfGroup, ImageBusy)."""
        name = name_arg(name, "name")
        with _errors("error moving image to trash"), \
                member_of_group_errors("error moving image to trash"):
            trash_move_image(_io(ioctx), name, delay)

    def trash_purge(self, ioctx, expire_ts=None, threshold=-1):
        """Remove every user-trashed image whose deferment ended before expire_ts."""
        with _errors("error purging images from trash"):
            trash_purge_images(_io(ioctx), _deadline(expire_ts), threshold)

    def trash_remove(self, ioctx, image_id, force=False, on_progress=None):
        """Delete a trashed image (ImageNotFound; PermissionError before the deferment end
        unless forced; ImageHasSnapshots)."""
        from rbd.image import _progress
        image_id = name_arg(image_id, "image_id")
        with _errors("error deleting image from trash"):
            trash_remove_image(_io(ioctx), image_id, bool(force), _progress(on_progress))

    def trash_get(self, ioctx, image_id):
        """{'id','name','source','deletion_time','deferment_end_time'} (ImageNotFound)."""
        image_id = name_arg(image_id, "image_id")
        with _errors("error retrieving image from trash"):
            io = _io(ioctx)
            require_namespace(io)
            return _trash_view(image_id, _trash_record(io, image_id))

    def trash_list(self, ioctx):
        from rbd.iterators import TrashIterator
        return TrashIterator(ioctx)

    def trash_restore(self, ioctx, image_id, name):
        """Bring a trashed image back under `name` (ImageNotFound, ImageExists)."""
        image_id = name_arg(image_id, "image_id")
        name = name_arg(name, "name")
        with _errors("error restoring image from trash"):
            io = _io(ioctx)
            if _trash_record(io, image_id)["source"] == RBD_TRASH_IMAGE_SOURCE_MIGRATION:
                # Ceph restores only user-trashed images; a migration source comes back
                # through migration_abort
                raise RbdError(-errno.EINVAL, "image is being migrated")
            trash_restore_image(io, image_id, name)

    # migration (rbd/migration.py)
    def migration_prepare(self, ioctx, image_name, dest_ioctx, dest_image_name, features=None,
                          order=None, stripe_unit=None, stripe_count=None, data_pool=None,
                          clone_format=None, flatten=False):
        """Start a live migration of `image_name` to `dest_image_name` (ImageNotFound,
        ImageBusy, ImageExists, ImageMemberOfGroup, InvalidArgument, FunctionNotSupported)."""
        from rbd import migration
        image_name = name_arg(image_name, "image_name")
        dest_image_name = name_arg(dest_image_name, "dest_image_name")
        data_pool = name_arg(data_pool, "data_pool", opt=True)
        with _errors("error migrating image %s" % image_name), \
                member_of_group_errors("error migrating image %s" % image_name):
            migration.prepare(_io(ioctx), image_name, _io(dest_ioctx), dest_image_name,
                              features, order, stripe_unit, stripe_count, data_pool,
                              bool(flatten))

    def migration_prepare_import(self, source_spec, dest_ioctx, dest_image_name, features=None,
                                 order=None, stripe_unit=None, stripe_count=None,
                                 data_pool=None):
        """Start an import-only migration from a JSON source spec (raw file or native)."""
        from rbd import migration
        source_spec = name_arg(source_spec, "source_spec")
        dest_image_name = name_arg(dest_image_name, "dest_image_name")
        data_pool = name_arg(data_pool, "data_pool", opt=True)
        with _errors("error migrating image %s" % source_spec):
            migration.prepare_import(source_spec, _io(dest_ioctx), dest_image_name, features,
                                     order, stripe_unit, stripe_count, data_pool)

    def migration_execute(self, ioctx, image_name, on_progress=None):
        """Copy all remaining data (InvalidArgument unless prepared)."""
        from rbd import migration
        from rbd.image import _progress
        image_name = name_arg(image_name, "image_name")
        with _errors("error executing migration"):
            migration.execute(_io(ioctx), image_name, _progress(on_progress))

    def migration_commit(self, ioctx, image_name, on_progress=None):
        """Remove the source of an executed migration (InvalidArgument if not executed)."""
        from rbd import migration
        from rbd.image import _progress
        image_name = name_arg(image_name, "image_name")
        with _errors("error committing migration"):
            migration.commit(_io(ioctx), image_name, _progress(on_progress))

    def migration_abort(self, ioctx, image_name, on_progress=None):
        """Remove the destination and restore the source (ImageBusy if the destination is
        open)."""
        from rbd import migration
        from rbd.image import _progress
        image_name = name_arg(image_name, "image_name")
        with _errors("error aborting migration"):
            migration.abort(_io(ioctx), image_name, _progress(on_progress))

    def migration_status(self, ioctx, image_name):
        """Dict with source_* / dest_* / state / state_description (InvalidArgument if the
        image is not migrating)."""
        from rbd import migration
        image_name = name_arg(image_name, "image_name")
        with _errors("error getting migration status"):
            return migration.status(_io(ioctx), image_name)

    # pool stats, metadata and config
    def pool_stats_get(self, ioctx):
        """Image / trash counts and provisioned bytes of the ioctx's namespace."""
        with _errors("error retrieving pool stats"):
            io = _io(ioctx)
            require_namespace(io)
            return pool_stats(io)

    def pool_metadata_get(self, ioctx, key):
        """Value of pool metadata `key` (KeyError if absent)."""
        key = name_arg(key, "key")
        with _errors("error getting metadata %s for pool" % key):
            return _meta_get(_io(ioctx), key)

    def pool_metadata_set(self, ioctx, key, value):
        key = name_arg(key, "key")
        value = name_arg(value, "value")
        with _errors("error setting metadata %s for pool" % key):
            _meta_set(_io(ioctx), key, value)

    def pool_metadata_remove(self, ioctx, key):
        """Remove pool metadata `key` (KeyError if absent)."""
        key = name_arg(key, "key")
        with _errors("error removing metadata %s for pool" % key):
            _meta_remove(_io(ioctx), key)

    def pool_metadata_list(self, ioctx):
        """PoolMetadataIterator of (key, value), sorted by key."""
        with _errors("error listing pool metadata"):
            vals = _omap_vals(_root(_io(ioctx)), RBD_INFO)
        return PoolMetadataIterator(sorted((k, v.decode("utf-8", "replace"))
                                           for k, v in vals.items()))

    def config_list(self, ioctx):
        """ConfigPoolIterator of {'name','value','source'} for every rbd_* option."""
        from rbd import config
        with _errors("error reading config"):
            overrides = pool_config(_io(ioctx))
            io = _io(ioctx)
            items = []
            for option in sorted(config.OPTIONS):
                if option in overrides:
                    items.append({"name": option, "value": overrides[option],
                                  "source": RBD_CONFIG_SOURCE_POOL})
                else:
                    items.append({"name": option, "value": config.client_value(io, option),
                                  "source": RBD_CONFIG_SOURCE_CONFIG})
        return ConfigPoolIterator(items)

    def config_get(self, ioctx, key):
        """The pool override of option `key` (KeyError if not overridden)."""
        key = name_arg(key, "key")
        with _errors("error getting config %s for pool" % key):
            return _meta_get(_io(ioctx), CONF_PREFIX + key)

    def config_set(self, ioctx, key, value):
        """Override option `key` for the pool (InvalidArgument for unknown options)."""
        key = name_arg(key, "key")
        value = name_arg(value, "value")
        with _errors("error setting config %s for pool" % key):
            _meta_set(_io(ioctx), CONF_PREFIX + key, value)

    def config_remove(self, ioctx, key):
        key = name_arg(key, "key")
        with _errors("error removing config %s for pool" % key):
            _meta_remove(_io(ioctx), CONF_PREFIX + key)

    # namespaces
    def namespace_create(self, ioctx, name):
        """Create RBD namespace `name` (InvalidArgument, ImageExists if it exists)."""
        name = name_arg(name, "name")
        with _errors("error creating namespace"):
            io = _io(ioctx)
            if io.nspace:
                raise RbdError(-errno.EINVAL, "namespaces cannot be nested")
            _check_name(name, "namespace")
            if _ns_exists(io, name):
                raise RbdError(-errno.EEXIST, "namespace already exists")
            ret, result = io._mon_call("namespace_add", io.pool, name)
            if ret == 0 and isinstance(result, int) and result < 0:
                ret = result
            if ret < 0 and ret != -errno.EEXIST:
                raise RbdError(ret, "cannot register namespace")
            try:
                _omap_set(io, RBD_NAMESPACE, {NS_PREFIX + name: b""})
            except BaseException:
                io._mon_call("namespace_remove", io.pool, name)
                raise

    def namespace_remove(self, ioctx, name):
        """Remove an empty namespace (ImageNotFound if absent; ImageBusy with images or
        trash entries in it)."""
        from rbd.header import dir_list
        name = name_arg(name, "name")
        with _errors("error removing namespace"):
            io = _io(ioctx)
            _check_name(name, "namespace")
            if io.nspace or not _ns_exists(io, name):
                raise RbdError(-errno.ENOENT, "namespace does not exist")
            nsio = io.with_pool(io.pool, name)
            from rbd import format1
            if dir_list(nsio) or format1.list_names(nsio) or _trash_records(nsio):
                raise RbdError(-errno.EBUSY, "namespace is not empty")
            _omap_rm(io, RBD_NAMESPACE, [NS_PREFIX + name])
            io._mon_call("namespace_remove", io.pool, name)

    def namespace_exists(self, ioctx, name):
        name = name_arg(name, "name")
        with _errors("error verifying namespace"):
            io = _io(ioctx)
            return bool(name) and _ns_exists(io, name)

    def namespace_list(self, ioctx):
        with _errors("error listing namespaces"):
            io = _io(ioctx)
            keys = _omap_vals(_root(io), RBD_NAMESPACE, NS_PREFIX)
        return sorted(k[len(NS_PREFIX):] for k in keys)

    # groups
    def group_create(self, ioctx, name):
        """Create group `name` (ObjectExists; InvalidArgument for a bad name)."""
        from rbd import group
        name = name_arg(name, "name")
        with _group_errors("error creating group %s" % name):
            group.create(_io(ioctx), name)

    def group_remove(self, ioctx, name):
        """Remove group `name`, its snapshots and memberships (ObjectNotFound)."""
        from rbd import group
        name = name_arg(name, "name")
        with _group_errors("error removing group %s" % name):
            group.remove(_io(ioctx), name, ioctx)

    def group_list(self, ioctx):
        from rbd import group
        with _group_errors("error listing groups"):
            return group.group_names(_io(ioctx))

    def group_rename(self, ioctx, src, dest):
        from rbd import group
        src = name_arg(src, "src")
        dest = name_arg(dest, "dest")
        with _group_errors("error renaming group"):
            group.rename(_io(ioctx), src, dest)


class PoolMetadataIterator:
    """Iterator over pool metadata: (key, value)."""

    def __init__(self, items):
        self._items = list(items)

    def __iter__(self):
        return iter(list(self._items))


class ConfigPoolIterator(PoolMetadataIterator):
    """Iterator over pool config options: {'name','value','source'}."""


class ImageMigrationMixin:
    def migration_source_spec(self):
        """The migration's source spec as a dict (ImageNotFound if not migrating)."""
        from rbd import migration
        ctx = self._enter()
        with _errors("error retrieving migration source"):
            return migration.source_spec(ctx)


class Group:
    """A group of images; calls raise ObjectNotFound / ObjectExists (group errno map)."""

    def __init__(self, ioctx, name):
        self.name = name_arg(name, "name")
        self.ioctx = ioctx      # like Ceph, no existence check: calls raise ObjectNotFound

    def __enter__(self):
        return self

    def __exit__(self, type_, value, traceback):
        return False

    def _io(self):
        return _io(self.ioctx)

    def id(self):
        from rbd import group
        with _group_errors("error getting id for group %s" % self.name):
            return group.group_id(self._io(), self.name)

    def add_image(self, image_ioctx, image_name):
        from rbd import group
        image_name = name_arg(image_name, "image_name")
        with _group_errors("error adding image to group %s" % self.name):
            group.add_image(self._io(), self.name, _io(image_ioctx), image_name)

    def remove_image(self, image_ioctx, image_name):
        from rbd import group
        from rbd.header import get_image_id
        image_name = name_arg(image_name, "image_name")
        with _group_errors("error removing image from group %s" % self.name):
            img_io = _io(image_ioctx)
            group.remove_image(self._io(), self.ioctx, self.name, img_io.pool,
                               get_image_id(img_io, image_name))

    def list_images(self):
        """GroupImageIterator of {'name','pool','state'}."""
        from rbd import group
        with _group_errors("error listing images for group %s" % self.name):
            return GroupImageIterator(group.list_images(self._io(), self.name))

    def create_snap(self, snap_name, flags=0):
        from rbd import group
        snap_name = name_arg(snap_name, "snap_name")
        with _group_errors("error creating group snapshot"):
            group.create_snap(self._io(), self.ioctx, self.name, snap_name)

    def remove_snap(self, snap_name):
        from rbd import group
        snap_name = name_arg(snap_name, "snap_name")
        with _group_errors("error removing group snapshot"):
            group.remove_snap(self._io(), self.ioctx, self.name, snap_name)

    def rename_snap(self, old_snap_name, new_snap_name):
        from rbd import group
        old_snap_name = name_arg(old_snap_name, "old_snap_name")
        new_snap_name = name_arg(new_snap_name, "new_snap_name")
        with _group_errors("error renaming group snapshot"):
            group.rename_snap(self._io(), self.name, old_snap_name, new_snap_name)

    def list_snaps(self):
        """GroupSnapIterator of {'name','state'} (plus 'id')."""
        from rbd import group
        with _group_errors("error listing snapshots for group %s" % self.name):
            return GroupSnapIterator(group.list_snaps(self._io(), self.name))

    def get_snap_info(self, snap_name):
        from rbd import group
        snap_name = name_arg(snap_name, "snap_name")
        with _group_errors("error getting group snapshot info"):
            for snap in group.list_snaps(self._io(), self.name):
                if snap["name"] == snap_name:
                    return snap
            raise RbdError(-errno.ENOENT, "no such group snapshot")

    def rollback_to_snap(self, name):
        from rbd import group
        name = name_arg(name, "name")
        with _group_errors("error rolling back group to snapshot"):
            group.rollback_snap(self._io(), self.ioctx, self.name, name)


class GroupImageIterator(PoolMetadataIterator):
    """Iterator over group images: {'name','pool','state'}."""


class GroupSnapIterator(PoolMetadataIterator):
    """Iterator over group snapshots: {'name','state'}."""
