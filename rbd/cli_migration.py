"""`rbd migration prepare|execute|commit|abort`: Ceph 16's live-migration commands.

- prepare [--import-only --source-spec JSON | --source-spec-path FILE] [<source-spec>]
  [<dest-spec>] with the destination's --dest-pool/--dest-namespace/--dest, --order or
  --object-size, --image-feature, --stripe-unit/--stripe-count, --data-pool, --flatten.
  Without a destination spec the image migrates in place (same pool and name).
- execute / commit / abort <image-spec> (either side's name), with Ceph's progress lines.
"""
from __future__ import annotations

import errno

import rbd

from rbd.cli_common import _Fail, _image_options, _progress, _spec, _Usage
from rbd.cli_pool import _FailAs


def _source_spec_text(o) -> str:
    spec = getattr(o, "source_spec", None)
    path = getattr(o, "source_spec_path", None)
    if spec and path:
        raise _Fail("cannot specify both source spec and source spec path", errno.EINVAL)
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                return f.read()
        except OSError as e:
            raise _Fail(f"failed to read source spec file: ({e.errno}) {e.strerror}",
                        e.errno or errno.EIO) from None
    if not spec:
        raise _Fail("must specify source spec", errno.EINVAL)
    return spec


def _prepare(ctx, rest) -> None:
    o = ctx.opts
    r = rbd.RBD()
    kw = _image_options(o)
    if getattr(o, "import_only", False):
        spec = _source_spec_text(o)
        dest_text = rest[-1] if rest else (o.dest or o.image)
        pool, ns, name, _ = _spec(o, dest_text, o.dest_pool)
        io = ctx.ioctx(o.dest_pool or pool, getattr(o, "dest_namespace", None) or ns)
        with _FailAs("preparing import migration failed"):
            r.migration_prepare_import(spec, io, name, **kw)
        return
    if not rest and not o.image:
        raise _Fail("image name was not specified", errno.EINVAL)
    pool, ns, name, _ = _spec(o, rest[0] if rest else None)
    src_io = ctx.ioctx(pool, ns)
    d_pool = o.dest_pool or pool
    d_ns = getattr(o, "dest_namespace", None) or ns
    d_name = o.dest or name
    if len(rest) > 1:           # [pool[/namespace]/]image, as for the source
        parts = rest[1].split("@")[0].split("/")
        if len(parts) == 3:
            d_pool, d_ns, d_name = parts
        elif len(parts) == 2:
            (d_pool, d_name), d_ns = parts, ""
        else:
            d_name = parts[0]
    dst_io = ctx.ioctx(d_pool, d_ns)
    with _FailAs("preparing migration failed"):
        r.migration_prepare(src_io, name, dst_io, d_name,
                            flatten=bool(getattr(o, "flatten", False)), **kw)


def cmd_migration(ctx, w):
    o = ctx.opts
    sub, rest = (w[0], w[1:]) if w else (None, [])
    if sub not in ("prepare", "execute", "commit", "abort"):
        raise _Usage("migration")
    if sub == "prepare":
        _prepare(ctx, rest)
        return
    pool, ns, name, _ = _spec(o, rest[0] if rest else None)
    io = ctx.ioctx(pool, ns)
    r = rbd.RBD()
    if sub == "execute":
        with _FailAs("execute migration failed"):
            r.migration_execute(io, name)
        _progress(o, "Image migration")
    elif sub == "commit":
        with _FailAs("committing migration failed"):
            r.migration_commit(io, name)
        _progress(o, "Commit image migration")
    else:
        with _FailAs("aborting migration failed"):
            r.migration_abort(io, name)
        _progress(o, "Abort image migration")
