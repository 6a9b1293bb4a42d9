"""What a migration destination reads through to: a source spec and the sources it names.

Source specs are Ceph's JSON (`rbd migration prepare --import-only --source-spec`):
- native: `{"type": "native", "pool_name" | "pool_id", "pool_namespace"?, "image_name",
  "image_id"?, "snap_name" | "snap_id"?}` — a format-2 image of this cluster, read-only;
- raw: `{"type": "raw", "stream": {"type": "file", "file_path": ...}, "snapshots"?: [{"type":
  "raw", "name": ..., "stream": {...}}, ...]}` — a flat file read by this client (the
  snapshots, oldest first, are files too).

Invariants:
- A source is never written. Reads return [(image offset, bytes)] pieces of data (holes and
  all-zero runs omitted), as rbd/io.py's ReadHandle does.
- Source snapshot ids: a native source uses the image's own ids (SNAP_HEAD = its HEAD, or the
  spec's snapshot); a raw source numbers its snapshot files 1..n.
"""
from __future__ import annotations

import errno
import json
import os

from rbd.constants import RBD_SNAP_NAMESPACE_TYPE_USER, SNAP_HEAD
from rbd.errors import RbdError

ZERO_RUN = 4096


def parse_spec(source_spec) -> dict:
    """The spec as a dict; RbdError(-EINVAL) for bad JSON or a spec without a type."""
    if isinstance(source_spec, dict):
        spec = dict(source_spec)
    else:
        try:
            spec = json.loads(source_spec)
        except (TypeError, ValueError):
            raise RbdError(-errno.EINVAL, "failed to parse source spec") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise RbdError(-errno.EINVAL, "source spec has no type")
    return spec


def native_spec(pool_id: int, pool_namespace: str, image_name: str, image_id: str) -> dict:
    """The spec a live migration's destination reports for its source (Ceph builds the same
    native spec when the record holds none)."""
    spec = {"type": "native", "pool_id": pool_id, "pool_namespace": pool_namespace,
            "image_name": image_name}
    if image_id:
        spec["image_id"] = image_id
    return spec


def open_source(io, spec: dict):
    """Open the source a spec names (io: any RadosIO of this client). RbdError: EINVAL for a
    malformed spec, ENOENT for a missing pool/image/snapshot/file, ENOSYS for formats and
    streams rayceph does not read (qcow, http, s3)."""
    kind = spec.get("type")
    if kind == "native":
        return NativeSource.from_spec(io, spec)
    if kind == "raw":
        return RawSource.from_spec(spec)
    if kind == "qcow":
        raise RbdError(-errno.ENOSYS, "qcow migration sources are not supported")
    raise RbdError(-errno.EINVAL, "unknown source spec type %r" % kind)


def _nonzero_pieces(off: int, data: bytes) -> list:
    """Split data into pieces that skip all-zero ZERO_RUN-aligned runs."""
    out = []
    start = None
    for pos in range(0, len(data), ZERO_RUN):
        block = data[pos:pos + ZERO_RUN]
        if any(block):
            if start is None:
                start = pos
        elif start is not None:
            out.append((off + start, data[start:pos]))
            start = None
    if start is not None:
        out.append((off + start, data[start:]))
    return out


class _Done:
    def __init__(self, pieces):
        self._pieces = pieces

    def result(self) -> list:
        return self._pieces


