"""`rayceph mirror ...`: run the rbd-mirror daemon for a cluster.

    rayceph mirror start -c configs/site-b.conf [--interval S] [--foreground] [--once]
                         [--bandwidth BYTES_PER_S] [--commit-age S] [--snapshot-interval S]
    rayceph mirror status -c configs/site-b.conf
    rayceph mirror stop -c configs/site-b.conf

`start` launches the detached Ray actor `<cluster>.rbd-mirror`; `--foreground` runs the
daemon loop in this process instead (needed for `ray address = inprocess` clusters), and
`--once` runs a single pass and prints the statuses. Exit status 0 or an errno.
"""
from __future__ import annotations

import argparse
import errno
import json
import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="rayceph mirror", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    for name in ("start", "status", "stop"):
        p = sub.add_parser(name)
        p.add_argument("-c", "--conf", required=True)
        if name == "start":
            p.add_argument("--interval", type=float, default=5.0)
            p.add_argument("--foreground", action="store_true")
            p.add_argument("--once", action="store_true")
            p.add_argument("--bandwidth", type=float, default=0.0,
                           help="bytes/s the replicator may copy (0 = unlimited)")
            p.add_argument("--commit-age", type=float, default=5.0,
                           help="seconds between journal commit position updates")
            p.add_argument("--snapshot-interval", type=float, default=0.0,
                           help="take a mirror snapshot of this site's primary "
                                "snapshot-mode images every S seconds (0 = never)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return errno.EINVAL if exc.code else 0
    if args.command is None:
        parser.print_usage(sys.stderr)
        return errno.EINVAL
    from rbd.mirror import daemon
    tuning = {"copy_bytes_per_second": args.bandwidth, "commit_age_s": args.commit_age,
              "snapshot_interval_s": args.snapshot_interval} if args.command == "start" else {}
    if args.command == "start" and (args.foreground or args.once):
        running = _actor_name_if_running(args.conf)
        if running:
            # a second replicator of the site would take the actor for a dead predecessor
            # and blocklist it
            print("rbd-mirror is already running as %s" % running, file=sys.stderr)
            return errno.EBUSY
        core = daemon.MirrorDaemonCore(args.conf, args.interval, **tuning)
        try:
            if args.once:
                out = core.run_once()
                print(json.dumps({pool: {gid: list(st) for gid, st in imgs.items()}
                                  for pool, imgs in out.items()}, indent=2, sort_keys=True))
                return errno.EIO if core.errors else 0
            core.run_forever()
        except KeyboardInterrupt:
            pass
        finally:
            core.close()
        return 0
    import ray
    from cluster.bootstrap import NAMESPACE
    if args.command == "start":
        actor = daemon.start_actor(args.conf, args.interval, **tuning)
        print(daemon.describe(ray.get(actor.status.remote())))
        return 0
    from cluster.bootstrap import ensure_ray
    from cluster.config import CephConfig
    conf = CephConfig()
    conf.read_file(args.conf)
    ensure_ray((conf.get("rayceph_ray_address") or "auto").strip().replace("local", "auto"))
    name = "%s.rbd-mirror" % (conf.get("rayceph_cluster_name") or "ceph")
    try:
        actor = ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:
        print("rbd-mirror is not running for %s" % name, file=sys.stderr)
        return errno.ENOENT
    if args.command == "status":
        print(daemon.describe(ray.get(actor.status.remote())))
    else:
        ray.get(actor.stop.remote())
        ray.kill(actor)
    return 0


def _actor_name_if_running(conffile: str) -> str:
    """The name of the site's replicator actor when one is alive on the Ray cluster ('' for
    in-process clusters, and for an embedded Ray this process has not started yet)."""
    from cluster.config import CephConfig
    conf = CephConfig()
    conf.read_file(conffile)
    address = (conf.get("rayceph_ray_address") or "local").strip()
    import ray
    if address == "inprocess" or (address in ("", "local") and not ray.is_initialized()):
        return ""
    from cluster.bootstrap import NAMESPACE, ensure_ray
    ensure_ray(address)
    name = "%s.rbd-mirror" % (conf.get("rayceph_cluster_name") or "ceph")
    try:
        ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:
        return ""
    return name


if __name__ == "__main__":
    sys.exit(main())
