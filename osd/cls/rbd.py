"""The `rbd` object class: every librbd metadata update as one atomic method on one object.

Objects and what lives where (spec 2.1/2.2):
- `rbd_directory` omap: `name_<name>` -> encoded id, `id_<id>` -> encoded name.
- `rbd_id.<name>` data: the image id as an encoded string.
- `rbd_header.<id>` omap: `size` u64, `order` u8, `features` u64, `object_prefix` string,
  `snap_seq` u64, `create/access/modify_timestamp` utime, `data_pool_id` i64,
  `stripe_unit`/`stripe_count` u64, `flags` u64, `op_features` u64, `snap_limit` u64 — in
  Ceph's little-endian encodings (u64 = 8 bytes LE, string = le32 length + bytes,
  utime = le32 sec + le32 nsec) — and, msgpack-encoded (our own choice, not Ceph's
  encoding): `parent`, `snapshot_<%016x>`, `snap_children_<%016x>`. `metadata_<key>` holds
  the raw value bytes.
- `rbd_children` omap (clone v1): one key per parent snapshot, value msgpack
  `{"parent": [pool, nspace, image_id, snap_id], "children": [child ids]}`.
- `rbd_object_map.<id>[.<snapid>]` data: le64 object count + 2 bits per object
  (object i in byte i // 4 at bit (i % 4) * 2).
- data objects: `copyup` writes parent data only while the object is absent.

Arguments and results are msgpack (`osd.cls.pack/unpack`); a method fails by raising
ClsError(errno), and then nothing it (or its compound op) did is applied.
"""
from __future__ import annotations

import errno
import struct
import uuid

from osd.cls import RD, WR, ClsError, pack, register, unpack

CLS = "rbd"

RBD_FEATURE_OPERATIONS = 1 << 8
OP_FEATURE_CLONE_PARENT = 1 << 0
OP_FEATURE_CLONE_CHILD = 1 << 1
OP_FEATURE_SNAP_TRASH = 1 << 3
SNAP_NS_USER = 0
SNAP_NS_TRASH = 2
PROTECTION_UNPROTECTED = 0
PROTECTION_UNPROTECTING = 1
PROTECTION_PROTECTED = 2
UINT64_MAX = 2**64 - 1
MAX_ORDER = 25
MIN_ORDER = 12

OBJECT_NONEXISTENT = 0
OBJECT_EXISTS = 1
OBJECT_PENDING = 2
OBJECT_EXISTS_CLEAN = 3


# -- Ceph encodings ---------------------------------------------------------------------------
def enc_u64(v: int) -> bytes:
    return struct.pack("<Q", v)


def dec_u64(b: bytes) -> int:
    return struct.unpack("<Q", b[:8])[0]


def enc_i64(v: int) -> bytes:
    return struct.pack("<q", v)


def dec_i64(b: bytes) -> int:
    return struct.unpack("<q", b[:8])[0]


def enc_u8(v: int) -> bytes:
    return struct.pack("<B", v)


def dec_u8(b: bytes) -> int:
    return b[0]


def enc_str(s: str) -> bytes:
    raw = s.encode()
    return struct.pack("<I", len(raw)) + raw


def dec_str(b: bytes) -> str:
    (n,) = struct.unpack("<I", b[:4])
    return b[4:4 + n].decode()


def enc_utime(t: float) -> bytes:
    sec = int(t)
    nsec = int(round((t - sec) * 1e9))
    if nsec >= 1_000_000_000:
        sec, nsec = sec + 1, nsec - 1_000_000_000
    return struct.pack("<II", sec, nsec)


def dec_utime(b: bytes) -> float:
    sec, nsec = struct.unpack("<II", b[:8])
    return sec + nsec / 1e9


def snap_key(snap_id: int) -> str:
    return "snapshot_%016x" % snap_id


def snap_children_key(snap_id: int) -> str:
    return "snap_children_%016x" % snap_id


# -- helpers ---------------------------------------------------------------------------------
def _args(indata: bytes) -> dict:
    try:
        args = unpack(indata) if indata else {}
    except Exception:
        raise ClsError(errno.EINVAL) from None
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise ClsError(errno.EINVAL)
    return args


def _get(args: dict, name: str, kind, required: bool = True, default=None):
    if name not in args:
        if required:
            raise ClsError(errno.EINVAL)
        return default
    value = args[name]
    if kind is int and isinstance(value, bool):
        raise ClsError(errno.EINVAL)
    if value is None and not required:
        return default
    if not isinstance(value, kind):
        raise ClsError(errno.EINVAL)
    return value


def _omap_opt(ctx, key: str):
    try:
        return ctx.omap_get(key)
    except ClsError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise


def _require_header(ctx) -> None:
    if not ctx.exists():
        raise ClsError(errno.ENOENT)
    if _omap_opt(ctx, "object_prefix") is None:
        raise ClsError(errno.ENOEXEC)


def _u64_key(ctx, key: str, default: int = 0) -> int:
    raw = _omap_opt(ctx, key)
    return dec_u64(raw) if raw is not None else default


def _snapshots(ctx) -> dict[int, dict]:
    out = {}
    for key, raw in ctx.omap_get_vals("", "snapshot_").items():
        snap = unpack(raw)
        out[snap["id"]] = snap
    return out


def _snapshot(ctx, snap_id: int) -> dict:
    raw = _omap_opt(ctx, snap_key(snap_id))
    if raw is None:
        raise ClsError(errno.ENOENT)
    return unpack(raw)


def _put_snapshot(ctx, snap: dict) -> None:
    ctx.omap_set({snap_key(snap["id"]): pack(snap)})


def _set_op_features(ctx, op_features: int, mask: int) -> None:
    current = _u64_key(ctx, "op_features")
    new = (current & ~mask) | (op_features & mask)
    features = _u64_key(ctx, "features")
    if new:
        ctx.omap_set({"op_features": enc_u64(new),
                      "features": enc_u64(features | RBD_FEATURE_OPERATIONS)})
    else:
        if current:
            ctx.omap_rm_keys(["op_features"])
        if features & RBD_FEATURE_OPERATIONS:
            ctx.omap_set({"features": enc_u64(features & ~RBD_FEATURE_OPERATIONS)})


def _parent(ctx):
    raw = _omap_opt(ctx, "parent")
    return unpack(raw) if raw is not None else None


def _spec(value) -> list:
    """A parent / child spec: [pool id, namespace, image id] (+ snap id for parents)."""
    if not isinstance(value, (list, tuple)) or len(value) not in (3, 4):
        raise ClsError(errno.EINVAL)
    if not isinstance(value[0], int) or not isinstance(value[1], str) or not isinstance(value[2], str):
        raise ClsError(errno.EINVAL)
    if len(value) == 4 and not isinstance(value[3], int):
        raise ClsError(errno.EINVAL)
    return list(value)


# -- image header ----------------------------------------------------------------------------
@register(CLS, "create", RD | WR)
def create(ctx, indata):
    """Create a format-2 header. EEXIST if the object already has a header."""
    args = _args(indata)
    size = _get(args, "size", int)
    order = _get(args, "order", int)
    features = _get(args, "features", int)
    object_prefix = _get(args, "object_prefix", str)
    data_pool_id = _get(args, "data_pool_id", int, False, -1)
    stripe_unit = _get(args, "stripe_unit", int, False, 0)
    stripe_count = _get(args, "stripe_count", int, False, 0)
    if not object_prefix or size < 0 or not MIN_ORDER <= order <= 64:
        raise ClsError(errno.EINVAL)
    if ctx.exists():
        if _omap_opt(ctx, "object_prefix") is not None:
            raise ClsError(errno.EEXIST)
    ctx.create(False)
    now = enc_utime(ctx.now())
    kv = {
        "size": enc_u64(size),
        "order": enc_u8(order),
        "features": enc_u64(features),
        "object_prefix": enc_str(object_prefix),
        "snap_seq": enc_u64(0),
        "create_timestamp": now,
        "access_timestamp": now,
        "modify_timestamp": now,
    }
    if data_pool_id >= 0:
        kv["data_pool_id"] = enc_i64(data_pool_id)
    if stripe_unit and stripe_count:
        kv["stripe_unit"] = enc_u64(stripe_unit)
        kv["stripe_count"] = enc_u64(stripe_count)
    ctx.omap_set(kv)
    return None


