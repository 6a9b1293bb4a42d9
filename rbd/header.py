"""Client side of the `rbd` object class: object names, decoded header state, directory.

Invariants:
- Object names follow librbd (spec 2.1): `rbd_directory`, `rbd_id.<name>`,
  `rbd_header.<id>`, `rbd_data.<id>.<%016x>` (`rbd_data.<pool>.<id>.<%016x>` in a data pool),
  `rbd_object_map.<id>[.<%016x snap>]`, `rbd_children`.
- `HeaderInfo` is an immutable snapshot of the header as one `get_image_info` read saw it;
  an ImageCtx swaps it whole on refresh, so readers never see half an update.
"""
from __future__ import annotations

import errno
import os
import random
from dataclasses import dataclass, field

from rbd.constants import RBD_SNAP_NAMESPACE_TYPE_USER, SNAP_HEAD, UINT64_MAX
from rbd.errors import RbdError

RBD_DIRECTORY = "rbd_directory"
RBD_CHILDREN = "rbd_children"
RBD_INFO = "rbd_info"
ID_PREFIX = "rbd_id."
HEADER_PREFIX = "rbd_header."
DATA_PREFIX = "rbd_data."
OBJECT_MAP_PREFIX = "rbd_object_map."
V1_HEADER_SUFFIX = ".rbd"
MAX_IMAGE_ID_LENGTH = 14


def id_oid(name: str) -> str:
    return ID_PREFIX + name


def header_oid(image_id: str) -> str:
    return HEADER_PREFIX + image_id


def object_map_oid(image_id: str, snap_id: int = SNAP_HEAD) -> str:
    if snap_id == SNAP_HEAD:
        return OBJECT_MAP_PREFIX + image_id
    return "%s%s.%016x" % (OBJECT_MAP_PREFIX, image_id, snap_id)


def data_prefix(image_id: str, data_pool_id: int = -1) -> str:
    if data_pool_id >= 0:
        return "%s%d.%s" % (DATA_PREFIX, data_pool_id, image_id)
    return DATA_PREFIX + image_id


def generate_image_id(gid: int) -> str:
    """librbd's scheme: hex of the client instance id followed by random hex, ≤ 14 chars."""
    rng = random.Random(os.urandom(8))
    image_id = "%x%x" % (gid, rng.getrandbits(32))
    if len(image_id) > MAX_IMAGE_ID_LENGTH:
        image_id = image_id[-MAX_IMAGE_ID_LENGTH:]
    return image_id


@dataclass(frozen=True)
class ParentSpec:
    pool: int
    nspace: str
    image_id: str
    snap_id: int

    def as_list(self) -> list:
        return [self.pool, self.nspace, self.image_id, self.snap_id]

    @classmethod
    def from_list(cls, value) -> "ParentSpec":
        return cls(int(value[0]), str(value[1]), str(value[2]), int(value[3]))


@dataclass(frozen=True)
class ParentInfo:
    spec: ParentSpec
    overlap: int


@dataclass(frozen=True)
class SnapInfo:
    id: int
    name: str
    namespace: dict
    size: int
    features: int
    flags: int
    protection_status: int
    child_count: int
    parent: ParentInfo | None
    timestamp: float

    @property
    def namespace_type(self) -> int:
        return int(self.namespace.get("type", RBD_SNAP_NAMESPACE_TYPE_USER))


def _parent_of(raw) -> ParentInfo | None:
    if not raw:
        return None
    return ParentInfo(ParentSpec.from_list(raw["spec"]), int(raw["overlap"]))


@dataclass(frozen=True)
class HeaderInfo:
    size: int
    order: int
    features: int
    object_prefix: str
    snap_seq: int
    create_timestamp: float
    access_timestamp: float
    modify_timestamp: float
    data_pool_id: int
    stripe_unit: int
    stripe_count: int
    flags: int
    op_features: int
    snap_limit: int
    parent: ParentInfo | None
    snaps: dict = field(default_factory=dict)       # id -> SnapInfo
    group: dict | None = None
    migration: dict | None = None
    old_format: bool = False

    @classmethod
    def decode(cls, raw: dict) -> "HeaderInfo":
        snaps = {}
        for s in raw.get("snapshots", []):
            snaps[int(s["id"])] = SnapInfo(
                id=int(s["id"]), name=s["name"], namespace=dict(s.get("namespace") or {"type": 0}),
                size=int(s.get("image_size", 0)), features=int(s.get("features", 0)),
                flags=int(s.get("flags", 0)), protection_status=int(s.get("protection_status", 0)),
                child_count=int(s.get("child_count", 0)), parent=_parent_of(s.get("parent")),
                timestamp=float(s.get("timestamp", 0.0)))
        return cls(
            size=int(raw["size"]), order=int(raw["order"]), features=int(raw["features"]),
            object_prefix=raw["object_prefix"], snap_seq=int(raw.get("snap_seq", 0)),
            create_timestamp=float(raw.get("create_timestamp", 0.0)),
            access_timestamp=float(raw.get("access_timestamp", 0.0)),
            modify_timestamp=float(raw.get("modify_timestamp", 0.0)),
            data_pool_id=int(raw.get("data_pool_id", -1)),
            stripe_unit=int(raw.get("stripe_unit", 0)), stripe_count=int(raw.get("stripe_count", 0)),
            flags=int(raw.get("flags", 0)), op_features=int(raw.get("op_features", 0)),
            snap_limit=int(raw.get("snap_limit", UINT64_MAX)), parent=_parent_of(raw.get("parent")),
            snaps=snaps, group=raw.get("group"), migration=raw.get("migration"))

    def snapc(self) -> tuple[int, list[int]]:
        return self.snap_seq, sorted(self.snaps, reverse=True)

    def snap_by_name(self, name: str, ns_type: int | None = RBD_SNAP_NAMESPACE_TYPE_USER):
        for snap in self.snaps.values():
            if snap.name == name and (ns_type is None or snap.namespace_type == ns_type):
                return snap
        return None


# -- directory and id objects ----------------------------------------------------------------
def get_image_id(io, name: str) -> str:
    """The id in `rbd_id.<name>`; RbdError(-ENOENT) if there is no format-2 image."""
    return io.call(id_oid(name), "get_id")


def dir_get_name(io, image_id: str) -> str:
    return io.call(RBD_DIRECTORY, "dir_get_name", {"id": image_id})


def dir_list(io) -> dict[str, str]:
    """{name: id} of every format-2 image in the directory (paged)."""
    out: dict[str, str] = {}
    start = ""
    while True:
        try:
            page = io.call(RBD_DIRECTORY, "dir_list", {"start": start, "max": 1024}) or {}
        except RbdError as exc:
            if exc.ret == -errno.ENOENT:
                return out
            raise
        if not page:
            return out
        out.update(page)
        if len(page) < 1024:
            return out
        start = max(page)


def get_image_info(io, image_id: str) -> HeaderInfo:
    return HeaderInfo.decode(io.call(header_oid(image_id), "get_image_info"))
