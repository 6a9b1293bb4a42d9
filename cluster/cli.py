"""The `rayceph` command: a demo, cluster lifecycle on Ray, and crushtool.

    rayceph demo [-c CONF]            create a pool, write and read objects, print status
    rayceph up -c CONF                start a named cluster of detached actors on Ray
    rayceph down -c CONF              stop it
    rayceph status -c CONF [--format json]
    rayceph crushtool -i MAP --test --show-mappings ...
    rayceph mirror start|status|stop -c CONF   the rbd-mirror replicator of a site
Exit codes follow Ceph's tools: 0 ok, 22 (EINVAL) for usage errors, 2 (ENOENT) for a
missing cluster or file.
"""
from __future__ import annotations

import argparse
import errno
import json
import sys


def _load_conf(path: str | None):
    from cluster.config import CephConfig, bundled_config_path

    conf = CephConfig()
    conf.read_file(path or bundled_config_path("default"))
    return conf


def _demo(args) -> int:
    import rados

    conffile = args.conf if args.conf else ""
    with rados.Rados(conffile=conffile) as cluster:
        print(f"connected to cluster {cluster.get_fsid()}")
        pool = "demo"
        if not cluster.pool_exists(pool):
            cluster.create_pool(pool)
        with cluster.open_ioctx(pool) as ioctx:
            for i in range(8):
                ioctx.write_full(f"object-{i}", f"hello from rayceph #{i}".encode())
            names = sorted(obj.key for obj in ioctx.list_objects())
            print(f"pool {pool!r} holds {len(names)} objects: {', '.join(names)}")
            print(f"object-3 reads back {ioctx.read('object-3')!r}")
            ret, out, _ = cluster.mon_command(json.dumps({"prefix": "osd map", "pool": pool,
                                                          "object": "object-3"}), b"")
            print(out.decode().strip() or _)
        ret, out, outs = cluster.mon_command(json.dumps({"prefix": "status"}), b"")
        print(out.decode() or outs)
    return 0


def _connect_ray(args):
    """(conf, cluster name) of -c CONF, with this process joined to that cluster's Ray.

    up/down/status manage clusters that outlive this command, so 'local' means the Ray
    cluster already running on this machine ('auto'), never a new embedded one."""
    from cluster.bootstrap import ensure_ray

    conf = _load_conf(args.conf)
    address = conf.get("rayceph_ray_address") or "local"
    ensure_ray("auto" if address == "local" else address)
    return conf, conf.get("rayceph_cluster_name") or "ceph"


def _up(args) -> int:
    from cluster.bootstrap import find_cluster, start_cluster

    conf, name = _connect_ray(args)
    if find_cluster(name) is not None:
        print(f"cluster {name!r} is already up")
        return 0
    fsid = start_cluster(conf, detached=True)
    print(f"cluster {name!r} is up, fsid {fsid}")
    return 0


def _down(args) -> int:
    from cluster.bootstrap import stop_cluster

    _, name = _connect_ray(args)
    killed = stop_cluster(name)
    if not killed:
        print(f"no cluster named {name!r}", file=sys.stderr)
        return errno.ENOENT
    print(f"cluster {name!r} stopped ({killed} actors)")
    return 0


def _status(args) -> int:
    import ray

    from cluster.bootstrap import find_cluster

    _, name = _connect_ray(args)
    mon = find_cluster(name)
    if mon is None:
        print(f"no cluster named {name!r}", file=sys.stderr)
        return errno.ENOENT
    ret, out, outs, _ = ray.get(mon.command.remote({"prefix": "status", "format": args.format}))
    print(out.decode() or outs)
    return -ret


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "crushtool":
        from cluster.crushtool import main as crushtool_main

        return crushtool_main(argv[1:])
    if argv and argv[0] == "mirror":
        # cluster/ may not import rbd at module level; the replicator's CLI lives with it.
        from rbd.mirror.cli import main as mirror_main

        return mirror_main(argv[1:])
    parser = argparse.ArgumentParser(prog="rayceph", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    for name, helptext in [("demo", "run the demo on the embedded cluster"),
                           ("up", "start a named cluster on Ray"),
                           ("down", "stop a named cluster"),
                           ("status", "show a cluster's status")]:
        p = sub.add_parser(name, help=helptext)
        p.add_argument("-c", "--conf", default=None)
        if name == "status":
            p.add_argument("--format", default="plain", choices=["plain", "json", "json-pretty"])
    sub.add_parser("crushtool", help="crushtool --test compatible placement")
    sub.add_parser("mirror", help="rbd-mirror replicator: start|status|stop -c CONF")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return errno.EINVAL if exc.code else 0
    handlers = {"demo": _demo, "up": _up, "down": _down, "status": _status}
    if args.command not in handlers:
        parser.print_usage(sys.stderr)
        return errno.EINVAL
    try:
        return handlers[args.command](args)
    except ConnectionError as exc:  # no Ray cluster at `ray address`
        print(f"rayceph {args.command}: {exc}", file=sys.stderr)
        return errno.ENOTCONN


if __name__ == "__main__":
    sys.exit(main())