@register(CLS, "get_image_info", RD)
def get_image_info(ctx, indata):
    """Everything a client needs to (re)load an image, in one read."""
    _require_header(ctx)
    vals = ctx.omap_get_vals("", "")
    info = {
        "size": dec_u64(vals["size"]),
        "order": dec_u8(vals["order"]),
        "features": dec_u64(vals["features"]),
        "object_prefix": dec_str(vals["object_prefix"]),
        "snap_seq": dec_u64(vals.get("snap_seq", enc_u64(0))),
        "create_timestamp": dec_utime(vals["create_timestamp"]) if "create_timestamp" in vals else 0.0,
        "access_timestamp": dec_utime(vals["access_timestamp"]) if "access_timestamp" in vals else 0.0,
        "modify_timestamp": dec_utime(vals["modify_timestamp"]) if "modify_timestamp" in vals else 0.0,
        "data_pool_id": dec_i64(vals["data_pool_id"]) if "data_pool_id" in vals else -1,
        "stripe_unit": dec_u64(vals["stripe_unit"]) if "stripe_unit" in vals else 0,
        "stripe_count": dec_u64(vals["stripe_count"]) if "stripe_count" in vals else 0,
        "flags": dec_u64(vals["flags"]) if "flags" in vals else 0,
        "op_features": dec_u64(vals["op_features"]) if "op_features" in vals else 0,
        "snap_limit": dec_u64(vals["snap_limit"]) if "snap_limit" in vals else UINT64_MAX,
        "parent": unpack(vals["parent"]) if "parent" in vals else None,
        "snapshots": [unpack(v) for k, v in vals.items() if k.startswith("snapshot_")],
        "group": unpack(vals["group"]) if "group" in vals else None,
        "migration": unpack(vals["migration"]) if "migration" in vals else None,
        # per-image config overrides (metadata `conf_<option>`), applied at open/refresh
        "conf": {k[len("metadata_conf_"):]: v.decode("utf-8", "replace")
                 for k, v in vals.items() if k.startswith("metadata_conf_")},
    }
    return pack(info)


@register(CLS, "set_size", RD | WR)
def set_size(ctx, indata):
    args = _args(indata)
    size = _get(args, "size", int)
    if size < 0:
        raise ClsError(errno.EINVAL)
    _require_header(ctx)
    ctx.omap_set({"size": enc_u64(size)})
    parent = _parent(ctx)
    if parent is not None and parent["overlap"] > size:
        parent["overlap"] = size
        ctx.omap_set({"parent": pack(parent)})
    _rbd_migration.on_set_size(ctx, size)
    return None


@register(CLS, "set_features", RD | WR)
def set_features(ctx, indata):
    args = _args(indata)
    features = _get(args, "features", int)
    mask = _get(args, "mask", int)
    _require_header(ctx)
    current = _u64_key(ctx, "features")
    ctx.omap_set({"features": enc_u64((current & ~mask) | (features & mask))})
    return None


@register(CLS, "set_flags", RD | WR)
def set_flags(ctx, indata):
    """Set `flags & mask` on HEAD (snap_id absent/None) or on one snapshot."""
    args = _args(indata)
    flags = _get(args, "flags", int)
    mask = _get(args, "mask", int)
    snap_id = _get(args, "snap_id", int, False, None)
    _require_header(ctx)
    if snap_id is None:
        current = _u64_key(ctx, "flags")
        ctx.omap_set({"flags": enc_u64((current & ~mask) | (flags & mask))})
    else:
        snap = _snapshot(ctx, snap_id)
        snap["flags"] = (snap.get("flags", 0) & ~mask) | (flags & mask)
        _put_snapshot(ctx, snap)
    return None


@register(CLS, "set_op_features", RD | WR)
def set_op_features(ctx, indata):
    args = _args(indata)
    _require_header(ctx)
    _set_op_features(ctx, _get(args, "op_features", int), _get(args, "mask", int))
    return None


@register(CLS, "set_timestamp", RD | WR)
def set_timestamp(ctx, indata):
    """Stamp `access` or `modify` with the OSD's clock."""
    args = _args(indata)
    which = _get(args, "which", str)
    if which not in ("access", "modify"):
        raise ClsError(errno.EINVAL)
    _require_header(ctx)
    ctx.omap_set({which + "_timestamp": enc_utime(ctx.now())})
    return None


# -- snapshots -------------------------------------------------------------------------------
def _same_namespace(a: dict, b: dict) -> bool:
    return a == b


@register(CLS, "snapshot_add", RD | WR)
def snapshot_add(ctx, indata):
    """Add snapshot `snap_id` named `name` in `namespace` (a dict with 'type').
    EEXIST: id or (name, namespace) in use; ESTALE: id not newer than snap_seq;
    EDQUOT: user snapshot count at snap_limit."""
    args = _args(indata)
    snap_id = _get(args, "snap_id", int)
    name = _get(args, "name", str)
    namespace = _get(args, "namespace", dict, False, None) or {"type": SNAP_NS_USER}
    if not name or snap_id <= 0 or snap_id >= UINT64_MAX - 1:
        raise ClsError(errno.EINVAL)
    _require_header(ctx)
    snap_seq = _u64_key(ctx, "snap_seq")
    snaps = _snapshots(ctx)
    user_count = 0
    for old in snaps.values():
        if old["id"] == snap_id:
            raise ClsError(errno.EEXIST)
        if old["name"] == name and _same_namespace(old["namespace"], namespace):
            raise ClsError(errno.EEXIST)
        if old["namespace"].get("type", 0) == SNAP_NS_USER:
            user_count += 1
    if snap_seq >= snap_id:
        raise ClsError(errno.ESTALE)
    if namespace.get("type", 0) == SNAP_NS_USER and user_count >= _u64_key(ctx, "snap_limit", UINT64_MAX):
        raise ClsError(errno.EDQUOT)
    parent = _parent(ctx)
    snap = {
        "id": snap_id,
        "name": name,
        "namespace": namespace,
        "image_size": _u64_key(ctx, "size"),
        "features": _u64_key(ctx, "features"),
        "flags": _u64_key(ctx, "flags"),
        "protection_status": PROTECTION_UNPROTECTED,
        "child_count": 0,
        "parent": parent,
        "timestamp": ctx.now(),
    }
    _put_snapshot(ctx, snap)
    ctx.omap_set({"snap_seq": enc_u64(snap_id)})
    _rbd_migration.on_snapshot_add(ctx, snap_id, snap["image_size"], args)
    return None