class NativeSource:
    """A format-2 image of this cluster opened read-only, without a watch."""

    def __init__(self, ctx, head_snap_id: int = SNAP_HEAD):
        self.ctx = ctx
        self.head_snap_id = head_snap_id

    @classmethod
    def open_image(cls, io, image_id: str | None, name: str | None = None,
                   head_snap_id: int = SNAP_HEAD) -> "NativeSource":
        from rbd.image_ctx import ImageCtx
        ctx = ImageCtx(io, name=name, image_id=image_id, read_only=True, watch=False)
        try:
            ctx.open()
        except BaseException:
            ctx.close()
            raise
        if ctx.old_format:
            ctx.close()
            raise RbdError(-errno.ENOSYS, "format 1 migration sources are not supported")
        return cls(ctx, head_snap_id)

    @classmethod
    def from_spec(cls, io, spec: dict) -> "NativeSource":
        from rbd.rbd_api import _pool_id
        pool_id = spec.get("pool_id")
        if pool_id is None:
            pool_name = spec.get("pool_name")
            if not isinstance(pool_name, str):
                raise RbdError(-errno.EINVAL, "missing pool name or pool id")
            pool_id = _pool_id(io, pool_name)
            if pool_id is None:
                raise RbdError(-errno.ENOENT, "pool %s does not exist" % pool_name)
        if not isinstance(pool_id, int) or isinstance(pool_id, bool):
            raise RbdError(-errno.EINVAL, "invalid pool id")
        if pool_id not in io.client.osdmap.pools:
            raise RbdError(-errno.ENOENT, "pool %d does not exist" % pool_id)
        nspace = spec.get("pool_namespace", "")
        image_name = spec.get("image_name")
        image_id = spec.get("image_id")
        if not isinstance(nspace, str) or not isinstance(image_name, str) or not image_name \
                or not isinstance(image_id, (str, type(None))):
            raise RbdError(-errno.EINVAL, "invalid native source spec")
        src_io = io.with_pool(pool_id, nspace)
        source = cls.open_image(src_io, image_id or None, None if image_id else image_name)
        snap_name, snap_id = spec.get("snap_name"), spec.get("snap_id")
        if snap_name is not None or snap_id is not None:
            if snap_name is not None:
                snap = source.ctx.info.snap_by_name(str(snap_name))
            else:
                snap = source.ctx.info.snaps.get(snap_id) if isinstance(snap_id, int) else None
            if snap is None:
                source.close()
                raise RbdError(-errno.ENOENT, "source snapshot does not exist")
            source.head_snap_id = snap.id
        return source

    def resolve_snap(self, snap_id: int) -> int:
        return self.head_snap_id if snap_id == SNAP_HEAD else snap_id

    def size_at(self, snap_id: int = SNAP_HEAD) -> int:
        return self.ctx.size_at(self.resolve_snap(snap_id))

    def snapshots(self) -> list:
        """The user snapshots a migration recreates, oldest first: [(id, name, size,
        protected)] (up to the spec's snapshot for an import)."""
        info = self.ctx.info
        out = []
        for snap_id in sorted(info.snaps):
            snap = info.snaps[snap_id]
            if self.head_snap_id != SNAP_HEAD and snap_id > self.head_snap_id:
                break
            if snap.namespace_type != RBD_SNAP_NAMESPACE_TYPE_USER:
                continue
            out.append((snap.id, snap.name, snap.size, snap.protection_status == 2))
        return out

    def start_read(self, snap_id: int, extents):
        """Submit now; `.result()` gives the pieces (the source's own parent included)."""
        from rbd.io import ReadHandle
        if not extents:
            return _Done([])
        return ReadHandle(self.ctx, self.resolve_snap(snap_id), extents)

    def close(self) -> None:
        self.ctx.close()


class RawSource:
    """A flat file (and optional snapshot files) read with plain file I/O by this client."""

    def __init__(self, files: dict[int, str], names: dict[int, str]):
        self.files = files          # snap id (SNAP_HEAD for the head) -> path
        self.names = names

    @staticmethod
    def _stream_path(stream) -> str:
        if not isinstance(stream, dict) or not isinstance(stream.get("type"), str):
            raise RbdError(-errno.EINVAL, "missing stream")
        if stream["type"] != "file":
            raise RbdError(-errno.ENOSYS, "%s streams are not supported" % stream["type"])
        path = stream.get("file_path")
        if not isinstance(path, str) or not path:
            raise RbdError(-errno.EINVAL, "missing file_path")
        if not os.path.isfile(path):
            raise RbdError(-errno.ENOENT, "cannot open %s" % path)
        return path

    @classmethod
    def from_spec(cls, spec: dict) -> "RawSource":
        files = {SNAP_HEAD: cls._stream_path(spec.get("stream"))}
        names = {}
        snaps = spec.get("snapshots", [])
        if not isinstance(snaps, list):
            raise RbdError(-errno.EINVAL, "snapshots must be a list")
        for i, snap in enumerate(snaps, start=1):
            if not isinstance(snap, dict) or snap.get("type") != "raw" \
                    or not isinstance(snap.get("name"), str) or not snap["name"]:
                raise RbdError(-errno.EINVAL, "invalid raw snapshot spec")
            files[i] = cls._stream_path(snap.get("stream"))
            names[i] = snap["name"]
        return cls(files, names)

    def size_at(self, snap_id: int = SNAP_HEAD) -> int:
        return os.path.getsize(self.files[snap_id])

    def snapshots(self) -> list:
        return [(i, self.names[i], self.size_at(i), False) for i in sorted(self.names)]

    def start_read(self, snap_id: int, extents):
        pieces = []
        path = self.files.get(snap_id, self.files[SNAP_HEAD])
        with open(path, "rb") as f:
            for off, length in extents:
                f.seek(off)
                pieces.extend(_nonzero_pieces(off, f.read(length)))
        return _Done(pieces)

    def close(self) -> None:
        pass
