"""Start, find and stop a named rayceph cluster on Ray.

A cluster is a set of named actors in the `rayceph` Ray namespace: `<cluster>.mon` and
`<cluster>.osd.<id>`. `ray address = local` starts an embedded Ray in this process and the
actors die with it; `rayceph up` creates detached actors on an existing Ray cluster that
other processes then find by name (`ray address = auto`).
"""
from __future__ import annotations

import atexit
import os
import threading
import uuid

NAMESPACE = "rayceph"
START_TIMEOUT_S = 60.0

_lock = threading.Lock()
# Clusters this process started, by name. Non-detached actors die with their last handle,
# so the process keeps one of each; the keys are also what is stopped at exit.
_handles: dict[str, list] = {}
_started_ray = False


def quiet_ray_environment() -> None:
    # Token auth breaks drivers connecting to a local head (RAY_NOTES); usage stats phone home.
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def ensure_ray(address: str) -> None:
    """Connect this process to Ray: embedded for 'local', else the given cluster."""
    global _started_ray
    quiet_ray_environment()
    import ray

    if ray.is_initialized():
        return
    kwargs = dict(namespace=NAMESPACE, include_dashboard=False, log_to_driver=False,
                  logging_level="ERROR", configure_logging=False)
    if address in ("", "local"):
        _on_keeper_thread(lambda: ray.init(object_store_memory=512 << 20, **kwargs))
        _started_ray = True
        atexit.register(_shutdown_embedded)
    else:
        ray.init(address=address, **kwargs)


def _on_keeper_thread(fn) -> None:
    """Run `fn` on a thread that lives as long as the process.

    Ray starts its daemons with PR_SET_PDEATHSIG, which Linux fires when the *thread* that
    forked them exits: starting Ray from a short-lived thread (librados' bounded connect runs
    on one) kills the embedded cluster a minute later. The main thread is safe; any other
    caller hands the start to this keeper.
    """
    if threading.current_thread() is threading.main_thread():
        fn()
        return
    box: dict = {}
    started = threading.Event()

    def keep():
        try:
            fn()
        except BaseException as exc:  # handed back to the caller
            box["error"] = exc
        finally:
            started.set()
        threading.Event().wait()  # never returns: the daemons' parent thread must stay

    threading.Thread(target=keep, name="ray-keeper", daemon=True).start()
    started.wait()
    if "error" in box:
        raise box["error"]


def messenger_type(conf) -> str:
    """'socket' (our messenger beside Ray, the default) or 'ray' (every call via Ray)."""
    value = (conf.get("rayceph_messenger") or "socket").strip()
    if value not in ("socket", "ray"):
        raise ValueError(f"messenger: must be 'socket' or 'ray', not {value!r}")
    return value


def _actor(name: str):
    import ray

    try:
        return ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:
        return None


def find_cluster(cluster_name: str):
    """The monitor handle of a running cluster, or None."""
    return _actor(f"{cluster_name}.mon")


def start_cluster(conf, detached: bool = False) -> str:
    """Create the monitor and OSD actors for `conf` and wait until every OSD has a map.

    Returns the cluster's fsid. Idempotent: actors that already exist are reused.
    """
    import ray

    from cluster.mon_actor import RemoteMon
    from osd.actor import RemoteOSD

    name = conf.get("rayceph_cluster_name") or "ceph"
    fsid = conf.get("fsid") or str(uuid.uuid4())
    lifetime = {"lifetime": "detached"} if detached else {}
    options = {"messenger": messenger_type(conf)}
    mon = RemoteMon.options(name=f"{name}.mon", namespace=NAMESPACE, get_if_exists=True,
                            **lifetime).remote(conf.to_dict(), fsid)
    osdmap = ray.get(mon.get_osdmap.remote(), timeout=START_TIMEOUT_S)
    osds = [
        RemoteOSD.options(name=f"{name}.osd.{osd_id}", namespace=NAMESPACE, get_if_exists=True,
                          **lifetime).remote(name, NAMESPACE, osd_id, options)
        for osd_id in sorted(osdmap.osds)
    ]
    ray.get([osd.start.remote() for osd in osds], timeout=START_TIMEOUT_S)
    _handles[name] = [mon, *osds]
    return osdmap.fsid


def stop_cluster(cluster_name: str) -> int:
    """Kill every actor of the named cluster; returns how many were found."""
    import ray

    mon = find_cluster(cluster_name)
    if mon is None:
        return 0
    osd_ids = sorted(ray.get(mon.get_osdmap.remote(), timeout=30).osds)
    killed = 0
    for name in [f"{cluster_name}.osd.{i}" for i in osd_ids] + [f"{cluster_name}.mon"]:
        handle = _actor(name)
        if handle is not None:
            ray.kill(handle, no_restart=True)
            killed += 1
    _handles.pop(cluster_name, None)
    return killed


def ensure_embedded(conf) -> str:
    """The process-wide embedded cluster for `conf`'s cluster name, started on first use."""
    name = conf.get("rayceph_cluster_name") or "ceph"
    address = conf.get("rayceph_ray_address") or "local"
    with _lock:
        ensure_ray(address)
        if find_cluster(name) is None:
            if address not in ("", "local"):
                raise ConnectionError(
                    f"no rayceph cluster named {name!r} on the Ray cluster at {address!r}; "
                    f"start one with 'rayceph up -c CONF'")
            start_cluster(conf)
        return name


def _shutdown_embedded() -> None:
    import ray

    if not ray.is_initialized():
        return
    for name in list(_handles):
        try:
            stop_cluster(name)
        except Exception:
            pass
    _handles.clear()
    if _started_ray:
        ray.shutdown()
