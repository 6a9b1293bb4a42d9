"""Start, find and stop a named rayceph cluster on Ray.

A cluster is a set of named actors in the `rayceph` Ray namespace: `<cluster>.mon` and
`<cluster>.osd.<id>`, or, with `osds per actor` > 1, `<cluster>.osdhost.<k>` actors that each
run several OSDs (cluster/osd_host.py); `osd_handle` finds an OSD either way. On a Ray
cluster of several nodes each CRUSH host's OSDs are pinned to one Ray node, so that losing a
node is a host failure. `ray address = local` starts an embedded Ray in this process and the
actors die with it; `rayceph up` creates detached actors on an existing Ray cluster that
other processes then find by name (`ray address = auto`).
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import time
import uuid

NAMESPACE = "rayceph"
START_TIMEOUT_S = 60.0

_lock = threading.Lock()
# Clusters this process started, by name: actor name -> handle. Non-detached actors die with
# their last handle, so the process keeps one of each; the keys are also what is stopped at
# exit.
_handles: dict[str, dict] = {}
_options: dict[str, dict] = {}      # cluster name -> its OSDs' spawn options
_started_ray = False
# Packed clusters known to this process: cluster name -> {osd id: host actor index}.
_layouts: dict[str, dict[int, int]] = {}
_host_actors: dict[tuple[str, int], object] = {}
# Options the OSD actors read (OSDService, heartbeats); absent ones keep the code's defaults.
OSD_CONFIG_KEYS = ("osd_recovery_max_active", "osd_max_backfills", "osd_backfill_scan_max",
                   "osd_op_queue_wait_s", "osd_heartbeat_interval", "osd_heartbeat_grace")


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


def osd_options(conf, cluster_name: str, fsid: str, detached: bool) -> dict:
    """What every OSD actor of a cluster is started with (and restarted with)."""
    data_root = conf.get("rayceph_osd_data") or ""
    objectstore = conf.get("rayceph_objectstore") or "memstore"
    owned = objectstore == "lmdb" and not data_root
    if owned:
        # one fresh directory per cluster start: a new cluster must not load old stores
        data_root = tempfile.mkdtemp(prefix=f"rayceph-{cluster_name}-{fsid[:8]}-")
    config = {}
    for option in OSD_CONFIG_KEYS:
        value = conf.get(option)
        if value not in (None, ""):
            config[option] = value
    return {"messenger": messenger_type(conf), "objectstore": objectstore,
            "osd_data": data_root, "osd_data_is_temp": owned, "config": config,
            "detached": detached}


def start_cluster(conf, detached: bool = False) -> str:
    """Create the monitor and OSD actors for `conf` and wait until every OSD has booted.

    Returns the cluster's fsid. Idempotent: actors that already exist are reused.
    """
    import ray

    from cluster.mon_actor import RemoteMon

    name = conf.get("rayceph_cluster_name") or "ceph"
    fsid = conf.get("fsid") or str(uuid.uuid4())
    lifetime = {"lifetime": "detached"} if detached else {}
    address = conf.get("rayceph_ray_address") or "local"
    # on several Ray nodes the monitor stays on the node that starts the cluster: losing
    # another node is then a host failure, never the loss of the monitor too
    here = ray.get_runtime_context().get_node_id() if _alive_nodes(address)[1:] else None
    mon = RemoteMon.options(name=f"{name}.mon", namespace=NAMESPACE, get_if_exists=True,
                            **lifetime, **_scheduling(here)).remote(conf.to_dict(), fsid)
    osdmap = ray.get(mon.get_osdmap.remote(), timeout=START_TIMEOUT_S)
    options = osd_options(conf, name, osdmap.fsid, detached)
    _options[name] = options
    _handles[name] = {f"{name}.mon": mon}
    # OSDs created together with the cluster's first map share its history; an OSD made
    # later (restart of a wiped store) is born at the epoch it first sees
    booted, _ = ray.get(mon.call.remote("booted_osds"), timeout=START_TIMEOUT_S)
    fresh = not booted
    first_options = {**options, "born_with_cluster": fresh}
    node_of_host = ray_nodes_for_hosts(osdmap, address)
    per_actor = int(conf.get("rayceph_osds_per_actor") or 1)
    timeout = START_TIMEOUT_S + 0.5 * len(osdmap.osds)     # a 1,000-OSD boot takes minutes
    if per_actor > 1:
        groups = pack_osds(osdmap, per_actor, node_of_host)
        layout = {osd: k for k, group in enumerate(groups) for osd in group}
        remember_layout(name, layout)
        hosts = [_create_host(name, k, layout, group, node_of_host, osdmap, lifetime)
                 for k, group in enumerate(groups)]
        ray.get([hosts[layout[osd]].add_osd.remote(osd, first_options) for osd in layout],
                timeout=timeout)
        ray.get([hosts[layout[osd]].osd_call.remote(osd, "start") for osd in layout],
                timeout=timeout)
        return osdmap.fsid
    osds = [_create_osd(name, osd_id, first_options,
                        node_of_host.get(osdmap.crush.host_of(osd_id)))
            for osd_id in sorted(osdmap.osds)]
    ray.get([osd.start.remote() for osd in osds], timeout=timeout)
    return osdmap.fsid


def ray_nodes_for_hosts(osdmap, address: str) -> dict:
    """CRUSH host name -> Ray node id, round-robin over the alive nodes, when the cluster
    runs on a Ray cluster of several nodes (else {}: Ray places the actors)."""
    nodes = _alive_nodes(address)
    if len(nodes) < 2:
        return {}
    return {host: nodes[i % len(nodes)] for i, host in enumerate(crush_hosts(osdmap))}


def _alive_nodes(address: str) -> list:
    """Ids of the alive Ray nodes, sorted; [] for the embedded Ray (one node by design)."""
    if address in ("", "local", "inprocess"):
        return []
    import ray

    return sorted(n["NodeID"] for n in ray.nodes() if n.get("Alive"))


def crush_hosts(osdmap) -> dict:
    """CRUSH host name -> its OSDs, hosts in the order of their lowest OSD id; an OSD under
    no host bucket counts as a host of its own."""
    hosts: dict = {}
    for osd in sorted(osdmap.osds):
        hosts.setdefault(osdmap.crush.host_of(osd) or f"osd.{osd}", []).append(osd)
    return hosts


def pack_osds(osdmap, per_actor: int, node_of_host: dict) -> list:
    """The OSD ids of each host actor: at most `per_actor`, in CRUSH host order, never two
    Ray nodes in one actor (so a lost node takes whole CRUSH hosts, nothing else)."""
    by_node: dict = {}
    for host, osds in crush_hosts(osdmap).items():
        by_node.setdefault(node_of_host.get(host), []).extend(osds)
    return [osds[i:i + per_actor] for osds in by_node.values()
            for i in range(0, len(osds), per_actor)]


def remember_layout(cluster_name: str, layout: dict) -> None:
    _layouts[cluster_name] = {int(osd): int(k) for osd, k in layout.items()}


def _scheduling(node_id) -> dict:
    if node_id is None:
        return {}
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node_id, soft=False)}


def _create_host(cluster_name: str, k: int, layout: dict, group: list, node_of_host: dict,
                 osdmap, lifetime: dict):
    from cluster.osd_host import RemoteOSDHost

    node = node_of_host.get(osdmap.crush.host_of(group[0]))
    name = f"{cluster_name}.osdhost.{k}"
    handle = RemoteOSDHost.options(name=name, namespace=NAMESPACE, get_if_exists=True,
                                   **lifetime, **_scheduling(node)).remote(
        cluster_name, NAMESPACE, layout)
    _handles.setdefault(cluster_name, {})[name] = handle
    _host_actors[(cluster_name, k)] = handle
    return handle


def _create_osd(cluster_name: str, osd_id: int, options: dict, node_id=None):
    from osd.actor import RemoteOSD

    lifetime = {"lifetime": "detached"} if options.get("detached") else {}
    handle = RemoteOSD.options(name=f"{cluster_name}.osd.{osd_id}", namespace=NAMESPACE,
                               get_if_exists=True, **lifetime, **_scheduling(node_id)).remote(
        cluster_name, NAMESPACE, osd_id, options)
    _handles.setdefault(cluster_name, {})[f"{cluster_name}.osd.{osd_id}"] = handle
    return handle


class PackedOSD:
    """An OSD run by a host actor, with an actor handle's `.method.remote(*args)`."""

    def __init__(self, host, osd_id: int):
        self.host = host
        self.osd_id = osd_id

    def __getattr__(self, method: str):
        if method.startswith("_"):
            raise AttributeError(method)
        return _PackedMethod(self.host, self.osd_id, method)