@register(CLS, "snapshot_remove", RD | WR)
def snapshot_remove(ctx, indata):
    """ENOENT if missing; EBUSY while protected or while clones are attached."""
    args = _args(indata)
    snap_id = _get(args, "snap_id", int)
    _require_header(ctx)
    snap = _snapshot(ctx, snap_id)
    if snap.get("protection_status", 0) != PROTECTION_UNPROTECTED:
        raise ClsError(errno.EBUSY)
    if snap.get("child_count", 0) > 0:
        raise ClsError(errno.EBUSY)
    ctx.omap_rm_keys([snap_key(snap_id), snap_children_key(snap_id)])
    if snap["namespace"].get("type") == SNAP_NS_TRASH:
        left = [s for s in _snapshots(ctx).values()
                if s["id"] != snap_id and s["namespace"].get("type") == SNAP_NS_TRASH]
        if not left:
            _set_op_features(ctx, 0, OP_FEATURE_SNAP_TRASH)
    return None


@register(CLS, "snapshot_rename", RD | WR)
def snapshot_rename(ctx, indata):
    args = _args(indata)
    snap_id = _get(args, "snap_id", int)
    name = _get(args, "name", str)
    if not name:
        raise ClsError(errno.EINVAL)
    _require_header(ctx)
    snap = _snapshot(ctx, snap_id)
    for old in _snapshots(ctx).values():
        if old["name"] == name and _same_namespace(old["namespace"], snap["namespace"]):
            raise ClsError(errno.EEXIST)
    snap["name"] = name
    _put_snapshot(ctx, snap)
    return None


@register(CLS, "snapshot_trash_add", RD | WR)
def snapshot_trash_add(ctx, indata):
    """Move a snapshot to the trash namespace (clone v2 children still use it)."""
    args = _args(indata)
    snap_id = _get(args, "snap_id", int)
    _require_header(ctx)
    snap = _snapshot(ctx, snap_id)
    ns = snap["namespace"]
    if ns.get("type") == SNAP_NS_TRASH:
        raise ClsError(errno.EEXIST)
    snap["namespace"] = {"type": SNAP_NS_TRASH, "original_name": snap["name"],
                         "original_snapshot_namespace_type": ns.get("type", 0)}
    snap["name"] = str(uuid.UUID(int=(snap_id << 64) | (int(ctx.now() * 1e6) & UINT64_MAX)))
    _put_snapshot(ctx, snap)
    _set_op_features(ctx, OP_FEATURE_SNAP_TRASH, OP_FEATURE_SNAP_TRASH)
    return None


@register(CLS, "set_protection_status", RD | WR)
def set_protection_status(ctx, indata):
    args = _args(indata)
    snap_id = _get(args, "snap_id", int)
    status = _get(args, "status", int)
    if status not in (PROTECTION_UNPROTECTED, PROTECTION_UNPROTECTING, PROTECTION_PROTECTED):
        raise ClsError(errno.EINVAL)
    _require_header(ctx)
    snap = _snapshot(ctx, snap_id)
    snap["protection_status"] = status
    _put_snapshot(ctx, snap)
    return None


@register(CLS, "snap_set_limit", RD | WR)
def snap_set_limit(ctx, indata):
    args = _args(indata)
    limit = _get(args, "limit", int)
    if limit < 0:
        raise ClsError(errno.EINVAL)
    _require_header(ctx)
    if limit >= UINT64_MAX:
        ctx.omap_rm_keys(["snap_limit"])
    else:
        ctx.omap_set({"snap_limit": enc_u64(limit)})
    return None


@register(CLS, "snap_seq_bump", RD | WR)
def snap_seq_bump(ctx, indata):
    """Raise snap_seq to at least `seq` (used when a snapshot id is taken but not kept)."""
    args = _args(indata)
    seq = _get(args, "seq", int)
    _require_header(ctx)
    if _u64_key(ctx, "snap_seq") < seq:
        ctx.omap_set({"snap_seq": enc_u64(seq)})
    return None


