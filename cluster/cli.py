"""The `rayceph` command: a demo, cluster lifecycle on Ray, and crushtool.

    rayceph demo [-c CONF]            create a pool, write and read objects, print status
    rayceph up -c CONF                start a named cluster of detached actors on Ray
    rayceph down -c CONF              stop it
    rayceph status -c CONF [--format json]
    rayceph crushtool -i MAP --test --show-mappings ...
    rayceph mirror start|status|stop -c CONF   the rbd-mirror replicator of a site
    rayceph pg dump|stat -c CONF [--format json] [pgs_brief]
    rayceph fault kill|restart|stop|resume|mark-down|mark-out|mark-in|disk-errors osd.N
    rayceph fault slow osd.N DELAY_S | host-down|host-up HOST | drop A B
    rayceph fault partition osd.0,osd.1 / osd.2 | heal | ls | wait-clean [--timeout S]
        (-c CONF; --force injects a fault that may lose data, labelled so in `fault ls`)
Exit codes follow Ceph's tools: 0 ok, 22 (EINVAL) for usage errors, 2 (ENOENT) for a
missing cluster or file, OSD or host, 16 (EBUSY) for a refused fault, 110 (ETIMEDOUT) when
`fault wait-clean` gives up.
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


def _pg(args) -> int:
    import ray

    from cluster.bootstrap import find_cluster

    _, name = _connect_ray(args)
    mon = find_cluster(name)
    if mon is None:
        print(f"no cluster named {name!r}", file=sys.stderr)
        return errno.ENOENT
    cmd = {"prefix": f"pg {args.what}", "format": args.format}
    if args.what == "dump" and args.contents:
        cmd["dumpcontents"] = args.contents
    ret, out, outs, _ = ray.get(mon.command.remote(cmd))
    sys.stdout.write(out.decode())
    if outs:
        print(outs, file=sys.stderr)
    return -ret


_FAULT_ONE_OSD = ("kill", "restart", "stop", "resume", "mark-down", "mark-out", "mark-in",
                  "disk-errors")
_FAULT_FORCEABLE = ("kill", "restart", "stop", "mark-out", "disk-errors", "host-down",
                    "partition")


def _fault_args(argv: list[str]):
    parser = argparse.ArgumentParser(prog="rayceph fault",
                                     description="inject, list and heal faults")
    parser.add_argument("action", choices=sorted(_FAULT_ONE_OSD + (
        "slow", "host-down", "host-up", "drop", "partition", "heal", "ls", "wait-clean")))
    parser.add_argument("targets", nargs="*")
    parser.add_argument("-c", "--conf", default=None)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    wanted = {"slow": 2, "drop": 2, "host-down": 1, "host-up": 1, "heal": 0, "ls": 0,
              "wait-clean": 0, **{a: 1 for a in _FAULT_ONE_OSD}}.get(args.action)
    if wanted is not None and len(args.targets) != wanted:
        parser.error(f"{args.action} takes {wanted} argument(s)")
    if args.action == "partition" and "/" not in " ".join(args.targets):
        parser.error("partition: groups are comma lists separated by '/'")
    if args.force and args.action not in _FAULT_FORCEABLE:
        parser.error(f"{args.action} takes no --force")
    return args


def _fault(argv: list[str]) -> int:
    try:
        args = _fault_args(argv)
    except SystemExit as exc:
        return errno.EINVAL if exc.code else 0
    from cluster.faults import Faults

    try:
        conf, name = _connect_ray(args)
        faults = Faults(name, conf.get("rayceph_objectstore") or "memstore")
        action, t = args.action, args.targets
        force = {"force": True} if args.force else {}
        if action in _FAULT_ONE_OSD:
            method = getattr(faults, action.replace("-", "_"))
            print(method(t[0], **force) if action in _FAULT_FORCEABLE else method(t[0]))
        elif action == "slow":
            print(faults.slow(t[0], float(t[1])))
        elif action in ("host-down", "host-up"):
            method = getattr(faults, action.replace("-", "_"))
            print(method(t[0], **force) if action == "host-down" else method(t[0]))
        elif action == "drop":
            print(faults.drop(t[0], t[1]))
        elif action == "partition":
            groups = [[e for e in g.split(",") if e] for g in " ".join(t).split("/")]
            print(faults.partition([g for g in groups], **force))
        elif action == "heal":
            print("\n".join(faults.heal()))
        elif action == "ls":
            listed = faults.active()
            print("\n".join(listed) if listed else "no faults")
        else:
            states = faults.wait_for_clean(args.timeout)
            print(", ".join(f"{n} {s}" for s, n in sorted(states.items())))
        return 0
    except KeyError as exc:
        print(f"rayceph fault {args.action}: {exc.args[0]}", file=sys.stderr)
        return errno.ENOENT
    except ValueError as exc:
        print(f"rayceph fault {args.action}: {exc}", file=sys.stderr)
        return errno.EBUSY if str(exc).startswith("refusing") else errno.EINVAL
    except TimeoutError as exc:
        print(f"rayceph fault {args.action}: {exc}", file=sys.stderr)
        return errno.ETIMEDOUT
    except ConnectionError as exc:
        print(f"rayceph fault {args.action}: {exc}", file=sys.stderr)
        return errno.ENOTCONN


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "crushtool":
        from cluster.crushtool import main as crushtool_main

        return crushtool_main(argv[1:])
    if argv and argv[0] == "mirror":
        # cluster/ may not import rbd at module level; the replicator's CLI lives with it.
        from rbd.mirror.cli import main as mirror_main

        return mirror_main(argv[1:])
    if argv and argv[0] == "fault":
        return _fault(argv[1:])
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
    pg = sub.add_parser("pg", help="pg dump / pg stat of a cluster")
    pg.add_argument("what", choices=["dump", "stat"])
    pg.add_argument("contents", nargs="*", help="dump contents, e.g. pgs_brief")
    pg.add_argument("-c", "--conf", default=None)
    pg.add_argument("--format", default="plain", choices=["plain", "json", "json-pretty"])
    sub.add_parser("fault", help="fault injection: kill|stop|partition|heal|ls ... -c CONF")
    sub.add_parser("crushtool", help="crushtool --test compatible placement")
    sub.add_parser("mirror", help="rbd-mirror replicator: start|status|stop -c CONF")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return errno.EINVAL if exc.code else 0
    handlers = {"demo": _demo, "up": _up, "down": _down, "status": _status, "pg": _pg}
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