class _PackedMethod:
    __slots__ = ("host", "osd_id", "method")

    def __init__(self, host, osd_id: int, method: str):
        self.host, self.osd_id, self.method = host, osd_id, method

    def remote(self, *args):
        return self.host.osd_call.remote(self.osd_id, self.method, *args)


def _layout(cluster_name: str):
    """{osd id: host actor index} of a packed cluster, or None when its OSDs have actors of
    their own (asked of its first host actor once per process)."""
    layout = _layouts.get(cluster_name)
    if layout is None:
        first = _host_actor(cluster_name, 0)
        if first is None:
            return None
        import ray

        remember_layout(cluster_name, ray.get(first.layout.remote(), timeout=30))
        layout = _layouts[cluster_name]
    return layout


def _host_actor(cluster_name: str, k: int):
    handle = _host_actors.get((cluster_name, k))
    if handle is None:
        handle = _actor(f"{cluster_name}.osdhost.{k}")
        if handle is not None:
            _host_actors[(cluster_name, k)] = handle
    return handle


def _packed_host(cluster_name: str, osd_id: int):
    """The host actor that runs `osd_id` in a packed cluster, else None."""
    layout = _layout(cluster_name)
    if layout is None or osd_id not in layout:
        return None
    return _host_actor(cluster_name, layout[osd_id])