# -- parent / children -----------------------------------------------------------------------
@register(CLS, "set_parent", RD | WR)
def set_parent(ctx, indata):
    """Attach the image to parent [pool, nspace, image_id, snap_id] with `overlap`.
    EEXIST if it already has one."""
    args = _args(indata)
    spec = _spec(_get(args, "parent", (list, tuple)))
    overlap = _get(args, "overlap", int)
    if len(spec) != 4 or overlap < 0:
        raise ClsError(errno.EINVAL)
    _require_header(ctx)
    if _parent(ctx) is not None:
        raise ClsError(errno.EEXIST)
    ctx.omap_set({"parent": pack({"spec": spec, "overlap": overlap})})
    return None


@register(CLS, "set_parent_overlap", RD | WR)
def set_parent_overlap(ctx, indata):
    args = _args(indata)
    overlap = _get(args, "overlap", int)
    _require_header(ctx)
    parent = _parent(ctx)
    if parent is None:
        raise ClsError(errno.ENOENT)
    parent["overlap"] = overlap
    ctx.omap_set({"parent": pack(parent)})
    return None


@register(CLS, "remove_parent", RD | WR)
def remove_parent(ctx, indata):
    """Drop HEAD's parent link; with `detach_snapshots` also every snapshot's (deep-flatten).
    ENOENT if there is no parent."""
    args = _args(indata)
    detach_snapshots = bool(args.get("detach_snapshots", False))
    _require_header(ctx)
    if _parent(ctx) is None:
        raise ClsError(errno.ENOENT)
    ctx.omap_rm_keys(["parent"])
    if detach_snapshots:
        for snap in _snapshots(ctx).values():
            if snap.get("parent") is not None:
                snap["parent"] = None
                _put_snapshot(ctx, snap)
    return None


@register(CLS, "child_attach", RD | WR)
def child_attach(ctx, indata):
    """Clone v2: register child [pool, nspace, image_id] on snapshot `snap_id` of this
    (parent) header. EEXIST if already attached; ENOENT if the snapshot is gone."""
    args = _args(indata)
    snap_id = _get(args, "snap_id", int)
    child = _spec(_get(args, "child", (list, tuple)))[:3]
    _require_header(ctx)
    snap = _snapshot(ctx, snap_id)
    key = snap_children_key(snap_id)
    raw = _omap_opt(ctx, key)
    children = [list(c) for c in unpack(raw)] if raw is not None else []
    if child in children:
        raise ClsError(errno.EEXIST)
    children.append(child)
    children.sort()
    ctx.omap_set({key: pack(children)})
    snap["child_count"] = snap.get("child_count", 0) + 1
    _put_snapshot(ctx, snap)
    _set_op_features(ctx, OP_FEATURE_CLONE_PARENT, OP_FEATURE_CLONE_PARENT)
    return None


@register(CLS, "child_detach", RD | WR)
def child_detach(ctx, indata):
    """Clone v2: the reverse of child_attach. ENOENT if not attached. Returns the snapshot's
    remaining child count and namespace type (so a trashed snapshot can be reaped)."""
    args = _args(indata)
    snap_id = _get(args, "snap_id", int)
    child = _spec(_get(args, "child", (list, tuple)))[:3]
    _require_header(ctx)
    snap = _snapshot(ctx, snap_id)
    key = snap_children_key(snap_id)
    raw = _omap_opt(ctx, key)
    children = [list(c) for c in unpack(raw)] if raw is not None else []
    if child not in children:
        raise ClsError(errno.ENOENT)
    children.remove(child)
    if children:
        ctx.omap_set({key: pack(children)})
    else:
        ctx.omap_rm_keys([key])
    snap["child_count"] = max(0, snap.get("child_count", 0) - 1)
    _put_snapshot(ctx, snap)
    if not any(s.get("child_count", 0) for s in _snapshots(ctx).values()):
        _set_op_features(ctx, 0, OP_FEATURE_CLONE_PARENT)
    return pack({"child_count": snap["child_count"],
                 "namespace_type": snap["namespace"].get("type", 0)})


@register(CLS, "children_list", RD)
def children_list(ctx, indata):
    args = _args(indata)
    snap_id = _get(args, "snap_id", int)
    _require_header(ctx)
    _snapshot(ctx, snap_id)
    raw = _omap_opt(ctx, snap_children_key(snap_id))
    return pack(unpack(raw) if raw is not None else [])


