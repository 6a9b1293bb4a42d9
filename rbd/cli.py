"""`rbd` command-line tool: a thin layer over the public `rados` and `rbd` Python APIs.

Output layouts, error lines (``rbd: ...: (errno) strerror``) and exit codes follow
Ceph 16's `rbd`. Unknown commands/options print usage and exit 22 (EINVAL).
"""
from __future__ import annotations

import errno
import sys

import rados
import rbd

from rbd.cli_admin import (cmd_feature, cmd_image_meta, cmd_lock, cmd_object_map, cmd_pool,
                           cmd_sparsify, cmd_status, cmd_watch)
from rbd.cli_common import _USAGE, _Ctx, _errno_of, _Fail, _parser, _strerror, _Usage
from rbd.cli_image import (cmd_children, cmd_clone, cmd_cp, cmd_create, cmd_deep, cmd_du,
                           cmd_flatten, cmd_info, cmd_ls, cmd_rename, cmd_resize, cmd_rm,
                           cmd_snap)
from rbd.cli_pool import cmd_group, cmd_mirror, cmd_namespace, cmd_trash
from rbd.cli_migration import cmd_migration
from rbd.cli_transfer import (cmd_bench, cmd_diff, cmd_export, cmd_export_diff, cmd_import,
                              cmd_import_diff)

# Each command is `fn(ctx, words) -> exit code | None`, registered here by its Ceph name(s).
# New command families live in their own rbd/cli_<family>.py and add one entry below.
_COMMANDS = {
    "create": cmd_create, "ls": cmd_ls, "list": cmd_ls, "info": cmd_info, "rm": cmd_rm,
    "remove": cmd_rm, "rename": cmd_rename, "mv": cmd_rename, "resize": cmd_resize,
    "du": cmd_du, "disk-usage": cmd_du, "snap": cmd_snap, "snapshot": cmd_snap,
    "clone": cmd_clone, "flatten": cmd_flatten, "children": cmd_children, "cp": cmd_cp,
    "copy": cmd_cp, "deep": cmd_deep, "export": cmd_export, "import": cmd_import,
    "export-diff": cmd_export_diff, "import-diff": cmd_import_diff, "diff": cmd_diff,
    "bench": cmd_bench, "status": cmd_status, "image-meta": cmd_image_meta,
    "feature": cmd_feature, "lock": cmd_lock, "object-map": cmd_object_map,
    "sparsify": cmd_sparsify, "pool": cmd_pool, "watch": cmd_watch, "trash": cmd_trash,
    "namespace": cmd_namespace, "group": cmd_group, "mirror": cmd_mirror,
    "migration": cmd_migration,
}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:
        argv = ["help"]
    try:
        opts = _parser().parse_intermixed_args(argv)
    except _Usage as e:
        sys.stderr.write(f"rbd: {e}\n")
        return errno.EINVAL
    if not opts.words or opts.words[0] == "help":
        sys.stdout.write(_USAGE + "commands: " + " ".join(sorted(_COMMANDS)) + "\n")
        return 0 if opts.words else errno.EINVAL
    cmd, words = opts.words[0], opts.words[1:]
    fn = _COMMANDS.get(cmd)
    if fn is None:
        sys.stderr.write(f"rbd: error parsing command '{cmd}'; -h or --help for usage\n")
        return errno.EINVAL
    ctx = None
    try:
        ctx = _Ctx(opts)
        rc = fn(ctx, words)
        return int(rc or 0)
    except _Usage:
        sys.stderr.write(f"rbd: error parsing command '{' '.join(opts.words)}'; "
                         f"-h or --help for usage\n")
        return errno.EINVAL
    except _Fail as e:
        sys.stderr.write(f"rbd: {e}\n")
        return e.code
    except rbd.FunctionNotSupported:
        sys.stderr.write(f"rbd: {cmd} failed: (38) Function not implemented\n")
        return errno.ENOSYS
    except (rbd.Error, rados.Error) as e:
        n = _errno_of(e)
        sys.stderr.write(f"rbd: {cmd} failed: ({n}) {_strerror(n)}\n")
        return n
    except BrokenPipeError:
        return 0
    finally:
        if ctx is not None:
            try:
                ctx.close()
            except Exception:
                pass


if __name__ == "__main__":
    sys.exit(main())