def osd_handle(cluster_name: str, osd_id: int):
    """How to call one OSD: its own actor, or a `PackedOSD` forwarding to the host actor
    that runs it (whose calls fail with OSDStopped while it is killed); None when no actor
    exists for it. One-OSD actors are looked up by name exactly as before."""
    if cluster_name not in _layouts:
        handle = _actor(f"{cluster_name}.osd.{osd_id}")
        if handle is not None:
            return handle
    host = _packed_host(cluster_name, osd_id)
    return None if host is None else PackedOSD(host, osd_id)


def _cluster_osd_options(cluster_name: str) -> dict:
    """The options of the cluster's OSDs: ours if this process started it, else asked of
    any live OSD of it."""
    import ray

    if cluster_name in _options:
        return _options[cluster_name]
    mon = find_cluster(cluster_name)
    if mon is None:
        raise ConnectionError(f"no rayceph cluster named {cluster_name!r}")
    for osd_id in sorted(ray.get(mon.get_osdmap.remote(), timeout=30).osds):
        handle = osd_handle(cluster_name, osd_id)
        if handle is None:
            continue
        try:
            options = ray.get(handle.spawn_options.remote(), timeout=10)
        except Exception:
            continue
        _options[cluster_name] = options
        return options
    raise ConnectionError(f"cluster {cluster_name!r} has no live OSD to copy options from")


def spawn_osd(cluster_name: str, osd_id: int):
    """(Re)start one OSD with the cluster's options and wait until it has booted; returns
    its handle. A running OSD is reused (kill_osd it first to restart it). A packed OSD
    comes back inside the same host actor. A memstore OSD comes back empty and is
    backfilled; an lmdb OSD comes back with its store and catches up by log recovery."""
    import ray

    options = _cluster_osd_options(cluster_name)
    host = _packed_host(cluster_name, osd_id)
    if host is not None:
        ray.get(host.add_osd.remote(osd_id, options), timeout=START_TIMEOUT_S)
        ray.get(host.osd_call.remote(osd_id, "start"), timeout=START_TIMEOUT_S)
        return PackedOSD(host, osd_id)
    name = f"{cluster_name}.osd.{osd_id}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            handle = _create_osd(cluster_name, osd_id, options)
            ray.get(handle.start.remote(), timeout=START_TIMEOUT_S)
            return handle
        except ray.exceptions.RayActorError:
            # the killed actor of that name was still being torn down: try again
            _handles.get(cluster_name, {}).pop(name, None)
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def kill_osd(cluster_name: str, osd_id: int) -> bool:
    """Kill one OSD (no restart); False if it was not running. A packed OSD is stopped
    inside its host actor: the actor's other OSDs live on."""
    import ray

    name = f"{cluster_name}.osd.{osd_id}"
    handle = None if cluster_name in _layouts else _actor(name)
    if handle is None:
        host = _packed_host(cluster_name, osd_id)
        if host is None:
            return False
        return bool(ray.get(host.stop_osd.remote(osd_id), timeout=30))
    ray.kill(handle, no_restart=True)
    _handles.get(cluster_name, {}).pop(name, None)
    # the name is free once Ray has torn the actor down
    deadline = time.monotonic() + 10.0
    while _actor(name) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    return True


def stop_cluster(cluster_name: str) -> int:
    """Kill every actor of the named cluster; returns how many were found."""
    import ray

    mon = find_cluster(cluster_name)
    if mon is None:
        return 0
    osd_ids = sorted(ray.get(mon.get_osdmap.remote(), timeout=30).osds)
    try:    # a cluster another process started: its OSDs know where their data is
        options = _cluster_osd_options(cluster_name)
    except ConnectionError:
        options = {}
    layout = _layout(cluster_name)
    if layout is not None:
        names = [f"{cluster_name}.osdhost.{k}" for k in sorted(set(layout.values()))]
    else:
        names = [f"{cluster_name}.osd.{i}" for i in osd_ids]
    killed = 0
    for name in names + [f"{cluster_name}.mon"]:
        handle = _actor(name)
        if handle is not None:
            ray.kill(handle, no_restart=True)
            killed += 1
    _handles.pop(cluster_name, None)
    _options.pop(cluster_name, None)
    _layouts.pop(cluster_name, None)
    for key in [key for key in _host_actors if key[0] == cluster_name]:
        del _host_actors[key]
    if options.get("osd_data_is_temp"):
        shutil.rmtree(options["osd_data"], ignore_errors=True)
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