# -- image metadata (and per-image config overrides) -----------------------------------------
@register(CLS, "metadata_set", RD | WR)
def metadata_set(ctx, indata):
    args = _args(indata)
    data = _get(args, "data", dict)
    if not ctx.exists():
        raise ClsError(errno.ENOENT)
    kv = {}
    for key, value in data.items():
        if not isinstance(key, str) or not isinstance(value, (bytes, str)):
            raise ClsError(errno.EINVAL)
        kv["metadata_" + key] = value if isinstance(value, bytes) else value.encode()
    ctx.omap_set(kv)
    return None


@register(CLS, "metadata_remove", RD | WR)
def metadata_remove(ctx, indata):
    args = _args(indata)
    key = _get(args, "key", str)
    if _omap_opt(ctx, "metadata_" + key) is None:
        raise ClsError(errno.ENOENT)
    ctx.omap_rm_keys(["metadata_" + key])
    return None


@register(CLS, "metadata_get", RD)
def metadata_get(ctx, indata):
    args = _args(indata)
    key = _get(args, "key", str)
    raw = _omap_opt(ctx, "metadata_" + key)
    if raw is None:
        raise ClsError(errno.ENOENT)
    return pack(raw)


@register(CLS, "metadata_list", RD)
def metadata_list(ctx, indata):
    """{key: value} for keys after `start` (sorted), at most `max` (0 = all)."""
    args = _args(indata)
    start = _get(args, "start", str, False, "")
    max_return = _get(args, "max", int, False, 0) or 2**31
    if not ctx.exists():
        return pack({})
    vals = ctx.omap_get_vals("metadata_" + start if start else "", "metadata_", max_return)
    return pack({k[len("metadata_"):]: v for k, v in vals.items()})


# -- rbd_directory / rbd_id ------------------------------------------------------------------
@register(CLS, "dir_add_image", RD | WR)
def dir_add_image(ctx, indata):
    args = _args(indata)
    name = _get(args, "name", str)
    image_id = _get(args, "id", str)
    if not name or not image_id:
        raise ClsError(errno.EINVAL)
    if _omap_opt(ctx, "name_" + name) is not None or _omap_opt(ctx, "id_" + image_id) is not None:
        raise ClsError(errno.EEXIST)
    ctx.create(False)
    ctx.omap_set({"name_" + name: enc_str(image_id), "id_" + image_id: enc_str(name)})
    return None


@register(CLS, "dir_remove_image", RD | WR)
def dir_remove_image(ctx, indata):
    args = _args(indata)
    name = _get(args, "name", str)
    image_id = _get(args, "id", str)
    stored_id = _omap_opt(ctx, "name_" + name)
    stored_name = _omap_opt(ctx, "id_" + image_id)
    if stored_id is None or stored_name is None or dec_str(stored_id) != image_id \
            or dec_str(stored_name) != name:
        raise ClsError(errno.ENOENT)
    ctx.omap_rm_keys(["name_" + name, "id_" + image_id])
    return None


@register(CLS, "dir_rename_image", RD | WR)
def dir_rename_image(ctx, indata):
    args = _args(indata)
    src = _get(args, "src", str)
    dest = _get(args, "dest", str)
    image_id = _get(args, "id", str)
    if not dest:
        raise ClsError(errno.EINVAL)
    stored_id = _omap_opt(ctx, "name_" + src)
    if stored_id is None or dec_str(stored_id) != image_id:
        raise ClsError(errno.ENOENT)
    if _omap_opt(ctx, "name_" + dest) is not None:
        raise ClsError(errno.EEXIST)
    ctx.omap_rm_keys(["name_" + src])
    ctx.omap_set({"name_" + dest: enc_str(image_id), "id_" + image_id: enc_str(dest)})
    return None


@register(CLS, "dir_list", RD)
def dir_list(ctx, indata):
    """{name: id} for names after `start`, at most `max` (0 = all)."""
    args = _args(indata)
    start = _get(args, "start", str, False, "")
    max_return = _get(args, "max", int, False, 0) or 2**31
    if not ctx.exists():
        return pack({})
    vals = ctx.omap_get_vals("name_" + start if start else "", "name_", max_return)
    return pack({k[len("name_"):]: dec_str(v) for k, v in vals.items()})


@register(CLS, "dir_get_id", RD)
def dir_get_id(ctx, indata):
    args = _args(indata)
    name = _get(args, "name", str)
    if not ctx.exists():
        raise ClsError(errno.ENOENT)
    raw = _omap_opt(ctx, "name_" + name)
    if raw is None:
        raise ClsError(errno.ENOENT)
    return pack(dec_str(raw))


@register(CLS, "dir_get_name", RD)
def dir_get_name(ctx, indata):
    args = _args(indata)
    image_id = _get(args, "id", str)
    if not ctx.exists():
        raise ClsError(errno.ENOENT)
    raw = _omap_opt(ctx, "id_" + image_id)
    if raw is None:
        raise ClsError(errno.ENOENT)
    return pack(dec_str(raw))


@register(CLS, "set_id", RD | WR)
def set_id(ctx, indata):
    """Write the id into `rbd_id.<name>`; EEXIST if it already holds one."""
    args = _args(indata)
    image_id = _get(args, "id", str)
    if not image_id:
        raise ClsError(errno.EINVAL)
    if ctx.exists() and ctx.stat()[0] > 0:
        raise ClsError(errno.EEXIST)
    ctx.write_full(enc_str(image_id))
    return None


@register(CLS, "get_id", RD)
def get_id(ctx, indata):
    if not ctx.exists():
        raise ClsError(errno.ENOENT)
    raw = ctx.read(0, 0)
    if len(raw) < 4:
        raise ClsError(errno.EIO)
    return pack(dec_str(raw))


# -- rbd_children (clone v1) ------------------------------------------------------------------
def _children_key(parent: list) -> str:
    pool, nspace, image_id, snap_id = parent
    return "%d.%s.%s.%016x" % (pool, nspace.replace(".", "%2e"), image_id, snap_id)


@register(CLS, "add_child", RD | WR)
def add_child(ctx, indata):
    args = _args(indata)
    parent = _spec(_get(args, "parent", (list, tuple)))
    child_id = _get(args, "child_id", str)
    if len(parent) != 4:
        raise ClsError(errno.EINVAL)
    key = _children_key(parent)
    raw = _omap_opt(ctx, key)
    rec = unpack(raw) if raw is not None else {"parent": parent, "children": []}
    if child_id in rec["children"]:
        raise ClsError(errno.EEXIST)
    rec["children"].append(child_id)
    ctx.create(False)
    ctx.omap_set({key: pack(rec)})
    return None


@register(CLS, "remove_child", RD | WR)
def remove_child(ctx, indata):
    args = _args(indata)
    parent = _spec(_get(args, "parent", (list, tuple)))
    child_id = _get(args, "child_id", str)
    if len(parent) != 4:
        raise ClsError(errno.EINVAL)
    key = _children_key(parent)
    raw = _omap_opt(ctx, key)
    rec = unpack(raw) if raw is not None else None
    if rec is None or child_id not in rec["children"]:
        raise ClsError(errno.ENOENT)
    rec["children"].remove(child_id)
    if rec["children"]:
        ctx.omap_set({key: pack(rec)})
    else:
        ctx.omap_rm_keys([key])
    return None


@register(CLS, "get_children", RD)
def get_children(ctx, indata):
    args = _args(indata)
    parent = _spec(_get(args, "parent", (list, tuple)))
    if len(parent) != 4:
        raise ClsError(errno.EINVAL)
    if not ctx.exists():
        return pack([])
    raw = _omap_opt(ctx, _children_key(parent))
    return pack(unpack(raw)["children"] if raw is not None else [])


# -- data objects ----------------------------------------------------------------------------
@register(CLS, "copyup", RD | WR)
def copyup(ctx, indata):
    """Write the parent's data `extents` [[offset, bytes], ...] into this object only if it
    does not exist yet (a racing copy-up or write got there first otherwise). An absent
    object is created even with no extents, so the parent no longer shows through."""
    args = _args(indata)
    extents = _get(args, "extents", (list, tuple))
    if ctx.exists():
        return None
    ctx.create(False)
    for item in extents:
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise ClsError(errno.EINVAL)
        off, data = item
        if not isinstance(off, int) or not isinstance(data, bytes) or off < 0:
            raise ClsError(errno.EINVAL)
        if data:
            ctx.write(off, data)
    return None


@register(CLS, "zero_range", RD | WR)
def zero_range(ctx, indata):
    """Discard [offset, offset+length) of a data object: nothing if the object is absent,
    a truncate when the range reaches the object's end (so zeroed tails hold no data),
    else a zero."""
    args = _args(indata)
    offset = _get(args, "offset", int)
    length = _get(args, "length", int)
    if offset < 0 or length < 0:
        raise ClsError(errno.EINVAL)
    if not ctx.exists() or length == 0:
        return None
    size = ctx.stat()[0]
    if offset >= size:
        return None
    if offset + length >= size:
        ctx.truncate(offset)
    else:
        ctx.zero(offset, length)
    return None


# -- object map ------------------------------------------------------------------------------
def om_decode(raw: bytes) -> tuple[int, bytearray]:
    if len(raw) < 8:
        return 0, bytearray()
    count = dec_u64(raw[:8])
    return count, bytearray(raw[8:8 + (count + 3) // 4])


def om_encode(count: int, bits: bytearray) -> bytes:
    return enc_u64(count) + bytes(bits[:(count + 3) // 4])


def om_get(bits, i: int) -> int:
    return (bits[i >> 2] >> ((i & 3) * 2)) & 3


def om_set(bits, i: int, state: int) -> None:
    shift = (i & 3) * 2
    bits[i >> 2] = (bits[i >> 2] & ~(3 << shift)) | (state << shift)


def om_resize(count: int, bits: bytearray, new_count: int, default: int) -> bytearray:
    new_bits = bytearray((new_count + 3) // 4)
    keep = min(count, new_count)
    for i in range(keep):
        om_set(new_bits, i, om_get(bits, i))
    if default:
        for i in range(keep, new_count):
            om_set(new_bits, i, default)
    return new_bits


def _om_load(ctx) -> tuple[int, bytearray]:
    if not ctx.exists():
        raise ClsError(errno.ENOENT)
    return om_decode(ctx.read(0, 0))


@register(CLS, "object_map_load", RD)
def object_map_load(ctx, indata):
    count, bits = _om_load(ctx)
    return pack({"count": count, "bits": bytes(bits)})


@register(CLS, "object_map_save", RD | WR)
def object_map_save(ctx, indata):
    args = _args(indata)
    count = _get(args, "count", int)
    bits = _get(args, "bits", bytes)
    if count < 0 or len(bits) < (count + 3) // 4:
        raise ClsError(errno.EINVAL)
    ctx.write_full(om_encode(count, bytearray(bits)))
    return None


@register(CLS, "object_map_resize", RD | WR)
def object_map_resize(ctx, indata):
    """Grow (new entries = `default_state`) or shrink the map. Shrinking refuses (EBUSY)
    while a dropped entry is not NONEXISTENT, unless `force`."""
    args = _args(indata)
    new_count = _get(args, "count", int)
    default = _get(args, "default_state", int, False, OBJECT_NONEXISTENT)
    force = bool(args.get("force", False))
    count, bits = om_decode(ctx.read(0, 0)) if ctx.exists() else (0, bytearray())
    if new_count < count and not force:
        for i in range(new_count, count):
            if om_get(bits, i) != OBJECT_NONEXISTENT:
                raise ClsError(errno.EBUSY)
    ctx.write_full(om_encode(new_count, om_resize(count, bits, new_count, default)))
    return None


@register(CLS, "object_map_update", RD | WR)
def object_map_update(ctx, indata):
    """Set `state` on the listed object numbers (or on [start, end)) whose current state is
    `current_state` (any when absent). Entries past the map's end are ignored."""
    args = _args(indata)
    state = _get(args, "state", int)
    current = _get(args, "current_state", int, False, None)
    objects = args.get("objects")
    if objects is None:
        start = _get(args, "start", int)
        end = _get(args, "end", int)
        objects = range(start, end)
    count, bits = _om_load(ctx)
    changed = False
    for i in objects:
        if not isinstance(i, int) or i < 0:
            raise ClsError(errno.EINVAL)
        if i >= count:
            continue
        old = om_get(bits, i)
        if current is not None and old != current:
            continue
        if old != state:
            om_set(bits, i, state)
            changed = True
    if changed:
        ctx.write_full(om_encode(count, bits))
    return None


@register(CLS, "object_map_snap_add", RD | WR)
def object_map_snap_add(ctx, indata):
    """After a snapshot: every EXISTS entry of HEAD becomes EXISTS_CLEAN (fast-diff)."""
    count, bits = _om_load(ctx)
    for i in range(count):
        if om_get(bits, i) == OBJECT_EXISTS:
            om_set(bits, i, OBJECT_EXISTS_CLEAN)
    ctx.write_full(om_encode(count, bits))
    return None


@register(CLS, "object_map_snap_remove", RD | WR)
def object_map_snap_remove(ctx, indata):
    """A snapshot's map goes away: entries it had dirty (EXISTS) that this newer map marks
    EXISTS_CLEAN become EXISTS here, so no change is lost for fast-diff."""
    args = _args(indata)
    old_count = _get(args, "count", int)
    old_bits = bytearray(_get(args, "bits", bytes))
    count, bits = _om_load(ctx)
    changed = False
    for i in range(min(count, old_count)):
        if om_get(old_bits, i) == OBJECT_EXISTS and om_get(bits, i) == OBJECT_EXISTS_CLEAN:
            om_set(bits, i, OBJECT_EXISTS)
            changed = True
    if changed:
        ctx.write_full(om_encode(count, bits))
    return None


# Mirroring methods (same class "rbd") live in their own module; load them with this one.
from osd.cls import rbd_mirror as _rbd_mirror  # noqa: E402,F401
# Live-migration methods (same class "rbd"), and the hooks set_size / snapshot_add call.
from osd.cls import rbd_migration as _rbd_migration  # noqa: E402
